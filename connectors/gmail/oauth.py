"""OAuth 2.0 access tokens for the Gmail API, by one of two grants:

- ``TokenProvider``: the refresh-token grant (a user's consent)::

    POST {token_url}  grant_type=refresh_token&client_id&client_secret&refresh_token

- ``ServiceAccountTokenProvider``: a service account with domain-wide
  delegation, the JWT-bearer grant (RFC 7523) Google documents for server to
  server calls: a JWT signed RS256 with the account's private key, claims
  ``iss`` (the account's ``client_email``), ``scope``, ``aud`` (the token
  URL), ``sub`` (the mailbox it acts for), ``iat`` and ``exp`` (≤ 1 h)::

    POST {token_url}  grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<JWT>

Both answer ``{"access_token", "expires_in", "token_type": "Bearer"}``. The
token is cached until shortly before it expires and renewed on demand (or
after a 401). Neither it, the client secret nor the private key is ever
logged or shown by ``repr``.
"""
from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Callable, Dict, Optional

import aiohttp

EXPIRY_MARGIN_SECONDS = 60.0
GMAIL_SCOPE = "https://www.googleapis.com/auth/gmail.modify"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_SECONDS = 3600  # Google's maximum


class TokenError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"OAuth token endpoint {status or 'connection error'}: {message}")
        self.status = status
        self.retryable = status == 0 or status >= 500 or status == 429


class TokenProvider:
    def __init__(
        self, token_url: str, client_id: str, client_secret: str, refresh_token: str,
        timeout_seconds: float = 20.0, clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.token_url, self.client_id = token_url, client_id
        self._secret, self._refresh = client_secret, refresh_token
        self._token: Optional[str] = None
        self._expires = 0.0
        self._clock = clock
        self._lock = asyncio.Lock()
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)

    def __repr__(self) -> str:
        return f"TokenProvider(token_url={self.token_url!r}, client_id={self.client_id!r})"

    def invalidate(self) -> None:
        self._token, self._expires = None, 0.0

    async def token(self) -> str:
        async with self._lock:
            if self._token is None or self._clock() >= self._expires:
                await self._fetch()
            return self._token  # type: ignore[return-value]

    def _form(self) -> Dict[str, str]:
        return {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "refresh_token": self._refresh,
        }

    async def _fetch(self) -> None:
        form = self._form()
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.post(self.token_url, data=form) as answer:
                    try:
                        body = await answer.json(content_type=None)
                    except ValueError:
                        body = {}
                    if answer.status != 200 or not isinstance(body, dict) or not body.get("access_token"):
                        # the error fields of RFC 6749 5.2 hold no secret
                        detail = body.get("error", "no access_token") if isinstance(body, dict) else "not JSON"
                        raise TokenError(answer.status, str(detail)[:200])
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise TokenError(0, type(exc).__name__) from None
        self._token = str(body["access_token"])
        try:
            lifetime = float(body.get("expires_in") or 3600)
        except (TypeError, ValueError):
            lifetime = 3600.0
        self._expires = self._clock() + max(0.0, lifetime - EXPIRY_MARGIN_SECONDS)


class ServiceAccountError(ValueError):
    """The service-account key file is missing or not a key file; the message says which."""


class ServiceAccountTokenProvider(TokenProvider):
    def __init__(
        self, key_file: str, subject: str, token_url: str = "", timeout_seconds: float = 20.0,
        clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
    ) -> None:
        key = _read_key_file(key_file)
        super().__init__(token_url or key["token_uri"], key["client_id"], "", "", timeout_seconds, clock)
        self.client_email, self.subject = key["client_email"], subject
        self._private_key, self._key_id = key["private_key"], key.get("private_key_id", "")
        self._wall_clock = wall_clock

    def __repr__(self) -> str:
        return f"ServiceAccountTokenProvider(client_email={self.client_email!r}, subject={self.subject!r})"

    def _form(self) -> Dict[str, str]:
        import jwt

        now = int(self._wall_clock())
        claims = {"iss": self.client_email, "scope": GMAIL_SCOPE, "aud": self.token_url, "sub": self.subject,
                  "iat": now, "exp": now + ASSERTION_SECONDS}
        headers = {"kid": self._key_id} if self._key_id else None
        return {"grant_type": JWT_BEARER, "assertion": jwt.encode(claims, self._private_key, algorithm="RS256", headers=headers)}


def _read_key_file(path: str) -> Dict[str, str]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ServiceAccountError(f"GMAIL_SERVICE_ACCOUNT_FILE {path!r} cannot be read: {exc.strerror}") from None
    except ValueError:
        raise ServiceAccountError(f"GMAIL_SERVICE_ACCOUNT_FILE {path!r} is not JSON") from None
    if not isinstance(data, dict) or data.get("type") != "service_account":
        raise ServiceAccountError(f"GMAIL_SERVICE_ACCOUNT_FILE {path!r} is not a service-account key (type)")
    missing = [name for name in ("client_email", "private_key", "token_uri", "client_id") if not data.get(name)]
    if missing:
        raise ServiceAccountError(f"GMAIL_SERVICE_ACCOUNT_FILE {path!r} lacks {', '.join(missing)}")
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}
