"""Late checkout: offer (fee = 50% of the nightly rate), confirm, written to the PMS."""
from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

from actions import config
from actions.late_checkout import ActionConfirmLateCheckout, ActionOfferLateCheckout, late_checkout_fee
from actions.pms.base import BookingRequest
from actions.pms.local import LocalPMS
from tests.conftest import TODAY, make_tracker, run_action

DOUBLE_ROOMS = 8


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def fill_doubles(pms, checkin: dt.date, checkout: dt.date, count: int) -> None:
    for i in range(count):
        pms.create_booking(BookingRequest(f"Arrival {i}", "double", checkin, checkout, 2))


def offer_tracker(reference="BK100001", **kwargs):
    return make_tracker(slots={"booking_ref": reference}, intent="late_checkout", **kwargs)


def yes_tracker(reference="BK100001", pending="late_checkout", **kwargs):
    return make_tracker(slots={"booking_ref": reference, "pending_confirmation": pending}, intent="affirm", **kwargs)


def test_fee_is_the_policy_percent_of_the_nightly_rate(pms, hotel):
    booking = pms.get_booking("BK100001")
    assert booking.nightly_rate == Decimal("95.00")
    assert late_checkout_fee(booking, hotel) == Decimal("47.50")
    assert late_checkout_fee(pms.get_booking("BK100002"), hotel) == Decimal("90.00")
    a_third = dataclasses.replace(hotel, policies=dataclasses.replace(hotel.policies, late_checkout_fee_percent=33))
    assert late_checkout_fee(booking, a_third) == Decimal("31.35")  # 31.35 exactly
    odd = dataclasses.replace(booking, nightly_rate=Decimal("99.99"))
    assert late_checkout_fee(odd, hotel) == Decimal("50.00")  # 49.995 rounds half up


async def test_offer_quotes_the_fee_and_changes_nothing(pms):
    result = await run_action(ActionOfferLateCheckout(), offer_tracker())
    assert result.responses == ["utter_late_checkout_offer"]
    offer = result.message("utter_late_checkout_offer")
    assert (offer["fee"], offer["currency"], offer["until"], offer["checkout_time"]) == ("47.50", "EUR", "15:00", "12:00")
    assert offer["reference"] == "BK100001"
    assert offer["checkout"] == "mié 25 nov 2026"
    assert result.slot("pending_confirmation") == "late_checkout"
    stored = pms.get_booking("BK100001")
    assert stored.late_checkout_until is None and stored.late_checkout_fee is None


async def test_offer_in_english():
    offer = (await run_action(ActionOfferLateCheckout(), offer_tracker(language="en"))).message("utter_late_checkout_offer")
    assert (offer["until"], offer["checkout_time"], offer["checkout"]) == ("3:00 PM", "12:00 PM", "Wed, Nov 25, 2026")


async def test_confirm_writes_the_late_checkout_to_the_pms(pms):
    result = await run_action(ActionConfirmLateCheckout(), yes_tracker())
    assert result.responses == ["utter_late_checkout_confirmed"]
    confirmed = result.message("utter_late_checkout_confirmed")
    assert (confirmed["fee"], confirmed["currency"], confirmed["until"]) == ("47.50", "EUR", "15:00")
    assert result.slot("pending_confirmation") is None
    stored = pms.get_booking("BK100001")
    assert stored.late_checkout_until == dt.time(15, 0)
    assert stored.late_checkout_fee == Decimal("47.50")


async def test_offer_then_confirm_conversation(pms):
    offer = await run_action(ActionOfferLateCheckout(), offer_tracker())
    pending = offer.slot("pending_confirmation")
    result = await run_action(ActionConfirmLateCheckout(), yes_tracker(pending=pending))
    assert result.responses == ["utter_late_checkout_confirmed"]
    assert pms.get_booking("BK100001").late_checkout_fee == Decimal("47.50")


async def test_unavailable_when_the_room_type_is_full_on_the_checkout_night(pms):
    fill_doubles(pms, days(2), days(3), DOUBLE_ROOMS)
    result = await run_action(ActionOfferLateCheckout(), offer_tracker())
    assert result.responses == ["utter_late_checkout_unavailable"]
    assert result.message("utter_late_checkout_unavailable")["checkout_time"] == "12:00"
    assert result.slot("pending_confirmation") is None


async def test_still_available_with_one_room_of_the_type_free(pms):
    fill_doubles(pms, days(2), days(4), DOUBLE_ROOMS - 1)
    result = await run_action(ActionOfferLateCheckout(), offer_tracker())
    assert result.responses == ["utter_late_checkout_offer"]


async def test_room_taken_between_offer_and_yes(pms):
    offer = await run_action(ActionOfferLateCheckout(), offer_tracker())
    assert offer.slot("pending_confirmation") == "late_checkout"
    fill_doubles(pms, days(2), days(3), DOUBLE_ROOMS)
    result = await run_action(ActionConfirmLateCheckout(), yes_tracker())
    assert result.responses == ["utter_late_checkout_unavailable"]
    assert result.slot("pending_confirmation") is None
    assert pms.get_booking("BK100001").late_checkout_fee is None


async def test_yes_without_an_offer_changes_nothing(pms):
    for pending in (None, "cancellation"):
        result = await run_action(ActionConfirmLateCheckout(), yes_tracker(pending=pending))
        assert result.responses == ["utter_how_can_help"]
        assert result.slot("pending_confirmation") is None
    assert pms.get_booking("BK100001").late_checkout_fee is None


async def test_cancelled_booking(pms):
    pms.cancel_booking("BK100002")
    result = await run_action(ActionOfferLateCheckout(), offer_tracker("BK100002"))
    assert result.responses == ["utter_late_checkout_not_possible"]
    assert result.slot("pending_confirmation") is None
    # cancelled after the offer
    result = await run_action(ActionConfirmLateCheckout(), yes_tracker("BK100002"))
    assert result.responses == ["utter_late_checkout_not_possible"]
    assert pms.get_booking("BK100002").late_checkout_fee is None


def booked_back_then(tmp_path, request: BookingRequest):
    """A booking made when its stay was still ahead (the PMS refuses stays in the past)."""
    return LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: request.checkin, seed=False).create_booking(request)


async def test_finished_stay(pms, tmp_path):
    past = booked_back_then(tmp_path, BookingRequest("Old Guest", "double", days(-4), days(-1), 2))
    result = await run_action(ActionOfferLateCheckout(), offer_tracker(past.reference))
    assert result.responses == ["utter_late_checkout_not_possible"]


async def test_checkout_today_can_still_be_extended(pms, tmp_path):
    today_out = booked_back_then(tmp_path, BookingRequest("Leaving Today", "single", days(-2), days(0), 1))
    result = await run_action(ActionOfferLateCheckout(), offer_tracker(today_out.reference))
    offer = result.message("utter_late_checkout_offer")
    assert offer["fee"] == "35.00"  # 50% of 70.00
    await run_action(ActionConfirmLateCheckout(), yes_tracker(today_out.reference))
    assert pms.get_booking(today_out.reference).late_checkout_fee == Decimal("35.00")


async def test_unknown_reference():
    result = await run_action(ActionOfferLateCheckout(), offer_tracker("BK999999"))
    assert result.responses == ["utter_booking_not_found"]
    assert result.slot("pending_confirmation") is None


def test_policy_comes_from_hotel_yml():
    policies = config.hotel().policies
    assert policies.late_checkout_fee_percent == 50
    assert policies.late_checkout_until == dt.time(15, 0)
