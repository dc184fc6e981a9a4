"""Fault injection with real processes: the action server (``python -m
actions.server``) with its DLQ and breaker state in a private redis-server, an
embedded SQLite PMS that the test takes away and brings back, and a fake
Rasa HTTP API.

1. PMS down: the guest's booking is saved (utter_request_saved); the worker
   retries and fails; the action server is killed (SIGKILL).
2. PMS back, server restarted: the worker books, and is killed again while
   telling the guest (the booking is written, the entry not yet acknowledged).
3. Server restarted: once the entry's lease expires it is redone; the retry
   finds the booking by its request id: one booking, and the guest is told.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from actions.config import PROJECT_ROOT
from actions.pms.local import LocalPMS
from actions.webhook_auth import action_server_token, authorization_header
from dlq import DLQSettings, build_queue
from tests.actions.fake_rasa_api import FakeRasaAPI
from tests.stack_common import PrivateRedis, free_port, wait_http

GUEST = "Restart Test Guest"
CHECKIN = dt.date.today() + dt.timedelta(days=40)
CHECKOUT = CHECKIN + dt.timedelta(days=2)
LEASE_SECONDS = 6


class ActionServer:
    def __init__(self, env: dict, log: Path) -> None:
        self.env, self.log_path = env, log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> "ActionServer":
        log = open(self.log_path, "a")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "actions.server", "--port", str(self.port), "--host", "127.0.0.1"],
            cwd=PROJECT_ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        log.close()
        wait_http(f"{self.url}/health", self.process, self.log_path, 60)
        return self

    def kill9(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def booking_call(sender_id: str) -> dict:
    slots = {"language": "en", "checkin": CHECKIN.isoformat(), "checkout": CHECKOUT.isoformat(), "guests": 2,
             "room_type": "double", "guest_name": GUEST, "requested_slot": None}
    latest = {"text": "Restart Test Guest", "intent": {"name": "inform", "confidence": 0.99}, "entities": []}
    return {
        "next_action": "action_create_booking", "sender_id": sender_id, "version": "3.6.21", "domain": {},
        "tracker": {"sender_id": sender_id, "slots": slots, "latest_message": latest, "events": [],
                    "paused": False, "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"},
    }


def guest_bookings(path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT reference, request_id FROM bookings WHERE guest_name = ?", (GUEST,)).fetchall()


async def wait_until(condition, timeout: float, what: str):
    """Poll ``condition`` (plain or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def metric(text: str, line_start: str) -> float:
    for line in text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{line_start} not in /metrics")


@pytest.fixture
def stack(tmp_path):
    redis_server = PrivateRedis(tmp_path)
    redis_server.start()
    rasa = FakeRasaAPI(token="restart-token").start()
    pms_path = tmp_path / "pms.sqlite3"
    LocalPMS(f"sqlite:///{pms_path}")  # schema and demo hotel, as the server would make them
    env = dict(
        os.environ,
        PMS_DATABASE_URL=f"sqlite:///{pms_path}",
        ASSISTANT_DATABASE_URL=f"sqlite:///{tmp_path / 'assistant.sqlite3'}",
        REDIS_URL=redis_server.url,
        DLQ_RETRY_BACKOFF_BASE="0.5", DLQ_WORKER_INTERVAL="0.2", DLQ_MAX_RETRIES="50",
        DLQ_LEASE_SECONDS=str(LEASE_SECONDS),
        PMS_BREAKER_FAIL_MAX="2", PMS_BREAKER_RESET_SECONDS="1",
        RASA_URL=rasa.url, RASA_TOKEN=rasa.token, QR_SECRET="restart-test-secret",
    )
    servers: list[ActionServer] = []

    def new_server() -> ActionServer:
        server = ActionServer(env, tmp_path / "server.log")
        servers.append(server)
        return server.start()

    yield dict(redis=redis_server, rasa=rasa, pms_path=pms_path, env=env, new_server=new_server, tmp=tmp_path)
    for server in servers:
        server.stop()
    rasa.stop()
    redis_server.kill()


async def test_saved_booking_survives_two_crashes_and_is_made_exactly_once(stack):
    pms_path: Path = stack["pms_path"]
    rasa: FakeRasaAPI = stack["rasa"]
    queue = build_queue(DLQSettings(redis_url=stack["redis"].url,
                                    database_url=stack["env"]["ASSISTANT_DATABASE_URL"]), record_metrics=False)

    # 1. the PMS database goes away (a directory where the file was)
    shutil.move(pms_path, pms_path.with_suffix(".away"))
    pms_path.mkdir()
    first = stack["new_server"]()
    answer = requests.post(f"{first.url}/webhook", json=booking_call("guest-restart"), timeout=30,
                           headers={"Authorization": authorization_header(action_server_token())}).json()
    assert [r.get("response") for r in answer["responses"]] == ["utter_request_saved"]
    [entry] = await queue.list_queued()
    assert (entry.kind, entry.conversation_id) == ("pms.create_booking", "guest-restart")

    async def retried() -> bool:
        return (await queue.get(entry.id)).attempts >= 1

    await wait_until(retried, 20, "the worker to retry")
    scraped = requests.get(f"{first.url}/metrics", timeout=5).text
    assert metric(scraped, "pms_circuit_breaker_state ") == 1  # 2 failures: open
    assert metric(scraped, 'pms_circuit_breaker_calls_total{operation="create_booking",result="failure"}') >= 1
    assert metric(scraped, 'action_latency_seconds_count{action="action_create_booking"}') == 1
    assert "dlq_messages_total" in scraped
    first.kill9()

    # 2. the PMS is back; Rasa stalls on the notification and the server is killed meanwhile
    pms_path.rmdir()
    shutil.move(pms_path.with_suffix(".away"), pms_path)
    rasa.hang_next(30)
    second = stack["new_server"]()
    [(reference, request_id)] = await wait_until(lambda: guest_bookings(pms_path), 30, "the retried booking")
    assert request_id == entry.payload["request_id"]
    await wait_until(rasa.hung.is_set, 10, "the notification to start")
    second.kill9()
    assert (await queue.get(entry.id)) is not None  # not acknowledged: it will come back

    # 3. restarted: redone after the lease, found by request id, the guest is told
    third = stack["new_server"]()
    [call] = rasa.wait_for_calls(1, timeout=LEASE_SECONDS + 30)
    assert (call.conversation_id, call.intent) == ("guest-restart", "EXTERNAL_saved_request")
    assert call.entities == {"saved_request": "pms.create_booking", "outcome": "done", "booking_ref": reference}
    assert guest_bookings(pms_path) == [(reference, request_id)]
    async def acknowledged() -> bool:
        return await queue.size() == 0

    await wait_until(acknowledged, 10, "the entry to be acknowledged")
    scraped = requests.get(f"{third.url}/metrics", timeout=5).text
    assert metric(scraped, "pms_circuit_breaker_state ") == 0
    assert metric(scraped, 'pms_circuit_breaker_calls_total{operation="create_booking",result="success"}') == 1
    await queue.close()
