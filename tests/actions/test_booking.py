"""Availability and reservation forms, availability, new bookings, status,
cancellation (offer, confirm, decline)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import (
    ActionCancelReservation,
    ActionCheckAvailability,
    ActionCreateBooking,
    ActionDeclinePending,
    ActionOfferCancellation,
    ActionReservationStatus,
    ValidateAvailabilityForm,
    ValidateReservationForm,
)
from actions.pms.base import BookingNotFound, BookingRequest, BookingStatus
from actions.pms.local import LocalPMS
from tests.conftest import TODAY, make_tracker, run_action

D = dt.date


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def iso(n: int) -> str:
    return days(n).isoformat()


FORMS = [ValidateAvailabilityForm, ValidateReservationForm]


async def extract(form, tracker) -> dict:
    dispatcher = CollectingDispatcher()
    slots = {}
    for slot in ("checkin", "checkout", "guests"):
        slots.update(await getattr(form, f"extract_{slot}")(dispatcher, tracker, {}))
    assert dispatcher.messages == []  # extraction never talks
    return slots


async def validate(form, slot, value, **slots):
    dispatcher = CollectingDispatcher()
    tracker = make_tracker(slots=slots)
    result = await getattr(form, f"validate_{slot}")(value, dispatcher, tracker, {})
    return result, [m.get("response") for m in dispatcher.messages], dispatcher.messages


# --- extraction ----------------------------------------------------------------------
@pytest.mark.parametrize("form_class", FORMS)
async def test_whole_request_at_form_start(form_class):
    tracker = make_tracker(text="quiero reservar del 5 al 8 de diciembre para 2 personas", intent="make_reservation")
    assert await extract(form_class(), tracker) == {"checkin": "2026-12-05", "checkout": "2026-12-08", "guests": 2}


async def test_english_request_at_form_start():
    tracker = make_tracker(text="a room from dec 5 to 8 for 3 people", intent="check_availability", language="en")
    assert await extract(ValidateAvailabilityForm(), tracker) == {"checkin": "2026-12-05", "checkout": "2026-12-08", "guests": 3}


async def test_bare_number_at_form_start_is_not_guests():
    tracker = make_tracker(text="del 5 al 8 de diciembre", intent="check_availability")
    assert "guests" not in await extract(ValidateAvailabilityForm(), tracker)


async def test_answer_to_checkin_with_a_range_fills_both():
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text="del 28 al 2 de enero")
    assert await extract(ValidateReservationForm(), tracker) == {"checkin": "2026-12-28", "checkout": "2027-01-02"}


async def test_answer_to_checkin_with_date_and_nights():
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text="tomorrow for 2 nights", language="en")
    assert await extract(ValidateReservationForm(), tracker) == {"checkin": iso(1), "checkout": iso(3)}


async def test_answer_to_checkin_with_a_single_date():
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text="el viernes que viene")
    assert await extract(ValidateReservationForm(), tracker) == {"checkin": "2026-11-27"}


async def test_unreadable_answer_to_checkin_goes_to_validation():
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text="asdf")
    assert await extract(ValidateReservationForm(), tracker) == {"checkin": "asdf"}


async def test_lone_date_answering_checkout_is_the_checkout():
    tracker = make_tracker(slots={"requested_slot": "checkout", "checkin": "2026-12-05"}, text="15/12")
    assert await extract(ValidateReservationForm(), tracker) == {"checkout": "2026-12-15"}


@pytest.mark.parametrize("text", ["3 noches", "three nights", "por 3 noches"])
async def test_nights_answering_checkout(text):
    tracker = make_tracker(slots={"requested_slot": "checkout", "checkin": "2026-12-05"}, text=text)
    assert await extract(ValidateReservationForm(), tracker) == {"checkout": "2026-12-08"}


async def test_unreadable_answer_to_checkout_goes_to_validation():
    tracker = make_tracker(slots={"requested_slot": "checkout", "checkin": "2026-12-05"}, text="no sé 🤷")
    assert await extract(ValidateReservationForm(), tracker) == {"checkout": "no sé 🤷"}


@pytest.mark.parametrize(
    "text, expected",
    [("2", 2), ("dos", 2), ("somos 2 adultos y un niño", 3), ("just me", 1), ("asdf", "asdf")],
)
async def test_answer_to_guests(text, expected):
    tracker = make_tracker(slots={"requested_slot": "guests", "checkin": "2026-12-05", "checkout": "2026-12-08"}, text=text)
    assert await extract(ValidateReservationForm(), tracker) == {"guests": expected}


async def test_number_answering_room_type_is_not_a_date_or_guests():
    tracker = make_tracker(slots={"requested_slot": "room_type", "guests": 2}, text="2")
    assert await extract(ValidateReservationForm(), tracker) == {}


@pytest.mark.parametrize(
    "intent, text",
    [("faq", "¿tienen parking mañana para 2 personas?"), ("business_hours", "¿abren mañana?"),
     ("request_human", "mañana para 2 personas, pero pásame con alguien")],
)
async def test_questions_and_requests_for_a_person_fill_nothing(intent, text):
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text=text, intent=intent)
    assert await extract(ValidateReservationForm(), tracker) == {}


@pytest.mark.parametrize("intent", ["deny", "give_feedback", "thank", "faq"])
async def test_a_plain_answer_is_read_whatever_the_intent(intent):
    # "no, mejor ..." is a correction; a stay answer misread as another intent is still the answer
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text="no, mejor mañana para 2 personas", intent=intent)
    assert await extract(ValidateReservationForm(), tracker) == {"checkin": iso(1), "guests": 2}


async def test_a_correction_while_asked_for_the_party_changes_the_stay():
    slots = {"requested_slot": "guests", "checkin": "2026-12-05", "checkout": "2026-12-08"}
    tracker = make_tracker(slots=slots, text="perdona, mejor 2 noches")
    assert await extract(ValidateReservationForm(), tracker) == {"checkout": "2026-12-07"}
    tracker = make_tracker(slots=slots, text="actually until the 10th", language="en")
    assert await extract(ValidateReservationForm(), tracker) == {"checkout": "2026-12-10"}


# --- validation ------------------------------------------------------------------------
async def test_checkin_validation():
    form = ValidateReservationForm()
    assert (await validate(form, "checkin", iso(0)))[0] == {"checkin": iso(0)}
    assert (await validate(form, "checkin", iso(365)))[0] == {"checkin": iso(365)}

    result, responses, _ = await validate(form, "checkin", iso(-1))
    assert result == {"checkin": None, "checkout": None}
    assert responses == ["utter_date_in_past"]

    result, responses, messages = await validate(form, "checkin", iso(366))
    assert result == {"checkin": None, "checkout": None}
    assert responses == ["utter_date_too_far"] and messages[0]["horizon_days"] == 365

    result, responses, _ = await validate(form, "checkin", "asdf")
    assert result == {"checkin": None}
    assert responses == ["utter_date_not_understood"]


async def test_checkout_validation():
    form = ValidateReservationForm()
    assert (await validate(form, "checkout", "2026-12-08", checkin="2026-12-05"))[0] == {"checkout": "2026-12-08"}
    assert (await validate(form, "checkout", "2026-12-08"))[0] == {"checkout": "2026-12-08"}  # no checkin yet

    for before in ("2026-12-05", "2026-12-04"):
        result, responses, messages = await validate(form, "checkout", before, checkin="2026-12-05")
        assert result == {"checkout": None}
        assert responses == ["utter_checkout_before_checkin"]
        assert messages[0]["checkin"] == "sáb 5 dic 2026"

    _, _, messages = await validate(form, "checkout", "2026-12-04", checkin="2026-12-05", language="en")
    assert messages[0]["checkin"] == "Sat, Dec 5, 2026"

    assert (await validate(form, "checkout", "2027-01-04", checkin="2026-12-05"))[0] == {"checkout": "2027-01-04"}  # 30
    result, responses, messages = await validate(form, "checkout", "2027-01-05", checkin="2026-12-05")  # 31 nights
    assert result == {"checkout": None}
    assert responses == ["utter_stay_too_long"] and messages[0]["max_nights"] == 30

    result, responses, _ = await validate(form, "checkout", "no sé")
    assert result == {"checkout": None} and responses == ["utter_date_not_understood"]


@pytest.mark.parametrize("value, expected", [(1, 1), ("2", 2), (4, 4), (2.0, 2)])
async def test_guests_accepted(value, expected):
    result, responses, _ = await validate(ValidateAvailabilityForm(), "guests", value)
    assert result == {"guests": expected} and responses == []


@pytest.mark.parametrize("value", [5, 8])
async def test_a_party_no_room_sleeps_goes_to_reception(value):
    # the largest demo room sleeps 4; the hotel's booking limit (8) is higher
    result, responses, messages = await validate(ValidateReservationForm(), "guests", value)
    assert result == {"guests": None} and responses == ["utter_party_too_big"]
    assert messages[0]["max_guests_text"] == "4 personas"


async def test_a_corrected_party_that_outgrows_the_room_asks_the_room_again():
    result, responses, _ = await validate(ValidateReservationForm(), "guests", 3, room_type="double")
    assert result == {"guests": 3, "room_type": None} and responses == []


async def test_second_and_third_failed_answers_rephrase_then_offer_a_person():
    asked_twice = [
        {"event": "slot", "name": "requested_slot", "value": "guests"},
        {"event": "user", "text": "mmm"},
        {"event": "slot", "name": "requested_slot", "value": "guests"},
        {"event": "user", "text": "no se"},
    ]
    form = ValidateReservationForm()
    for events, expected in ((asked_twice, "utter_rephrase_guests"), (asked_twice * 2, "utter_offer_person")):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(slots={"requested_slot": "guests"}, events=events)
        assert await form.validate_guests("no se", dispatcher, tracker, {}) == {"guests": None}
        assert [m["response"] for m in dispatcher.messages] == [expected]


@pytest.mark.parametrize("value", [0, -1, "asdf", None, ""])
async def test_guests_not_understood(value):
    result, responses, _ = await validate(ValidateAvailabilityForm(), "guests", value)
    assert result == {"guests": None} and responses == ["utter_guests_not_understood"]


@pytest.mark.parametrize("value", [9, "15", 100])
async def test_too_many_guests(value):
    result, responses, messages = await validate(ValidateAvailabilityForm(), "guests", value)
    assert result == {"guests": None}
    assert responses == ["utter_too_many_guests"] and messages[0]["max_guests"] == 8


async def test_room_type_validation():
    form = ValidateReservationForm()
    assert (await validate(form, "room_type", "Suite", guests=3))[0] == {"room_type": "suite"}
    assert (await validate(form, "room_type", "family", guests=4))[0] == {"room_type": "family"}

    result, responses, messages = await validate(form, "room_type", "double", guests=4)
    assert result == {"room_type": None}
    assert responses == ["utter_room_too_small"] and messages[0]["max_guests"] == 2

    result, responses, _ = await validate(form, "room_type", "single", guests=2)
    assert result == {"room_type": None} and responses == ["utter_room_too_small"]

    for bad in ("penthouse", "", None):
        result, responses, _ = await validate(form, "room_type", bad, guests=2)
        assert result == {"room_type": None} and responses == ["utter_room_type_not_understood"]


async def test_guest_name_validation():
    form = ValidateReservationForm()
    assert (await validate(form, "guest_name", "a nombre de lucía fernández"))[0] == {"guest_name": "Lucía Fernández"}
    for bad in ("ok", "12345", "🙂", "", None):
        result, responses, _ = await validate(form, "guest_name", bad)
        assert result == {"guest_name": None} and responses == ["utter_name_not_understood"]


# --- the form validation actions, run as Rasa runs them ------------------------------------------
async def test_reservation_form_run_extracts_and_validates(domain):
    tracker = make_tracker(
        slots={"requested_slot": "checkin"}, text="del 1 al 3 de noviembre", active_loop="reservation_form"
    )
    result = await run_action(ValidateReservationForm(), tracker, domain)
    # "1-3 November" is next year's, and that is within the booking horizon
    assert result.slot("checkin") == "2027-11-01"
    assert result.slot("checkout") == "2027-11-03"
    assert result.responses == []


@pytest.mark.parametrize("form_class", FORMS)
async def test_a_party_no_room_sleeps_ends_the_form_without_asking_again(form_class, domain):
    tracker = make_tracker(
        slots={"requested_slot": "guests", "checkin": iso(5), "checkout": iso(8)}, text="somos 6, tres parejas",
        intent="inform", active_loop=form_class().name().removeprefix("validate_"),
    )
    result = await run_action(form_class(), tracker, domain)
    assert result.responses == ["utter_party_too_big"]
    assert result.slot("guests") is None
    events = [(e["event"], e.get("name")) for e in result.events]
    assert ("active_loop", None) in events
    assert ("followup", "action_listen") in events  # no booking, no availability, no question again


async def test_a_party_that_fits_keeps_the_form_going(domain):
    tracker = make_tracker(
        slots={"requested_slot": "guests", "checkin": iso(5), "checkout": iso(8)}, text="somos 4",
        intent="inform", active_loop="reservation_form",
    )
    result = await run_action(ValidateReservationForm(), tracker, domain)
    assert result.slot("guests") == 4 and result.responses == []
    assert not any(e["event"] in ("active_loop", "followup") for e in result.events)


async def test_reservation_form_run_rejects_a_past_date(domain):
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text="20/11/2026", active_loop="reservation_form")
    result = await run_action(ValidateReservationForm(), tracker, domain)
    assert result.slot("checkin") is None
    assert result.responses == ["utter_date_in_past"]


async def test_reservation_form_run_rejects_checkout_before_checkin(domain):
    tracker = make_tracker(
        slots={"requested_slot": "checkout", "checkin": "2026-12-05"}, text="el 3 de diciembre", active_loop="reservation_form"
    )
    result = await run_action(ValidateReservationForm(), tracker, domain)
    assert result.slot("checkout") is None
    assert result.responses == ["utter_checkout_before_checkin"]


# --- availability ------------------------------------------------------------------------------------
def stay_slots(checkin: dt.date, checkout: dt.date, guests: int, **extra) -> dict:
    return {"checkin": checkin.isoformat(), "checkout": checkout.isoformat(), "guests": guests, **extra}


async def test_availability_lines():
    tracker = make_tracker(slots=stay_slots(days(14), days(17), 2))  # BK100002 holds a suite
    result = await run_action(ActionCheckAvailability(), tracker)
    assert result.responses == [
        "utter_availability_header", "utter_availability_line", "utter_availability_line",
        "utter_availability_line", "utter_availability_footer",
    ]
    header = result.message("utter_availability_header")
    assert (header["nights"], header["guests"]) == (3, 2)
    assert header["checkin"] == "lun 7 dic 2026" and header["checkout"] == "jue 10 dic 2026"
    lines = [(m["room_name"], m["total"], m["nightly"], m["currency"], m["rooms_left"]) for m in result.messages[1:4]]
    assert lines == [
        ("Habitación doble", "285.00", "95.00", "EUR", 8),
        ("Habitación familiar", "420.00", "140.00", "EUR", 3),
        ("Suite con vistas al mar", "540.00", "180.00", "EUR", 1),
    ]
    assert result.events == []


async def test_availability_in_english_for_one_guest():
    tracker = make_tracker(slots=stay_slots(days(0), days(1), 1), language="en")
    result = await run_action(ActionCheckAvailability(), tracker)
    lines = {m["room_name"]: m["rooms_left"] for m in result.messages if m["response"] == "utter_availability_line"}
    assert lines == {"Single room": 4, "Double room": 7, "Family room": 3, "Sea-view suite": 2}
    assert result.message("utter_availability_header")["checkin"] == "Mon, Nov 23, 2026"


async def test_no_availability(pms):
    for i in range(3):
        pms.create_booking(BookingRequest(f"Guest {i}", "family", days(20), days(22), 4))
    tracker = make_tracker(slots=stay_slots(days(20), days(22), 4))
    result = await run_action(ActionCheckAvailability(), tracker)
    assert result.responses == ["utter_no_availability"]
    assert result.message("utter_no_availability")["guests"] == 4


async def test_availability_without_dates():
    result = await run_action(ActionCheckAvailability(), make_tracker(slots={"guests": 2}))
    assert result.responses == ["utter_date_not_understood"]


# --- new bookings ------------------------------------------------------------------------------------
async def test_create_booking_writes_to_the_pms_and_resets_the_stay(pms):
    slots = stay_slots(D(2026, 12, 5), D(2026, 12, 8), 2, room_type="double", guest_name="Lucía Fernández")
    result = await run_action(ActionCreateBooking(), make_tracker(slots=slots, sender_id="whatsapp:+34600111222"))
    reference = result.slot("booking_ref")
    assert reference and reference.startswith("BK")
    booking = pms.get_booking(reference)
    assert (booking.guest_name, booking.room_type, booking.checkin, booking.checkout, booking.guests) == (
        "Lucía Fernández", "double", D(2026, 12, 5), D(2026, 12, 8), 2,
    )
    assert booking.status is BookingStatus.PENDING_PAYMENT
    assert booking.total_price == Decimal("285.00")
    for slot in ("checkin", "checkout", "guests", "room_type", "guest_name"):
        assert result.slot(slot) is None
    created = result.message("utter_booking_created")
    assert created["reference"] == reference
    assert (created["room_name"], created["total"], created["currency"], created["guests"]) == ("Habitación doble", "285.00", "EUR", 2)
    assert created["checkin"] == "sáb 5 dic 2026" and created["checkout"] == "mar 8 dic 2026"
    # the room is gone from availability
    options = pms.check_availability(D(2026, 12, 5), D(2026, 12, 8), 2, "es")
    assert {o.room_type.code: o.rooms_left for o in options}["double"] == 7


async def test_create_booking_when_the_room_was_just_taken(pms):
    for i in range(2):
        pms.create_booking(BookingRequest(f"Guest {i}", "suite", D(2026, 12, 1), D(2026, 12, 4), 2))
    slots = stay_slots(D(2026, 12, 2), D(2026, 12, 3), 2, room_type="suite", guest_name="Ana López")
    result = await run_action(ActionCreateBooking(), make_tracker(slots=slots, language="en"))
    assert result.responses == ["utter_room_taken"]
    assert result.message("utter_room_taken")["room_name"] == "Sea-view suite"
    assert result.slot("room_type") is None  # ask for another room type
    assert result.slot("booking_ref") == "missing"
    assert result.slot("checkin") == "missing"  # the dates are kept
    assert "suite" not in [o.room_type.code for o in pms.check_availability(D(2026, 12, 2), D(2026, 12, 3), 2, "es")]


# --- status ---------------------------------------------------------------------------------------------
async def test_reservation_status_es_and_en():
    result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "BK100002"}))
    status = result.message("utter_booking_status")
    assert status["status"] == "pendiente de pago"
    assert (status["guest_name"], status["room_name"], status["total"], status["guests"]) == ("John Smith", "Suite con vistas al mar", "540.00", 2)

    result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "bk-100001"}, language="en"))
    status = result.message("utter_booking_status")
    assert status["reference"] == "BK100001"
    assert status["status"] == "confirmed and paid" and status["room_name"] == "Double room"


async def test_reservation_status_of_a_cancelled_booking(pms):
    pms.cancel_booking("BK100002")
    result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "BK100002"}))
    assert result.message("utter_booking_status")["status"] == "cancelada"


async def test_reservation_status_unknown_or_invalid_reference():
    result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "BK999999"}))
    assert result.responses == ["utter_booking_not_found"]
    assert result.message("utter_booking_not_found")["booking_ref"] == "BK999999"
    result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": None}))
    assert result.responses == ["utter_booking_ref_invalid"]


# --- cancellation ---------------------------------------------------------------------------------------------
async def test_offer_cancellation_changes_nothing_yet(pms):
    result = await run_action(ActionOfferCancellation(), make_tracker(slots={"booking_ref": "BK100002"}))
    assert result.responses == ["utter_confirm_cancellation"]
    offer = result.message("utter_confirm_cancellation")
    assert offer["reference"] == "BK100002" and offer["room_name"] == "Suite con vistas al mar"
    assert result.slot("pending_confirmation") == "cancellation"
    assert pms.get_booking("BK100002").status is BookingStatus.PENDING_PAYMENT


async def test_confirmed_cancellation_cancels_in_the_pms(pms):
    tracker = make_tracker(slots={"booking_ref": "BK100002", "pending_confirmation": "cancellation"}, intent="affirm")
    result = await run_action(ActionCancelReservation(), tracker)
    assert result.responses == ["utter_booking_cancelled"]
    assert result.message("utter_booking_cancelled")["reference"] == "BK100002"
    assert result.slot("pending_confirmation") is None
    assert pms.get_booking("BK100002").status is BookingStatus.CANCELLED
    # the suite is free again
    options = pms.check_availability(days(14), days(17), 2, "es")
    assert {o.room_type.code: o.rooms_left for o in options}["suite"] == 2


async def test_yes_without_an_offer_cancels_nothing(pms):
    tracker = make_tracker(slots={"booking_ref": "BK100002", "pending_confirmation": None}, intent="affirm")
    result = await run_action(ActionCancelReservation(), tracker)
    assert result.responses == ["utter_how_can_help"]
    assert pms.get_booking("BK100002").status is BookingStatus.PENDING_PAYMENT
    # a yes to a late checkout offer does not cancel either
    tracker = make_tracker(slots={"booking_ref": "BK100002", "pending_confirmation": "late_checkout"}, intent="affirm")
    assert (await run_action(ActionCancelReservation(), tracker)).responses == ["utter_how_can_help"]
    assert pms.get_booking("BK100002").status is BookingStatus.PENDING_PAYMENT


async def test_decline_cancellation(pms):
    tracker = make_tracker(slots={"booking_ref": "BK100002", "pending_confirmation": "cancellation"}, intent="deny")
    result = await run_action(ActionDeclinePending(), tracker)
    assert result.responses == ["utter_nothing_changed"]
    assert result.slot("pending_confirmation") is None
    assert pms.get_booking("BK100002").status is BookingStatus.PENDING_PAYMENT
    result = await run_action(ActionDeclinePending(), make_tracker(intent="deny"))
    assert result.responses == ["utter_how_can_help"]


async def test_cannot_cancel_twice(pms):
    pms.cancel_booking("BK100002")
    result = await run_action(ActionOfferCancellation(), make_tracker(slots={"booking_ref": "BK100002"}))
    assert result.responses == ["utter_cannot_cancel"]
    assert result.slot("pending_confirmation") is None
    # cancelled elsewhere between the offer and the guest's yes
    tracker = make_tracker(slots={"booking_ref": "BK100002", "pending_confirmation": "cancellation"}, intent="affirm")
    result = await run_action(ActionCancelReservation(), tracker)
    assert result.responses == ["utter_cannot_cancel"]
    assert result.message("utter_cannot_cancel")["reference"] == "BK100002"


async def test_finished_stay_cannot_be_cancelled(pms, tmp_path):
    # booked back when the stay was still ahead (the PMS refuses stays in the past)
    back_then = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: days(-4), seed=False)
    past = back_then.create_booking(BookingRequest("Old Guest", "double", days(-3), days(0), 2))
    result = await run_action(ActionOfferCancellation(), make_tracker(slots={"booking_ref": past.reference}))
    assert result.responses == ["utter_cannot_cancel"]
    assert result.slot("pending_confirmation") is None
    assert pms.get_booking(past.reference).status is BookingStatus.PENDING_PAYMENT


async def test_offer_cancellation_unknown_reference():
    result = await run_action(ActionOfferCancellation(), make_tracker(slots={"booking_ref": "BK999999"}))
    assert result.responses == ["utter_booking_not_found"]
    assert result.slot("pending_confirmation") is None


async def test_cancel_unknown_reference(pms):
    tracker = make_tracker(slots={"booking_ref": "BK999999", "pending_confirmation": "cancellation"}, intent="affirm")
    result = await run_action(ActionCancelReservation(), tracker)
    assert result.responses == ["utter_booking_not_found"]
    with pytest.raises(BookingNotFound):
        pms.get_booking("BK999999")


async def test_the_answer_to_the_room_question_does_not_change_the_party():
    slots = {"requested_slot": "room_type", "checkin": "2026-12-05", "checkout": "2026-12-08", "guests": 2}
    tracker = make_tracker(slots=slots, text="a family room for one night", language="en")
    assert "guests" not in await extract(ValidateReservationForm(), tracker)
    tracker = make_tracker(slots=slots, text="actually we are 3", language="en")
    assert (await extract(ValidateReservationForm(), tracker))["guests"] == 3


async def test_a_departure_correction_counts_from_the_check_in():
    # TODAY is Monday 2026-11-23; check-in Thursday 3 December: "hasta el domingo" is Sunday 6, not Sunday 29 November
    tracker = make_tracker(slots={"requested_slot": "guests", "checkin": "2026-12-03", "checkout": "2026-12-05"},
                           text="ah no espera, al final me quedo hasta el domingo")
    assert (await extract(ValidateReservationForm(), tracker))["checkout"] == "2026-12-06"


async def test_a_nights_correction_with_a_reason_keeps_the_check_in():
    tracker = make_tracker(slots={"requested_slot": "guests", "checkin": "2026-12-05", "checkout": "2026-12-07"},
                           text="perdona, mejor 3 noches q el lunes es fiesta")
    slots = await extract(ValidateReservationForm(), tracker)
    assert slots.get("checkin", "2026-12-05") == "2026-12-05" and slots["checkout"] == "2026-12-08"


async def test_a_third_failed_answer_offers_a_person_and_stops_asking(domain):
    asked = [{"event": "slot", "name": "requested_slot", "value": "checkin"}, {"event": "user", "text": "mmm"}] * 3
    tracker = make_tracker(slots={"requested_slot": "checkin"}, text="ni idea", intent="inform",
                           active_loop="reservation_form", events=asked)
    result = await run_action(ValidateReservationForm(), tracker, domain)
    assert result.responses == ["utter_offer_person"]
    events = [(e["event"], e.get("name")) for e in result.events]
    assert ("active_loop", None) in events and ("followup", "action_listen") in events
