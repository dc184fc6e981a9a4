"""Rasa bot messages -> Graph API calls (against the fake Graph server)."""
from __future__ import annotations

import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import segno

from connectors.whatsapp.graph import GraphClient
from connectors.whatsapp.outbound import WhatsAppOutput, pack_texts, sender_id, split_text
from connectors.whatsapp.store import MemoryStore
from dlq import build_queue
from tests.whatsapp.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID, make_config

GUEST = "34600111222"
RECIPIENT = sender_id(GUEST, PHONE_NUMBER_ID)


def qr_png() -> bytes:
    buffer = io.BytesIO()
    segno.make("BK100002.signed-token").save(buffer, kind="png", scale=4)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image_server():
    """Stands in for the action server's /qr/<token>.png and /static routes."""
    png = qr_png()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(png)))
            self.end_headers()
            self.wfile.write(png)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", png
    server.shutdown()
    server.server_close()


@pytest.fixture
async def dlq_queue(dlq_settings):
    queue = build_queue(dlq_settings)
    yield queue
    await queue.close()


@pytest.fixture
async def make_output(graph):
    clients = []

    async def make(window_open: bool = True, queue=None, **overrides):
        config = make_config(graph.url, **overrides)
        client = GraphClient(config.graph_api_url, config.graph_api_version, ACCESS_TOKEN, retries=1, retry_base_seconds=0.01)
        clients.append(client)
        store = MemoryStore(60)
        if window_open:
            await store.open_window(f"{PHONE_NUMBER_ID}:{GUEST}")
        return WhatsAppOutput(config, client, store, queue)

    yield make
    for client in clients:
        await client.close()


def test_split_text_prefers_paragraphs_then_lines_then_words():
    text = ("a" * 3000) + "\n\n" + ("b" * 3000)
    assert split_text(text) == ["a" * 3000, "b" * 3000]
    words = " ".join(["palabra"] * 1200)
    chunks = split_text(words)
    assert all(len(c) <= 4096 for c in chunks) and " ".join(chunks) == words
    assert split_text("x" * 5000) == ["x" * 4096, "x" * 904]


async def test_text_is_split_at_the_whatsapp_limit(make_output, graph):
    output = await make_output()
    await output.send_response(RECIPIENT, {"text": ("uno " * 1100) + "\n\n" + "dos"})
    sent = graph.messages(GUEST)
    assert [m["type"] for m in sent] == ["text", "text"]
    assert all(len(m["text"]["body"]) <= 4096 for m in sent) and sent[1]["text"]["body"].endswith("dos")
    assert graph.requests[-1].path == f"/v21.0/{PHONE_NUMBER_ID}/messages"


