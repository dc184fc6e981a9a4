"""Gmail REST API client (the calls the channel uses).

    GET  {base}/gmail/v1/users/{user}/profile                     -> {"emailAddress", "historyId"}
    GET  {base}/gmail/v1/users/{user}/messages?q=&pageToken=      -> {"messages": [{"id", "threadId"}], "nextPageToken"}
    GET  {base}/gmail/v1/users/{user}/messages/{id}?format=raw|full|metadata
    POST {base}/gmail/v1/users/{user}/messages/send               {"raw": base64url RFC 2822, "threadId"}
    POST {base}/gmail/v1/users/{user}/messages/{id}/modify        {"addLabelIds", "removeLabelIds"}
    GET  {base}/gmail/v1/users/{user}/labels                      -> {"labels": [{"id", "name"}]}
    POST {base}/gmail/v1/users/{user}/labels                      {"name", ...} -> {"id", "name"}
    POST {base}/gmail/v1/users/{user}/watch                       {"topicName", "labelIds"} -> {"historyId", "expiration"}
    GET  {base}/gmail/v1/users/{user}/history?startHistoryId=&historyTypes=messageAdded&labelId=
                                                   -> {"history": [{"id", "messagesAdded": [{"message"}]}], "historyId", "nextPageToken"}

Retries 429, 5xx and connection errors with the project's retry policy
(dlq/retry.py: exponential backoff, ``Retry-After`` honoured, capped at
30 s, ±20 % jitter); on 401 the access token is renewed once. The token only
travels in the Authorization header and is never logged.
"""
from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional
from urllib.parse import quote

import aiohttp

from connectors.gmail.oauth import TokenError, TokenProvider
from connectors.http_body import read_bounded
from dlq.retry import RetryPolicy

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 30.0


class GmailError(Exception):
    def __init__(self, status: int, message: str, retryable: bool = False) -> None:
        super().__init__(f"Gmail API {status or 'connection error'}: {message}")
        self.status, self.detail, self.retryable = status, message, retryable
        self.retry_after: Optional[float] = None


class ResponseTooLarge(GmailError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"answer larger than {limit} bytes")


def b64url_decode(data: str) -> bytes:
    data = (data or "").strip()
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


