"""Signed, expiring tokens for the staff web console: the session cookie,
the pre-login cookie, and the CSRF token derived from either.

A token is ``<payload>.<mac>``: the payload is base64url JSON
(``{"p": purpose, "u": user, "n": nonce, "exp": unix seconds}``), the mac an
HMAC-SHA256 over purpose and payload with STAFF_SESSION_SECRET. Nothing in a
token is secret, but nothing in it can be changed or moved to another purpose
without the key. A CSRF token is an HMAC of the token's nonce, so it is tied
to one session (or one login form) and useless without its cookie.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Callable, Dict, Optional

SESSION = "session"
LOGIN_FORM = "login"


@dataclass(frozen=True)
class Token:
    purpose: str
    user: str
    nonce: str
    expires_at: float


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: str, clock: Callable[[], float] = time.time) -> None:
        if not secret:
            raise ValueError("a signing secret is required")
        self._key = hashlib.sha256(b"staff-console\x00" + secret.encode("utf-8")).digest()
        self._clock = clock
        self._revoked: Dict[str, float] = {}  # nonce -> expiry (logged-out sessions)
        self._lock = threading.Lock()

    def _mac(self, purpose: str, payload: str) -> str:
        return _b64encode(hmac.new(self._key, f"{purpose}\x00{payload}".encode("ascii"), hashlib.sha256).digest())

    def issue(self, purpose: str, user: str, lifetime_seconds: float) -> tuple[str, Token]:
        token = Token(purpose, user, secrets.token_urlsafe(18), self._clock() + lifetime_seconds)
        body = {"p": purpose, "u": user, "n": token.nonce, "exp": round(token.expires_at, 3)}
        payload = _b64encode(json.dumps(body, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._mac(purpose, payload)}", token

    def read(self, purpose: str, value: Optional[str]) -> Optional[Token]:
        """The token if ``value`` is genuine, of this purpose, unexpired and not revoked; else None."""
        if not value or len(value) > 4096 or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        try:
            if not hmac.compare_digest(mac.encode("ascii"), self._mac(purpose, payload).encode("ascii")):
                return None
            body = json.loads(_b64decode(payload))
            token = Token(str(body["p"]), str(body["u"]), str(body["n"]), float(body["exp"]))
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            return None
        if token.purpose != purpose or token.expires_at <= self._clock() or self._is_revoked(token.nonce):
            return None
        return token

    def csrf_token(self, token: Token) -> str:
        return self._mac("csrf", token.nonce)

    def csrf_matches(self, token: Token, submitted: Optional[str]) -> bool:
        return bool(submitted) and hmac.compare_digest(str(submitted).encode("utf-8"), self.csrf_token(token).encode("ascii"))

    def revoke(self, token: Token) -> None:
        """A logged-out session stays invalid even if its cookie was copied."""
        with self._lock:
            now = self._clock()
            self._revoked = {n: exp for n, exp in self._revoked.items() if exp > now}
            self._revoked[token.nonce] = token.expires_at

    def _is_revoked(self, nonce: str) -> bool:
        with self._lock:
            return nonce in self._revoked
