"""Kinds of webhook the published bodies showed the channel getting wrong, each
with a fixture of our own, through the served channel (fake Graph, real Redis):
a bad message in a batch, deep nesting, Flow answers, call permissions,
deleted and edited messages, guests known by a business-scoped user id, and a
big batch journaled in a few entries."""
from __future__ import annotations

import asyncio
import json

from connectors.whatsapp.channel import CALL_PERMISSION_ACCEPTED, CALL_PERMISSION_REJECTED, journaled_messages
from connectors.whatsapp.deadletter import KIND_INBOUND, KIND_REJECTED
from tests.whatsapp import payloads
from tests.whatsapp.conftest import APP_SECRET, PHONE_NUMBER_ID

GUEST = "34600222333"
USER_ID = "ES.4815162342"


def with_contacts(payload, contacts):
    payload["entry"][0]["changes"][0]["value"]["contacts"] = contacts
    return payload


async def test_one_bad_message_is_kept_for_staff_and_the_rest_answered(serve, graph):
    server = await serve()
    no_sender = payloads.text(GUEST, "sin remitente")
    del no_sender["from"]
    bad_place = payloads.location(GUEST, 36.7, -4.4)
    bad_place["location"]["longitude"] = "west"
    numeric_id = payloads.text(GUEST, "id raro", message_id=987654)
    good = [payloads.text(GUEST, "hola"), payloads.text("34600999000", "buenas")]
    status, answer = await server.post(payloads.webhook([no_sender, good[0], bad_place, numeric_id, good[1]],
                                                        PHONE_NUMBER_ID))
    assert status == 200 and answer["messages"] == 2 and answer["rejected"] == 3
    await server.settle()
    assert sorted(m.text for m in server.received) == ["buenas", "hola"]
    permanent = [e for e in await server.dead_letters.queue.list_permanent() if e.kind == KIND_REJECTED]
    kept = [item for entry in permanent for item in entry.payload["rejected"]]
    assert sorted(item["error"] for item in kept) == [
        "location without numeric latitude/longitude", "message without 'from' or 'from_user_id'",
        "message without an 'id' string"]
    assert any("sin remitente" in item["raw"] for item in kept)
    assert await server.dead_letters.queue.list_queued() == []


async def test_deeply_nested_json_is_refused_with_400_not_a_500(serve):
    server = await serve()
    body = b'{"object":"whatsapp_business_account","entry":[{"changes":' + b"[" * 200_000 + b"]" * 200_000 + b"}]}"
    async with server.http.post(server.url, data=body, headers=payloads.signed_headers(body, APP_SECRET)) as answer:
        assert answer.status == 400 and "nested too deeply" in (await answer.json())["error"]


async def test_a_flow_answer_reaches_rasa_as_text_and_metadata(serve, graph):
    server = await serve()
    answer = {"flow_token": "tok-7", "check_in": "2027-03-10", "check_out": "2027-03-12", "guests": "2"}
    flow = payloads.message(GUEST, "interactive", {"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent", "response_json": json.dumps(answer)}})
    await server.post(payloads.webhook([flow], PHONE_NUMBER_ID))
    await server.settle()
    (message,) = server.received
    assert message.text == "check in: 2027-03-10, check out: 2027-03-12, guests: 2"
    assert message.metadata["whatsapp"]["flow"] == {
        "name": "flow", "body": "Sent", "token": "tok-7",
        "fields": {"check_in": "2027-03-10", "check_out": "2027-03-12", "guests": "2"}}


