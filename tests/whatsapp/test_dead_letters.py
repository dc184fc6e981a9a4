"""The channel and the dead-letter queue, served by Sanic with a stand-in for
Rasa, against the fake Graph API and real Redis (queue, leases, dedup):
failed sends are resent by the worker exactly once (as a template outside the
24-hour window), every accepted message is journaled before the 200 and
re-run by the worker when its turn failed or its process died, and nothing
is answered twice."""
from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from connectors.whatsapp import inbound
from connectors.whatsapp.channel import journaled_messages
from connectors.whatsapp.deadletter import KIND_INBOUND, KIND_SEND
from dlq import DLQSettings, build_queue
from tests.whatsapp import payloads
from tests.whatsapp.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID

GUEST = "34600111333"


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def wait_until(predicate, timeout: float = 15.0, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(step)
    raise AssertionError("condition not met in time")


async def entries(server, kind=None):
    found = await server.dead_letters.queue.list_queued(100)
    return [e for e in found if kind is None or e.kind == kind]


async def test_a_send_failing_every_retry_is_resent_once_by_the_worker(serve, graph):
    server = await serve(send_retries=1)
    graph.fail_next("messages", 503, times=2, to=GUEST)  # the send and its one retry
    failed_before = sample("channel_sends_total", channel="whatsapp", result="failed")
    resent_before = sample("channel_sends_total", channel="whatsapp", result="resent")
    status, _ = await server.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID))
    assert status == 200
    await server.settle()
    assert len(graph.messages(GUEST)) == 2  # both refused
    (entry,) = await entries(server, KIND_SEND)
    assert entry.reason == "graph_unavailable" and entry.conversation_id == f"{GUEST}@{PHONE_NUMBER_ID}"
    assert entry.payload["message"] == {"type": "text", "text": {"body": "echo: hola", "preview_url": False}}
    assert ACCESS_TOKEN not in str(entry.as_dict())
    # Graph is back: the worker resends it once the backoff is over, and only once
    await wait_until(lambda: len(graph.messages(GUEST)) == 3)
    await wait_until(lambda: _empty(server, KIND_SEND))
    await asyncio.sleep(0.8)
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["echo: hola"] * 3
    assert sample("channel_sends_total", channel="whatsapp", result="failed") == failed_before + 1
    assert sample("channel_sends_total", channel="whatsapp", result="resent") == resent_before + 1


async def _empty(server, kind) -> bool:
    return not await entries(server, kind)


async def test_a_resend_after_the_window_closed_goes_out_as_the_template(serve, graph):
    server = await serve(template_name="hotel_update", template_language="es")
    # the guest never wrote (no window): a failed free-form text queued earlier
    await server.dead_letters.queue.enqueue(
        KIND_SEND, {"phone_number_id": PHONE_NUMBER_ID, "recipient": GUEST,
                    "message": {"type": "text", "text": {"body": "Tu reserva\nBK100002 está confirmada"}},
                    "fallback_text": "Tu reserva\nBK100002 está confirmada"},
        error="Graph API 503", reason="graph_unavailable")
    await wait_until(lambda: graph.messages(GUEST))
    (sent,) = graph.messages(GUEST)
    assert sent["type"] == "template" and sent["template"]["name"] == "hotel_update"
    assert sent["template"]["components"][0]["parameters"][0]["text"] == "Tu reserva BK100002 está confirmada"


async def test_a_resend_graph_refuses_for_good_becomes_a_permanent_failure(serve, graph):
    server = await serve()
    queue = server.dead_letters.queue
    graph.fail_next("messages", 400, code=131009, to=GUEST)
    entry = await queue.enqueue(
        KIND_SEND, {"phone_number_id": PHONE_NUMBER_ID, "recipient": GUEST, "message": {"type": "text", "text": {"body": "x"}},
                    "fallback_text": "x"}, error="Graph API 400", reason="graph_rejected")
    await wait_until(lambda: _permanent(queue, entry.id))
    (failed,) = [e for e in await queue.list_permanent() if e.id == entry.id]
    assert "131009" in failed.error and failed.attempts == 1


async def _permanent(queue, entry_id) -> bool:
    return any(e.id == entry_id for e in await queue.list_permanent())


async def test_every_message_is_journaled_before_the_ack_and_removed_after_its_turn(serve, graph):
    seen_entries = []

    async def bot(message):
        seen_entries.extend(await server.dead_letters.queue.list_queued(10))
        await message.output_channel.send_text_message(message.sender_id, "ok")

    server = await serve(bot=bot)
    message = payloads.text(GUEST, "hola")
    await server.post(payloads.webhook([message], PHONE_NUMBER_ID))
    await server.settle()
    (journaled,) = seen_entries
    assert journaled.kind == KIND_INBOUND and journaled.reason == "journal"
    assert [m.message_id for m in journaled_messages(journaled.payload)] == [message["id"]]
    assert await entries(server) == []


