"""Room types as guests write them, and the reservation form's room extraction."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import ValidateReservationForm
from actions.rooms import parse_room_type
from tests.conftest import make_tracker


@pytest.mark.parametrize("text, expected", [
    ("dbl", "double"), ("indibidual", "single"), ("la familiar porfa", "family"), ("una de matrimonio", "double"),
    ("single room", "single"), ("the family room", "family"), ("suit", "suite"), ("yes, the suite please", "suite"),
    ("uy no espera, mejor la suite", "suite"), ("no, mejor la individual", "single"),
    ("no la doble no, la suite", "suite"), ("the double no, the suite", "suite"), ("la doble, no la suite", "double"),
    ("we're a family of five", None), ("familia de 4", None), ("2 personas", None), ("nada", None),
])
def test_room_types(text, expected):
    assert parse_room_type(text) == expected


async def extract(text: str, intent: str = "inform", **slots) -> dict:
    tracker = make_tracker(slots=slots, text=text, intent=intent, active_loop="reservation_form")
    return await ValidateReservationForm().extract_room_type(CollectingDispatcher(), tracker, {})


async def test_the_answer_to_the_room_question():
    assert await extract("dbl", requested_slot="room_type") == {"room_type": "double"}


async def test_an_answer_naming_no_room_goes_to_validation():
    # not a rejected form (which sent the guest to availability and back, asking for ever)
    assert await extract("la barata", requested_slot="room_type") == {"room_type": "la barata"}
    assert await extract("la barata", intent="greet", requested_slot="room_type") == {}


async def test_a_room_correction_while_asked_for_the_name():
    assert await extract("uy no espera, mejor la suite", requested_slot="guest_name", room_type="double") == {"room_type": "suite"}
    assert await extract("Rosa Suite", requested_slot="guest_name", room_type="double") == {}


async def test_a_person_request_is_no_room():
    assert await extract("a person please, the double is fine", intent="request_human", requested_slot="room_type") == {}