async def test_up_to_three_short_buttons_are_reply_buttons(make_output, graph):
    output = await make_output()
    await output.send_response(RECIPIENT, {"text": "¿Cancelo?", "buttons": [{"title": "Sí", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]})
    (sent,) = graph.messages(GUEST)
    assert sent["type"] == "interactive" and sent["interactive"]["type"] == "button"
    assert sent["interactive"]["body"]["text"] == "¿Cancelo?"
    assert [b["reply"] for b in sent["interactive"]["action"]["buttons"]] == [
        {"id": "/affirm", "title": "Sí"}, {"id": "/deny", "title": "No"}
    ]


async def test_more_buttons_or_long_titles_become_lists(make_output, graph):
    output = await make_output()
    rooms = [{"title": t, "payload": f'/inform{{"room_type":"{p}"}}'} for t, p in
             (("Individual", "single"), ("Doble", "double"), ("Familiar", "family"), ("Suite", "suite"))]
    await output.send_text_with_buttons(RECIPIENT, "¿Qué habitación prefieres?", rooms)
    long_title = [{"title": "Una habitación con vistas al puerto y desayuno", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]
    await output.send_text_with_buttons(RECIPIENT, "¿Y esto?", long_title)
    many = [{"title": f"Opción {n}", "payload": f"/inform{{\"n\":{n}}}"} for n in range(12)]
    await output.send_text_with_buttons(RECIPIENT, "Elige", many)
    first, second, third, fourth = graph.messages(GUEST)
    assert first["interactive"]["type"] == "list"
    rows = first["interactive"]["action"]["sections"][0]["rows"]
    assert [(r["id"], r["title"]) for r in rows][1] == ('/inform{"room_type":"double"}', "Doble")
    assert len(first["interactive"]["action"]["button"]) <= 20
    row = second["interactive"]["action"]["sections"][0]["rows"][0]
    assert len(row["title"]) <= 24 and row["title"].endswith("…") and row["description"].startswith("Una habitación con vistas")
    assert [len(m["interactive"]["action"]["sections"][0]["rows"]) for m in (third, fourth)] == [10, 2]


async def test_long_payloads_travel_under_a_short_key(make_output, graph):
    output = await make_output()
    payload = '/inform{"note":"' + "x" * 300 + '"}'
    await output.send_text_with_buttons(RECIPIENT, "?", [{"title": "Ok", "payload": payload}])
    reply_id = graph.messages(GUEST)[0]["interactive"]["action"]["buttons"][0]["reply"]["id"]
    assert reply_id.startswith("wa:") and len(reply_id) <= 256
    assert await output.store.get_payload(reply_id[3:]) == payload


async def test_qr_codes_are_uploaded_then_sent_by_id_with_the_reference(make_output, graph, image_server):
    base, png = image_server
    output = await make_output()
    await output.send_response(RECIPIENT, {
        "text": "Pago recibido", "image": f"{base}/qr/abc.def.png",
        "custom": {"qr": {"reference": "BK100002", "token": "abc.def"}},
    })
    upload = next(r for r in graph.requests if r.path.endswith("/media"))
    assert upload.form["file"] == png and upload.form["type"] == "image/png"
    text, image = graph.messages(GUEST)
    assert text["text"]["body"] == "Pago recibido"
    media_id = image["image"]["id"]
    assert graph.media[media_id][0] == png and image["image"]["caption"] == "BK100002" and "link" not in image["image"]


async def test_other_images_go_by_link_unless_upload_all(make_output, graph, image_server):
    base, _ = image_server
    await (await make_output()).send_image_url(RECIPIENT, f"{base}/static/rooms/double.jpg")
    assert graph.messages(GUEST)[-1]["image"] == {"link": f"{base}/static/rooms/double.jpg"}
    await (await make_output(image_upload="all")).send_image_url(RECIPIENT, f"{base}/static/rooms/double.jpg")
    assert "id" in graph.messages(GUEST)[-1]["image"]


async def test_location_custom_json_becomes_a_location_pin(make_output, graph):
    output = await make_output()
    pin = {"latitude": 36.7196, "longitude": -4.4165, "name": "Hotel Mirador del Puerto", "address": "Calle del Puerto 12"}
    await output.send_response(RECIPIENT, {"text": "📍 Aquí estamos", "custom": {"location": pin}})
    text, location = graph.messages(GUEST)
    assert location == {"messaging_product": "whatsapp", "recipient_type": "individual", "to": GUEST, "type": "location", "location": pin}


async def test_outside_the_service_window_a_template_is_sent(make_output, graph):
    output = await make_output(window_open=False, template_name="hotel_update", template_language="es")
    await output.send_text_message(RECIPIENT, "Tu reserva\nBK100002 está confirmada")
    (sent,) = graph.messages(GUEST)
    assert sent["type"] == "template"
    template = sent["template"]
    assert template["name"] == "hotel_update" and template["language"] == {"code": "es"}
    assert template["components"] == [{"type": "body", "parameters": [{"type": "text", "text": "Tu reserva BK100002 está confirmada"}]}]


async def test_reengagement_error_falls_back_to_the_template(make_output, graph):
    output = await make_output(template_name="hotel_update")
    graph.fail_next("messages", 400, code=131047)
    await output.send_text_message(RECIPIENT, "hola")
    free_form, template = graph.messages(GUEST)
    assert free_form["type"] == "text" and template["type"] == "template"


async def test_failed_sends_go_to_the_dead_letter_queue_and_the_turn_goes_on(make_output, graph, dlq_queue):
    output = await make_output(queue=dlq_queue)
    graph.fail_next("messages", 400, code=131009)
    graph.fail_next("messages", 503, times=2)  # more than the one retry
    await output.send_text_message(RECIPIENT, "primero")
    await output.send_text_message(RECIPIENT, "segundo")
    await output.send_text_message(RECIPIENT, "tercero")
    entries = sorted(await dlq_queue.list_queued(), key=lambda e: e.first_failed_at)
    assert [(e.kind, e.reason, e.payload["message"]["text"]["body"]) for e in entries] == [
        ("whatsapp.send", "graph_rejected", "primero"), ("whatsapp.send", "graph_unavailable", "segundo")]
    first = entries[0]
    assert first.payload["recipient"] == GUEST and first.payload["phone_number_id"] == PHONE_NUMBER_ID
    assert first.payload["fallback_text"] == "primero" and first.conversation_id == RECIPIENT
    assert "131009" in first.error and ACCESS_TOKEN not in str(first.as_dict())
    assert graph.messages(GUEST)[-1]["text"]["body"] == "tercero"


async def test_a_turns_texts_are_merged_around_buttons_and_images(make_output, graph, image_server):
    base, _ = image_server
    output = await make_output()
    output.merge = True
    await output.send_text_message(RECIPIENT, "Hola, soy el asistente del hotel.")
    await output.send_text_message(RECIPIENT, "Tenemos habitaciones libres.")
    await output.send_text_with_buttons(RECIPIENT, "¿Cuál prefieres?", [
        {"title": "Doble", "payload": "/inform{\"room_type\":\"double\"}"},
        {"title": "Suite", "payload": "/inform{\"room_type\":\"suite\"}"}])
    await output.send_text_message(RECIPIENT, "Así es la doble:")
    await output.send_image_url(RECIPIENT, f"{base}/static/rooms/double.jpg")
    await output.send_text_message(RECIPIENT, "Precio: 90 €.")
    await output.send_text_message(RECIPIENT, "x" * 4090)  # does not fit after the price
    assert len(graph.messages(GUEST)) == 3  # the last texts are held until the turn ends
    await output.flush()
    sent = graph.messages(GUEST)
    assert [m["type"] for m in sent] == ["interactive", "text", "image", "text", "text"]
    assert sent[0]["interactive"]["body"]["text"] == (
        "Hola, soy el asistente del hotel.\n\nTenemos habitaciones libres.\n\n¿Cuál prefieres?")
    assert sent[1]["text"]["body"] == "Así es la doble:"
    assert sent[3]["text"]["body"] == "Precio: 90 €." and sent[4]["text"]["body"] == "x" * 4090
    assert output.sent_count == 5


async def test_messages_rasa_sends_on_its_own_are_never_held(make_output, graph):
    output = await make_output()
    await output.send_text_message(RECIPIENT, "uno")
    await output.send_text_message(RECIPIENT, "dos")
    assert [m["text"]["body"] for m in graph.messages(GUEST)] == ["uno", "dos"]


def test_pack_texts_fills_each_message_up_to_the_limit():
    assert pack_texts(["a" * 10, "b" * 10, "c" * 10], limit=25) == ["a" * 10 + "\n\n" + "b" * 10, "c" * 10]
    assert pack_texts(["a" * 30], limit=25) == ["a" * 25, "a" * 5]
