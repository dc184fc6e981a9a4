"""The whole Gmail path as processes: the fake Gmail API (thread), the action
server and ``rasa run`` with the trained model and
``connectors.gmail.GmailInput`` from credentials.yml. Trains nothing."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import requests

from tests.fakes.gmail_server import GmailServer
from tests.gmail.conftest import CLIENT_ID, CLIENT_SECRET, HOTEL_ADDRESS, REFRESH_TOKEN
from tests.whatsapp.stack import AUTH_TOKEN, MODEL, RASA, ROOT, _wait_http, free_port

__all__ = ["GmailStack", "MODEL", "AUTH_TOKEN"]


class GmailStack:
    def __init__(self, workdir: Path, redis_url: str = "", redis_prefix: str = "gmail-e2e", extra_env: Optional[Dict[str, str]] = None) -> None:
        self.workdir, self.redis_url, self.redis_prefix = workdir, redis_url, redis_prefix
        self.extra_env = extra_env or {}
        self.gmail = GmailServer(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, address=HOTEL_ADDRESS)
        self.action: Optional[subprocess.Popen] = None
        self.rasa: Optional[subprocess.Popen] = None
        self.logs: list = []
        self.starts = 0

    def start(self) -> "GmailStack":
        self.gmail.start()
        action_port = free_port()
        self.action_url = f"http://127.0.0.1:{action_port}"
        self.env = dict(
            os.environ,
            PMS_DATABASE_URL=f"sqlite:///{self.workdir / 'pms.sqlite3'}",
            ASSISTANT_DATABASE_URL=f"sqlite:///{self.workdir / 'assistant.sqlite3'}",
            ACTION_SERVER_PUBLIC_URL=self.action_url,
            QR_SECRET="e2e-qr-secret",
            PYTHONPATH=str(ROOT),
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        self.action = self._spawn("action-server", [sys.executable, "-m", "actions.server", "--port", str(action_port), "--host", "127.0.0.1"], self.env)
        _wait_http(f"{self.action_url}/health", self.action, self.workdir / "action-server.log", 90)
        (self.workdir / "credentials.yml").write_text("rest:\nconnectors.gmail.GmailInput:\n", encoding="utf-8")
        (self.workdir / "endpoints.yml").write_text(f'action_endpoint:\n  url: "{self.action_url}/webhook"\n', encoding="utf-8")
        self.start_rasa()
        return self

    def start_rasa(self) -> None:
        self.starts += 1
        port = free_port()
        self.rasa_url = f"http://127.0.0.1:{port}"
        env = dict(
            self.env,
            GMAIL_CLIENT_ID=CLIENT_ID,
            GMAIL_CLIENT_SECRET=CLIENT_SECRET,
            GMAIL_REFRESH_TOKEN=REFRESH_TOKEN,
            GMAIL_API_URL=self.gmail.url,
            GMAIL_TOKEN_URL=f"{self.gmail.url}/token",
            GMAIL_POLL_SECONDS="0.5",
            GMAIL_RETRY_BASE_SECONDS="0.05",
            GMAIL_REDIS_URL=self.redis_url,
            GMAIL_REDIS_PREFIX=self.redis_prefix,
            **self.extra_env,
        )
        self.rasa = self._spawn(
            f"rasa-{self.starts}",
            [str(RASA), "run", "--model", str(MODEL), "--credentials", str(self.workdir / "credentials.yml"),
             "--endpoints", str(self.workdir / "endpoints.yml"), "--port", str(port), "-i", "127.0.0.1",
             "--enable-api", "--auth-token", AUTH_TOKEN],
            env,
        )
        _wait_http(f"{self.rasa_url}/webhooks/gmail/", self.rasa, self.workdir / f"rasa-{self.starts}.log", 240)

    def stop_rasa(self) -> None:
        if self.rasa is not None:
            self.rasa.terminate()
            try:
                self.rasa.wait(30)
            except subprocess.TimeoutExpired:
                self.rasa.kill()
                self.rasa.wait(5)
            self.rasa = None

    def _spawn(self, name: str, command: list, env: Dict[str, str]) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "w")
        self.logs.append(log)
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        self.stop_rasa()
        if self.action is not None:
            self.action.terminate()
            try:
                self.action.wait(20)
            except subprocess.TimeoutExpired:
                self.action.kill()
        for log in self.logs:
            log.close()
        self.gmail.stop()

    def rasa_log(self) -> str:
        return (self.workdir / f"rasa-{self.starts}.log").read_text(errors="replace")

    def health(self) -> dict:
        return requests.get(f"{self.rasa_url}/webhooks/gmail/", timeout=5).json()

    def tracker(self, conversation_id: str) -> dict:
        answer = requests.get(f"{self.rasa_url}/conversations/{conversation_id}/tracker", params={"token": AUTH_TOKEN}, timeout=10)
        answer.raise_for_status()
        return answer.json()

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
