"""Slot extraction and validation shared by the availability and reservation forms."""
from __future__ import annotations

import datetime as dt
from typing import Any, Dict, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.context import hotel_for, hotel_today, iso_date, language_of, latest_intent, latest_text, show_date
from actions.dates import parse_nights, parse_stay
from actions.guests import parse_guests

# Intents that interrupt a form: their messages never fill a slot.
INTERRUPTIONS = frozenset(
    {
        "faq", "request_human", "business_hours", "hotel_location", "room_options", "bot_challenge",
        "out_of_scope", "deny", "goodbye", "report_issue", "cancel_reservation", "reservation_status",
        "late_checkout", "payment_confirmation", "give_feedback", "greet", "thank",
    }
)
DATE_SLOTS = (None, "checkin", "checkout")


class StayFormMixin:
    """checkin / checkout / guests extraction and validation, mixed into the
    FormValidationAction of every form that asks for a stay."""

    # -- extraction --------------------------------------------------------
    @staticmethod
    def _answering(tracker: Tracker, slots) -> bool:
        return tracker.get_slot("requested_slot") in slots and latest_intent(tracker) not in INTERRUPTIONS

    def _stay(self, tracker: Tracker):
        return parse_stay(latest_text(tracker), hotel_today(hotel_for(tracker)))

    async def extract_checkin(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not self._answering(tracker, DATE_SLOTS):
            return {}
        stay = self._stay(tracker)
        requested = tracker.get_slot("requested_slot")
        if stay.checkin is None:
            # An unreadable answer to "when do you arrive?" goes to validation, which says so.
            return {"checkin": latest_text(tracker)} if requested == "checkin" else {}
        if requested == "checkout" and not stay.complete:
            return {}  # a lone date answering "when do you leave?" is the checkout
        return {"checkin": stay.checkin.isoformat()}

    async def extract_checkout(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not self._answering(tracker, DATE_SLOTS):
            return {}
        stay = self._stay(tracker)
        if stay.checkout:
            return {"checkout": stay.checkout.isoformat()}
        if tracker.get_slot("requested_slot") != "checkout":
            return {}
        nights = parse_nights(latest_text(tracker))
        checkin = iso_date(tracker.get_slot("checkin"))
        if nights and checkin:
            return {"checkout": (checkin + dt.timedelta(days=nights)).isoformat()}
        if stay.checkin:
            return {"checkout": stay.checkin.isoformat()}
        return {"checkout": latest_text(tracker)}

    async def extract_guests(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        requested = tracker.get_slot("requested_slot")
        if not self._answering(tracker, (None, "guests")):
            return {}
        guests = parse_guests(latest_text(tracker), bare_number_allowed=requested == "guests")
        if guests is None:
            return {"guests": latest_text(tracker)} if requested == "guests" else {}
        return {"guests": guests}

    # -- validation ----------------------------------------------------------
    async def validate_checkin(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        hotel = hotel_for(tracker)
        checkin = iso_date(value)
        today = hotel_today(hotel)
        if checkin is None:
            dispatcher.utter_message(response="utter_date_not_understood")
            return {"checkin": None}
        if checkin < today:
            dispatcher.utter_message(response="utter_date_in_past")
            return {"checkin": None, "checkout": None}
        if checkin > today + dt.timedelta(days=hotel.policies.booking_horizon_days):
            dispatcher.utter_message(response="utter_date_too_far", horizon_days=hotel.policies.booking_horizon_days)
            return {"checkin": None, "checkout": None}
        return {"checkin": checkin.isoformat()}

    async def validate_checkout(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        hotel = hotel_for(tracker)
        checkout = iso_date(value)
        checkin = iso_date(tracker.get_slot("checkin"))
        if checkout is None:
            dispatcher.utter_message(response="utter_date_not_understood")
            return {"checkout": None}
        if checkin is None:
            return {"checkout": checkout.isoformat()}
        if checkout <= checkin:
            dispatcher.utter_message(
                response="utter_checkout_before_checkin", checkin=show_date(checkin, language_of(tracker))
            )
            return {"checkout": None}
        if (checkout - checkin).days > hotel.policies.max_nights:
            dispatcher.utter_message(response="utter_stay_too_long", max_nights=hotel.policies.max_nights)
            return {"checkout": None}
        return {"checkout": checkout.isoformat()}

    async def validate_guests(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        limit = hotel_for(tracker).policies.max_guests_per_booking
        try:
            guests = int(value)
        except (TypeError, ValueError):
            guests = 0
        if guests < 1:
            dispatcher.utter_message(response="utter_guests_not_understood")
            return {"guests": None}
        if guests > limit:
            dispatcher.utter_message(response="utter_too_many_guests", max_guests=limit)
            return {"guests": None}
        return {"guests": guests}


def stay_from_slots(tracker: Tracker) -> tuple[Optional[dt.date], Optional[dt.date], int]:
    return (
        iso_date(tracker.get_slot("checkin")),
        iso_date(tracker.get_slot("checkout")),
        int(tracker.get_slot("guests") or 0),
    )
