"""Which messages are new: a search, or Gmail's history after a push.

Without ``GMAIL_PUSH_TOPIC`` every poll searches ``GMAIL_QUERY
-label:<handled>`` (``users.messages.list``).

With it, the channel calls ``users.watch`` (Gmail then publishes every change
of the INBOX to that Pub/Sub topic, whose push subscription calls
``/webhooks/gmail/push``) at start and again every ``GMAIL_WATCH_RENEW_SECONDS``
(Gmail stops after 7 days). The first poll still searches (mail that arrived
while the bot was down); later polls read only what was added since the last
known history id (``users.history.list``), plus the messages whose processing
failed and waits for another try. A history id too old for Gmail (404) means
a full search again. The push body itself only wakes the poller.

Pub/Sub push body: ``{"message": {"data": base64(JSON {"emailAddress",
"historyId"}), "messageId", "publishTime"}, "subscription"}``.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional

from connectors.gmail.api import GmailClient, GmailError

logger = logging.getLogger(__name__)

WATCHED_LABEL = "INBOX"


class MalformedPush(ValueError):
    """The body is not a Pub/Sub push of a Gmail notification."""


@dataclass(frozen=True)
class PushNotice:
    email_address: str
    history_id: str


def parse_push(body: Any) -> PushNotice:
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise MalformedPush("expected {\"message\": {\"data\": ...}}")
    data = body["message"].get("data")
    try:
        decoded = json.loads(base64.b64decode(str(data or ""), altchars=b"-_", validate=False))
    except (binascii.Error, ValueError) as exc:
        raise MalformedPush(f"message.data is not base64 JSON: {type(exc).__name__}") from None
    if not isinstance(decoded, dict) or not decoded.get("historyId"):
        raise MalformedPush("message.data has no historyId")
    return PushNotice(str(decoded.get("emailAddress") or ""), str(decoded["historyId"]))


class MailboxSync:
    def __init__(self, client: GmailClient, query: Callable[[], str], topic: str = "", renew_seconds: float = 86400.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client, self.query, self.topic, self.renew_seconds = client, query, topic, renew_seconds
        self.clock = clock
        self.history_id: Optional[str] = None  # where the next history read starts (push mode)
        self.watched_at: Optional[float] = None
        self.pushes = 0

    @property
    def push_mode(self) -> bool:
        return bool(self.topic)

    async def renew_watch(self) -> None:
        """users.watch when never done or due again; a failure is logged and tried at the next poll."""
        if not self.push_mode or (self.watched_at is not None and self.clock() - self.watched_at < self.renew_seconds):
            return
        try:
            answer = await self.client.watch(self.topic, [WATCHED_LABEL])
        except GmailError as exc:
            logger.warning("Gmail users.watch failed (%s); polling by search until it works", exc)
            return
        self.watched_at = self.clock()
        logger.info("Gmail pushes changes to %s (watch expires at %s ms)", self.topic, answer.get("expiration"))

    def note_push(self, notice: PushNotice) -> None:
        self.pushes += 1

    async def new_message_ids(self, limit: int, waiting: Iterable[str]) -> List[str]:
        """New message ids, oldest first; ``waiting``: ids whose processing failed earlier."""
        await self.renew_watch()
        if not self.push_mode:
            return await self.client.list_message_ids(self.query(), limit)
        if self.history_id is None:
            return await self._full_sync(limit)
        try:
            added, self.history_id = await self.client.added_since(self.history_id, WATCHED_LABEL, limit)
        except GmailError as exc:
            if exc.status != 404:
                raise
            logger.warning("Gmail history %s is too old; searching the mailbox instead", self.history_id)
            return await self._full_sync(limit)
        retry = [message_id for message_id in waiting if message_id not in added]
        return (retry + added)[:limit]

    async def _full_sync(self, limit: int) -> List[str]:
        # the history id first: whatever arrives during the search is read from history next time
        history_id = str((await self.client.profile()).get("historyId") or "")
        ids = await self.client.list_message_ids(self.query(), limit)
        self.history_id = history_id or None
        return ids
