"""Late checkout: quote (fee = policy % of the nightly rate), confirm, write to the PMS."""
from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking_ref import booking_in_slot
from actions.config import HotelConfig
from actions.context import hotel_for, hotel_today, language_of, money, show_date, show_time
from actions.pms.base import Booking, BookingNotFound, BookingStatus, InvalidBookingState, PMSUnavailable
from actions.pms.gateway import gateway


def late_checkout_fee(booking: Booking, hotel: HotelConfig) -> Decimal:
    percent = Decimal(hotel.policies.late_checkout_fee_percent) / 100
    return (booking.nightly_rate * percent).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


class ActionOfferLateCheckout(Action):
    def name(self) -> Text:
        return "action_offer_late_checkout"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        no_offer = [SlotSet("pending_confirmation", None)]
        booking = await booking_in_slot(dispatcher, tracker)
        if booking is None:
            return no_offer
        hotel, language = hotel_for(tracker), language_of(tracker)
        facts = dict(
            reference=booking.reference,
            checkout=show_date(booking.checkout, language),
            checkout_time=show_time(hotel.policies.checkout_time, language),
            until=show_time(hotel.policies.late_checkout_until, language),
        )
        if booking.status is BookingStatus.CANCELLED or booking.checkout < hotel_today(hotel):
            dispatcher.utter_message(response="utter_late_checkout_not_possible", **facts)
            return no_offer
        try:
            available = await gateway().call(gateway().pms.late_checkout_available, booking.reference)
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


class ActionConfirmLateCheckout(Action):
    def name(self) -> Text:
        return "action_confirm_late_checkout"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        done = [SlotSet("pending_confirmation", None)]
        if tracker.get_slot("pending_confirmation") != "late_checkout":
            dispatcher.utter_message(response="utter_how_can_help")  # a "yes" to no question
            return done
        booking = await booking_in_slot(dispatcher, tracker)
        if booking is None:
            return done
        hotel, language = hotel_for(tracker), language_of(tracker)
        # Quote again: the rate the guest saw is the booking's, and the room may
        # have been taken since the offer.
        fee = late_checkout_fee(booking, hotel)
        until = hotel.policies.late_checkout_until
        facts = dict(reference=booking.reference, checkout=show_date(booking.checkout, language),
                     checkout_time=show_time(hotel.policies.checkout_time, language), until=show_time(until, language))
        if booking.status is BookingStatus.CANCELLED or booking.checkout < hotel_today(hotel):
            # cancelled (or over) since the offer: not "your room is needed"
            dispatcher.utter_message(response="utter_late_checkout_not_possible", **facts)
            return done
        try:
            if not await gateway().call(gateway().pms.late_checkout_available, booking.reference):
                dispatcher.utter_message(response="utter_late_checkout_unavailable", **facts)
                return done
            updated = await gateway().call(gateway().pms.set_late_checkout, booking.reference, until, fee)
        except (InvalidBookingState, BookingNotFound):
            dispatcher.utter_message(response="utter_late_checkout_not_possible", **facts)
            return done
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_pms_unavailable")
            return done
        dispatcher.utter_message(
            response="utter_late_checkout_confirmed",
            fee=money(updated.late_checkout_fee or fee),
            currency=updated.currency,
            **facts,
        )
        return done
