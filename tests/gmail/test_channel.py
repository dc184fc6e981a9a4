"""The channel against the fake Gmail API, with a stand-in for Rasa."""
from __future__ import annotations

import asyncio
import email
import logging
import uuid

import pytest

from connectors.gmail import GmailInput
from connectors.gmail.api import b64url_decode
from connectors.gmail.channel import EMPTY, TOO_LONG
from connectors.gmail.deadletter import KIND_INBOUND, KIND_SEND, send_payload
from connectors.gmail.poller import MAX_FAILURES_PER_MESSAGE
from connectors.gmail.store import MemoryStore, build_store
from dlq import PermanentFailure
from tests.gmail.conftest import CLIENT_SECRET, REFRESH_TOKEN, guest_address, mail, make_config


class Bot:
    def __init__(self) -> None:
        self.received = []

    async def __call__(self, message) -> None:
        self.received.append(message)
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")
        await message.output_channel.send_text_with_buttons(message.sender_id, "¿Algo más?", [{"title": "No", "payload": "/deny"}])


@pytest.fixture
def channels(gmail):
    made = []

    def make(store=None, queue=None, **overrides) -> GmailInput:
        channel = GmailInput(make_config(gmail, **overrides), store=store or MemoryStore(3600))
        channel.queue = queue  # what the server's before_server_start listener does
        made.append(channel)
        return channel

    return make


async def close(channel):
    await channel.client.close()


async def test_a_mail_is_answered_in_its_thread_and_labelled(gmail, channels):
    guest = guest_address()
    stored = gmail.deliver(mail("Hola\n\nEnviado desde mi iPhone", sender=guest, subject="Parking", references=["<old@x>"]).as_bytes())
    channel, bot = channels(), Bot()
    assert await channel.poller.poll_once(bot) == 1
    (message,) = bot.received
    assert (message.text, message.sender_id, message.input_channel) == ("Hola", guest, "gmail")
    assert message.metadata["gmail"]["thread_id"] == stored.thread_id
    (sent,) = gmail.sent_to(guest)
    assert sent["threadId"] == stored.thread_id
    reply = sent["message"]
    msgid = email.message_from_bytes(stored.raw)["Message-ID"]
    assert reply["In-Reply-To"] == msgid and reply["References"].split() == ["<old@x>", msgid]
    assert reply["Subject"] == "Re: Parking" and reply["From"] == "reservas@hotel-mirador.example"
    assert reply.get_content().startswith("echo: Hola\n\n¿Algo más?\n  1. No")
    assert "hotelbot/handled" in [n.lower() for n in gmail.label_names(stored.id)] and "UNREAD" not in gmail.label_names(stored.id)
    # the numbered answer is the button's payload
    gmail.deliver(mail("1", sender=guest).as_bytes())
    await channel.poller.poll_once(bot)
    assert bot.received[-1].text == "/deny"
    await close(channel)


async def test_a_numbered_answer_is_understood_by_another_process_sharing_redis(gmail, channels, redis_url, redis_prefix):
    guest = guest_address()
    first = channels(store=build_store(redis_url, redis_prefix, 3600))
    second = channels(store=build_store(redis_url, redis_prefix, 3600))  # another Rasa process (or a restart)
    bot = Bot()
    gmail.deliver(mail("hola", sender=guest).as_bytes())
    await first.poller.poll_once(bot)
    gmail.deliver(mail("1.", sender=guest).as_bytes())
    await second.poller.poll_once(bot)
    assert [m.text for m in bot.received] == ["hola", "/deny"]
    other_guest = guest_address()  # the buttons are per guest
    gmail.deliver(mail("1", sender=other_guest).as_bytes())
    await second.poller.poll_once(bot)
    assert bot.received[-1].text == "1"
    for channel in (first, second):
        await channel.store.close()
        await close(channel)


async def test_a_restarted_channel_does_not_reprocess_handled_mail(gmail, channels):
    guest = guest_address()
    gmail.deliver(mail("hola", sender=guest).as_bytes())
    first, bot = channels(), Bot()
    await first.poller.poll_once(bot)
    await close(first)
    second = channels()  # a new process: fresh memory, only Gmail's labels remain
    assert await second.poller.poll_once(bot) == 0
    assert len(bot.received) == 1 and len(gmail.sent_to(guest)) == 1
    await close(second)


