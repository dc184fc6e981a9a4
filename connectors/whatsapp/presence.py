"""What the guest sees while a turn runs: read ticks and "typing…".

Meta's typing indicator is a ``status: read`` request for the guest's message
with ``typing_indicator: {"type": "text"}`` (it marks the message read too);
WhatsApp hides it when the reply arrives or after 25 seconds. ``start`` sends
it without holding the turn up and repeats it every ``refresh_seconds`` while
the turn runs (at most ``max_refreshes`` times); ``before_reply`` waits for the
request in flight (up to 2 s), so the indicator does not reach the guest after
the answer, and stops the repeats. A failure is logged, never raised: it must not cost
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

    async def before_reply(self) -> None:
        """Awaited before the turn's first message: the first request done, no repeats."""
        if self._task is None or self._first is None:
            return
        try:  # a Graph that is slow or retrying must not hold the answer up for long
            await asyncio.wait_for(asyncio.shield(self._first), timeout=FIRST_REQUEST_WAIT_SECONDS)
        except asyncio.TimeoutError:
            pass
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
