"""A "no" while a form asks something: stop the form, unless the message also
answers the question or corrects an answer.

The NLU reads "dbl", "no, mejor 3 noches", "no no, la suite" or a name like
"Luz Moreno" as ``deny`` now and then; the rules that stop a form on ``deny``
run ``action_stop_form``, which lets the form read such a message instead
(``FollowupAction`` of the active form) and stops it otherwise. A "no" to the
feedback form's "anything else?" is its answer (no comment), not a stop.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import hotel_for, hotel_today, latest_text
from actions.dates import parse_nights, parse_stay
from actions.feedback import parse_rating
from actions.guest_contact import parse_phone
from actions.guests import parse_guests
from actions.names import plausible_name
from actions.references import canonical_reference
from actions.rooms import parse_room_type
from actions.text import normalise

STAY_FORMS = ("reservation_form", "availability_form")
# a change of mind, not only a "no": "no, mejor...", "actually", "instead"
_CHANGE = re.compile(
    r"\b(?:mejor|instead|actually|rather|better|make it|make that|cambia|cambiar|change|en realidad|al final|prefiero|prefer)\b"
)
_REFUSAL_WORDS = frozenset({
    "no", "nope", "nah", "not", "never", "stop", "cancel", "cancela", "olvidalo", "dejalo", "nada", "nothing", "forget",
    "gracias", "thanks", "later", "luego", "despues",
})


def _stay_answer(text: str, tracker: Tracker) -> bool:
    stay = parse_stay(text, hotel_today(hotel_for(tracker)))
    return bool(stay.checkin or stay.checkout or parse_nights(text))


def carries_answer(tracker: Tracker, form: str) -> bool:
    """Whether the guest's "no" message also answers the form's question or changes an answer."""
    text = latest_text(tracker)
    requested = tracker.get_slot("requested_slot")
    if form in STAY_FORMS and _CHANGE.search(normalise(text)):
        if _stay_answer(text, tracker) or parse_guests(text, bare_number_allowed=False) or parse_room_type(text):
            return True
    checks: Dict[str, Any] = {
        "checkin": lambda: _stay_answer(text, tracker),
        "checkout": lambda: _stay_answer(text, tracker),
        "guests": lambda: parse_guests(text) is not None,
        "room_type": lambda: parse_room_type(text) is not None,
        "guest_name": lambda: plausible_name(text) is not None and not set(normalise(text).split()) & _REFUSAL_WORDS,
        "guest_phone": lambda: parse_phone(text) is not None,
        "booking_ref": lambda: canonical_reference(text) is not None,
        "feedback_rating": lambda: parse_rating(text) is not None,
        "feedback_comment": lambda: True,  # "no" to "anything else?" is no comment: the feedback is sent
    }
    check = checks.get(requested)
    return bool(check and check())


class ActionStopForm(Action):
    def name(self) -> Text:
        return "action_stop_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        form = tracker.active_loop_name
        if form and carries_answer(tracker, form):
            return [FollowupAction(form)]  # the form reads the message as its answer
        return [ActiveLoop(None), SlotSet("requested_slot", None)]
