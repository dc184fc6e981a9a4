"""Slot extraction and validation shared by the availability and reservation forms."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import (
    count_phrase,
    hotel_for,
    hotel_today,
    iso_date,
    language_of,
    latest_intent,
    latest_text,
    pms_gateway,
    question_answered_mid_form,
    show_date,
)
from actions.dates import parse_departure, parse_nights, parse_stay
from actions.guests import parse_guests
from actions.names import introduced_name, plausible_name
from actions.pms.base import PMSUnavailable
from actions.text import normalise

# Intents that interrupt a form: their messages never fill a slot.
INTERRUPTIONS = frozenset(
    {
        "faq", "request_human", "business_hours", "hotel_location", "room_options", "bot_challenge",
        "out_of_scope", "deny", "goodbye", "report_issue", "cancel_reservation", "reservation_status",
        "late_checkout", "payment_confirmation", "give_feedback", "greet", "thank",
    }
)
# ... except when the message plainly answers: "gracias, del 4 al 6", "hola! somos 3",
# or corrects an answer: "no, mejor 3 noches".
QUESTIONS = frozenset({"faq", "business_hours", "hotel_location", "room_options", "bot_challenge", "out_of_scope"})
CORRECTION = re.compile(
    r"\b(?:actually|mejor|perdon|perdona|sorry|en realidad|cambia|cambiar|change|instead|rather|make it|no wait|"
    r"espera|al final|i meant|queria decir|quise decir|mistake|me equivoque|corrijo|correction|better|no no|"
    r"oops|ups|wait)\b"
)
ARRIVAL = re.compile(r"\b(?:llego|llegamos|llegada|llegando|arrive|arriving|arrival|check ?in|entrada|desde|from|a partir)\b")
DATE_SLOTS = (None, "checkin", "checkout")
PEOPLE_WORDS = re.compile(
    r"\b(?:personas?|adult(?:o|a)?s?|ninos?|ninas?|bebes?|hijos?|huespedes|people|persons?|adults?|kids?|children|"
    r"child|guests?|baby|babies|of us|somos|seremos|we are|we're|family of|familia de|pareja|couple)\b"
)
MAX_BARE_NIGHTS = 30


# Responses after which the form stops asking: a party no room sleeps (reception books several
# rooms) and a third failed answer (a person is offered): asking again would loop.
STOPPING_RESPONSES = frozenset({"utter_party_too_big", "utter_offer_person"})


async def run_stopping_when_told(form, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
    """``form.run`` (the FormValidationAction's), then the events that end the form
    without its final action (no booking, no availability, no lookup) when it said
    one of STOPPING_RESPONSES."""
    events = await form.run(dispatcher, tracker, domain)
    if any(message.get("response") in STOPPING_RESPONSES for message in dispatcher.messages):
        events += [SlotSet("requested_slot", None), ActiveLoop(None), FollowupAction("action_listen")]
    return events


def is_correction(text: str) -> bool:
    return bool(CORRECTION.search(normalise(text)))


class StayFormMixin:
    """checkin / checkout / guests extraction and validation, mixed into the
    FormValidationAction of every form that asks for a stay.

    A date or party size is taken from any answer that plainly gives it, not
    only from the answer to its own question: the guest may correct the dates
    while asked for the party ("actually until Sunday", "mejor 3 noches")."""

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        return await run_stopping_when_told(super(), dispatcher, tracker, domain)

    async def get_extraction_events(self, dispatcher, tracker: Tracker, domain) -> List[EventType]:
        if question_answered_mid_form(tracker) and tracker.get_slot("requested_slot") != "guest_name":
            return []  # a question the bot just answered; in a name-asking turn plausible_name tells names from questions
        return await super().get_extraction_events(dispatcher, tracker, domain)

    # -- extraction --------------------------------------------------------
    @staticmethod
    def _answering(tracker: Tracker, slots) -> bool:
        return tracker.get_slot("requested_slot") in slots and latest_intent(tracker) not in INTERRUPTIONS

    @staticmethod
    def _may_read(tracker: Tracker) -> bool:
        """Whether this message may fill a stay slot when it parses as one: any
        message but a request for a person or a question ("do you have parking?"
        mid-form is answered, then the form goes on)."""
        intent = latest_intent(tracker)
        if intent == "request_human":
            return False
        text = latest_text(tracker)
        return not (intent in QUESTIONS and ("?" in text or "¿" in text))

    def _stay(self, tracker: Tracker):
        return parse_stay(latest_text(tracker), hotel_today(hotel_for(tracker)))

    async def extract_checkin(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not self._may_read(tracker):
            return {}
        text = latest_text(tracker)
        stay = self._stay(tracker)
        requested = tracker.get_slot("requested_slot")
        if stay.checkin is None:
            # An unreadable answer to "when do you arrive?" goes to validation, which says so.
            if requested == "checkin" and stay.checkout is None and self._answering(tracker, DATE_SLOTS):
                return {"checkin": text}
            return {}
        if stay.complete or requested in (None, "checkin"):
            return {"checkin": stay.checkin.isoformat()}
        norm = normalise(text)
        if ARRIVAL.search(norm) or (requested != "checkout" and is_correction(text)):
            return {"checkin": stay.checkin.isoformat()}  # "mejor llegamos el 5"
        return {}  # a lone date answering "when do you leave?" is the checkout

    async def extract_checkout(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not self._may_read(tracker):
            return {}
        text = latest_text(tracker)
        stay = self._stay(tracker)
        requested = tracker.get_slot("requested_slot")
        if stay.checkout:
            current = iso_date(tracker.get_slot("checkin"))
            if stay.checkin is None and current is not None:
                # "actually until sunday": a weekday or bare day counts from the check-in, not from today
                departure = parse_departure(text, hotel_today(hotel_for(tracker)), current)
                return {"checkout": (departure or stay.checkout).isoformat()}
            return {"checkout": stay.checkout.isoformat()}
        nights = parse_nights(text)
        if nights is None and requested == "checkout":
            bare = re.fullmatch(r"\s*(\d{1,2})\s*", normalise(text))
            nights = int(bare.group(1)) if bare and 0 < int(bare.group(1)) <= MAX_BARE_NIGHTS else None
        checkin = stay.checkin or iso_date(tracker.get_slot("checkin"))
        if nights and checkin:
            return {"checkout": (checkin + dt.timedelta(days=nights)).isoformat()}
        if requested != "checkout":
            return {}
        if stay.checkin and not ARRIVAL.search(normalise(text)):
            # "el sábado" answering "when do you leave?" is the first Saturday after the check-in
            departure = parse_departure(text, hotel_today(hotel_for(tracker)), checkin) if checkin else None
            return {"checkout": (departure or stay.checkin).isoformat()}
        if stay.checkin is None and self._answering(tracker, DATE_SLOTS):
            return {"checkout": text}
        return {}

    async def extract_guests(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if not self._may_read(tracker):
            return {}
        requested = tracker.get_slot("requested_slot")
        text = latest_text(tracker)
        if requested not in (None, "guests") and not is_correction(text) and not PEOPLE_WORDS.search(normalise(text)):
            return {}  # "a family room for one" answers the room question, not the party's size
        guests = parse_guests(text, bare_number_allowed=requested == "guests")
        if guests is None:
            stay = self._stay(tracker)
            if stay.checkin or stay.checkout or parse_nights(latest_text(tracker)):
                return {}  # a correction of the stay while asked for the party: the party is asked again
            return {"guests": latest_text(tracker)} if self._answering(tracker, ("guests",)) else {}
        return {"guests": guests}

    # -- validation ----------------------------------------------------------
    async def validate_checkin(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        hotel = hotel_for(tracker)
        checkin = iso_date(value)
        today = hotel_today(hotel)
        if checkin is None:
            not_understood(dispatcher, tracker, "checkin", "utter_date_not_understood")
            return {"checkin": None}
        if checkin < today:
            dispatcher.utter_message(response="utter_date_in_past")
            return {"checkin": None, "checkout": None}
        if checkin > today + dt.timedelta(days=hotel.policies.booking_horizon_days):
            dispatcher.utter_message(response="utter_date_too_far", horizon_days=hotel.policies.booking_horizon_days)
            return {"checkin": None, "checkout": None}
        checkout = iso_date(tracker.get_slot("checkout"))
        if checkout is not None and checkout <= checkin:
            return {"checkin": checkin.isoformat(), "checkout": None}  # a corrected arrival after the old departure
        return {"checkin": checkin.isoformat()}

    async def validate_checkout(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        hotel = hotel_for(tracker)
        checkout = iso_date(value)
        checkin = iso_date(tracker.get_slot("checkin"))
        if checkout is None:
            not_understood(dispatcher, tracker, "checkout", "utter_date_not_understood")
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
            not_understood(dispatcher, tracker, "guests", "utter_guests_not_understood")
            return {"guests": None}
        if guests > limit:
            dispatcher.utter_message(response="utter_too_many_guests", max_guests=limit)
            return {"guests": None}
        capacities = await room_capacities(tracker)
        if capacities and guests > max(capacities.values()):
            # no single room sleeps them: reception books several rooms together
            language = language_of(tracker)
            dispatcher.utter_message(
                response="utter_party_too_big", guests_text=count_phrase(guests, "guest", language),
                max_guests_text=count_phrase(max(capacities.values()), "guest", language),
            )
            return {"guests": None}
        room = tracker.get_slot("room_type")
        if room in capacities and guests > capacities[room]:
            return {"guests": guests, "room_type": None}  # a corrected party no longer fits the chosen room
        return {"guests": guests}


def failed_answers(tracker: Tracker, slot: str) -> int:
    """Answers in a row to the question for ``slot``, the latest included (the
    question was asked again after each: none of them filled it)."""
    requested, asked_before = None, []
    for event in tracker.events:
        if event.get("event") == "slot" and event.get("name") == "requested_slot":
            requested = event.get("value")
        elif event.get("event") == "user":
            asked_before.append(requested)
    run = 0
    for value in reversed(asked_before):
        if value != slot:
            break
        run += 1
    return run


# the question again, with an example (written out: scripts/validate_data.py finds the responses actions send)
REPHRASED = {
    "checkin": dict(response="utter_rephrase_checkin"),
    "checkout": dict(response="utter_rephrase_checkout"),
    "guests": dict(response="utter_rephrase_guests"),
    "room_type": dict(response="utter_rephrase_room_type"),
    "guest_name": dict(response="utter_rephrase_guest_name"),
}


def not_understood(dispatcher: CollectingDispatcher, tracker: Tracker, slot: str, response: str, **variables) -> None:
    """No form asks the same way for ever: the first failed answer gets
    ``response``, the second the question again with an example, from the
    third on the bot offers a person from reception."""
    failures = failed_answers(tracker, slot)
    if failures >= 3:
        dispatcher.utter_message(response="utter_offer_person")
    elif failures == 2 and slot in REPHRASED:
        dispatcher.utter_message(**REPHRASED[slot])
    else:
        dispatcher.utter_message(response=response, **variables)


class GuestNameMixin:
    """guest_name for the reservation form. In a name-asking turn a plausible
    name is a name, whatever intent the NLU saw in it ("Park", "Rosa Bar" look
    like FAQ words); a guest who introduced themself ("soy Ana Ruiz, quiero
    reservar") is not asked again."""

    async def extract_guest_name(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        requested = tracker.get_slot("requested_slot")
        if requested == "guest_name":
            if latest_intent(tracker) == "request_human":
                return {}
            name = plausible_name(latest_text(tracker)) or introduced_name(latest_text(tracker))
            return {"guest_name": name} if name else {}
        if tracker.get_slot("guest_name"):
            return {}
        for event in reversed(tracker.events):  # this message or an earlier one of the conversation
            if event.get("event") == "user":
                name = introduced_name(event.get("text") or "")
                if name:
                    return {"guest_name": name}
        return {}

    async def validate_guest_name(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        text = str(value or "")
        name = introduced_name(text) or plausible_name(text)
        if name is None:
            not_understood(dispatcher, tracker, "guest_name", "utter_name_not_understood")
            return {"guest_name": None}
        return {"guest_name": name}


async def room_capacities(tracker: Tracker) -> Dict[str, int]:
    """Room code -> how many guests it sleeps in the hotel's PMS; empty when the PMS does not answer."""
    pms = pms_gateway(tracker)
    try:
        rooms = await pms.call(pms.pms.list_room_types, language_of(tracker))
    except PMSUnavailable:
        return {}
    return {room.code: room.max_guests for room in rooms}


def stay_from_slots(tracker: Tracker) -> tuple[Optional[dt.date], Optional[dt.date], int]:
    return (
        iso_date(tracker.get_slot("checkin")),
        iso_date(tracker.get_slot("checkout")),
        int(tracker.get_slot("guests") or 0),
    )
