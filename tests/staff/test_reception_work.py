"""Reception's work outside the browser: notifications (SMTP on aiosmtpd, the
webhook, their dead-letter retries), the watcher that notifies each new request
once, the idle timeout, ``python -m staff reply``, hotel settings, metrics and
refused POSTs across hotels."""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import time

import pytest
from rasa.shared.core.events import ConversationPaused, SlotSet, UserUttered

from actions.rasa_api import RasaAPI
from connectors.outreach import Outreach
from core.settings import ConfigError
from dlq import DLQSettings, RetryWorker, build_queue
from staff import cli
from staff.config import StaffConfig
from staff.desk_store import DeskStore
from staff.idle import BY as IDLE_BY
from staff.idle import IdleResumer
from staff.metrics import StaffMetrics, waiting_snapshot
from staff.notifications import KIND, Line, Notice, NotificationWatcher, Notifier, SMTPSender
from staff.reception import Reception, reception_from_mapping
from staff.tracker_reader import TrackerReader
from tests.staff import scenario
from tests.staff.conftest import OTHER_PASSWORD, OTHER_USER, RASA_TOKEN
from tests.staff.fakes import SMTPSink, WebhookSink
from tests.staff.web_client import StaffClient, serve

DEV = "rest-dev-guest"


@pytest.fixture
def smtp():
    sink = SMTPSink().start()
    yield sink
    sink.stop()


@pytest.fixture
def webhook():
    sink = WebhookSink().start()
    yield sink
    sink.stop()


@pytest.fixture
async def queue(tmp_path):
    q = build_queue(DLQSettings(database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}", retry_backoff_base=0.01,
                                max_retries=2), record_metrics=False)
    yield q
    await q.close()


def notice(request_id=7, urgent=False) -> Notice:
    return Notice(request_id, "handoff", urgent, "demo", "Hotel Mirador", DEV, "rest", "quiero hablar con alguien",
                  "2026-12-01T22:00:00+00:00", "https://console.example/conversation?id=rest-dev-guest",
                  (Line("guest", "hola", "2026-12-01T21:59:00+00:00"), Line("bot", "¿En qué te ayudo?", "")))


def reception(webhook_url: str) -> Reception:
    return Reception("demo", "Hotel Mirador", ("recepcion@demo.example", "jefa@demo.example"), webhook_url)


async def test_email_and_webhook_carry_the_request_the_last_messages_and_the_link(smtp, webhook, queue):
    notifier = Notifier(SMTPSender(smtp.url, "console@demo.example"), queue, receptions=lambda _: reception(webhook.url))
    assert await notifier.notify(notice()) == {"email": "sent", "webhook": "sent"}
    mail = smtp.wait_for(lambda m: "#7" in m["Subject"], timeout=5)
    assert smtp.envelopes[0]["to"] == ["recepcion@demo.example", "jefa@demo.example"]
    assert mail["Subject"] == "[Hotel Mirador] #7 guest asks for a person (rest)" and mail["Auto-Submitted"] == "auto-generated"
    body = mail.get_content()
    assert "guest: hola" in body and "bot: ¿En qué te ayudo?" in body and "https://console.example/conversation?id=" in body
    [hook] = webhook.received
    assert hook["id"] == 7 and hook["conversation"] == DEV and hook["link"].startswith("https://console.example/")
    assert [m["who"] for m in hook["last_messages"]] == ["guest", "bot"] and "quiero hablar" in hook["text"]
    assert await queue.list_queued(10) == []


async def test_a_failed_webhook_waits_in_the_dead_letter_queue_and_is_resent(smtp, webhook, queue):
    notifier = Notifier(SMTPSender(smtp.url, "console@demo.example"), queue, receptions=lambda _: reception(webhook.url))
    webhook.fail_next(503)
    outcome = await notifier.notify(notice(8))
    assert outcome["email"] == "sent" and outcome["webhook"] != "sent"
    [entry] = await queue.list_queued(10)
    assert entry.kind == KIND and entry.payload["target"] == "webhook" and entry.reason == "notify_failed"
    assert webhook.received == []
    await asyncio.sleep(0.05)
    report = await RetryWorker(queue, {KIND: notifier.resend}).run_once()
    assert report.succeeded == 1 and webhook.received[0]["id"] == 8
    assert len(smtp.messages) == 1  # the e-mail that went the first time is not sent again


