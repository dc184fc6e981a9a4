"""What the CLI and the web page share, built from one ``StaffConfig``: the
tracker reader, the handoff desk, the reply and payment desks (which write to
guests through ``connectors.outreach``), the desk store (assignments, notes),
the notifier and the metrics."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Optional

from actions.rasa_api import RasaAPI
from actions.staff_requests import StaffRequestStore
from staff.config import StaffConfig
from staff.dead_letters import DeadLetterDesk
from staff.desk_store import DeskStore
from staff.handoffs import HandoffDesk
from staff.metrics import StaffMetrics, waiting_snapshot
from staff.tracker_reader import TrackerReader


@dataclass
class StaffConsole:
    config: StaffConfig
    reader: TrackerReader
    handoffs: HandoffDesk
    requests: Optional[StaffRequestStore] = None
    desk: Optional[DeskStore] = None
    rasa: Optional[RasaAPI] = None
    _outreach: Any = field(default=None, repr=False)
    _queue: Any = field(default=None, repr=False)
    metrics: Optional[StaffMetrics] = None

    @classmethod
    def from_config(cls, config: StaffConfig) -> "StaffConsole":
        from staff.reception import default_hotel_id

        reader = TrackerReader(config.tracker_store_url, default_hotel_id())
        requests = StaffRequestStore(config.assistant_database_url)
        rasa = RasaAPI(config.rasa_url, config.rasa_token)
        console = cls(config, reader, HandoffDesk(requests, reader, rasa), requests, DeskStore(config.assistant_database_url), rasa)
        console.metrics = StaffMetrics(console.waiting_snapshot)
        from staff import audit_log

        audit_log.use_database(config.assistant_database_url)
        return console

    # -- built on first use, inside the event loop that uses them ------------------------

    def queue(self) -> Any:
        if self._queue is None:
            from dlq import DLQSettings, build_queue

            self._queue = build_queue(DLQSettings.from_env(), record_metrics=False)
        return self._queue

    @property
    def outreach(self):
        if self._outreach is None:
            from connectors.outreach import Outreach

            self._outreach = Outreach.from_env(rasa=self.rasa, queue=self.queue())
        return self._outreach

    @property
    def replies(self):
        from staff.reply import ReplyDesk

        return ReplyDesk(self.outreach, self.reader, self.requests, self.desk, self.rasa, self.metrics)

    @property
    def payments(self):
        from staff.payments import PaymentDesk

        return PaymentDesk(self.requests, self.outreach)

    def notifier(self):
        from staff.notifications import Notifier, smtp_from_config

        return Notifier(smtp_from_config(self.config.smtp_url, self.config.smtp_from), self.queue(), self.outreach,
                        self.config.public_url)

    def open_dead_letters(self) -> DeadLetterDesk:
        """A desk over the queue of DLQ_* settings; call inside the event loop
        that will use it, and ``await desk.close()`` when done."""
        from dlq import DLQSettings, build_queue

        return DeadLetterDesk(build_queue(DLQSettings.from_env(), record_metrics=False))

    # -- what the pages and metrics read ---------------------------------------------------

    def waiting_snapshot(self) -> list:
        from staff.reception import receptions

        found = self.requests.open_requests() if self.requests else []
        summaries = self.reader.summaries(r.sender_id for r in found)
        hotel_of = {s: summary.hotel_id for s, summary in summaries.items()}
        for r in found:
            hotel_of.setdefault(r.sender_id, self.reader.default_hotel)
        answered = self.desk.first_replies(r.id for r in found) if self.desk else {}
        now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        return waiting_snapshot(found, hotel_of, answered, receptions().keys(), now)

    async def aclose(self) -> None:
        if self._outreach is not None:
            await self._outreach.close()
        if self._queue is not None:
            await self._queue.close()
            self._queue = None

    def close(self) -> None:
        self.reader.close()
        if self.desk is not None:
            self.desk.close()