class GmailClient:
    def __init__(
        self, api_url: str, user_id: str, tokens: TokenProvider, retries: int = 4, retry_base_seconds: float = 0.5,
        timeout_seconds: float = 20.0, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.base = f"{api_url.rstrip('/')}/gmail/v1/users/{quote(user_id, safe='@')}"
        self.tokens = tokens
        self.retry = RetryPolicy(retries, retry_base_seconds, max_delay=MAX_RETRY_AFTER_SECONDS, jitter=0.2)
        self.timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._sleep = sleep
        self._session: Optional[aiohttp.ClientSession] = None

    def __repr__(self) -> str:
        return f"GmailClient(base={self.base!r})"

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    # -- API ------------------------------------------------------------------

    async def profile(self) -> Dict[str, Any]:
        return await self.request("GET", "/profile")

    async def list_message_ids(self, query: str, limit: int) -> List[str]:
        """Ids matching ``query``, oldest first (the API lists newest first)."""
        ids: List[str] = []
        page: Optional[str] = None
        while len(ids) < limit:
            params = {"q": query, "maxResults": str(min(500, limit))}
            if page:
                params["pageToken"] = page
            answer = await self.request("GET", "/messages", params=params)
            ids.extend(str(m["id"]) for m in answer.get("messages") or [] if m.get("id"))
            page = answer.get("nextPageToken")
            if not page:
                break
        return list(reversed(ids[:limit]))

    async def get_message(self, message_id: str, fmt: str, max_bytes: int) -> Dict[str, Any]:
        return await self.request("GET", f"/messages/{quote(message_id)}", params={"format": fmt}, max_bytes=max_bytes)

    async def send(self, raw: bytes, thread_id: Optional[str]) -> Dict[str, Any]:
        body: Dict[str, Any] = {"raw": b64url_encode(raw)}
        if thread_id:
            body["threadId"] = thread_id
        return await self.request("POST", "/messages/send", json=body)

    async def modify(self, message_id: str, add: List[str], remove: List[str]) -> Dict[str, Any]:
        body = {"addLabelIds": add, "removeLabelIds": remove}
        return await self.request("POST", f"/messages/{quote(message_id)}/modify", json=body)

    async def label_id(self, name: str) -> str:
        """The id of the user label ``name``, created when missing."""
        answer = await self.request("GET", "/labels")
        for label in answer.get("labels") or []:
            if label.get("name") == name:
                return str(label["id"])
        created = await self.request(
            "POST", "/labels", json={"name": name, "labelListVisibility": "labelShow", "messageListVisibility": "show"}
        )
        return str(created["id"])

    async def watch(self, topic: str, label_ids: List[str]) -> Dict[str, Any]:
        """users.watch: Gmail publishes mailbox changes to the Pub/Sub ``topic`` (renew within 7 days)."""
        return await self.request("POST", "/watch", json={"topicName": topic, "labelIds": label_ids,
                                                          "labelFilterBehavior": "include"})

    async def added_since(self, start_history_id: str, label_id: str, limit: int) -> tuple[List[str], str]:
        """Ids of messages added to ``label_id`` after ``start_history_id`` (oldest first) and the
        mailbox's latest history id. A GmailError with status 404 means the start is too old."""
        ids: List[str] = []
        latest = start_history_id
        page: Optional[str] = None
        while len(ids) < limit:
            params = {"startHistoryId": start_history_id, "historyTypes": "messageAdded", "labelId": label_id,
                      "maxResults": str(min(500, limit))}
            if page:
                params["pageToken"] = page
            answer = await self.request("GET", "/history", params=params)
            latest = str(answer.get("historyId") or latest)
            for record in answer.get("history") or []:
                for added in record.get("messagesAdded") or []:
                    message_id = str((added.get("message") or {}).get("id") or "")
                    if message_id and message_id not in ids:
                        ids.append(message_id)
            page = answer.get("nextPageToken")
            if not page:
                break
        if len(ids) >= limit:  # more than one batch: start from the same point next time
            return ids[:limit], start_history_id
        return ids, latest

    async def fetch_url(self, url: str, max_bytes: int) -> tuple[bytes, str]:
        """An image our own servers render (QR codes), without the Gmail token."""
        try:
            async with aiohttp.ClientSession(timeout=self.timeout) as session:
                async with session.get(url) as answer:
                    if answer.status != 200:
                        raise GmailError(answer.status, f"could not fetch {url}")
                    data = await read_bounded(answer, max_bytes, ResponseTooLarge)
                    return data, answer.headers.get("Content-Type", "application/octet-stream").split(";")[0]
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise GmailError(0, type(exc).__name__) from None

    # -- plumbing -------------------------------------------------------------

    async def request(self, method: str, path: str, max_bytes: int = 64 * 1024 * 1024, **kwargs: Any) -> Dict[str, Any]:
        renewed = False

        async def attempt() -> Dict[str, Any]:
            nonlocal renewed
            try:
                return await self._once(method, path, max_bytes, **kwargs)
            except GmailError as exc:
                if exc.status != 401 or renewed:
                    raise
                renewed = True  # an expired or revoked access token: a new one, once, at once
                self.tokens.invalidate()
                return await self._once(method, path, max_bytes, **kwargs)

        def log_retry(exc: BaseException, number: int, delay: float) -> None:
            logger.warning("Gmail %s %s failed (%s); retry %d/%d in %.2fs", method, path, exc, number,
                           self.retry.retries, delay)

        return await self.retry.call(
            attempt,
            retryable=lambda exc: isinstance(exc, GmailError) and exc.retryable,
            delay_hint=lambda exc: getattr(exc, "retry_after", None) or None,
            on_retry=log_retry, sleep=self._sleep,
        )

    async def _once(self, method: str, path: str, max_bytes: int, **kwargs: Any) -> Dict[str, Any]:
        try:
            token = await self.tokens.token()
        except TokenError as exc:
            raise GmailError(exc.status if exc.status != 400 else 401, str(exc), retryable=exc.retryable) from None
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with self.session.request(method, self.base + path, headers=headers, **kwargs) as answer:
                data = await read_bounded(answer, max_bytes, ResponseTooLarge)
                if answer.status >= 400:
                    exc = GmailError(answer.status, _error_message(data), retryable=answer.status in RETRYABLE_STATUS)
                    try:
                        exc.retry_after = max(0.0, float(answer.headers.get("Retry-After", "")))
                    except ValueError:
                        pass
                    raise exc
                try:
                    return json.loads(data) if data else {}
                except ValueError:
                    raise GmailError(answer.status, "answer is not JSON") from None
        except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as exc:
            raise GmailError(0, type(exc).__name__, retryable=True) from None


def _error_message(data: bytes) -> str:
    try:
        error = json.loads(data).get("error") or {}
        return str(error.get("message") or error)[:300]
    except (ValueError, AttributeError):
        return data[:300].decode("utf-8", "replace")
