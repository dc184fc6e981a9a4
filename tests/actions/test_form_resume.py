"""A form resumed after the bot answered a question mid-form does not read that
question as the answer (actions/context.py question_answered_mid_form)."""
from __future__ import annotations

import pytest

from actions.booking import ValidateReservationForm
from actions.booking_ref import ValidateLateCheckoutForm
from actions.context import looks_like_question, question_answered_mid_form, resuming_after_interruption
from tests.conftest import make_tracker, run_action


def events_of(text: str, form: str, *after_user: str) -> list:
    """The form active before the guest's message, then the actions that ran after it."""
    return [
        {"event": "active_loop", "name": form},
        {"event": "slot", "name": "requested_slot", "value": "x"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": text, "parse_data": {"intent": {"name": "faq"}}},
        {"event": "action", "name": "action_extract_slots"},
        *({"event": "action", "name": name} for name in after_user),
    ]


def test_resuming_after_an_answer_in_this_turn():
    assert resuming_after_interruption(make_tracker(events=events_of("is there parking?", "reservation_form", "utter_faq", "reservation_form")))
    assert not resuming_after_interruption(make_tracker(events=events_of("del 4 al 6", "reservation_form")))
    assert not resuming_after_interruption(make_tracker(events=events_of("del 4 al 6", "reservation_form", "reservation_form")))


def test_a_form_started_in_this_turn_is_not_resuming():
    events = [
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "hola, quiero reservar del 4 al 6"},
        {"event": "action", "name": "utter_greet"},
        {"event": "action", "name": "reservation_form"},
    ]
    assert not resuming_after_interruption(make_tracker(events=events))


@pytest.mark.parametrize("text", ["is there parking at the hotel?", "do you take dogs", "oye una cosa, el desayuno va incluido?",
                                  "a q hora es la salida normalmente", "x cierto cuanto cuesta el parking"])
def test_questions(text):
    assert looks_like_question(text)


@pytest.mark.parametrize("text", ["del 4 al 6", "Park", "Rosa Bar", "BK100001", "2 personas", "la suite"])
def test_answers(text):
    assert not looks_like_question(text)


def test_an_answer_taken_for_a_question_is_still_read():
    tracker = make_tracker(text="Rosa Bar", intent="faq", events=events_of("Rosa Bar", "reservation_form", "utter_faq"))
    assert not question_answered_mid_form(tracker)


async def test_the_booking_reference_question_is_not_answered_by_the_question(domain):
    text = "a que hora es la salida normalmente?"
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text=text, intent="faq", active_loop="late_checkout_form",
                           events=events_of(text, "late_checkout_form", "utter_faq"))
    result = await run_action(ValidateLateCheckoutForm(), tracker, domain)
    assert result.responses == []  # no "that doesn't look like a booking reference"
    assert result.slot("booking_ref") == "missing"


async def test_the_stay_question_is_not_answered_by_the_question(domain):
    text = "do you take dogs? we have a small one"
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text=text, intent="faq", active_loop="reservation_form",
                           events=events_of(text, "reservation_form", "utter_faq"))
    result = await run_action(ValidateReservationForm(), tracker, domain)
    assert result.responses == [] and result.slot("checkin") == "missing"


async def test_a_name_taken_for_a_question_fills_the_name(domain):
    tracker = make_tracker(slots={"requested_slot": "guest_name", "checkin": "2026-12-05", "checkout": "2026-12-07", "guests": 2,
                                  "room_type": "double"},
                           text="Rosa Bar", intent="faq", active_loop="reservation_form",
                           events=events_of("Rosa Bar", "reservation_form", "utter_faq"))
    result = await run_action(ValidateReservationForm(), tracker, domain)
    assert result.slot("guest_name") == "Rosa Bar"


async def test_a_question_while_the_reference_is_asked_lets_the_rules_answer_it(domain):
    # nothing extracted: Rasa rejects the form and the mid-form rule answers the question first
    text = "a que hora es la salida normalmente?"
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text=text, intent="faq", active_loop="late_checkout_form")
    result = await run_action(ValidateLateCheckoutForm(), tracker, domain)
    assert result.responses == [] and result.slot("booking_ref") == "missing"
    with_reference = "what time is checkout for BK100001?"
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text=with_reference, intent="faq", active_loop="late_checkout_form")
    assert (await run_action(ValidateLateCheckoutForm(), tracker, domain)).slot("booking_ref") == "BK100001"
