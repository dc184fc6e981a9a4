"""connectors.metrics.MetricsInput: GET /webhooks/metrics/ in Prometheus text
format, with the channel_* counters a turn moves and the dlq_* metrics of the
journal; scraped over HTTP before and after one served WhatsApp turn."""
from __future__ import annotations

import uuid

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sanic import Sanic

from connectors.metrics import MetricsInput
from tests.stack_common import free_port
from tests.whatsapp import payloads
from tests.whatsapp.conftest import PHONE_NUMBER_ID


@pytest.fixture
async def metrics_url():
    Sanic.test_mode = True
    app = Sanic(f"metrics_test_{uuid.uuid4().hex}")
    app.blueprint(MetricsInput.from_credentials(None).blueprint(None), url_prefix="/webhooks/metrics")
    port = free_port()
    server = await app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
    await server.startup()
    yield f"http://127.0.0.1:{port}/webhooks/metrics/"
    server.close()
    await server.wait_closed()


async def scrape(url: str) -> dict:
    async with aiohttp.ClientSession() as http:
        async with http.get(url) as answer:
            assert answer.status == 200 and answer.headers["Content-Type"].startswith("text/plain; version=")
            text = await answer.text()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_a_turn_moves_the_channel_and_dlq_counters_by_exactly_one(serve, graph, metrics_url):
    server = await serve()
    before = await scrape(metrics_url)
    guest = "34600999888"
    payload = payloads.webhook([payloads.text(guest, "hola")], PHONE_NUMBER_ID)
    await server.post(payload)
    await server.settle()
    await server.post(payload)  # a redelivery
    await server.settle()
    after = await scrape(metrics_url)

    def delta(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("channel_messages_total", channel="whatsapp", outcome="processed") == 1
    assert delta("channel_messages_total", channel="whatsapp", outcome="duplicate") == 1
    assert delta("channel_sends_total", channel="whatsapp", result="sent") == 1
    assert delta("channel_turn_latency_seconds_count", channel="whatsapp") == 1
    # two guest messages (the redelivery was never run), one message sent back
    assert delta("channel_turn_messages_count", channel="whatsapp") == 1
    assert delta("channel_turn_messages_sum", channel="whatsapp") == 1
    assert delta("dlq_messages_total", kind="whatsapp.inbound", reason="journal") == 1  # the redelivery: already done
    assert ("dlq_queue_size", ()) in after


def test_the_metrics_channel_takes_no_settings():
    with pytest.raises(ValueError, match="takes no settings"):
        MetricsInput.from_credentials({"port": 9100})
