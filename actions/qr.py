"""Signed QR booking confirmations.

The QR encodes a token ``<payload>.<signature>``: the payload is the booking's
reference, dates and room type (base64url JSON; no guest name, since the token
also travels in image URLs) and the signature is an
HMAC-SHA256 of it with ``QR_SECRET``. Reception can verify a scanned code
offline with the same secret (``verify_token``); nothing is stored, so there is
nothing to clean up. A token expires the day after the stay's check-out
(``verify_token(..., today=...)``). The action server's ``/qr/<token>.png``
(the guest's image) and ``/verify/<token>`` (reception's scan page) also check
the booking's current state in the PMS (``check_against_booking``): a
cancelled booking, or one whose dates changed, makes the code invalid.
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import json

import segno

from actions.pms.base import Booking, BookingStatus

SIGNATURE_BYTES = 16


VALID_DAYS_AFTER_CHECKOUT = 1


class InvalidToken(ValueError):
    """The token is malformed, its signature does not match, it expired or its booking changed."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(payload: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest[:SIGNATURE_BYTES])


def sign_booking(booking: Booking, secret: str) -> str:
    claims = {
        "ref": booking.reference,
        "in": booking.checkin.isoformat(),
        "out": booking.checkout.isoformat(),
        "room": booking.room_type,
    }
    payload = _b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{payload}.{_signature(payload, secret)}"


def verify_token(token: str, secret: str, today: dt.date | None = None) -> dict:
    """The token's claims; InvalidToken unless well signed (and, given ``today``, not expired)."""
    claims = _verified_claims(token, secret)
    if today is not None:
        try:
            checkout = dt.date.fromisoformat(str(claims.get("out")))
        except ValueError as exc:
            raise InvalidToken("token without a check-out date") from exc
        if today > checkout + dt.timedelta(days=VALID_DAYS_AFTER_CHECKOUT):
            raise InvalidToken("expired (the stay is over)")
    return claims


def check_against_booking(claims: dict, booking: Booking) -> None:
    """InvalidToken when the booking the token names was cancelled or changed since it was signed."""
    if booking.status is BookingStatus.CANCELLED:
        raise InvalidToken("the booking is cancelled")
    if booking.status is not BookingStatus.CONFIRMED:
        raise InvalidToken("the booking is not paid")
    if (claims.get("in"), claims.get("out"), claims.get("room")) != (
            booking.checkin.isoformat(), booking.checkout.isoformat(), booking.room_type):
        raise InvalidToken("the booking changed since this code was issued")


def _verified_claims(token: str, secret: str) -> dict:
    payload, dot, signature = token.partition(".")
    if not token.isascii():  # hmac would raise UnicodeEncodeError / TypeError instead
        raise InvalidToken("token must be ASCII")
    if not dot or not payload or not signature:
        raise InvalidToken("token must be <payload>.<signature>")
    if not hmac.compare_digest(signature, _signature(payload, secret)):
        raise InvalidToken("bad signature")
    try:
        return json.loads(_unb64(payload))
    except ValueError as exc:  # also binascii.Error and JSONDecodeError
        raise InvalidToken("payload is not base64url JSON") from exc


def render_png(token: str, scale: int = 6) -> bytes:
    buffer = io.BytesIO()
    segno.make(token, error="m").save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def image_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/qr/{token}.png"
