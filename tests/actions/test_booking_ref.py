"""The forms that ask for a booking reference, and the lookup of that booking."""
from __future__ import annotations

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_ref import (
    ValidateCancelForm,
    ValidateLateCheckoutForm,
    ValidatePaymentForm,
    ValidateStatusForm,
    booking_in_slot,
    canonical_reference,
)
from tests.conftest import make_tracker, run_action

FORMS = [ValidateStatusForm, ValidateCancelForm, ValidateLateCheckoutForm, ValidatePaymentForm]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("BK100001", "BK100001"),
        ("bk100001", "BK100001"),
        ("bk-482913", "BK482913"),
        ("BK 482913", "BK482913"),
        ("mi reserva es la BK100002, gracias", "BK100002"),
        ("my booking ref is bk-100002.", "BK100002"),
        ("100001", None),  # digits alone are not a reference
        ("BK12345", None),  # too short
        ("BK1234567", None),  # too long
        ("XBK100001", None),
        ("asdf", None),
        ("", None),
        (None, None),
    ],
)
def test_canonical_reference(text, expected):
    assert canonical_reference(text) == expected


def test_form_names_match_the_domain(domain):
    for form_class in FORMS:
        form = form_class()
        assert form.name() in domain["actions"]
        assert domain["forms"][form.form_name()]["required_slots"] == ["booking_ref", "verify_surname", "verify_checkin"]


@pytest.mark.parametrize("form_class", FORMS)
async def test_extracts_the_answer_to_the_question(form_class):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text="es la bk-100001")
    assert await form_class().extract_booking_ref(dispatcher, tracker, {}) == {"booking_ref": "es la bk-100001"}


@pytest.mark.parametrize("intent", ["deny", "request_human"])
async def test_no_or_a_person_is_not_a_reference(intent):
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text="no la tengo", intent=intent)
    assert await ValidateStatusForm().extract_booking_ref(CollectingDispatcher(), tracker, {}) == {}


async def test_nothing_extracted_when_not_asked():
    tracker = make_tracker(slots={"requested_slot": None}, text="BK100001")
    assert await ValidateStatusForm().extract_booking_ref(CollectingDispatcher(), tracker, {}) == {}


@pytest.mark.parametrize("form_class", FORMS)
async def test_known_reference_is_canonicalised(form_class):
    dispatcher = CollectingDispatcher()
    result = await form_class().validate_booking_ref("es la bk-100002", dispatcher, make_tracker(), {})
    assert result == {"booking_ref": "BK100002"}
    assert dispatcher.messages == []


async def test_malformed_reference():
    dispatcher = CollectingDispatcher()
    result = await ValidateCancelForm().validate_booking_ref("no sé 🤷", dispatcher, make_tracker(), {})
    assert result == {"booking_ref": None}
    assert [m["response"] for m in dispatcher.messages] == ["utter_booking_ref_invalid"]


async def test_unknown_reference_is_not_told_apart_from_a_strangers_booking():
    """Issue #9: whether a reference exists is not said before the second factor."""
    dispatcher = CollectingDispatcher()
    result = await ValidatePaymentForm().validate_booking_ref("BK999999", dispatcher, make_tracker(), {})
    assert result == {"booking_ref": "BK999999"}
    assert dispatcher.messages == []


async def test_form_run_with_the_real_domain(domain):
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text="BK-100001 please", active_loop="status_form", language="en")
    result = await run_action(ValidateStatusForm(), tracker, domain)
    assert result.slot("booking_ref") == "BK100001"
    assert result.responses == []

    # unknown (or someone else's): the same verification question, nothing about the booking
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text="BK999999", active_loop="status_form", verified=False)
    result = await run_action(ValidateStatusForm(), tracker, domain)
    assert result.slot("booking_ref") == "BK999999"
    assert result.responses == []
    after = make_tracker(slots={"booking_ref": "BK999999"}, active_loop="status_form", verified=False)
    slots = await ValidateStatusForm().required_slots(["booking_ref", "verify_surname", "verify_checkin"],
                                                      CollectingDispatcher(), after, domain)
    assert slots == ["booking_ref", "verify_surname", "verify_checkin"]  # Rasa asks utter_ask_verify_surname next


async def test_booking_ref_entity_is_validated_even_when_not_asked(domain):
    """The NLU entity fills booking_ref at the form's start: it is validated too."""
    events = [
        {"event": "user", "text": "status of BK100002", "parse_data": {"intent": {"name": "reservation_status"}}},
        {"event": "slot", "name": "booking_ref", "value": "bk100002"},
    ]
    tracker = make_tracker(slots={"booking_ref": "bk100002"}, text="status of BK100002", intent="reservation_status",
                           events=events, active_loop="status_form")
    result = await run_action(ValidateStatusForm(), tracker, domain)
    assert result.slot("booking_ref") == "BK100002"


async def test_booking_in_slot():
    dispatcher = CollectingDispatcher()
    booking = await booking_in_slot(dispatcher, make_tracker(slots={"booking_ref": "bk 100001"}))
    assert booking.reference == "BK100001" and booking.guest_name == "Lucía Fernández"
    assert dispatcher.messages == []

    dispatcher = CollectingDispatcher()
    assert await booking_in_slot(dispatcher, make_tracker(slots={"booking_ref": None})) is None
    assert [m["response"] for m in dispatcher.messages] == ["utter_booking_ref_invalid"]

    dispatcher = CollectingDispatcher()
    assert await booking_in_slot(dispatcher, make_tracker(slots={"booking_ref": "BK999999"})) is None
    assert [m["response"] for m in dispatcher.messages] == ["utter_booking_not_found"]


async def test_a_third_answer_that_is_no_reference_offers_a_person_and_stops_asking(domain):
    from actions.booking_ref import ValidateStatusForm

    asked = [{"event": "slot", "name": "requested_slot", "value": "booking_ref"}, {"event": "user", "text": "mmm"}] * 3
    tracker = make_tracker(slots={"requested_slot": "booking_ref"}, text="no me acuerdo del numero", intent="inform",
                           active_loop="status_form", events=asked)
    result = await run_action(ValidateStatusForm(), tracker, domain)
    assert result.responses == ["utter_offer_person"]
    assert ("active_loop", None) in [(e["event"], e.get("name")) for e in result.events]


def test_a_second_failed_identity_check_stops_asking():
    from actions.booking_ref import _failed_before

    failed = {"event": "bot", "text": "...", "metadata": {"utter_action": "utter_booking_verification_failed"}}
    assert not _failed_before(make_tracker(events=[]))
    assert _failed_before(make_tracker(events=[failed]))
    from actions.stay_form import STOPPING_RESPONSES

    assert "utter_offer_person" in STOPPING_RESPONSES  # what the second failure says, so the form stops
