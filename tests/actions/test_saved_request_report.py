"""action_report_saved_request: what the guest reads when the worker triggers
EXTERNAL_saved_request (entities saved_request, outcome, booking_ref)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from actions.pms.base import BookingRequest
from actions.saved_request_report import ActionReportSavedRequest
from tests.conftest import TODAY, make_tracker, run_action


def external(kind: str, outcome: str, booking_ref: str | None = None, language: str = "es", slots=None):
    entities = [{"entity": "saved_request", "value": kind}, {"entity": "outcome", "value": outcome}]
    if booking_ref:
        entities.append({"entity": "booking_ref", "value": booking_ref})
    return make_tracker(intent="EXTERNAL_saved_request", text="EXTERNAL: EXTERNAL_saved_request",
                        entities=entities, language=language, slots=slots)


async def test_booking_created_with_its_details_in_the_guests_language(pms):
    booking = pms.create_booking(BookingRequest("Ana López", "double", TODAY + dt.timedelta(days=12),
                                                TODAY + dt.timedelta(days=15), 2, request_id="r1"))
    result = await run_action(ActionReportSavedRequest(), external("pms.create_booking", "done", booking.reference, "en"))
    assert result.responses == ["utter_saved_booking_created"]
    message = result.message("utter_saved_booking_created")
    assert (message["reference"], message["room_name"], message["guests"], message["total"]) == (
        booking.reference, "Double room", 2, "285.00")
    assert message["checkin"] == "Sat, Dec 5, 2026"
    assert result.slot("booking_ref") == booking.reference


async def test_cancellation_done():
    result = await run_action(ActionReportSavedRequest(), external("pms.cancel_booking", "done", "BK100002"))
    assert result.responses == ["utter_saved_cancellation_done"]
    assert result.message("utter_saved_cancellation_done")["reference"] == "BK100002"


async def test_late_checkout_done_reads_what_was_written(pms):
    pms.set_late_checkout("BK100001", dt.time(15, 0), Decimal("47.50"))
    result = await run_action(ActionReportSavedRequest(), external("pms.set_late_checkout", "done", "BK100001"))
    message = result.message("utter_saved_late_checkout_done")
    assert (message["until"], message["fee"], message["currency"], message["reference"]) == ("15:00", "47.50", "EUR", "BK100001")


async def test_done_but_the_booking_cannot_be_read_now():
    result = await run_action(ActionReportSavedRequest(), external("pms.create_booking", "done", "BK999999"))
    assert result.responses == ["utter_saved_request_done"]
    assert result.message("utter_saved_request_done")["reference"] == "BK999999"


@pytest.mark.parametrize("kind, response", [
    ("pms.create_booking", "utter_saved_booking_failed"),
    ("pms.cancel_booking", "utter_saved_cancellation_failed"),
    ("pms.set_late_checkout", "utter_saved_late_checkout_failed"),
])
async def test_failed(kind, response):
    reference = None if kind == "pms.create_booking" else "BK100002"
    result = await run_action(ActionReportSavedRequest(), external(kind, "failed", reference, slots={"booking_ref": "BK100001"}))
    assert result.responses == [response]
    assert result.slot("booking_ref") == "missing"  # the guest's booking in the conversation is left alone
    if reference:
        assert result.message(response)["reference"] == reference


@pytest.mark.parametrize("kind, outcome", [("pms.delete_everything", "done"), ("pms.cancel_booking", "maybe"), (None, None)])
async def test_unknown_notifications_say_nothing(kind, outcome):
    tracker = make_tracker(intent="EXTERNAL_saved_request",
                           entities=[{"entity": "saved_request", "value": kind}, {"entity": "outcome", "value": outcome}])
    result = await run_action(ActionReportSavedRequest(), tracker)
    assert result.messages == [] and result.events == []
