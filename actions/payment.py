"""Payment notices: a guest's "I paid" (text, receipt photo or PDF) is a notice, not a payment.

The PMS decides (``confirm_payment``): QloApps by its own payment state, the
embedded PMS only with the explicit demo setting DEMO_AUTO_CONFIRM_PAYMENTS=1
(``make run``). A booking the PMS does not consider paid becomes a staff
request of kind ``payment_check`` carrying the booking reference, the
conversation and the receipt's media reference (INTERFACES item 4); reception
approves it in the staff console (payment confirmed in the PMS, QR sent to
the guest) or rejects it. Only a paid booking gets its signed QR code here.
"""
from __future__ import annotations

from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import qr
from actions.audit import record_audit
from actions.booking_ref import booking_in_slot
from actions.config import settings
from actions.context import pms_gateway
from actions.pms.base import InvalidBookingState, PMSUnavailable
from actions.staff_requests import record_staff_request


def receipt_reference(tracker: Tracker) -> Optional[str]:
    """``whatsapp:<media id>`` of the receipt in the latest message, when there is one."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    for channel in ("whatsapp", "gmail"):
        details = metadata.get(channel) if isinstance(metadata.get(channel), dict) else {}
        media = details.get("media") if isinstance(details.get("media"), dict) else {}
        media_id = media.get("id")
        if isinstance(media_id, str) and media_id:
            return f"{channel}:{media_id[:200]}"
    return None


class ActionConfirmPayment(Action):
    def name(self) -> Text:
        return "action_confirm_payment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        booking = await booking_in_slot(dispatcher, tracker)
        if booking is None:
            return []
        try:
            pms = pms_gateway(tracker)
            booking = await pms.call(pms.pms.confirm_payment, booking.reference)
        except InvalidBookingState:
            dispatcher.utter_message(response="utter_payment_booking_cancelled", reference=booking.reference)
            return []
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_pms_unavailable")
            return []
        if not booking.is_paid:
            receipt = receipt_reference(tracker)
            await record_staff_request(
                "payment_check", tracker.sender_id,
                f"payment notice for {booking.reference}" + (f" (receipt {receipt})" if receipt else " (no receipt)"),
                booking_ref=booking.reference, media_ref=receipt,
            )
            await record_audit("payment_notice", tracker, booking_ref=booking.reference, details={"receipt": receipt})
            dispatcher.utter_message(response="utter_payment_notice_received", reference=booking.reference)
            return []
        await record_audit("payment_confirmed", tracker, booking_ref=booking.reference)
        config = settings()
        token = qr.sign_booking(booking, config.qr_secret)
        dispatcher.utter_message(
            response="utter_payment_confirmed_qr",
            reference=booking.reference,
            image=qr.image_url(config.public_url, token),
            json_message={"qr": {"reference": booking.reference, "token": token}},
        )
        return []
