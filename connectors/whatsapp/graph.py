"""Graph API client: send messages, upload and download media.

    POST {base}/{version}/{phone_number_id}/messages   JSON message
    POST {base}/{version}/{phone_number_id}/media      multipart upload -> {"id"}
    GET  {base}/{version}/{media_id}                   -> {"url", "mime_type", "sha256", "file_size", "id"}
    GET  {media url}                                   -> bytes (same bearer token)

Retries on 429, 5xx and connection errors with exponential backoff and
jitter, honouring ``Retry-After``. Other 4xx answers are final. The access
token only travels in the Authorization header and is never logged.
"""
from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Optional

import aiohttp

from connectors.http_body import read_bounded
from dlq.retry import RetryPolicy

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0
REENGAGEMENT_REQUIRED = 131047  # Graph error code: outside the 24-hour window


class GraphError(Exception):
    def __init__(self, status: int, message: str, code: Optional[int] = None, retryable: bool = False) -> None:
        super().__init__(f"Graph API {status or 'connection error'}: {message}")
        self.status, self.code, self.retryable, self.detail = status, code, retryable, message


class MediaTooLarge(GraphError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"media larger than {limit} bytes")


@dataclass(frozen=True)
class MediaInfo:
    url: str
    mime_type: str
    sha256: str
    file_size: int


class GraphClient:
    def __init__(
        self,
        base_url: str,
        version: str,
        access_token: str,
        retries: int = 4,
        retry_base_seconds: float = 0.5,
        timeout_seconds: float = 20.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base = f"{base_url.rstrip('/')}/{version.strip('/')}"
        self._token = access_token
        # the project's retry policy (dlq/retry.py); Retry-After, when Graph sends one, replaces the wait
        self.retry = RetryPolicy(retries, retry_base_seconds, max_delay=MAX_RETRY_AFTER_SECONDS, jitter=0.2)
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._sleep = sleep
        self._session: Optional[aiohttp.ClientSession] = None

    def __repr__(self) -> str:  # never show the token
        return f"GraphClient(base={self.base!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self.timeout,
                headers={"Authorization": f"Bearer {self._token}"},
                connector=aiohttp.TCPConnector(limit=64),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    # -- public API -----------------------------------------------------------

    async def send_message(self, phone_number_id: str, message: Dict[str, Any]) -> Dict[str, Any]:
        body = {"messaging_product": "whatsapp", **message}
        return await self._with_retries(
            "send", lambda: self._json_request("POST", f"{self.base}/{phone_number_id}/messages", json=body)
        )

    async def upload_media(self, phone_number_id: str, data: bytes, mime_type: str, filename: str) -> str:
        def form() -> aiohttp.FormData:  # a FormData can be sent once: build one per attempt
            form = aiohttp.FormData()
            form.add_field("messaging_product", "whatsapp")
            form.add_field("type", mime_type)
            form.add_field("file", data, filename=filename, content_type=mime_type)
            return form

        answer = await self._with_retries(
            "upload", lambda: self._json_request("POST", f"{self.base}/{phone_number_id}/media", data=form())
        )
        if not answer.get("id"):
            raise GraphError(200, "media upload answered without an id")
        return str(answer["id"])

    async def media_info(self, media_id: str) -> MediaInfo:
        answer = await self._with_retries("media info", lambda: self._json_request("GET", f"{self.base}/{media_id}"))
        if not answer.get("url"):
            raise GraphError(200, "media lookup answered without a url")
        try:
            size = int(answer.get("file_size") or 0)
        except (TypeError, ValueError):
            size = 0
        return MediaInfo(str(answer["url"]), str(answer.get("mime_type") or ""), str(answer.get("sha256") or ""), size)

    async def download_media(self, media_id: str, max_bytes: int) -> tuple[bytes, MediaInfo]:
        info = await self.media_info(media_id)
        if info.file_size > max_bytes:
            raise MediaTooLarge(max_bytes)
        data = await self._with_retries("media download", lambda: self._bytes_request(info.url, max_bytes))
        if info.sha256 and hashlib.sha256(data).hexdigest() != info.sha256.lower():
            raise GraphError(200, "downloaded media does not match its sha256")
        return data, info

    async def fetch_url(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """An image our own servers render (QR codes), without the Graph token."""
        async with aiohttp.ClientSession(timeout=self.timeout) as session:
            async with session.get(url) as response:
                if response.status != 200:
                    raise GraphError(response.status, f"could not fetch image {url}")
                data = await read_bounded(response, max_bytes, MediaTooLarge)
                return data, response.headers.get("Content-Type", "application/octet-stream").split(";")[0]

    # -- plumbing -------------------------------------------------------------

    async def _with_retries(self, what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        def log(exc: BaseException, retry_number: int, delay: float) -> None:
            logger.warning("WhatsApp %s failed (%s); retry %d/%d in %.2fs", what, exc, retry_number, self.retry.retries, delay)

        return await self.retry.call(attempt, retryable=lambda exc: isinstance(exc, GraphError) and exc.retryable,
                                     delay_hint=lambda exc: getattr(exc, "retry_after", None) or None,
                                     on_retry=log, sleep=self._sleep)

    async def _json_request(self, method: str, url: str, **kwargs: Any) -> Dict[str, Any]:
        try:
            async with self.session.request(method, url, **kwargs) as response:
                text = await response.text()
                if response.status >= 400:
                    raise _error_from(response.status, text, response.headers.get("Retry-After"))
                try:
                    return json.loads(text) if text else {}
                except ValueError:
                    raise GraphError(response.status, "answer is not JSON") from None
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise GraphError(0, type(exc).__name__, retryable=True) from None

    async def _bytes_request(self, url: str, max_bytes: int) -> bytes:
        try:
            async with self.session.get(url) as response:
                if response.status >= 400:
                    raise _error_from(response.status, await response.text(), response.headers.get("Retry-After"))
                return await read_bounded(response, max_bytes, MediaTooLarge)
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise GraphError(0, type(exc).__name__, retryable=True) from None


def _error_from(status: int, text: str, retry_after: Optional[str]) -> GraphError:
    code, message = None, text[:300]
    try:
        error = json.loads(text).get("error") or {}
        code, message = error.get("code"), str(error.get("message") or message)[:300]
    except (ValueError, AttributeError):
        pass
    exc = GraphError(status, message, code=code, retryable=status in RETRYABLE_STATUS)
    if retry_after:
        try:
            exc.retry_after = max(0.0, float(retry_after))  # type: ignore[attr-defined]
        except ValueError:
            pass
    return exc
