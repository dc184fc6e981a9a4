"""Meta's webhook signature: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of
the raw body, keyed with the app secret>``.

There is no bypass: an empty secret or a missing header never verifies.
"""
from __future__ import annotations

import hashlib
import hmac
from typing import Optional

HEADER = "X-Hub-Signature-256"
PREFIX = "sha256="


def sign(body: bytes, app_secret: str) -> str:
    """The header value Meta would send for ``body``."""
    return PREFIX + hmac.new(app_secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def is_valid(body: bytes, header_value: Optional[str], app_secret: str) -> bool:
    if not app_secret or not header_value:
        return False
    header_value = header_value.strip()
    if not header_value.startswith(PREFIX):
        return False
    expected = sign(body, app_secret)
    # compare_digest on equal-type ASCII strings runs in time independent of where they differ
    return hmac.compare_digest(expected.encode("ascii"), header_value.lower().encode("ascii", "replace"))