async def test_crash_between_reply_and_label_does_not_reply_twice_with_redis(gmail, channels, redis_url):
    prefix = f"test-gmail-{uuid.uuid4().hex[:10]}"
    guest = guest_address()
    stored = gmail.deliver(mail("hola", sender=guest).as_bytes())
    gmail.fail_next("modify", 400, times=1)  # the label fails (a crash at that point looks the same)
    first, bot = channels(store=build_store(redis_url, prefix, 3600)), Bot()
    await first.poller.poll_once(bot)
    assert "UNREAD" in gmail.label_names(stored.id) and len(gmail.sent_to(guest)) == 1
    await first.store.close()
    await close(first)
    second = channels(store=build_store(redis_url, prefix, 3600))
    await second.poller.poll_once(bot)
    assert len(bot.received) == 1 and len(gmail.sent_to(guest)) == 1  # not answered again
    assert "UNREAD" not in gmail.label_names(stored.id)  # but labelled now
    await second.store.close()
    await close(second)
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


async def test_malformed_mime_does_not_stop_the_poller(gmail, channels):
    guest = guest_address()
    bad = gmail.deliver(b"\x00\xff garbage \r\n\r\n\x00")
    worse = gmail.deliver(
        f"From: {guest}\r\nSubject: =?x?y?z?=\r\nMessage-ID: <<<\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n"
        "--q\r\nContent-Type: text/plain; charset=klingon\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!\r\n".encode()
    )
    good = gmail.deliver(mail("hola", sender=guest).as_bytes())
    channel, bot = channels(), Bot()
    await channel.poller.poll_once(bot)
    assert [m.text for m in bot.received] == ["hola"] or "hola" in [m.text for m in bot.received]
    for stored in (bad, worse, good):
        assert "UNREAD" not in gmail.label_names(stored.id)
    await close(channel)


async def test_a_huge_attachment_is_not_downloaded_and_the_text_answered(gmail, channels):
    guest = guest_address()
    big = b"\x00" * (3 * 1024 * 1024)
    stored = gmail.deliver(mail("Os mando el contrato", sender=guest, attachments=[(big, "application", "zip", "big.zip")]).as_bytes())
    channel, bot = channels(max_raw_bytes=1024 * 1024), Bot()
    await channel.poller.poll_once(bot)
    (message,) = bot.received
    assert message.text == "Os mando el contrato"
    assert message.metadata["gmail"]["attachments"][0]["filename"] == "big.zip"
    assert not any(p.endswith(stored.id) and "raw" in p for _, p, _ in gmail.requests)
    assert len(gmail.sent_to(guest)) == 1
    await close(channel)


async def test_too_long_and_empty_bodies_get_a_polite_reply_without_rasa(gmail, channels):
    long_guest, empty_guest = guest_address(), guest_address()
    gmail.deliver(mail("bla " * 10_000, sender=long_guest).as_bytes())
    gmail.deliver(mail("> solo una cita", sender=empty_guest).as_bytes())
    channel, bot = channels(max_body_chars=5000), Bot()
    await channel.poller.poll_once(bot)
    assert bot.received == []
    assert gmail.sent_to(long_guest)[0]["message"].get_content().strip() == TOO_LONG
    assert gmail.sent_to(empty_guest)[0]["message"].get_content().strip() == EMPTY
    await close(channel)


async def test_automatic_and_own_mail_is_labelled_but_not_answered(gmail, channels):
    auto = gmail.deliver(mail("Out of office", headers={"Auto-Submitted": "auto-replied"}).as_bytes())
    own = gmail.deliver(mail("copy", sender="reservas@hotel-mirador.example").as_bytes())
    channel, bot = channels(), Bot()
    await channel.poller.poll_once(bot)
    assert bot.received == [] and gmail.sent == []
    assert "UNREAD" not in gmail.label_names(auto.id) and "UNREAD" not in gmail.label_names(own.id)
    await close(channel)


