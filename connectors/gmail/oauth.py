"""OAuth 2.0 access tokens by the refresh-token grant.

    POST {token_url}  grant_type=refresh_token&client_id&client_secret&refresh_token
      -> {"access_token", "expires_in", "token_type": "Bearer"}

The token is cached until shortly before it expires and renewed on demand
(or after a 401). Neither it nor the client secret is ever logged or shown
by ``repr``.
"""
from __future__ import annotations

import asyncio
import time
from typing import Callable, Optional

import aiohttp

EXPIRY_MARGIN_SECONDS = 60.0


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

    async def _fetch(self) -> None:
        form = {
            "grant_type": "refresh_token",
            "client_id": self.client_id,
            "client_secret": self._secret,
            "refresh_token": self._refresh,
        }
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
