"""Who may use a booking (actions/booking_access.py): its contact, the conversation
that made it, or one that passed surname + check-in date; limits on failures."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_access
from actions.booking import ActionReservationStatus
from actions.booking_access import Verification, is_contact, surname_matches
from actions.booking_ref import ValidateStatusForm
from actions.pms.base import Booking, BookingStatus
from tests.conftest import make_tracker, run_action


def booking(contact: str = "", name: str = "María García López") -> Booking:
    return Booking("BK100002", name, "suite", dt.date(2026, 12, 7), dt.date(2026, 12, 10), 2,
                   BookingStatus.PENDING_PAYMENT, Decimal("180"), Decimal("540"), "EUR", contact=contact)


@pytest.mark.parametrize("contact, conversation, expected", [
    ("34600111222@106540352242922", "34600111222@106540352242922", True),   # made in this WhatsApp conversation
    ("+34 600 111 222", "34600111222@106540352242922", True),               # the PMS's phone = the WhatsApp number
    ("0034600111222", "34600111222@999", True),
    ("+34 600 111 222", "34600111333@106540352242922", False),
    ("lucia@example.com", "Lucia@Example.com", True),                       # Gmail conversation = the e-mail
    ("lucia@example.com", "34600111222@106540352242922", False),
    ("guest-1", "guest-1", True),
    ("", "guest-1", False),                                                 # no contact: nobody by identity
    ("+34 600", "34600@1", False),                                          # too few digits to be a phone
])
def test_channel_identity_matches_the_contact(contact, conversation, expected):
    assert is_contact(booking(contact), conversation) is expected


@pytest.mark.parametrize("answer, expected", [
    ("García", True), ("garcia lopez", True), ("LÓPEZ", True), ("García-López", True),
    ("María", False), ("Smith", False), ("", False), ("María García López", True), ("María Smith", False),
])
def test_surname(answer, expected):
    assert surname_matches(booking(), answer) is expected


def stranger(sender="stranger-1", **slots):
    return make_tracker(slots={"booking_ref": "BK100002", **slots}, sender_id=sender, active_loop="status_form",
                        verified=False)


async def test_a_stranger_is_asked_the_second_factor_and_sees_nothing(pms):
    form = ValidateStatusForm()
    needed = await form.required_slots(["booking_ref", "verify_surname", "verify_checkin"], CollectingDispatcher(),
                                       stranger(), {})
    assert needed == ["booking_ref", "verify_surname", "verify_checkin"]
    result = await run_action(ActionReservationStatus(), stranger())
    assert result.responses == ["utter_booking_access_denied"]
    assert "John" not in str(result.messages) and "Smith" not in str(result.messages)


async def test_surname_and_checkin_date_grant_the_conversation(pms):
    dispatcher = CollectingDispatcher()
    result = await ValidateStatusForm().validate_verify_checkin(
        "el 7 de diciembre", dispatcher, stranger(verify_surname="smith", requested_slot="verify_checkin"), {})
    assert result == {"verify_surname": None, "verify_checkin": None}
    assert dispatcher.messages == []
    assert await booking_access.granted("stranger-1", "BK100002")
    status = await run_action(ActionReservationStatus(), stranger())
    assert status.responses == ["utter_booking_status"]


async def test_wrong_details_and_unknown_references_fail_alike(pms):
    answers = []
    for reference in ("BK100002", "BK999999"):
        dispatcher = CollectingDispatcher()
        tracker = make_tracker(slots={"booking_ref": reference, "verify_surname": "Smith", "requested_slot": "verify_checkin"},
                               sender_id="stranger-2", active_loop="status_form", verified=False)
        result = await ValidateStatusForm().validate_verify_checkin("8 de diciembre", dispatcher, tracker, {})
        answers.append((result, [m["response"] for m in dispatcher.messages]))
    assert answers[0] == answers[1] == (
        {"verify_surname": None, "verify_checkin": None, "booking_ref": None}, ["utter_booking_verification_failed"])


async def test_failures_lock_the_sender_and_alert_staff_once(pms, staff_store):
    for _ in range(booking_access.SENDER_LIMIT):
        outcome = await booking_access.verify(None, "BK999999", "x", "y", "walker", dt.date(2026, 11, 23))
        assert outcome is Verification.FAILED
    assert await booking_access.verify(pms.get_booking("BK100002"), "BK100002", "Smith", "2026-12-07", "walker",
                                       dt.date(2026, 11, 23)) is Verification.LOCKED  # even the right answer
    alerts = [r for r in staff_store.open_requests("issue") if "reference walking" in r.text]
    assert len(alerts) == 1 and alerts[0].sender_id == "walker"
    result = await run_action(ActionReservationStatus(), stranger(sender="walker"))
    assert result.responses == ["utter_booking_verification_locked"]
    assert not await booking_access.locked("someone-else")  # other guests are not locked out


async def test_walking_from_many_senders_locks_everyone_out(pms, staff_store, monkeypatch):
    monkeypatch.setattr(booking_access, "GLOBAL_LIMIT", 6)
    for n in range(6):
        await booking_access.verify(None, f"BK99999{n}", "x", "y", f"walker-{n}", dt.date(2026, 11, 23))
    assert await booking_access.locked("new-sender")
    assert any("all senders" in r.text for r in staff_store.open_requests("issue"))
