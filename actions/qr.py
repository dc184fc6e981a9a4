"""Signed QR booking confirmations.

The QR encodes a token ``<payload>.<signature>``: the payload is the booking's
reference, dates and room type (base64url JSON; no guest name, since the token
also travels in image URLs) and the signature is an
HMAC-SHA256 of it with ``QR_SECRET``. Reception can verify a scanned code
offline with the same secret (``verify_token``); nothing is stored, so there is
nothing to clean up. The PNG is rendered on request by the action server's
``/qr/<token>.png`` route, which refuses tokens with a bad signature.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json

import segno

from actions.pms.base import Booking

SIGNATURE_BYTES = 16


class InvalidToken(ValueError):
    """The token is malformed or its signature does not match."""


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


def verify_token(token: str, secret: str) -> dict:
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
