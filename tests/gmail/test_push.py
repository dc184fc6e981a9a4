"""The channel's blueprint under Sanic: the poller starts with the server, and
a Pub/Sub push notification wakes it (polling off here)."""
from __future__ import annotations

import asyncio
import uuid

import aiohttp
from sanic import Sanic

from connectors.gmail import GmailInput
from connectors.gmail.store import MemoryStore
from tests.gmail.conftest import guest_address, mail, make_config
from tests.whatsapp.stack import free_port


async def echo(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


async def test_push_notification_wakes_the_poller(gmail):
    channel = GmailInput(make_config(gmail, poll_seconds=0, push_token="push-secret"), store=MemoryStore(60))
    Sanic.test_mode = True
    app = Sanic(f"gmail_test_{uuid.uuid4().hex}")
    app.blueprint(channel.blueprint(echo), url_prefix="/webhooks/gmail")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    await server.before_start()
    await server.after_start()
    base = f"http://127.0.0.1:{port}/webhooks/gmail"
    try:
        for _ in range(50):  # the first poll at startup
            if channel.poller.polls:
                break
            await asyncio.sleep(0.05)
        guest = guest_address()
        gmail.deliver(mail("hola", sender=guest).as_bytes())
        await asyncio.sleep(0.3)
        assert gmail.sent_to(guest) == []  # no polling timer
        notification = {"message": {"data": "eyJlbWFpbEFkZHJlc3MiOiAiaEB4In0=", "messageId": "1"}, "subscription": "s"}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{base}/push?token=wrong", json=notification) as answer:
                assert answer.status == 403
            async with http.post(f"{base}/push?token=push-secret", json=notification) as answer:
                assert answer.status == 200
            for _ in range(100):
                if gmail.sent_to(guest):
                    break
                await asyncio.sleep(0.05)
            assert gmail.sent_to(guest)[0]["message"].get_content().strip() == "echo: hola"
            async with http.get(f"{base}/") as answer:
                health = await answer.json()
                assert health["status"] == "ok" and health["replied"] == 1
    finally:
        await server.before_stop()
        server.close()
        await server.wait_closed()
        await server.after_stop()
    assert channel.poller._task is None
