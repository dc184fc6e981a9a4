"""The PMS failing: every reading action says utter_pms_unavailable instead of
crashing (writes are saved for later: test_saved_requests.py), and the
gateway's circuit breaker opens after fail_max failures so later calls fail
fast without touching the PMS; business outcomes never trip it."""
from __future__ import annotations

import os
import time

import pybreaker
import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import (
    ActionCancelReservation,
    ActionCheckAvailability,
    ActionOfferCancellation,
    ActionReservationStatus,
    ValidateReservationForm,
)
from actions.booking_ref import ValidateStatusForm
from actions.hotel_info import ActionShowRoomOptions
from actions.late_checkout import ActionOfferLateCheckout
from actions.payment import ActionConfirmPayment
from actions.pms.base import BookingNotFound, PMSUnavailable
from actions.pms.gateway import PMSGateway, build_breaker, gateway, use_gateway
from actions.pms.local import LocalPMS
from tests.actions.broken_pms import BrokenPMS
from tests.conftest import TODAY, make_tracker, run_action


@pytest.fixture
def broken(tmp_path) -> BrokenPMS:
    pms = BrokenPMS(f"sqlite:///{tmp_path / 'broken.sqlite3'}", clock=lambda: TODAY)
    use_gateway(PMSGateway(pms, build_breaker(fail_max=3, reset_timeout=60)))
    return pms


STAY = {"checkin": "2026-12-05", "checkout": "2026-12-08", "guests": 2}
CASES = [  # reads, and the payment notice (the guest must see the result, no promise to keep)
    (ActionCheckAvailability, STAY),
    (ActionReservationStatus, {"booking_ref": "BK100002"}),
    (ActionOfferCancellation, {"booking_ref": "BK100002"}),
    (ActionOfferLateCheckout, {"booking_ref": "BK100001"}),
    (ActionConfirmPayment, {"booking_ref": "BK100002"}),
    (ActionShowRoomOptions, {}),
]


@pytest.mark.parametrize("action_class, slots", CASES, ids=[c[0].__name__ for c in CASES])
async def test_actions_say_the_pms_is_unavailable(broken, saved_queue, action_class, slots):
    result = await run_action(action_class(), make_tracker(slots=slots))
    assert result.responses == ["utter_pms_unavailable"]
    assert await saved_queue.size() == 0  # nothing promised, nothing saved
    assert broken.attempts >= 1
    # nothing half-done: no booking reference handed out, no confirmation left pending
    assert result.slot("booking_ref") == "missing"
    assert result.slot("pending_confirmation") in (None, "missing")


async def test_real_database_failure(tmp_path):
    """A LocalPMS whose database file turned into a directory (disk trouble)."""
    path = tmp_path / "pms.sqlite3"
    pms = LocalPMS(f"sqlite:///{path}", clock=lambda: TODAY)
    use_gateway(PMSGateway(pms, build_breaker(fail_max=3, reset_timeout=60)))
    assert (await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "BK100002"}))).responses == ["utter_booking_status"]
    os.remove(path)
    os.mkdir(path)
    result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "BK100002"}))
    assert result.responses == ["utter_pms_unavailable"]
    result = await run_action(ActionCancelReservation(), make_tracker(slots={"booking_ref": "BK100002", "pending_confirmation": "cancellation"}))
    assert result.responses == ["utter_request_saved"]


async def test_form_validation_lets_a_well_formed_reference_through(broken):
    dispatcher = CollectingDispatcher()
    result = await ValidateStatusForm().validate_booking_ref("bk-100002", dispatcher, make_tracker(), {})
    assert result == {"booking_ref": "BK100002"}  # the submit action reports the outage
    assert dispatcher.messages == []


async def test_room_type_validation_survives_the_outage(broken):
    dispatcher = CollectingDispatcher()
    result = await ValidateReservationForm().validate_room_type("suite", dispatcher, make_tracker(slots={"guests": 2}), {})
    assert result == {"room_type": "suite"}


async def test_circuit_opens_after_fail_max_failures_and_then_fails_fast(broken):
    breaker = gateway().breaker
    tracker = make_tracker(slots={"booking_ref": "BK100002"})
    for attempt in range(1, 4):
        result = await run_action(ActionReservationStatus(), tracker)
        assert result.responses == ["utter_pms_unavailable"]
        assert broken.attempts == attempt
    assert breaker.current_state == pybreaker.STATE_OPEN

    broken.down = False  # the PMS is back, but the breaker has not let a call through yet
    started = time.monotonic()
    for _ in range(5):
        result = await run_action(ActionReservationStatus(), tracker)
        assert result.responses == ["utter_pms_unavailable"]
    assert broken.attempts == 3  # failed fast: the PMS was not called again
    assert time.monotonic() - started < 2

    with pytest.raises(PMSUnavailable, match="circuit open"):
        await gateway().call(gateway().pms.get_booking, "BK100002")


async def test_circuit_half_opens_after_the_reset_timeout(tmp_path):
    pms = BrokenPMS(f"sqlite:///{tmp_path / 'flaky.sqlite3'}", clock=lambda: TODAY)
    use_gateway(PMSGateway(pms, build_breaker(fail_max=2, reset_timeout=0.3)))
    tracker = make_tracker(slots={"booking_ref": "BK100002"})
    for _ in range(2):
        await run_action(ActionReservationStatus(), tracker)
    assert gateway().breaker.current_state == pybreaker.STATE_OPEN
    pms.down = False
    time.sleep(0.4)
    result = await run_action(ActionReservationStatus(), tracker)
    assert result.responses == ["utter_booking_status"]
    assert gateway().breaker.current_state == pybreaker.STATE_CLOSED


async def test_business_outcomes_do_not_trip_the_breaker(pms):
    breaker = gateway().breaker
    for _ in range(breaker.fail_max + 2):
        result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "BK999999"}))
        assert result.responses == ["utter_booking_not_found"]
        with pytest.raises(BookingNotFound):
            await gateway().call(gateway().pms.get_booking, "BK999999")
        with pytest.raises(ValueError):
            await gateway().call(gateway().pms.check_availability, TODAY, TODAY, 1, "es")
    assert breaker.current_state == pybreaker.STATE_CLOSED
    assert breaker.fail_counter == 0
    result = await run_action(ActionReservationStatus(), make_tracker(slots={"booking_ref": "BK100002"}))
    assert result.responses == ["utter_booking_status"]


async def test_gateway_wraps_unexpected_errors(broken):
    with pytest.raises(PMSUnavailable) as info:
        await gateway().call(gateway().pms.list_room_types, "es")
    assert info.value.args == ("ConnectionError",)
    assert isinstance(info.value.__cause__, ConnectionError)