async def test_call_permission_replies_are_answered_and_deleted_messages_are_silent(serve, graph):
    server = await serve()
    messages = [
        payloads.message(GUEST, "interactive", {"type": "call_permission_reply",
                                                "call_permission_reply": {"response": "accept"}}),
        payloads.message(GUEST, "interactive", {"type": "call_permission_reply",
                                                "call_permission_reply": {"response": "reject"}}),
        payloads.message(GUEST, "revoke", {"original_message_id": "wamid.GONE"}),
        payloads.message(GUEST, "edit", {"original_message_id": "wamid.OLD", "message": {
            "type": "text", "text": {"body": "mejor el viernes"}}}),
    ]
    for index, message in enumerate(messages):
        message["timestamp"] = str(1700000000 + index)
    await server.post(payloads.webhook(messages, PHONE_NUMBER_ID))
    await server.settle()
    assert [m.text for m in server.received] == ["mejor el viernes"]
    assert server.received[0].metadata["whatsapp"]["edit_of"] == "wamid.OLD"
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == [
        CALL_PERMISSION_ACCEPTED, CALL_PERMISSION_REJECTED, "echo: mejor el viernes"]
    assert len(graph.reads()) == 3  # typing for the three answered, none for the deleted message


async def test_a_guest_known_only_by_user_id_is_answered_through_recipient(serve, graph):
    server = await serve()
    message = payloads.text("unused", "hola, soy Ana")
    del message["from"]
    message["from_user_id"] = USER_ID
    payload = with_contacts(payloads.webhook([message], PHONE_NUMBER_ID),
                            [{"profile": {"name": "Ana", "username": "ana.viaja"}, "user_id": USER_ID}])
    assert (await server.post(payload))[0] == 200
    await server.settle()
    (received,) = server.received
    assert received.sender_id == f"{USER_ID}@{PHONE_NUMBER_ID}" and received.metadata["whatsapp"]["user_id"] == USER_ID
    (sent,) = graph.messages(USER_ID)
    assert sent["recipient"] == USER_ID and "to" not in sent and sent["text"]["body"] == "echo: hola, soy Ana"


async def test_a_guest_seen_with_both_ids_stays_one_conversation_when_the_number_goes(serve, graph):
    server = await serve()
    first = payloads.text(GUEST, "hola", from_user_id=USER_ID)
    await server.post(with_contacts(payloads.webhook([first], PHONE_NUMBER_ID),
                                    [{"profile": {"name": "Lucía"}, "wa_id": GUEST, "user_id": USER_ID}]))
    await server.settle()
    later = payloads.text("unused", "¿y el parking?")
    del later["from"]
    later["from_user_id"] = USER_ID
    await server.post(with_contacts(payloads.webhook([later], PHONE_NUMBER_ID),
                                    [{"profile": {"name": "Lucía", "username": "lucia"}, "user_id": USER_ID}]))
    await server.settle()
    assert [m.sender_id for m in server.received] == [f"{GUEST}@{PHONE_NUMBER_ID}"] * 2
    assert [m["to"] for m in graph.messages(GUEST)] == [GUEST, GUEST]  # still sent by number: Meta prefers it


async def test_a_big_batch_is_journaled_in_a_few_entries_and_answered_once(serve, graph):
    gate = asyncio.Event()

    async def bot(message):
        await gate.wait()
        await message.output_channel.send_text_message(message.sender_id, f"ok {message.text}")

    server = await serve(bot=bot, typing_indicator="false")
    messages = [payloads.text(f"3460{n:07d}", str(n)) for n in range(250)]
    payload = payloads.webhook(messages, PHONE_NUMBER_ID)
    status, answer = await server.post(payload)
    assert status == 200 and answer["messages"] == 250
    journal = [e for e in await server.dead_letters.queue.list_queued(100) if e.kind == KIND_INBOUND]
    assert sorted(len(journaled_messages(e.payload)) for e in journal) == [50, 100, 100]
    assert (await server.post(payload))[0] == 200  # Meta redelivers before the turns finished
    gate.set()
    await server.settle()
    assert sorted(int(m.text) for m in server.received) == list(range(250))
    assert len(graph.messages()) == 250
    assert [e for e in await server.dead_letters.queue.list_queued(100) if e.kind == KIND_INBOUND] == []
