"""Staff write to a guest: the console's reply box and ``python -m staff reply``.

The message goes out through ``connectors.outreach`` on the guest's own
channel (outside WhatsApp's 24-hour window as the hotel's
``reception.reply_template``, else the channel's template) and is recorded as
the hotel's message with the staff member's name. While staff talk to the
guest the bot stays paused: a conversation that was not paused (an after-hours
request) is paused with the first reply, and only "Resume bot" (or the idle
timeout, ``staff/idle.py``) gives it back. The conversation's open requests
get their first-reply time (metric ``staff_first_reply_seconds``), and the
action is written to the audit log when there is one.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Callable, Optional

from actions.rasa_api import RasaAPI
from connectors.outreach import Delivery, Outreach, Route
from staff import audit_log
from staff.desk_store import DeskStore
from staff.metrics import StaffMetrics
from staff.reception import reception_of
from staff.tracker_reader import ConversationNotFound, TrackerReader

logger = logging.getLogger(__name__)

MAX_REPLY_CHARS = 4000


class ReplyDesk:
    def __init__(self, outreach: Outreach, reader: TrackerReader, requests: Any, desk: DeskStore, rasa: RasaAPI,
                 metrics: Optional[StaffMetrics] = None, receptions: Callable = reception_of) -> None:
        self.outreach, self.reader, self.requests, self.desk, self.rasa = outreach, reader, requests, desk, rasa
        self.metrics, self.receptions = metrics, receptions

    def _template(self, hotel_id: str):
        return self.receptions(hotel_id).reply_template

    async def preview(self, sender_id: str) -> Route:
        """How a reply would go now (free text or template), for the page to say before sending."""
        hotel_id = await asyncio.to_thread(self.reader.hotel_of, sender_id)
        if hotel_id is None:
            raise ConversationNotFound(f"no conversation {sender_id!r}")
        return await self.outreach.route(sender_id, self._template(hotel_id))

    async def reply(self, sender_id: str, text: str, user: str) -> Delivery:
        text = (text or "").strip()
        if not text:
            raise ValueError("the reply is empty")
        if len(text) > MAX_REPLY_CHARS:
            raise ValueError(f"a reply holds at most {MAX_REPLY_CHARS} characters")
        summary = (await asyncio.to_thread(self.reader.summaries, [sender_id])).get(sender_id)
        if summary is None:
            raise ConversationNotFound(f"no conversation {sender_id!r}")
        delivery = await self.outreach.send_to_guest(sender_id, text, author=user, template=self._template(summary.hotel_id),
                                                     metadata={"staff_reply": True})
        if not summary.paused:
            try:
                await self.rasa.append_events(sender_id, [{"event": "pause"}])
            except Exception as exc:  # the reply is out; say it, do not hide it
                logger.error("staff %r replied to %r but the bot could not be paused: %s", user, sender_id, exc)
        await asyncio.to_thread(self._note_first_reply, sender_id, summary.hotel_id, user)
        audit_log.record(user, sender_id, delivery.channel, "staff_reply",
                         f"{delivery.status}{' as template' if delivery.as_template else ''}")
        logger.info("staff %r replied to %s conversation (%s%s)", user, delivery.channel, delivery.status,
                    ", template" if delivery.as_template else "")
        return delivery

    def _note_first_reply(self, sender_id: str, hotel_id: str, user: str) -> None:
        open_ones = [r for r in self.requests.open_requests() if r.sender_id == sender_id]
        first = set(self.desk.note_first_reply([r.id for r in open_ones], user))
        if self.metrics is None:
            return
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        for request in open_ones:
            if request.id in first and request.created_at is not None:
                self.metrics.first_reply(hotel_id, (now - request.created_at).total_seconds())
