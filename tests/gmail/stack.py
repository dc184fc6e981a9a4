"""The whole Gmail path as processes: the fake Gmail API (thread), the action
server and ``rasa run`` with the trained model, ``connectors.gmail.GmailInput``
and the metrics endpoint (tests/stack_common.py). Trains nothing."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Dict, Optional

import requests

from tests.fakes.gmail_server import GmailServer
from tests.gmail.conftest import CLIENT_ID, CLIENT_SECRET, HOTEL_ADDRESS, REFRESH_TOKEN
from tests.stack_common import AUTH_TOKEN, MODEL, RasaStack

__all__ = ["GmailStack", "MODEL", "AUTH_TOKEN"]


class GmailStack(RasaStack):
    channel_classes = ("connectors.gmail.GmailInput",)
    health_path = "/webhooks/gmail/"

    def __init__(self, workdir: Path, redis_url: str = "", redis_prefix: str = "gmail-e2e",
                 extra_env: Optional[Dict[str, str]] = None) -> None:
        super().__init__(workdir, extra_env)
        self.redis_url, self.redis_prefix = redis_url, redis_prefix
        self.gmail = GmailServer(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, address=HOTEL_ADDRESS)

    def start_fakes(self) -> None:
        self.gmail.start()

    def stop_fakes(self) -> None:
        self.gmail.stop()

    def channel_env(self) -> Dict[str, str]:
        return dict(
            GMAIL_CLIENT_ID=CLIENT_ID,
            GMAIL_CLIENT_SECRET=CLIENT_SECRET,
            GMAIL_REFRESH_TOKEN=REFRESH_TOKEN,
            GMAIL_API_URL=self.gmail.url,
            GMAIL_TOKEN_URL=f"{self.gmail.url}/token",
            GMAIL_POLL_SECONDS="0.5",
            GMAIL_RETRY_BASE_SECONDS="0.05",
            GMAIL_REDIS_URL=self.redis_url,
            GMAIL_REDIS_PREFIX=self.redis_prefix,
        )

    def health(self) -> dict:
        return requests.get(f"{self.rasa_url}/webhooks/gmail/", timeout=5).json()

    def wait_reply(self, address: str, count: int = 1, timeout: float = 60) -> list:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.gmail.sent_to(address)
            if len(sent) >= count:
                return sent
            time.sleep(0.1)
        raise AssertionError(f"no reply to {address} in {timeout} s:\n{self.rasa_log()[-3000:]}")

    def wait_labelled(self, message_id: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "UNREAD" not in self.gmail.label_names(message_id):
                return
            time.sleep(0.1)
        raise AssertionError(f"{message_id} was not labelled handled")
