"""The channel's blueprint under Sanic: the poller starts with the server, a
Pub/Sub push notification wakes it (polling off here), and with a push topic
the channel calls users.watch and reads the mailbox history instead of
searching (mailbox_sync.py), against the fake Gmail API."""
from __future__ import annotations

import asyncio
import uuid
from contextlib import asynccontextmanager

import aiohttp
import pytest
from sanic import Sanic

from connectors.gmail import GmailInput
from connectors.gmail.mailbox_sync import MailboxSync, MalformedPush, parse_push
from connectors.gmail.store import MemoryStore
from connectors.settings import ConfigError
from tests.gmail.conftest import guest_address, mail, make_config
from tests.stack_common import free_port

TOPIC = "projects/hotel-demo/topics/gmail-inbox"


async def echo(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


@asynccontextmanager
async def served(channel):
    Sanic.test_mode = True
    app = Sanic(f"gmail_test_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(echo), url_prefix="/webhooks/gmail")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        for _ in range(100):  # the first poll at startup
            if channel.poller.polls:
                break
            await asyncio.sleep(0.05)
        async with aiohttp.ClientSession() as http:
            yield http, f"http://127.0.0.1:{port}/webhooks/gmail"
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()


async def push(http, base, body, token="push-secret") -> int:
    async with http.post(f"{base}/push?token={token}", json=body) as answer:
        return answer.status


async def wait_sent(gmail, guest):
    for _ in range(100):
        if gmail.sent_to(guest):
            return gmail.sent_to(guest)
        await asyncio.sleep(0.05)
    raise AssertionError(f"no reply to {guest}")


def searches(gmail) -> int:
    return len([p for m, p, _ in gmail.requests if m == "GET" and p.endswith("/users/me/messages")])


async def test_push_notification_wakes_the_poller(gmail):
    channel = GmailInput(make_config(gmail, poll_seconds=0, push_token="push-secret"), store=MemoryStore(60))
    async with served(channel) as (http, base):
        guest = guest_address()
        gmail.deliver(mail("hola", sender=guest).as_bytes())
        await asyncio.sleep(0.3)
        assert gmail.sent_to(guest) == []  # no polling timer
        assert await push(http, base, gmail.push_notification(), token="wrong") == 403
        assert await push(http, base, {"message": {"data": "bm90IGpzb24="}}) == 400  # "not json"
        assert await push(http, base, gmail.push_notification()) == 200
        assert (await wait_sent(gmail, guest))[0]["message"].get_content().strip() == "echo: hola"
        async with http.get(f"{base}/") as answer:
            health = await answer.json()
            assert health["status"] == "ok" and health["replied"] == 1
    assert channel.poller._task is None


async def test_with_a_topic_the_channel_watches_and_reads_the_history(gmail):
    early = guest_address()
    gmail.deliver(mail("llegué antes", sender=early).as_bytes())  # arrived while the bot was down
    channel = GmailInput(make_config(gmail, poll_seconds=0, push_token="push-secret", push_topic=TOPIC), store=MemoryStore(60))
    async with served(channel) as (http, base):
        assert gmail.watches == [{"topicName": TOPIC, "labelIds": ["INBOX"], "labelFilterBehavior": "include"}]
        await wait_sent(gmail, early)  # the first poll searches
        assert searches(gmail) == 1
        guests = [guest_address(), guest_address()]
        for guest in guests:
            gmail.deliver(mail("hola", sender=guest).as_bytes())
        assert await push(http, base, gmail.push_notification()) == 200
        for guest in guests:
            await wait_sent(gmail, guest)
        assert await push(http, base, gmail.push_notification()) == 200  # nothing new: nothing answered twice
        await asyncio.sleep(0.3)
        history_reads = [p for m, p, _ in gmail.requests if p.endswith("/history")]
        assert len(history_reads) == 2 and searches(gmail) == 1
        assert [len(gmail.sent_to(g)) for g in [early] + guests] == [1, 1, 1]


async def test_a_history_too_old_for_gmail_falls_back_to_a_search(gmail):
    channel = GmailInput(make_config(gmail, poll_seconds=0, push_token="push-secret", push_topic=TOPIC), store=MemoryStore(60))
    async with served(channel) as (http, base):
        gmail.history_floor = gmail.history_id + 1000  # every start id is expired now
        guest = guest_address()
        gmail.deliver(mail("hola", sender=guest).as_bytes())
        assert await push(http, base, gmail.push_notification()) == 200
        await wait_sent(gmail, guest)
        assert searches(gmail) == 2


async def test_history_mode_retries_what_failed_and_pages_through_the_history(gmail):
    sync = MailboxSync(channel_client := GmailInput(make_config(gmail), store=MemoryStore(60)).client, lambda: "in:inbox",
                       topic=TOPIC)
    gmail.history_page_size = 2
    try:
        assert await sync.new_message_ids(10, []) == []  # full sync: empty mailbox
        stored = [gmail.deliver(mail(f"m{n}", sender=guest_address()).as_bytes()) for n in range(5)]
        ids = await sync.new_message_ids(10, ["failed-before"])
        assert ids == ["failed-before"] + [m.id for m in stored]
        assert await sync.new_message_ids(10, []) == []
    finally:
        await channel_client.close()


def test_push_bodies_and_topics_are_validated(gmail):
    assert parse_push(gmail.push_notification()).history_id == str(gmail.history_id)
    for body in ({}, {"message": "x"}, {"message": {"data": "%%%"}}, {"message": {"data": "e30="}}):  # e30= is "{}"
        with pytest.raises(MalformedPush):
            parse_push(body)
    with pytest.raises(ConfigError, match="projects/<project>/topics/<topic>"):
        make_config(gmail, push_topic="gmail-inbox")
