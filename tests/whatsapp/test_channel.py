"""The channel served by Sanic on a local port, Rasa played by a small bot:
verification, signatures, body limits, fast acknowledgement, deduplication
(real Redis and in-process), per-guest order, message types, hotel metadata."""
from __future__ import annotations

import asyncio
import logging
import time

import pytest

from connectors.whatsapp.channel import UNSUPPORTED, VOICE_NOT_UNDERSTOOD, VOICE_UNAVAILABLE
from tests.whatsapp import payloads
from tests.whatsapp.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, VERIFY_TOKEN

GUEST = "34600111222"


async def get(server, **params):
    async with server.http.get(server.url, params=params) as answer:
        return answer.status, await answer.text()


async def test_subscription_verification(serve):
    server = await serve()
    ok = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "1158201444"}
    assert await get(server, **ok) == (200, "1158201444")
    assert (await get(server, **dict(ok, **{"hub.verify_token": "guess"})))[0] == 403
    assert (await get(server, **dict(ok, **{"hub.mode": "unsubscribe"})))[0] == 400
    assert (await get(server, **dict(ok, **{"hub.challenge": "x" * 1000})))[0] == 400


async def test_unconfigured_channel_answers_503(graph):
    from connectors.whatsapp import WhatsAppConfig, WhatsAppInput
    from tests.whatsapp.conftest import ChannelServer, echo_bot

    server = await ChannelServer(WhatsAppInput(WhatsAppConfig()), echo_bot).start()
    try:
        assert (await server.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID), secret=""))[0] == 503
        assert (await get(server, **{"hub.mode": "subscribe", "hub.verify_token": "", "hub.challenge": "1"}))[0] == 503
    finally:
        await server.stop()


async def test_forged_or_missing_signatures_are_refused_and_nothing_runs(serve, graph):
    server = await serve()
    payload = payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID)
    status, answer = await server.post(payload, secret="not-the-app-secret")
    assert status == 403 and answer == {"error": "invalid signature"}
    body = payloads.encode(payload)
    async with server.http.post(server.url, data=body, headers={"Content-Type": "application/json"}) as missing:
        assert missing.status == 401
    # a valid signature of another body does not cover this one
    other = payloads.signed_headers(b"{}", APP_SECRET)
    async with server.http.post(server.url, data=body, headers=other) as replayed:
        assert replayed.status == 403
    await server.settle()
    assert server.received == [] and graph.messages() == []


async def test_oversized_bodies_are_refused_with_413(serve):
    server = await serve(max_body_bytes=2048)
    big = payloads.webhook([payloads.text(GUEST, "x" * 4000)], PHONE_NUMBER_ID)
    assert (await server.post(big))[0] == 413  # declared by Content-Length

    async def chunks():  # no Content-Length: the limit applies while reading
        for _ in range(10):
            yield b"{" * 512

    async with server.http.post(server.url, data=chunks(), headers={"X-Hub-Signature-256": "sha256=00"}) as answer:
        assert answer.status == 413
    await server.settle()
    assert server.received == []


@pytest.mark.parametrize("body", [b"not json", b'{"object":"page","entry":[]}', b'{"object":"whatsapp_business_account","entry":"x"}'])
async def test_malformed_but_signed_bodies_are_refused_with_400(serve, body):
    server = await serve()
    async with server.http.post(server.url, data=body, headers=payloads.signed_headers(body, APP_SECRET)) as answer:
        assert answer.status == 400 and "malformed" in (await answer.json())["error"]


async def test_acknowledges_before_the_bot_answers(serve, graph):
    async def slow_bot(message):
        await asyncio.sleep(1.5)
        await message.output_channel.send_text_message(message.sender_id, "done")

    server = await serve(bot=slow_bot)
    started = time.perf_counter()
    status, answer = await server.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID))
    acked = time.perf_counter() - started
    assert status == 200 and answer["messages"] == 1 and acked < 0.5
    assert graph.messages(GUEST) == []
    await server.settle()
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["done"]


