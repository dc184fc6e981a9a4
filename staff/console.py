"""What the CLI and the web page share: the tracker reader, the handoff desk
and the dead-letter desk, built from one ``StaffConfig``."""
from __future__ import annotations

from dataclasses import dataclass

from actions.rasa_api import RasaAPI
from actions.staff_requests import StaffRequestStore
from staff.config import StaffConfig
from staff.dead_letters import DeadLetterDesk
from staff.handoffs import HandoffDesk
from staff.tracker_reader import TrackerReader


@dataclass
class StaffConsole:
    config: StaffConfig
    reader: TrackerReader
    handoffs: HandoffDesk

    @classmethod
    def from_config(cls, config: StaffConfig) -> "StaffConsole":
        reader = TrackerReader(config.tracker_store_url)
        requests = StaffRequestStore(config.assistant_database_url)
        return cls(config, reader, HandoffDesk(requests, reader, RasaAPI(config.rasa_url, config.rasa_token)))

    def open_dead_letters(self) -> DeadLetterDesk:
        """A desk over the queue of DLQ_* settings; call inside the event loop
        that will use it, and ``await desk.close()`` when done."""
        from dlq import DLQSettings, build_queue

        return DeadLetterDesk(build_queue(DLQSettings.from_env(), record_metrics=False))

    def close(self) -> None:
        self.reader.close()
