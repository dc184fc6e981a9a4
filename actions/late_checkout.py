"""Late checkout: quote (fee = policy % of the nightly rate), confirm, write to the PMS."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Dict, List, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.audit import record_audit
from actions.booking_ref import booking_in_slot, reference_in_use
from actions.config import HotelConfig
from actions.context import hotel_for, hotel_today, language_of, money, show_date, show_time
from actions.pms.base import Booking, BookingNotFound, BookingStatus, InvalidBookingState, PMSUnavailable
from actions.pms.gateway import gateway
from actions.saved_requests import SET_LATE_CHECKOUT, save_request


def late_checkout_fee(booking: Booking, hotel: HotelConfig) -> Decimal:
    percent = Decimal(hotel.policies.late_checkout_fee_percent) / 100
    return (booking.nightly_rate * percent).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def late_checkout_facts(booking: Booking, hotel: HotelConfig, language: str) -> Dict[str, Any]:
    """Template variables of the late checkout responses."""
    return dict(
        reference=booking.reference,
        checkout=show_date(booking.checkout, language),
        checkout_time=show_time(hotel.policies.checkout_time, language),
        until=show_time(hotel.policies.late_checkout_until, language),
    )


class ActionOfferLateCheckout(Action):
    def name(self) -> Text:
        return "action_offer_late_checkout"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        no_offer = [SlotSet("pending_confirmation", None)]
        booking = await booking_in_slot(dispatcher, tracker)
        if booking is None:
            return no_offer
        hotel, language = hotel_for(tracker), language_of(tracker)
        facts = late_checkout_facts(booking, hotel, language)
        if booking.status is BookingStatus.CANCELLED or booking.checkout < hotel_today(hotel):
            dispatcher.utter_message(response="utter_late_checkout_not_possible", **facts)
            return no_offer
        try:
            pms = gateway(hotel.id)
            available = await pms.call(pms.pms.late_checkout_available, booking.reference)
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_pms_unavailable")
            return no_offer
        if not available:
            dispatcher.utter_message(response="utter_late_checkout_unavailable", **facts)
            return no_offer
        fee = late_checkout_fee(booking, hotel)
        dispatcher.utter_message(
            response="utter_late_checkout_offer",
            fee=money(fee),
            currency=booking.currency,
            percent=hotel.policies.late_checkout_fee_percent,
            **facts,
        )
        return [SlotSet("pending_confirmation", "late_checkout")]


GRANTED = "granted"
NOT_POSSIBLE = "utter_late_checkout_not_possible"  # cancelled, stay over, refused by the PMS
UNAVAILABLE = "utter_late_checkout_unavailable"  # an arrival needs the room


async def grant_late_checkout(reference: str, hotel: HotelConfig) -> Tuple[str, Booking]:
    """Read the booking, check it can still be extended and write the late
    checkout (quoted again: the rate is the booking's, and the room may have
    been taken since the offer). Returns (GRANTED, updated booking) or
    (NOT_POSSIBLE | UNAVAILABLE, booking). A booking that already has it is
    GRANTED without a second write (a retry whose first attempt got through).
    Raises BookingNotFound and PMSUnavailable."""
    gw = gateway(hotel.id)  # the PMS this hotel books in
    pms = gw.pms
    booking = await gw.call(pms.get_booking, reference)
    until = hotel.policies.late_checkout_until
    if booking.late_checkout_until == until and booking.status is not BookingStatus.CANCELLED:
        return GRANTED, booking
    if booking.status is BookingStatus.CANCELLED or booking.checkout < hotel_today(hotel):
        return NOT_POSSIBLE, booking
    try:
        if not await gw.call(pms.late_checkout_available, booking.reference):
            return UNAVAILABLE, booking
        return GRANTED, await gw.call(pms.set_late_checkout, booking.reference, until, late_checkout_fee(booking, hotel))
    except (InvalidBookingState, BookingNotFound):
        return NOT_POSSIBLE, booking


class ActionConfirmLateCheckout(Action):
    def name(self) -> Text:
        return "action_confirm_late_checkout"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        done = [SlotSet("pending_confirmation", None)]
        if tracker.get_slot("pending_confirmation") != "late_checkout":
            dispatcher.utter_message(response="utter_how_can_help")  # a "yes" to no question
            return done
        reference = await reference_in_use(dispatcher, tracker)
        if reference is None:
            return done
        hotel, language = hotel_for(tracker), language_of(tracker)
        try:
            outcome, booking = await grant_late_checkout(reference, hotel)
        except BookingNotFound:
            dispatcher.utter_message(response="utter_booking_not_found", booking_ref=reference)
            return done
        except PMSUnavailable as exc:
            # The guest accepted a quoted offer: keep the request for when the PMS is back.
            saved = await save_request(SET_LATE_CHECKOUT, {"reference": reference}, tracker, f"PMSUnavailable: {exc}")
            dispatcher.utter_message(response="utter_request_saved" if saved else "utter_pms_unavailable")
            return done
        facts = late_checkout_facts(booking, hotel, language)
        if outcome != GRANTED:
            dispatcher.utter_message(response=outcome, **facts)
            return done
        await record_audit("late_checkout_set", tracker, booking_ref=booking.reference,
                           details={"until": booking.late_checkout_until, "fee": booking.late_checkout_fee})
        dispatcher.utter_message(
            response="utter_late_checkout_confirmed",
            fee=money(booking.late_checkout_fee or late_checkout_fee(booking, hotel)),
            currency=booking.currency,
            **facts,
        )
        return done