async def test_redeliveries_are_answered_once_via_redis(serve, graph):
    server = await serve()
    payload = payloads.webhook([payloads.text(GUEST, "hola", message_id="wamid.DUP1")], PHONE_NUMBER_ID)
    results = await asyncio.gather(*(server.post(payload) for _ in range(3)))
    assert [status for status, _ in results] == [200, 200, 200]
    await server.settle()
    assert (await server.post(payload))[0] == 200  # a late redelivery
    await server.settle()
    assert [m.text for m in server.received] == ["hola"]
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["echo: hola"]


async def test_two_rasa_processes_sharing_redis_answer_once(serve, graph):
    first, second = await serve(), await serve()
    payload = payloads.webhook([payloads.text(GUEST, "hola", message_id="wamid.DUP2")], PHONE_NUMBER_ID)
    await asyncio.gather(first.post(payload), second.post(payload))
    await first.settle()
    await second.settle()
    assert len(first.received) + len(second.received) == 1
    assert len(graph.messages(GUEST)) == 1


async def test_in_process_store_deduplicates_without_redis(serve, graph):
    server = await serve(redis_url="")
    payload = payloads.webhook([payloads.text(GUEST, "hola", message_id="wamid.DUP3")], PHONE_NUMBER_ID)
    for _ in range(3):
        await server.post(payload)
    await server.settle()
    assert len(server.received) == 1 and len(graph.messages(GUEST)) == 1


async def test_messages_of_one_guest_keep_their_order_while_guests_run_concurrently(serve, graph):
    delays = {"uno": 0.4, "dos": 0.05, "tres": 0.2, "cuatro": 0.0, "rápido": 0.0}

    async def bot(message):
        await asyncio.sleep(delays[message.text])
        await message.output_channel.send_text_message(message.sender_id, message.text)

    server = await serve(bot=bot)
    for word in ("uno", "dos", "tres", "cuatro"):
        await server.post(payloads.webhook([payloads.text(GUEST, word)], PHONE_NUMBER_ID))
    await server.post(payloads.webhook([payloads.text("34999000111", "rápido")], PHONE_NUMBER_ID))
    await server.settle()
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["uno", "dos", "tres", "cuatro"]
    # the other guest did not wait behind the first guest's slow turn
    assert graph.messages()[0]["to"] == "34999000111"


async def test_status_callbacks_are_acknowledged_and_ignored(serve, graph):
    server = await serve()
    status, answer = await server.post(payloads.status_callback(PHONE_NUMBER_ID, GUEST, "read"))
    assert status == 200 and answer == {"status": "received", "messages": 0, "statuses": 1}
    await server.settle()
    assert server.received == [] and graph.requests == []


async def test_message_types_reach_rasa_as_text_payloads_with_metadata(serve, graph):
    server = await serve()
    wa = GUEST
    messages = [
        payloads.button_reply(wa, "/affirm", "Sí"),
        payloads.list_reply(wa, '/inform{"room_type":"double"}', "Doble"),
        payloads.location(wa, 36.72, -4.42, name="Estación María Zambrano"),
        payloads.image(wa, "media-receipt", caption="justificante reserva bk100002"),
        payloads.image(wa, "media-receipt-2"),
        payloads.message(wa, "document", {"id": "m-pdf", "mime_type": "application/pdf", "filename": "BK100001.pdf"}),
        payloads.message(wa, "button", {"payload": "/deny", "text": "No"}),
    ]
    for index, message in enumerate(messages):
        message["timestamp"] = str(1700000000 + index)
    await server.post(payloads.webhook(messages, PHONE_NUMBER_ID, names={wa: "Lucía"}))
    await server.settle()
    assert [m.text for m in server.received] == [
        "/affirm",
        '/inform{"room_type":"double"}',
        "/hotel_location",
        '/payment_confirmation{"booking_ref":"BK100002"}',
        "/payment_confirmation",
        '/payment_confirmation{"booking_ref":"BK100001"}',
        "/deny",
    ]
    first = server.received[0]
    assert first.sender_id == f"{wa}@{PHONE_NUMBER_ID}" and first.input_channel == "whatsapp"
    assert first.message_id == messages[0]["id"]
    assert first.metadata["hotel"] == {"id": "demo", "config": "hotel.yml", "phone_number_id": PHONE_NUMBER_ID}
    assert first.metadata["whatsapp"]["profile_name"] == "Lucía" and first.metadata["whatsapp"]["type"] == "interactive"
    assert server.received[2].metadata["whatsapp"]["location"]["name"] == "Estación María Zambrano"
    assert server.received[3].metadata["whatsapp"]["media"]["caption"] == "justificante reserva bk100002"