async def due(queue, kind: str, timeout: float = 5.0):
    """The worker's side: wait for an entry of ``kind`` to come due (backoff 0.3 s) and run it."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        entries = await queue.claim_due([kind], 10)
        if entries:
            return entries
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} entry came due")


async def test_a_failed_reply_goes_to_the_dead_letter_queue_then_the_mail_is_labelled(gmail, channels, dlq_queue):
    guest = guest_address()
    stored = gmail.deliver(mail("hola", sender=guest).as_bytes())
    gmail.fail_next("send", 503, times=3)
    channel = channels(send_retries=2, queue=dlq_queue)
    bot = Bot()
    await channel.poller.poll_once(bot)
    assert gmail.sent_to(guest) == [] and "UNREAD" not in gmail.label_names(stored.id)
    (entry,) = await dlq_queue.list_queued()
    assert entry.kind == KIND_SEND and entry.reason == "gmail_unavailable" and entry.conversation_id == guest
    assert set(entry.payload) == {"raw", "thread_id", "gmail_id"}
    assert entry.payload["thread_id"] == stored.thread_id and entry.payload["gmail_id"] == stored.id
    assert b"echo: hola" in b64url_decode(entry.payload["raw"])
    for secret in gmail.access_tokens + [CLIENT_SECRET, REFRESH_TOKEN]:
        assert secret not in str(entry.as_dict())
    await channel.poller.poll_once(bot)  # labelled: not handed to Rasa again
    assert len(bot.received) == 1
    # the worker resends it, in the guest's thread, and the mail counts as replied
    (claimed,) = await due(dlq_queue, KIND_SEND)
    await channel._resend(claimed)
    (sent,) = gmail.sent_to(guest)
    assert sent["threadId"] == stored.thread_id and sent["message"]["In-Reply-To"] == email.message_from_bytes(stored.raw)["Message-ID"]
    assert await channel.store.replied(stored.id)
    await close(channel)


async def test_a_resend_gmail_refuses_for_good_is_a_permanent_failure(gmail, channels, dlq_queue):
    channel = channels(queue=dlq_queue)
    gmail.fail_next("send", 400)
    await dlq_queue.enqueue(KIND_SEND, send_payload(b"To: x@example.com\r\n\r\nhola", "t1", "g1"), error="503",
                            reason="gmail_unavailable")
    (claimed,) = await due(dlq_queue, KIND_SEND)
    with pytest.raises(PermanentFailure, match="400"):
        await channel._resend(claimed)
    await close(channel)


async def test_a_mail_whose_turn_keeps_failing_goes_to_the_queue_and_is_answered_later(gmail, channels, dlq_queue):
    guest = guest_address()
    stored = gmail.deliver(mail("hola", sender=guest).as_bytes())
    channel = channels(queue=dlq_queue)
    calls = []

    async def tracker_store_down(message):
        calls.append(message.text)
        raise ConnectionError("tracker store unreachable")

    for _ in range(MAX_FAILURES_PER_MESSAGE):
        assert "UNREAD" in gmail.label_names(stored.id)
        await channel.poller.poll_once(tracker_store_down)
    assert calls == ["hola"] * MAX_FAILURES_PER_MESSAGE and gmail.sent_to(guest) == []
    assert "UNREAD" not in gmail.label_names(stored.id)  # labelled: it is safe in the queue
    (entry,) = await dlq_queue.list_queued()
    assert entry.kind == KIND_INBOUND and entry.payload == {"gmail_id": stored.id} and entry.reason == "turn_failed"
    # the tracker store is back: the worker runs the turn, the reply goes to the thread
    channel._on_new_message = Bot()
    (claimed,) = await due(dlq_queue, KIND_INBOUND)
    await channel._recover(claimed)
    (sent,) = gmail.sent_to(guest)
    assert sent["threadId"] == stored.thread_id and sent["message"].get_content().startswith("echo: hola")
    await channel._recover(claimed)  # a second run (e.g. two entries) does not answer twice
    assert len(gmail.sent_to(guest)) == 1
    await close(channel)


async def test_transient_errors_are_retried_and_the_token_never_logged(gmail, channels, caplog):
    caplog.set_level(logging.DEBUG)
    guest = guest_address()
    gmail.deliver(mail("hola", sender=guest).as_bytes())
    gmail.fail_next("messages", 503, times=2)
    gmail.fail_next("send", 429)
    channel, bot = channels(), Bot()
    await channel.poller.poll_once(bot)
    assert len(gmail.sent_to(guest)) == 1
    assert gmail.token_requests and gmail.token_requests[0]["grant_type"] == "refresh_token"
    for secret in gmail.access_tokens + [CLIENT_SECRET, REFRESH_TOKEN]:
        assert secret not in caplog.text
    assert "retry" in caplog.text
    await close(channel)


async def test_a_revoked_token_is_renewed_once(gmail, channels):
    channel, bot = channels(), Bot()
    await channel.poller.poll_once(bot)
    gmail.access_tokens.clear()  # all issued tokens revoked
    gmail.deliver(mail("hola", sender=guest_address()).as_bytes())
    await channel.poller.poll_once(bot)
    assert len(bot.received) == 1
    await close(channel)


def test_without_settings_the_channel_is_disabled(caplog, monkeypatch):
    for name in ("GMAIL_CLIENT_ID", "GMAIL_CLIENT_SECRET", "GMAIL_REFRESH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    channel = GmailInput.from_credentials(None)
    assert not channel.config.enabled and "not configured" in caplog.text
