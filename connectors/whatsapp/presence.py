"""What the guest sees while a turn runs: read ticks and "typing…".

Meta's typing indicator is a ``status: read`` request for the guest's message
with ``typing_indicator: {"type": "text"}`` (it marks the message read too);
WhatsApp hides it when the reply arrives or after 25 seconds. ``start`` sends
it and repeats it every ``refresh_seconds`` while the turn runs (at most
``max_refreshes`` times); ``first_sent`` waits for the first request (up to
2 s): the channel awaits it before handing the message to Rasa, so a process
that dies while Graph is slow dies before the turn ran, and the journal's
re-run answers the turn once (a turn run but not yet marked done would be run
twice). ``before_reply`` stops the repeats before the answer goes out. A failure is logged, never raised: it must not cost
the guest the answer. With ``typing=False`` only the read receipt is sent.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

from connectors.whatsapp.graph import GraphClient, GraphError

logger = logging.getLogger(__name__)

REFRESH_SECONDS = 20.0  # below WhatsApp's 25 s
MAX_REFRESHES = 5
FIRST_REQUEST_WAIT_SECONDS = 2.0


class TypingIndicator:
    def __init__(self, graph: GraphClient, phone_number_id: str, message_id: str, *, typing: bool = True,
                 refresh_seconds: float = REFRESH_SECONDS, max_refreshes: int = MAX_REFRESHES) -> None:
        self.graph, self.phone_number_id, self.message_id = graph, phone_number_id, message_id
        self.typing, self.refresh_seconds, self.max_refreshes = typing, refresh_seconds, max_refreshes
        self._task: Optional[asyncio.Task] = None
        self._first: Optional[asyncio.Future] = None
        self.sent = 0

    @property
    def body(self) -> dict:
        body = {"status": "read", "message_id": self.message_id}
        if self.typing:
            body["typing_indicator"] = {"type": "text"}
        return body

    def start(self) -> None:
        if self._task is None:
            self._first = asyncio.get_running_loop().create_future()
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def first_sent(self) -> None:
        """The first read/typing request answered, failed or given up after 2 s."""
        if self._first is None:
            return
        try:  # a Graph that is slow or retrying must not hold the answer up for long
            await asyncio.wait_for(asyncio.shield(self._first), timeout=FIRST_REQUEST_WAIT_SECONDS)
        except asyncio.TimeoutError:
            pass

    async def before_reply(self) -> None:
        """Awaited before the turn's first message: the first request done, no repeats."""
        if self._task is None or self._first is None:
            return
        await self.first_sent()
        await self.stop()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        try:
            await self._send_once()
        finally:
            if self._first is not None and not self._first.done():
                self._first.set_result(None)
        if not self.typing:
            return
        for _ in range(self.max_refreshes):
            await asyncio.sleep(self.refresh_seconds)
            await self._send_once()

    async def _send_once(self) -> None:
        try:
            await self.graph.send_message(self.phone_number_id, self.body)
            self.sent += 1
        except GraphError as exc:
            logger.info("could not mark %s as read / typing: %s", self.message_id, exc)