async def test_unsupported_types_get_a_short_answer_and_reactions_nothing(serve, graph):
    server = await serve()
    await server.post(payloads.webhook([
        payloads.message(GUEST, "sticker", {"id": "m-sticker", "mime_type": "image/webp"}),
        payloads.message(GUEST, "reaction", {"message_id": "wamid.X", "emoji": "👍"}),
    ], PHONE_NUMBER_ID))
    await server.settle()
    assert server.received == []
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == [UNSUPPORTED]


async def test_long_button_payloads_come_back_from_the_store(serve, graph):
    payload = '/inform{"note":"' + "x" * 300 + '"}'

    async def bot(message):
        if message.text == "menu":
            await message.output_channel.send_text_with_buttons(message.sender_id, "?", [{"title": "Ok", "payload": payload}])

    server = await serve(bot=bot)
    await server.post(payloads.webhook([payloads.text(GUEST, "menu")], PHONE_NUMBER_ID))
    await server.settle()
    reply_id = graph.messages(GUEST)[0]["interactive"]["action"]["buttons"][0]["reply"]["id"]
    await server.post(payloads.webhook([payloads.button_reply(GUEST, reply_id, "Ok")], PHONE_NUMBER_ID))
    await server.post(payloads.webhook([payloads.button_reply(GUEST, "wa:expiredkey", "Ok")], PHONE_NUMBER_ID))
    await server.settle()
    assert [m.text for m in server.received] == ["menu", payload, "Ok"]


async def test_voice_notes_are_downloaded_decoded_and_transcribed(serve, graph, voice_note_ogg, korean_model):
    server = await serve(vosk_model_path=korean_model)
    media_id = graph.add_media(voice_note_ogg, "audio/ogg")
    await server.post(payloads.webhook([payloads.voice(GUEST, media_id)], PHONE_NUMBER_ID))
    await server.settle()
    (message,) = server.received
    assert message.text.strip() and any("\uac00" <= ch <= "\ud7a3" for ch in message.text)
    assert message.metadata["whatsapp"]["transcribed"] is True
    assert [r.path for r in graph.requests if r.method == "GET"] == [f"/v21.0/{media_id}", f"/download/{media_id}"]
    assert graph.messages(GUEST)[0]["text"]["body"] == f"echo: {message.text}"


async def test_voice_notes_that_cannot_be_heard(serve, graph, korean_model):
    no_model = await serve()
    await no_model.post(payloads.webhook([payloads.voice(GUEST, graph.add_media(b"x", "audio/ogg"))], PHONE_NUMBER_ID))
    await no_model.settle()
    broken = await serve(vosk_model_path=korean_model)
    await broken.post(payloads.webhook([payloads.voice(GUEST, graph.add_media(b"OggS broken", "audio/ogg"))], PHONE_NUMBER_ID))
    await broken.post(payloads.webhook([payloads.voice(GUEST, "missing-media")], PHONE_NUMBER_ID))
    await broken.settle()
    assert no_model.received == [] and broken.received == []
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == [VOICE_UNAVAILABLE, VOICE_NOT_UNDERSTOOD, VOICE_NOT_UNDERSTOOD]


async def test_hotel_is_chosen_by_the_receiving_number_and_unknown_numbers_are_ignored(serve, graph, tmp_path):
    (tmp_path / "playa.yml").write_text("id: playa\nname: Hotel Playa\n")
    server = await serve(hotels=f"200000000000002={tmp_path / 'playa.yml'}")
    await server.post(payloads.webhook([payloads.text(GUEST, "hola")], "200000000000002"))
    await server.post(payloads.webhook([payloads.text(GUEST, "hola")], "999999999999999"))
    await server.settle()
    (message,) = server.received
    assert message.metadata["hotel"]["id"] == "playa" and message.sender_id == f"{GUEST}@200000000000002"
    assert graph.requests[-1].path == "/v21.0/200000000000002/messages"


