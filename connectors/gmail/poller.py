"""The mailbox loop: list new mail, answer each message, then label it.

Order per message (at-least-once):

1. skip it when the store says it was already answered (label it again);
2. read it (``format=raw``, or ``format=full`` when bigger than
   ``max_raw_bytes``) and normalise it;
3. hand its text to Rasa, collect the turn, send ONE reply in the thread
   (a send that fails after the client's retries goes to the dead-letter
   queue as ``gmail.send``; if even the queue refuses it, step 4 is skipped);
4. record "replied" in the store, then add the handled label and remove
   UNREAD. A crash before 4 leaves the message unread and unlabelled: it is
   processed again after a restart (never lost); with Redis the "replied"
   record stops a second reply when the crash came between send and label.

The mailbox itself is the journal of what is still to answer, so a crash or
kill -9 loses nothing (no ``gmail.inbound`` entry is needed for that). One
message never stops the loop: any error is logged and the message is left for
the next poll; after ``MAX_FAILURES_PER_MESSAGE`` failures in a row (e.g. the
tracker store is down) it goes to the dead-letter queue as ``gmail.inbound``
and is labelled, and the worker runs it again with the queue's backoff.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Optional

from connectors.gmail.api import GmailError

logger = logging.getLogger(__name__)

MAX_FAILURES_PER_MESSAGE = 3  # then it is labelled handled (and logged) so it cannot block the mailbox


def search_label(name: str) -> str:
    """Gmail's search form of a label name: 'HotelBot/Handled' -> 'hotelbot-handled'."""
    return "-".join(name.lower().replace("/", " ").split())


class Poller:
    def __init__(self, channel, poll_seconds: float, limit: int) -> None:
        self.channel, self.poll_seconds, self.limit = channel, poll_seconds, limit
        self.wake = asyncio.Event()
        self.lock = asyncio.Lock()
        self.polls = 0  # completed polls (tests wait on it)
        self.failures: dict = {}
        self._task: Optional[asyncio.Task] = None

    def start(self, on_new_message: Callable[[Any], Awaitable[Any]]) -> None:
        self._task = asyncio.ensure_future(self.run(on_new_message))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):
                pass
            self._task = None

    async def run(self, on_new_message) -> None:
        while True:
            await self.poll_once(on_new_message)
            self.wake.clear()
            try:
                timeout = self.poll_seconds if self.poll_seconds > 0 else None
                await asyncio.wait_for(self.wake.wait(), timeout)
            except asyncio.TimeoutError:
                pass

    async def poll_once(self, on_new_message) -> int:
        """Process what is new; the number of messages looked at."""
        async with self.lock:
            try:
                ids = await self.channel.new_message_ids(self.limit)
            except Exception as exc:  # GmailError, token errors, anything: try again next poll
                logger.warning("Gmail poll failed: %s", exc)
                self.polls += 1
                return 0
            for message_id in ids:
                try:
                    await self.channel.handle(message_id, on_new_message)
                    self.failures.pop(message_id, None)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    count = self.failures.get(message_id, 0) + 1
                    self.failures[message_id] = count
                    level = logging.WARNING if isinstance(exc, GmailError) else logging.ERROR
                    logger.log(level, "Gmail message %s failed (%d/%d): %s", message_id, count, MAX_FAILURES_PER_MESSAGE, exc,
                               exc_info=not isinstance(exc, GmailError))
                    if count >= MAX_FAILURES_PER_MESSAGE:
                        try:
                            await self.channel.give_up(message_id, f"{type(exc).__name__}: {exc}")
                        except Exception as error:  # the queue refused it: keep it unlabelled, try again
                            logger.error("Gmail message %s could not be dead-lettered: %s", message_id, error)
                        else:
                            self.failures.pop(message_id, None)
            self.polls += 1
            return len(ids)