async def test_a_refused_webhook_becomes_a_permanent_dead_letter(webhook, queue):
    notifier = Notifier(None, queue, receptions=lambda _: reception(webhook.url))
    webhook.fail_next(410, times=2)
    await notifier.notify(notice(9))
    await asyncio.sleep(0.05)
    report = await RetryWorker(queue, {KIND: notifier.resend}).run_once()
    assert report.permanent == 1
    [kept] = await queue.list_permanent(10)
    assert kept.kind == KIND and "410" in kept.error


async def test_smtp_down_is_retried_later(queue, webhook):
    notifier = Notifier(SMTPSender("smtp://127.0.0.1:9", "console@demo.example"), queue,
                        receptions=lambda _: reception(""))
    outcome = await notifier.notify(notice(10))
    [entry] = await queue.list_queued(10)
    assert outcome["email"] == entry.id and entry.payload["target"] == "email"


async def test_the_watcher_notifies_each_new_request_once(tracker_url, tracker_store, requests_store, assistant_url,
                                                          webhook, queue):
    desk = DeskStore(assistant_url)
    reader = TrackerReader(tracker_url, "demo")
    notifier = Notifier(None, queue, public_url="https://console.example", receptions=lambda _: reception(webhook.url))
    watcher = NotificationWatcher(notifier, requests_store, desk, reader)
    handoff = requests_store.add("handoff", scenario.WHATSAPP, scenario.HANDOFF_TEXT)
    urgent_issue = requests_store.add("issue", scenario.GMAIL, "leak in room 12", urgent=True)
    requests_store.add("feedback", scenario.GMAIL, "lovely stay")  # nobody waits for an answer
    assert sorted(await watcher.scan()) == [handoff.id, urgent_issue.id]
    assert await watcher.scan() == []  # once
    assert await NotificationWatcher(notifier, requests_store, desk, reader).scan() == []  # another process too
    first = next(b for b in webhook.received if b["id"] == handoff.id)
    assert first["channel"] == "whatsapp" and first["last_messages"][-1]["text"] == "Te paso con recepción."
    assert first["link"] == "https://console.example/conversation?id=whatsapp%3A34600111222"
    later = NotificationWatcher(notifier, requests_store, desk, reader,
                                clock=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(hours=2))
    requests_store.add("handoff", scenario.XSS, "old one")
    assert await later.scan() == []  # requests older than an hour (e.g. at first start) are not announced
    reader.close()
    desk.close()


async def test_idle_paused_conversation_goes_back_to_the_bot_with_a_note(tracker_url, tracker_store, requests_store,
                                                                         fake_rasa, queue):
    old = time.time() - 3 * 3600
    await scenario.save(tracker_store, DEV, [
        UserUttered("I want a person", intent={"name": "human_handoff", "confidence": 0.9}, input_channel="rest",
                    timestamp=old),
        SlotSet("language", "en", timestamp=old),
        ConversationPaused(timestamp=old),
    ])
    request = requests_store.add("handoff", DEV, "I want a person")
    issue = requests_store.add("issue", DEV, "shower broken")
    rasa = RasaAPI(fake_rasa.url, RASA_TOKEN)
    fake_rasa.seed(DEV, [{"event": "user", "text": "I want a person", "input_channel": "rest", "timestamp": old}])
    outreach = Outreach(rasa, queue=queue)
    reader = TrackerReader(tracker_url, "demo")
    assert await IdleResumer(reader, requests_store, outreach, rasa, idle_minutes=240).scan() == []  # not idle yet
    assert await IdleResumer(reader, requests_store, outreach, rasa, idle_minutes=60).scan() == [DEV]
    posted = fake_rasa.posted(DEV)
    assert posted[0]["event"] == "bot" and "assistant is answering again" in posted[0]["text"]
    assert posted[0]["metadata"]["author"] == "reception" and posted[1] == {"event": "resume"}
    assert requests_store.get(request.id).resolved_by == IDLE_BY
    assert requests_store.get(issue.id).status == "open"
    reader.close()


