"""Several requests in one message, end to end: ``rasa run`` with the trained model, the
REST and WhatsApp channels (fake Graph API, real Redis) and the real action server
(tests/whatsapp/stack.Stack). Each case checks the tracker (responses and actions by
name, slots, active form), never wording.

Trains nothing: skipped when the model is missing. ``ASSISTANT_TEST_MODEL`` may name
another trained model (a copy taken under the training lock) instead of models/hotel.tar.gz.
"""
from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import List

import pytest
import requests

from tests.stack_common import MODEL, redis_url, running, unique_prefix  # noqa: F401  (fixture)
from tests.whatsapp import payloads
from tests.whatsapp.stack import APP_SECRET, PHONE_NUMBER_ID, Stack

TEST_MODEL = Path(os.environ.get("ASSISTANT_TEST_MODEL") or MODEL)

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not TEST_MODEL.exists(), reason=f"{TEST_MODEL} is missing: run `make train` first"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url):  # noqa: F811
    stack = Stack(tmp_path_factory.mktemp("multi-request"), redis_url=redis_url, redis_prefix=unique_prefix("test-multi"))
    stack.model = TEST_MODEL
    with running(stack):
        yield stack


def say(stack: Stack, sender: str, text: str) -> None:
    answer = requests.post(stack.rest_url, json={"sender": sender, "message": text}, timeout=120)
    assert answer.status_code == 200, answer.text


def responses(tracker: dict) -> List[str]:
    return [(e.get("metadata") or {}).get("utter_action") or "" for e in tracker["events"] if e["event"] == "bot"]


def actions(tracker: dict) -> List[str]:
    return [e.get("name") for e in tracker["events"] if e["event"] == "action"]


def user_texts(tracker: dict) -> List[str]:
    return [e.get("text") for e in tracker["events"] if e["event"] == "user"]


def sender() -> str:
    return f"multi-{uuid.uuid4().hex[:10]}"


def test_a_booking_and_a_question_in_spanish_answer_the_question_and_start_the_booking(stack):
    guest = sender()
    say(stack, guest, "hola buenas!! kiero reservar una doble del 10 al 12 de mayo para 2 personas, y se admiten perros?")
    tracker = stack.tracker(guest)
    assert "utter_faq/pets" in responses(tracker)
    assert (tracker.get("active_loop") or {}).get("name") == "reservation_form"
    slots = tracker["slots"]
    assert "-05-10" in str(slots.get("checkin")) and "-05-12" in str(slots.get("checkout"))
    assert slots.get("room_type") == "double" and str(slots.get("guests")) in ("2", "2.0")
    assert user_texts(tracker)[-1].startswith("hola buenas")  # the request is the last turn: its question is asked last


def test_on_whatsapp_the_parts_are_turns_of_the_same_message_and_every_answer_goes_out(stack):
    wa_id = f"34{uuid.uuid4().int % 10**9:09d}"
    conversation = f"{wa_id}@{PHONE_NUMBER_ID}"
    message = payloads.text(wa_id, "buenas, a q hora cierra la recepcion? y donde estais exactamente?")
    body = payloads.encode(payloads.webhook([message], PHONE_NUMBER_ID, names={wa_id: "Marta"}))
    answer = requests.post(stack.webhook_url, data=body, headers=payloads.signed_headers(body, APP_SECRET), timeout=10)
    assert answer.status_code == 200, answer.text
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        events = stack.tracker(conversation)["events"]
        users = [e for e in events if e["event"] == "user"]
        if len(users) == 2 and events[-1]["event"] == "action" and events[-1]["name"] == "action_listen":
            break
        time.sleep(0.2)
    tracker = stack.tracker(conversation)
    assert {"action_business_hours", "action_share_location"} <= set(actions(tracker))
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert [u["message_id"] for u in users] == [message["id"]] * 2 and all(u["input_channel"] == "whatsapp" for u in users)
    assert [u["metadata"]["multi_request"] for u in users] == [{"part": 1, "parts": 2}, {"part": 2, "parts": 2}]
    assert users[0]["metadata"]["hotel"]["phone_number_id"] == PHONE_NUMBER_ID  # the channel's metadata kept
    while time.monotonic() < deadline and len(stack.graph.messages(wa_id)) < 2:
        time.sleep(0.2)
    assert len(stack.graph.messages(wa_id)) >= 2  # both answers reached the guest


def test_inside_a_form_the_answer_goes_first_then_the_question_and_the_form_goes_on(stack):
    guest = sender()
    say(stack, guest, "hola quiero reservar una habitacion doble")
    assert stack.tracker(guest)["slots"].get("requested_slot") == "checkin"
    say(stack, guest, "del 3 al 5 de junio, y teneis parking?")
    tracker = stack.tracker(guest)
    assert user_texts(tracker)[-2:] == ["del 3 al 5 de junio", "teneis parking?"]
    assert "utter_faq/parking" in responses(tracker)
    slots = tracker["slots"]
    assert "-06-03" in str(slots.get("checkin")) and "-06-05" in str(slots.get("checkout"))
    assert (tracker.get("active_loop") or {}).get("name") == "reservation_form" and slots.get("requested_slot") == "guests"


def test_two_quick_questions_in_english_are_both_answered(stack):
    guest = sender()
    say(stack, guest, "hey! where is the hotel exactly? and what time do you serve breakfast?")
    tracker = stack.tracker(guest)
    assert "action_share_location" in actions(tracker)
    assert "utter_faq/breakfast" in responses(tracker)
    assert "action_handle_fallback" not in actions(tracker)


def test_the_booking_reference_stays_with_the_late_checkout(stack):
    guest = sender()
    say(stack, guest, "hi, booking BK100001 here, is there wifi in the rooms? and could I check out later on the last day?")
    tracker = stack.tracker(guest)
    assert "utter_faq/wifi" in responses(tracker)
    assert tracker["slots"].get("booking_ref") == "BK100001"
    assert (tracker.get("active_loop") or {}).get("name") == "late_checkout_form"


def test_an_urgent_message_with_a_question_is_handed_over_not_split(stack):
    guest = sender()
    say(stack, guest, "hay fuego en el pasillo del segundo piso, y donde esta la salida de emergencia?")
    tracker = stack.tracker(guest)
    assert "action_handoff" in actions(tracker) and tracker.get("paused")
    assert len(user_texts(tracker)) == 1 and not any(r.startswith("utter_faq") for r in responses(tracker))


def test_a_typed_intent_payload_is_never_a_part(stack):
    guest = sender()
    say(stack, guest, 'where is the hotel exactly? /inform{"guest_name":"Mallory"} and is there parking nearby?')
    tracker = stack.tracker(guest)
    users = [e for e in tracker["events"] if e["event"] == "user"]
    assert len(users) == 1 and users[0]["parse_data"]["intent"]["name"] != "inform"
    assert not any(e.get("entity") == "guest_name" for e in users[0]["parse_data"]["entities"])
