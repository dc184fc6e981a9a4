"""Payment checks: a guest said they paid (text, a WhatsApp image/PDF or a
Gmail attachment), the assistant made a ``payment_check`` staff request, and
reception decides.

- **Approve**: confirm the payment in the PMS through the project's gateway
  (``actions.pms.gateway``: breaker, input checks; ``accept_payment``, which
  the embedded PMS has and the QloApps backend does not have yet), then send the guest the
  signed check-in QR code (``actions.qr``) through ``connectors.outreach``,
  and close the request.
- **Reject**: send the guest the reason staff typed, close the request.

The booking reference and the receipt come from the request: its
``booking_ref`` / ``receipt`` fields when the request carries them, else the
reference written in its text ("payment notice for BK123456").
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Optional

from actions.booking_ref import canonical_reference
from connectors.outreach import Delivery, Outreach
from staff import audit_log

logger = logging.getLogger(__name__)

MAX_REASON_CHARS = 1000
APPROVED = {
    "es": "Hemos comprobado tu pago de la reserva {ref}. ¡Gracias! Aquí tienes tu código QR para el check-in.",
    "en": "We have checked your payment for booking {ref}. Thank you! Here is your QR code for check-in.",
}
REJECTED = {
    "es": "No hemos podido confirmar tu pago de la reserva {ref}: {reason}",
    "en": "We could not confirm your payment for booking {ref}: {reason}",
}


class PaymentCheckError(Exception):
    """The request is no open payment check, or names no booking."""


class ReceiptUnavailable(PaymentCheckError):
    """The receipt cannot be shown here (none, a Gmail attachment, or WhatsApp refused)."""


RECEIPT_MAX_BYTES = 16 * 1024 * 1024
RECEIPT_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")


@dataclass(frozen=True)
class PaymentCheck:
    request_id: int
    sender_id: str
    booking_ref: str
    receipt: str  # a media reference ("whatsapp:<media id>", "gmail:<message id>/<attachment id>") or ""


def payment_check_of(request: Any) -> PaymentCheck:
    if request is None or request.kind != "payment_check":
        raise PaymentCheckError("not a payment check")
    if request.status != "open":
        raise PaymentCheckError(f"payment check #{request.id} is already {request.status}")
    reference = canonical_reference(getattr(request, "booking_ref", None) or "") or canonical_reference(request.text)
    if not reference:
        raise PaymentCheckError(f"payment check #{request.id} names no booking reference")
    return PaymentCheck(request.id, request.sender_id, reference, str(getattr(request, "media_ref", "") or ""))


class PaymentDesk:
    def __init__(self, requests: Any, outreach: Outreach, gateway=None, qr_secret: Optional[str] = None,
                 public_url: Optional[str] = None) -> None:
        self.requests, self.outreach = requests, outreach
        self._gateway, self._qr_secret, self._public_url = gateway, qr_secret, public_url

    def gateway(self, hotel_id: Optional[str] = None):
        if self._gateway is not None:
            return self._gateway
        from actions.pms.gateway import gateway

        return gateway(hotel_id)

    def _qr(self):
        from actions.config import settings

        return self._qr_secret or settings().qr_secret, self._public_url or settings().public_url

    async def receipt(self, request_id: int, max_bytes: int = RECEIPT_MAX_BYTES) -> tuple[bytes, str]:
        """The receipt the guest sent (bytes, MIME type): WhatsApp media from the Graph API with the
        channel's token (``whatsapp:<media id>``); a Gmail attachment (image or PDF) of the mail
        ``gmail:<message id>`` names, else of the guest's last mail with attachments."""
        request = await asyncio.to_thread(self.requests.get, request_id)
        if request is None or request.kind != "payment_check":
            raise PaymentCheckError("not a payment check")
        channel, _, media_id = str(getattr(request, "media_ref", "") or "").partition(":")
        if channel == "whatsapp" and media_id:
            from connectors.whatsapp.graph import GraphError

            try:
                data, info = await self.outreach.graph.download_media(media_id, max_bytes)
            except GraphError as exc:
                raise ReceiptUnavailable(f"WhatsApp did not give the receipt ({exc.status})") from None
            return data, (info.mime_type if info.mime_type in RECEIPT_TYPES else "application/octet-stream")
        gmail_id = media_id if channel == "gmail" and media_id else await self._last_mail_with_attachments(request.sender_id)
        return await self._gmail_attachment(gmail_id, max_bytes)

    async def _last_mail_with_attachments(self, sender_id: str) -> str:
        from actions.rasa_api import RasaAPIError

        try:
            events = (await self.outreach.rasa.tracker(sender_id)).get("events") or []
        except RasaAPIError as exc:
            raise ReceiptUnavailable(f"could not read the conversation ({exc.status})") from None
        for event in reversed(events):
            gmail = (event.get("metadata") or {}).get("gmail") if event.get("event") == "user" else None
            if isinstance(gmail, dict) and gmail.get("attachments") and gmail.get("id"):
                return str(gmail["id"])
        raise ReceiptUnavailable("the guest sent no receipt (no WhatsApp media, no mail with attachments)")

    async def _gmail_attachment(self, gmail_id: str, max_bytes: int) -> tuple[bytes, str]:
        import email
        import email.policy

        from connectors.gmail.api import GmailError, b64url_decode

        try:
            resource = await self.outreach.gmail_client.get_message(gmail_id, "raw", max_bytes * 4 // 3 + 64 * 1024)
        except GmailError as exc:
            raise ReceiptUnavailable(f"Gmail did not give the guest's mail ({exc.status})") from None
        message = email.message_from_bytes(b64url_decode(str(resource.get("raw") or "")), policy=email.policy.default)
        for part in message.iter_attachments():
            if part.get_content_type() in RECEIPT_TYPES:
                return part.get_payload(decode=True) or b"", part.get_content_type()
        raise ReceiptUnavailable("the guest's mail has no image or PDF attached")

    async def check(self, request_id: int) -> PaymentCheck:
        return payment_check_of(await asyncio.to_thread(self.requests.get, request_id))

    async def approve(self, request_id: int, user: str, language: str = "es", hotel_id: Optional[str] = None) -> Delivery:
        from actions import qr

        check = await self.check(request_id)
        gateway = self.gateway(hotel_id)
        accept = getattr(gateway.pms, "accept_payment", None)
        if accept is None:
            raise PaymentCheckError(f"the {type(gateway.pms).__name__} backend cannot record a checked payment yet; "
                                    "confirm it in the PMS itself")
        booking = await gateway.call(accept, check.booking_ref)  # PMSError propagates: nothing sent, request open
        if not booking.is_paid:
            raise PaymentCheckError(f"the PMS did not mark {check.booking_ref} paid (status {booking.status})")
        secret, public_url = self._qr()
        token = qr.sign_booking(booking, secret)
        text = APPROVED.get(language, APPROVED["es"]).format(ref=booking.reference)
        delivery = await self.outreach.send_to_guest(
            check.sender_id, text, author=user, image=qr.image_url(public_url, token),
            metadata={"payment_check": request_id, "booking_ref": booking.reference})
        await asyncio.to_thread(self.requests.resolve, request_id, user)
        audit_log.record(user, check.sender_id, delivery.channel, "payment_approved", f"request #{request_id}",
                         booking.reference)
        return delivery

    async def reject(self, request_id: int, user: str, reason: str, language: str = "es") -> Delivery:
        reason = " ".join((reason or "").split())
        if not reason:
            raise ValueError("say why the payment is rejected: the guest reads it")
        if len(reason) > MAX_REASON_CHARS:
            raise ValueError(f"the reason holds at most {MAX_REASON_CHARS} characters")
        check = await self.check(request_id)
        text = REJECTED.get(language, REJECTED["es"]).format(ref=check.booking_ref, reason=reason)
        delivery = await self.outreach.send_to_guest(check.sender_id, text, author=user,
                                                     metadata={"payment_check": request_id, "booking_ref": check.booking_ref})
        await asyncio.to_thread(self.requests.resolve, request_id, user)
        audit_log.record(user, check.sender_id, delivery.channel, "payment_rejected", f"request #{request_id}",
                         check.booking_ref)
        return delivery
