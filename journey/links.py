"""Review links that go through the action server (``GET /r/<token>``), so
each click is counted before the guest lands on Google or Tripadvisor.

The token is signed (HMAC-SHA256 with the QR secret) and names only the
hotel, the booking and the platform; the redirect goes to the hotel file's
link for that platform, never to a URL taken from the request (no open
redirect)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Tuple

TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}\.[A-Za-z0-9_-]{16,64}$")
FIELD = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class InvalidLink(ValueError):
    pass


def _sign(body: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), b"journey-review:" + body.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode().rstrip("=")


def make_token(secret: str, hotel_id: str, booking_ref: str, platform: str) -> str:
    for value in (hotel_id, booking_ref, platform):
        if not FIELD.match(value):
            raise ValueError(f"not usable in a review link: {value!r}")
    body = base64.urlsafe_b64encode(f"{hotel_id}|{booking_ref}|{platform}".encode()).decode().rstrip("=")
    return f"{body}.{_sign(body, secret)}"


def read_token(secret: str, token: str) -> Tuple[str, str, str]:
    """(hotel_id, booking_ref, platform); InvalidLink for anything not signed by us."""
    if not isinstance(token, str) or not TOKEN.match(token):
        raise InvalidLink("malformed")
    body, signature = token.split(".")
    if not hmac.compare_digest(signature, _sign(body, secret)):
        raise InvalidLink("bad signature")
    try:
        hotel_id, booking_ref, platform = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode().split("|")
    except (ValueError, UnicodeDecodeError):
        raise InvalidLink("malformed body") from None
    return hotel_id, booking_ref, platform


def review_url(public_url: str, secret: str, hotel_id: str, booking_ref: str, platform: str) -> str:
    return f"{public_url.rstrip('/')}/r/{make_token(secret, hotel_id, booking_ref, platform)}"
