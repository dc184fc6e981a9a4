"""Fault injection end to end: one ``rasa run`` (trained model) with the
WhatsApp and Gmail channels and the metrics endpoint, the real action server,
a PostgreSQL tracker store (a database of its own, reached through a TCP
proxy that can cut it), a private Redis for the dead-letter queue and the
channels' state, and the fake Graph and Gmail APIs.

- Graph refuses every retry -> ``whatsapp.send`` entry -> Graph recovers ->
  the worker resends -> the guest has it exactly once;
- a Gmail reply fails -> ``gmail.send`` entry, mail labelled -> resent in the
  guest's thread;
- the action server is killed and restarted while a turn waits for it -> the
  turn is answered (connectors/action_retry.py);
- the tracker store is down -> the turn fails, stays journaled, is retried
  with backoff and answered once when PostgreSQL is back;
- Rasa is killed (-9) after the webhook's 200 while the turn is in flight ->
  restarted -> the turn runs and is answered once;
- /webhooks/metrics/ moves by exactly what happened.

The queue's backoff base is 1 s here. Trains nothing; needs models/hotel.tar.gz.
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Dict, List

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.gmail_server import GmailServer
from tests.gmail.conftest import CLIENT_ID, CLIENT_SECRET, HOTEL_ADDRESS, REFRESH_TOKEN, guest_address, mail
from tests.stack_common import MODEL, PostgresDatabase, PrivateRedis, TcpProxy
from tests.whatsapp import payloads
from tests.whatsapp.stack import APP_SECRET, PHONE_NUMBER_ID, Stack

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first (these tests train nothing)"),
]


class FaultStack(Stack):
    """The WhatsApp stack plus the Gmail channel, PostgreSQL behind a proxy and a private Redis."""

    channel_classes = ("connectors.whatsapp.WhatsAppInput", "connectors.gmail.GmailInput")

    def __init__(self, workdir) -> None:
        self.redis = PrivateRedis(workdir / "redis")
        self.database = PostgresDatabase()
        super().__init__(workdir, redis_url=self.redis.url, redis_prefix="wa")
        self.gmail = GmailServer(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, address=HOTEL_ADDRESS)

    def start_fakes(self) -> None:
        super().start_fakes()
        self.gmail.start()
        self.redis.start()
        self.database.create()
        self.tracker_proxy = TcpProxy(self.database.port).start()

    def stop_fakes(self) -> None:
        super().stop_fakes()
        self.gmail.stop()
        self.redis.stop()
        if hasattr(self, "tracker_proxy"):
            self.tracker_proxy.stop()
        self.database.drop()

    def channel_env(self) -> Dict[str, str]:
        return dict(
            super().channel_env(),
            TRACKER_STORE_URL=self.database.url(self.tracker_proxy.port),
            WHATSAPP_MARK_READ="true",
            WHATSAPP_SEND_RETRIES="2",
            WHATSAPP_TURN_LEASE_SECONDS="3",
            GMAIL_CLIENT_ID=CLIENT_ID,
            GMAIL_CLIENT_SECRET=CLIENT_SECRET,
            GMAIL_REFRESH_TOKEN=REFRESH_TOKEN,
            GMAIL_API_URL=self.gmail.url,
            GMAIL_TOKEN_URL=f"{self.gmail.url}/token",
            GMAIL_POLL_SECONDS="0.5",
            GMAIL_SEND_RETRIES="2",
            GMAIL_RETRY_BASE_SECONDS="0.05",
            GMAIL_REDIS_URL=self.redis.url,
            DLQ_REDIS_URL=self.redis.url,
            DLQ_DATABASE_URL=f"sqlite:///{self.workdir / 'dlq.sqlite3'}",
            DLQ_RETRY_BACKOFF_BASE="1",
            DLQ_WORKER_INTERVAL="0.3",
            DLQ_LEASE_SECONDS="20",
            DLQ_MAX_RETRIES="5",
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = FaultStack(tmp_path_factory.mktemp("recovery-e2e")).start()
    yield stack
    stack.stop()


def scrape(stack: Stack) -> Dict[tuple, float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(stack.metrics())
        for sample in family.samples
    }


class Metrics:
    """Counter deltas between construction and ``delta``."""

    def __init__(self, stack: Stack) -> None:
        self.stack, self.before = stack, scrape(stack)

    def delta(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return scrape(self.stack).get(key, 0.0) - self.before.get(key, 0.0)


def wait_until(predicate, timeout: float = 60, what: str = "condition", stack: Stack = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    log = stack.rasa_log()[-4000:] if stack is not None else ""
    raise AssertionError(f"{what} not met in {timeout} s\n{log}")


class Guest:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.wa_id = f"34{uuid.uuid4().int % 10**9:09d}"
        self.conversation = f"{self.wa_id}@{PHONE_NUMBER_ID}"

    def post(self, text: str) -> Dict[str, Any]:
        message = payloads.text(self.wa_id, text)
        body = payloads.encode(payloads.webhook([message], PHONE_NUMBER_ID))
        answer = requests.post(self.stack.webhook_url, data=body, headers=payloads.signed_headers(body, APP_SECRET), timeout=10)
        assert answer.status_code == 200, answer.text
        return message

    def delivered(self) -> List[Dict[str, Any]]:
        return self.stack.graph.delivered(self.wa_id)

    def turns(self, message_id: str) -> List[dict]:
        return [e for e in self.stack.tracker(self.conversation)["events"]
                if e["event"] == "user" and e.get("message_id") == message_id]

    def bot_messages_after(self, message_id: str) -> int:
        events = self.stack.tracker(self.conversation)["events"]
        start = next(i for i, e in enumerate(events) if e["event"] == "user" and e.get("message_id") == message_id)
        return len([e for e in events[start:] if e["event"] == "bot"])

    def finished(self, message_id: str) -> bool:
        events = self.stack.tracker(self.conversation)["events"]
        users = [i for i, e in enumerate(events) if e["event"] == "user" and e.get("message_id") == message_id]
        return bool(users) and any(e["event"] == "action" and e.get("name") == "action_listen" for e in events[users[-1]:])


def dlq_entries(stack: FaultStack) -> list:
    import redis

    client = redis.Redis.from_url(stack.redis.url)
    try:
        return [key.decode() for key in client.scan_iter(match="dlq:messages:*")]
    finally:
        client.close()


def test_a_graph_outage_is_resent_by_the_worker_and_received_exactly_once(stack):
    guest = Guest(stack)
    metrics = Metrics(stack)
    stack.graph.fail_next("messages", 500, times=3, to=guest.wa_id)  # the first send and its 2 retries
    message = guest.post("hola")
    wait_until(lambda: guest.finished(message["id"]), what="the turn", stack=stack)
    wait_until(guest.delivered, timeout=30, what="the resend", stack=stack)
    wait_until(lambda: not dlq_entries(stack), timeout=15, what="an empty queue", stack=stack)
    time.sleep(1.5)
    (reply,) = guest.delivered()
    assert "Hotel Mirador del Puerto" in reply["text"]["body"]
    assert guest.bot_messages_after(message["id"]) == 1
    assert metrics.delta("channel_sends_total", channel="whatsapp", result="failed") == 1
    assert metrics.delta("channel_sends_total", channel="whatsapp", result="resent") == 1
    assert metrics.delta("dlq_messages_total", kind="whatsapp.send", reason="graph_unavailable") == 1
    assert metrics.delta("dlq_retries_total", kind="whatsapp.send", result="success") == 1
    assert metrics.delta("channel_messages_total", channel="whatsapp", outcome="processed") == 1


def test_a_failed_gmail_reply_is_resent_in_the_thread_and_the_mail_labelled(stack):
    guest = guest_address()
    metrics = Metrics(stack)
    stack.gmail.fail_next("send", 503, times=3)  # the first send and its 2 retries
    stored = stack.gmail.deliver(mail("Hola buenas", sender=guest, subject="Consulta").as_bytes(), thread_id="thread-dlq-1")
    wait_until(lambda: "UNREAD" not in stack.gmail.label_names(stored.id), what="the label", stack=stack)
    (reply,) = wait_until(lambda: stack.gmail.sent_to(guest), timeout=30, what="the resent reply", stack=stack)
    assert reply["threadId"] == "thread-dlq-1" and reply["message"]["Subject"] == "Re: Consulta"
    assert "Hotel Mirador del Puerto" in reply["message"].get_body(("plain",)).get_content()
    time.sleep(1.5)
    assert len(stack.gmail.sent_to(guest)) == 1
    assert metrics.delta("channel_sends_total", channel="gmail", result="failed") == 1
    assert metrics.delta("channel_sends_total", channel="gmail", result="resent") == 1
    assert metrics.delta("dlq_messages_total", kind="gmail.send", reason="gmail_unavailable") == 1


def test_an_action_server_restarted_mid_turn_still_answers(stack):
    guest = Guest(stack)
    stack.action.kill()
    message = guest.post("hola")  # a new conversation: action_session_start waits for the server
    time.sleep(1.0)
    assert not guest.delivered()
    stack.action.spawn()
    wait_until(lambda: guest.finished(message["id"]), timeout=60, what="the turn", stack=stack)
    stack.action.wait_ready()
    events = stack.tracker(guest.conversation)["events"]
    ran = [e["name"] for e in events if e["event"] == "action"]
    assert ran[0] == "action_session_start" and "utter_greet" in ran, ran  # the custom action ran, then the turn went on
    delivered = guest.delivered()
    assert delivered, "the guest got no answer"
    assert len({json.dumps(m, sort_keys=True) for m in delivered}) == len(delivered), "a reply went out twice"
    assert "nothing was sent, try 2/5" in stack.rasa_log()


def test_a_turn_that_met_a_dead_tracker_store_is_retried_and_answered_once(stack):
    guest = Guest(stack)
    metrics = Metrics(stack)
    stack.tracker_proxy.cut()  # PostgreSQL unreachable for Rasa
    try:
        message = guest.post("hola")
        wait_until(lambda: metrics.delta("channel_messages_total", channel="whatsapp", outcome="failed") >= 1,
                   timeout=30, what="a failed turn", stack=stack)
        assert not guest.delivered()
    finally:
        stack.tracker_proxy.restore()
    wait_until(lambda: guest.finished(message["id"]), timeout=60, what="the retried turn", stack=stack)
    wait_until(lambda: not dlq_entries(stack), timeout=15, what="an empty queue", stack=stack)
    time.sleep(1.5)
    assert len(guest.turns(message["id"])) == 1
    assert len(guest.delivered()) == guest.bot_messages_after(message["id"]) >= 1
    assert metrics.delta("channel_messages_total", channel="whatsapp", outcome="processed") == 1
    assert metrics.delta("dlq_retries_total", kind="whatsapp.inbound", result="success") >= 1


def test_rasa_killed_after_the_ack_mid_turn_answers_the_turn_once_after_restart(stack):
    guest = Guest(stack)
    stack.graph.read_delay_seconds = 30  # the turn waits on its read receipt, before Rasa answers
    message = guest.post("hola")
    wait_until(lambda: any(r.json and r.json.get("message_id") == message["id"] for r in stack.graph.requests),
               timeout=30, what="the turn in flight", stack=stack)
    stack.kill_rasa()
    stack.graph.read_delay_seconds = 0
    assert not guest.delivered()
    assert dlq_entries(stack), "the accepted message must be journaled"
    stack.start_rasa()
    wait_until(lambda: guest.finished(message["id"]), timeout=90, what="the recovered turn", stack=stack)
    wait_until(lambda: not dlq_entries(stack), timeout=30, what="an empty queue", stack=stack)
    time.sleep(1.5)
    assert len(guest.turns(message["id"])) == 1
    assert len(guest.delivered()) == guest.bot_messages_after(message["id"]) >= 1
    assert "Hotel Mirador del Puerto" in guest.delivered()[0]["text"]["body"]