async def test_typing_indicator_with_read_status_before_the_answer(serve, graph):
    server = await serve()
    await server.post(payloads.webhook([payloads.text(GUEST, "hola", message_id="wamid.READ1")], PHONE_NUMBER_ID))
    await server.settle()
    typing, answer = (r.json for r in graph.requests)
    assert typing == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.READ1",
                      "typing_indicator": {"type": "text"}}
    assert answer["text"]["body"] == "echo: hola"
    # nothing to answer (a reaction): no indicator either
    await server.post(payloads.webhook([payloads.message(GUEST, "reaction", {"message_id": "wamid.X", "emoji": "👍"})],
                                       PHONE_NUMBER_ID))
    await server.settle()
    assert len(graph.requests) == 2


async def test_read_receipts_alone_when_the_typing_indicator_is_off(serve, graph):
    server = await serve(mark_read="true", typing_indicator="false")
    await server.post(payloads.webhook([payloads.text(GUEST, "hola", message_id="wamid.READ2")], PHONE_NUMBER_ID))
    await server.settle()
    assert graph.requests[0].json == {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.READ2"}
    silent = await serve(typing_indicator="false")
    await silent.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID))
    await silent.settle()
    assert all(r.json.get("type") == "text" for r in graph.requests[2:])


async def test_secrets_never_reach_the_logs(serve, graph, caplog):
    caplog.set_level(logging.DEBUG)
    graph.fail_next("messages", 503)
    graph.fail_next("messages", 400, code=100)
    server = await serve()
    await server.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID), secret="forged")
    await server.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID))
    await server.settle()
    assert "retry" in caplog.text and "dead-letter entry" in caplog.text
    for secret in (ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN):
        assert secret not in caplog.text


async def test_a_turns_texts_go_out_in_one_message(serve, graph):
    async def chatty_bot(message):
        for line in ("¡Hola!", "Soy el asistente del hotel.", "¿En qué te ayudo?"):
            await message.output_channel.send_text_message(message.sender_id, line)

    server = await serve(bot=chatty_bot)
    await server.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID))
    await server.settle()
    (sent,) = graph.messages(GUEST)
    assert sent["text"]["body"] == "¡Hola!\n\nSoy el asistente del hotel.\n\n¿En qué te ayudo?"


def preference_notice(wa_id, value):
    return {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{
        "field": "user_preferences", "value": {
            "messaging_product": "whatsapp", "metadata": {"phone_number_id": PHONE_NUMBER_ID},
            "user_preferences": [{"wa_id": wa_id, "category": "marketing_messages", "value": value,
                                  "timestamp": 1731705721}]}}]}]}


async def test_whatsapps_own_opt_out_is_stored_for_the_journey(serve, graph, tmp_path, monkeypatch):
    """A guest pressing "Stop promotions" in WhatsApp gets no more proactive messages."""
    from journey import guest_messages

    monkeypatch.setenv("JOURNEY_DATABASE_URL", f"sqlite:///{tmp_path / 'journey.sqlite3'}")
    guest_messages.default_store.cache_clear()
    try:
        server = await serve()
        hotel_id = server.channel.config.hotel_for(PHONE_NUMBER_ID).hotel_id
        assert (await server.post(preference_notice("34600999888", "resume")))[0] == 200
        assert (await server.post(preference_notice(GUEST, "stop")))[0] == 200
        await server.settle()
        store = guest_messages.default_store()
        assert store.opted_out(hotel_id, f"{GUEST}@{PHONE_NUMBER_ID}")
        assert not store.opted_out(hotel_id, f"34600999888@{PHONE_NUMBER_ID}")
        assert server.received == [] and graph.messages() == []
    finally:
        guest_messages.default_store.cache_clear()
