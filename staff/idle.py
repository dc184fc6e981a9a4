"""Give a paused conversation back to the bot when nobody wrote in it for
``STAFF_IDLE_RESUME_MINUTES`` (0: never): the guest gets a short note that
the assistant answers again, Rasa gets ``resume``, and the conversation's open
handoff requests are closed by ``idle-timeout``. Incidents and payment checks
stay open (resuming the bot fixes neither)."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Callable, List

from staff import audit_log
from staff.periodic import PeriodicScan

logger = logging.getLogger(__name__)

BY = "idle-timeout"
NOTE = {
    "es": "Recepción ha terminado por aquí; el asistente vuelve a responderte. Si nos necesitas, escribe «recepción».",
    "en": "Reception has finished here; the assistant is answering again. If you need us, write \"reception\".",
}


class IdleResumer(PeriodicScan):
    what = "idle resume scan"

    def __init__(self, reader: Any, requests: Any, outreach: Any, rasa: Any, idle_minutes: float,
                 interval: float = 60.0, clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.timezone.utc)) -> None:
        self.reader, self.requests, self.outreach, self.rasa = reader, requests, outreach, rasa
        self.idle = dt.timedelta(minutes=idle_minutes)
        self.interval, self.clock = interval, clock

    async def scan(self) -> List[str]:
        """Resume every idle paused conversation with an open handoff; their ids."""
        handoffs = await asyncio.to_thread(self.requests.open_requests, "handoff")
        by_sender = {}
        for request in handoffs:
            by_sender.setdefault(request.sender_id, []).append(request.id)
        summaries = await asyncio.to_thread(self.reader.summaries, list(by_sender))
        resumed = []
        for sender_id, summary in summaries.items():
            if not summary.paused or summary.last_activity is None or self.clock() - summary.last_activity < self.idle:
                continue
            try:
                await self.outreach.send_to_guest(sender_id, NOTE.get(summary.language or "es", NOTE["es"]),
                                                  author="reception", metadata={"idle_resume": True})
                await self.rasa.resume(sender_id)
            except Exception as exc:  # tried again at the next scan
                logger.error("idle resume of a %s conversation failed: %s", summary.channel or "?", exc)
                continue
            for request_id in by_sender[sender_id]:
                await asyncio.to_thread(self.requests.resolve, request_id, BY)
            audit_log.record(f"system:{BY}", sender_id, summary.channel, "bot_resumed_after_idle")
            resumed.append(sender_id)
        return resumed