async def test_a_failed_turn_is_retried_by_the_worker_and_answered_once(serve, graph):
    calls = []

    async def flaky_rasa(message):
        calls.append(message.text)
        if len(calls) <= 2:  # e.g. the tracker store is down
            raise ConnectionError("tracker store unreachable")
        await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")

    failed_before = sample("channel_messages_total", channel="whatsapp", outcome="failed")
    server = await serve(bot=flaky_rasa)
    await server.post(payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID))
    await wait_until(lambda: graph.messages(GUEST), timeout=20)
    await wait_until(lambda: _empty(server, None))
    await asyncio.sleep(1.0)
    assert calls == ["hola"] * 3
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["echo: hola"]
    assert sample("channel_messages_total", channel="whatsapp", outcome="failed") == failed_before + 2


async def test_a_turn_that_never_works_ends_in_the_permanent_table(serve, graph):
    async def broken_rasa(message):
        raise ConnectionError("tracker store unreachable")

    server = await serve(bot=broken_rasa)
    message = payloads.text(GUEST, "hola")
    await server.post(payloads.webhook([message], PHONE_NUMBER_ID))
    queue = server.dead_letters.queue
    await wait_until(lambda: _has_permanent(queue), timeout=20)
    (failed,) = await queue.list_permanent()
    assert failed.kind == KIND_INBOUND and failed.reason == "turn_failed"
    assert [m.message_id for m in journaled_messages(failed.payload)] == [message["id"]]
    assert "tracker store unreachable" in failed.error and failed.attempts == 3


async def _has_permanent(queue) -> bool:
    return bool(await queue.list_permanent())


async def test_a_message_journaled_by_a_process_that_died_is_recovered_once(serve, graph, dlq_settings):
    """What a kill -9 after the 200 leaves behind: a journal entry, no lease, no turn."""
    message = inbound.parse_webhook(payloads.webhook([payloads.text(GUEST, "sigo aquí")], PHONE_NUMBER_ID)).messages[0]
    dead = build_queue(dlq_settings)
    await dead.enqueue(KIND_INBOUND, inbound.to_payload(message), error="received", reason="journal")
    await dead.enqueue(KIND_INBOUND, inbound.to_payload(message), error="received", reason="journal")  # a duplicate entry
    await dead.close()
    server = await serve()
    await wait_until(lambda: graph.messages(GUEST))
    await wait_until(lambda: _empty(server, None))
    await asyncio.sleep(0.8)
    assert [m.text for m in server.received] == ["sigo aquí"]
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["echo: sigo aquí"]
    # and a late redelivery by Meta is recognised as done
    await server.post(payloads.webhook([payloads.text(GUEST, "sigo aquí", message_id=message.message_id)], PHONE_NUMBER_ID))
    await server.settle()
    assert len(server.received) == 1


async def test_a_slow_turn_is_not_also_run_by_the_worker_and_order_is_kept(serve, graph):
    """The backoff (0.3 s) and the lease (2 s) are far shorter than the turns here."""
    async def slow_rasa(message):
        await asyncio.sleep(2.5 if message.text == "uno" else 0.1)
        await message.output_channel.send_text_message(message.sender_id, message.text)

    server = await serve(bot=slow_rasa)
    for word in ("uno", "dos", "tres"):
        await server.post(payloads.webhook([payloads.text(GUEST, word)], PHONE_NUMBER_ID))
    await server.settle()
    await wait_until(lambda: _empty(server, None))
    await asyncio.sleep(0.6)
    assert [m.text for m in server.received] == ["uno", "dos", "tres"]
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["uno", "dos", "tres"]


async def test_a_message_the_queue_cannot_record_gets_503_so_meta_redelivers(serve, graph, redis_prefix):
    server = await serve()
    nowhere = DLQSettings(redis_url="redis://127.0.0.1:1/0", database_url="postgresql://postgres@127.0.0.1:1/nowhere",
                          prefix=f"{redis_prefix}:down")
    working = server.channel.queue
    server.channel.queue = build_queue(nowhere)
    message = payloads.text(GUEST, "hola")
    status, answer = await server.post(payloads.webhook([message], PHONE_NUMBER_ID))
    assert status == 503 and answer == {"error": "temporarily unavailable"}
    await server.settle()
    assert server.received == []
    await server.channel.queue.close()
    server.channel.queue = working  # the queue is back: Meta's redelivery is processed
    assert (await server.post(payloads.webhook([message], PHONE_NUMBER_ID)))[0] == 200
    await server.settle()
    assert [m.text for m in server.received] == ["hola"]


@pytest.mark.parametrize("outcome", ["processed", "duplicate"])
async def test_message_outcomes_are_counted(serve, graph, outcome):
    server = await serve()
    before = sample("channel_messages_total", channel="whatsapp", outcome=outcome)
    payload = payloads.webhook([payloads.text(GUEST, "hola")], PHONE_NUMBER_ID)
    await server.post(payload)
    await server.settle()
    await server.post(payload)
    await server.settle()
    assert sample("channel_messages_total", channel="whatsapp", outcome=outcome) == before + 1