def test_cli_reply_records_the_message_with_its_author(staff_env, tracker_store, fake_rasa):
    fake_rasa.seed(scenario.XSS, [{"event": "user", "text": "hello", "input_channel": "rest", "timestamp": time.time()}])
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["reply", scenario.XSS, "Hi, this is reception.", "--by", "carol"], stdout=out, stderr=err)
    assert code == cli.OK, err.getvalue()
    assert "Recorded on rest" in out.getvalue() and "carol" in out.getvalue()
    bot, pause = fake_rasa.posted(scenario.XSS)
    assert bot["text"] == "Hi, this is reception." and bot["metadata"]["author"] == "carol"
    assert pause == {"event": "pause"}  # the conversation was not paused: staff talking keeps the bot out
    assert cli.main(["reply", "nobody-at-all", "hi"], stdout=out, stderr=err) == cli.NOT_FOUND
    assert cli.main(["reply", scenario.XSS, " "], stdout=out, stderr=err) == cli.BAD_INPUT


def test_hotel_reception_settings_are_checked():
    ok = reception_from_mapping({"id": "demo", "name": "Hotel", "reception": {
        "notify_emails": "recepcion@demo.example", "duty_phone": "+34 600 000 112",
        "duty_template": {"name": "urgent_incident"}, "reply_template": {"name": "reception_reply", "language": "en"}}})
    assert ok.notify_emails == ("recepcion@demo.example",) and ok.duty_phone == "34600000112"
    assert ok.reply_template.language == "en" and ok.duty_template.language == "es"
    for bad in ({"notify_emails": ["not-an-address"]}, {"notify_webhook": "ftp://x"}, {"duty_phone": "34600000112"},
                {"duty_phone": "call me"}, {"surprise": 1}, {"reply_template": {"language": "es"}}):
        with pytest.raises(ConfigError):
            reception_from_mapping({"id": "demo", "reception": bad})
    assert reception_from_mapping({"id": "demo"}).notify_emails == ()


def test_user_hotels_setting():
    config = StaffConfig.from_env({"STAFF_USER_HOTELS": "alice=demo,bob=playa|demo,root=*"})
    assert config.hotels_of("alice") == {"demo"} and config.hotels_of("bob") == {"demo", "playa"}
    assert config.hotels_of("root") is None and config.hotels_of("mallory") == frozenset()
    assert StaffConfig.from_env({}).hotels_of("anyone") is None
    for bad in ("alice", "alice=", "alice=demo,alice=playa"):
        with pytest.raises(ConfigError):
            StaffConfig.from_env({"STAFF_USER_HOTELS": bad})


def test_metrics_report_waiting_guests_per_hotel():
    now = dt.datetime(2026, 12, 1, 22, 0)

    class R:
        def __init__(self, id_, kind, sender, minutes, urgent=False):
            self.id, self.kind, self.sender_id, self.urgent = id_, kind, sender, urgent
            self.created_at = now - dt.timedelta(minutes=minutes)

    requests = [R(1, "handoff", "a", 20), R(2, "handoff", "b", 5), R(3, "feedback", "a", 50),
                R(4, "issue", "c", 30, urgent=True), R(5, "handoff", "c", 40)]
    rows = waiting_snapshot(requests, {"a": "demo", "b": "demo", "c": "playa"}, {5: now}, ["demo", "playa", "sol"], now)
    by_hotel = {r["hotel"]: r for r in rows}
    assert by_hotel["demo"] == {"hotel": "demo", "open_handoffs": 2, "waiting": 2, "oldest_wait_seconds": 1200.0}
    assert by_hotel["playa"] == {"hotel": "playa", "open_handoffs": 1, "waiting": 1, "oldest_wait_seconds": 1800.0}
    assert by_hotel["sol"]["waiting"] == 0
    metrics = StaffMetrics(lambda: rows)
    metrics.first_reply("demo", 95)
    text = metrics.render().decode()
    assert 'staff_oldest_wait_seconds{hotel="playa"} 1800.0' in text
    assert 'staff_open_handoffs{hotel="demo"} 2.0' in text
    assert 'staff_first_reply_seconds_bucket{hotel="demo",le="120.0"} 1.0' in text


