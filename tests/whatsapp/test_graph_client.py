"""Graph API client against the fake Graph server: shapes, auth, retries, media."""
from __future__ import annotations

import pytest

from connectors.whatsapp.graph import GraphClient, GraphError, MediaTooLarge
from tests.whatsapp.conftest import ACCESS_TOKEN


@pytest.fixture
async def client(graph):
    delays = []

    async def no_sleep(seconds: float) -> None:
        delays.append(seconds)

    client = GraphClient(graph.url, "v21.0", ACCESS_TOKEN, retries=3, retry_base_seconds=0.5, sleep=no_sleep)
    client.delays = delays
    yield client
    await client.close()


async def test_sends_a_message_with_bearer_token(client, graph):
    answer = await client.send_message("123", {"to": "34600", "type": "text", "text": {"body": "hola"}})
    assert answer["messages"][0]["id"].startswith("wamid.")
    request = graph.requests[-1]
    assert request.path == "/v21.0/123/messages" and request.authorization == f"Bearer {ACCESS_TOKEN}"
    assert request.json == {"messaging_product": "whatsapp", "to": "34600", "type": "text", "text": {"body": "hola"}}
    assert ACCESS_TOKEN not in repr(client)


async def test_retries_5xx_and_429_with_backoff_and_retry_after(client, graph):
    graph.fail_next("messages", 503)
    graph.fail_next("messages", 429, retry_after="2")
    graph.fail_next("messages", 500)
    await client.send_message("123", {"to": "34600", "type": "text", "text": {"body": "x"}})
    assert len(graph.messages()) == 4
    first, second, third = client.delays
    assert 0.4 <= first <= 0.6 and 1.6 <= second <= 2.4 and 1.6 <= third <= 2.4  # base*2^0, Retry-After, base*2^2


async def test_client_errors_are_final_and_retries_are_bounded(client, graph):
    graph.fail_next("messages", 400, code=100)
    with pytest.raises(GraphError) as error:
        await client.send_message("123", {"to": "34600", "type": "text", "text": {"body": "x"}})
    assert error.value.status == 400 and error.value.code == 100 and len(graph.messages()) == 1
    graph.fail_next("messages", 503, times=10)
    with pytest.raises(GraphError) as error:
        await client.send_message("123", {"to": "34600", "type": "text", "text": {"body": "y"}})
    assert error.value.status == 503 and len(graph.messages()) == 1 + 4


async def test_wrong_token_is_refused_by_graph(graph):
    client = GraphClient(graph.url, "v21.0", "wrong-token", retries=0)
    with pytest.raises(GraphError) as error:
        await client.send_message("123", {"to": "1", "type": "text", "text": {"body": "x"}})
    assert error.value.status == 401 and error.value.code == 190
    await client.close()


async def test_uploads_media_as_multipart(client, graph):
    media_id = await client.upload_media("123", b"\x89PNG fake", "image/png", "qr.png")
    form = graph.requests[-1].form
    assert graph.requests[-1].path == "/v21.0/123/media"
    assert form["messaging_product"] == "whatsapp" and form["type"] == "image/png"
    assert form["file"] == b"\x89PNG fake" and form["file_filename"] == "qr.png"
    assert graph.media[media_id] == (b"\x89PNG fake", "image/png")


async def test_downloads_media_via_its_url_and_checks_size_and_hash(client, graph):
    media_id = graph.add_media(b"OggS voice", "audio/ogg")
    data, info = await client.download_media(media_id, max_bytes=1000)
    assert data == b"OggS voice" and info.mime_type == "audio/ogg"
    assert [r.path for r in graph.requests[-2:]] == [f"/v21.0/{media_id}", f"/download/{media_id}"]
    assert all(r.authorization == f"Bearer {ACCESS_TOKEN}" for r in graph.requests[-2:])
    with pytest.raises(MediaTooLarge):
        await client.download_media(media_id, max_bytes=5)
    graph.fail_next("download", 500)
    assert (await client.download_media(media_id, max_bytes=1000))[0] == b"OggS voice"
    with pytest.raises(GraphError) as error:
        await client.download_media("unknown", max_bytes=1000)
    assert error.value.status == 404