async def test_a_user_of_another_hotel_cannot_post_to_a_conversation(staff_env, monkeypatch, tracker_store, fake_rasa):
    monkeypatch.setenv("STAFF_USER_HOTELS", f"{OTHER_USER}=playa")
    served = await serve(StaffConfig.from_env())
    client = StaffClient(served.url)
    try:
        assert (await client.sign_in(OTHER_USER, OTHER_PASSWORD)).status == 303
        csrf = (await client.get("/conversations")).csrf
        for path in ("/conversation/reply", "/conversation/note", "/conversation/claim", "/conversation/resume"):
            answer = await client.post(path, {"csrf": csrf, "id": scenario.WHATSAPP, "text": "hello"})
            assert answer.status == 404, path
        assert (await client.get(f"/conversation?id={scenario.GMAIL}")).status == 404
        assert (await client.get("/api/live?id=" + scenario.GMAIL)).status == 404
        assert fake_rasa.calls == []
        metrics = await client.get("/metrics")
        assert metrics.status == 200 and "staff_open_handoffs" in metrics.body  # loopback scrape
    finally:
        await client.close()
        await served.stop()


def test_smtp_settings_are_checked_at_start(password_hashes):
    base = dict(users=password_hashes, session_secret="s" * 40)
    StaffConfig(**base, smtp_url="smtp://mail.example:587?starttls=1", smtp_from="console@hotel.example").check_web()
    for url, sender in (("smtp://mail.example", ""), ("http://mail.example", "console@hotel.example")):
        with pytest.raises(ConfigError):
            StaffConfig(**base, smtp_url=url, smtp_from=sender).check_web()
    sender = SMTPSender("smtps://user%40hotel:p%40ss@mail.example", "console@hotel.example")
    assert (sender.host, sender.port, sender.ssl, sender.user, sender.password) == ("mail.example", 465, True, "user@hotel", "p@ss")
    assert "p@ss" not in repr(sender)


async def test_payment_check_approve_refused_by_the_pms_sends_nothing_and_reject_needs_a_reason(
        tmp_path, requests_store, fake_rasa, queue):
    from actions.pms.base import BookingRequest, InvalidBookingState
    from actions.pms.gateway import PMSGateway
    from actions.pms.local import LocalPMS
    from staff.payments import PaymentCheckError, PaymentDesk

    pms = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}")
    checkin = dt.date.today() + dt.timedelta(days=20)
    booking = pms.create_booking(BookingRequest("Ana Sol", "double", checkin, checkin + dt.timedelta(days=2), 2))
    pms.cancel_booking(booking.reference)
    request = requests_store.add("payment_check", DEV, "I paid", booking_ref=booking.reference)
    handoff = requests_store.add("handoff", DEV, "a person please")
    fake_rasa.seed(DEV, [{"event": "user", "text": "I paid", "input_channel": "rest", "timestamp": time.time()}])
    desk = PaymentDesk(requests_store, Outreach(RasaAPI(fake_rasa.url, RASA_TOKEN), queue=queue),
                       gateway=PMSGateway(pms), qr_secret="q" * 32, public_url="http://media.example")
    with pytest.raises(InvalidBookingState):
        await desk.approve(request.id, "alice")
    assert fake_rasa.posted(DEV) == [] and requests_store.get(request.id).status == "open"
    with pytest.raises(PaymentCheckError):
        await desk.approve(handoff.id, "alice")  # not a payment check
    with pytest.raises(ValueError):
        await desk.reject(request.id, "alice", "   ")
    await desk.reject(request.id, "alice", "the booking was cancelled before the transfer", "en")
    [message] = fake_rasa.posted(DEV)
    assert message["text"] == (f"We could not confirm your payment for booking {booking.reference}: "
                               "the booking was cancelled before the transfer")
    assert message["metadata"]["author"] == "alice" and requests_store.get(request.id).resolved_by == "alice"
    with pytest.raises(PaymentCheckError):
        await desk.reject(request.id, "alice", "again")  # already resolved
