"""Handing the conversation to a person: on request, after repeated
misunderstandings, and for urgent incident reports.

While the desk is open (or the message is urgent) the conversation is paused
(``ConversationPaused``): the bot stays silent and staff answer until they
resume it. After hours a non-urgent request is queued for staff and the bot
keeps helping.
"""
from __future__ import annotations

import re
from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, FollowupAction
from rasa_sdk.executor import CollectingDispatcher

from actions.business_hours import desk_status, is_urgent
from actions.context import hotel_for, hotel_now, hotel_today, language_of, latest_text, looks_like_question
from actions.dates import parse_stay
from actions.hotel_info import describe_opening
from actions.request_limits import record_guest_request
from actions.rooms import parse_room_type
from actions.text import normalise
from actions.urgent import keyword_pattern

FALLBACKS_BEFORE_HANDOFF = 2

# A message the NLU did not understand that plainly asks for a person or for a stay
# (actions/urgent.py syntax: "a ... b" = a word of a, then one of b at most 4 words later).
PERSON_REQUESTS = (
    "talk/speak/hablar/habla/pasame/pasa me/pasarme/put me/connect me/transfer me/contact/contactar/llamar/call ... "
    "person/persona/human/humano/alguien/someone/somebody/reception/recepcion/agent/agente/staff/operator/operador*",
    "someone/somebody/alguien/person/persona/anyone/staff ... reception/recepcion/front desk",
    "real person/persona real/persona de verdad/a human/un humano",
)
_PERSON = re.compile("|".join(f"(?:{keyword_pattern(k)})" for k in PERSON_REQUESTS))
_BOOKING_WORDS = re.compile(
    r"\b(?:reserv\w*|book\w*|habitacion\w*|abitacion\w*|room|rooms|hab|stay|estancia|noches?|nights?|dormir|alojamiento|sitio)\b"
)
_AVAILABILITY_WORDS = re.compile(r"\b(?:teneis|tienen|tiene|hay|any|available|availability|disponib\w*|libres?|free|sitio|space|quedan?)\b")
_BOOKING_VERBS = re.compile(r"\b(?:reserv\w*|book\w*|quiero|queria\w*|quisiera|i'd like|i would like|i want|i'm after|im after|necesito|need)\b")


def recovered_request(text: str, tracker: Tracker) -> Optional[str]:
    """What a message the NLU did not understand plainly asks for: "person", the form
    for a stay it gives ("reservation_form" / "availability_form"), or None."""
    norm = normalise(text)
    if _PERSON.search(norm):
        return "person"
    stay = parse_stay(text, hotel_today(hotel_for(tracker)))
    if stay.checkin is None or not (_BOOKING_WORDS.search(norm) or parse_room_type(text)):
        return None
    if _BOOKING_VERBS.search(norm) or not (_AVAILABILITY_WORDS.search(norm) or looks_like_question(text)):
        return "reservation_form"
    return "availability_form"


async def hand_over(dispatcher: CollectingDispatcher, tracker: Tracker, kind: str = "handoff") -> List[EventType]:
    hotel = hotel_for(tracker)
    text = latest_text(tracker)
    urgent = is_urgent(text, hotel)
    now = hotel_now(hotel)
    status = desk_status(hotel, now)
    await record_guest_request(kind, tracker.sender_id, text, urgent=urgent)  # limited per sender and overall
    if urgent:
        dispatcher.utter_message(response="utter_handoff_urgent", emergency_phone=hotel.emergency_phone)
        return [ConversationPaused()]
    if status.is_open:
        dispatcher.utter_message(response="utter_handoff_open")
        return [ConversationPaused()]
    dispatcher.utter_message(
        response="utter_handoff_closed",
        next_opening=describe_opening(status.next_opening, now, language_of(tracker)),
        emergency_phone=hotel.emergency_phone,
    )
    return []


def consecutive_fallbacks(tracker: Tracker) -> int:
    """How many of the latest user messages in a row were not understood."""
    count = 0
    for event in reversed(tracker.events):
        if event.get("event") != "user":
            continue
        if ((event.get("parse_data") or {}).get("intent") or {}).get("name") != "nlu_fallback":
            break
        count += 1
    return count


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        return await hand_over(dispatcher, tracker)


class ActionHandleFallback(Action):
    def name(self) -> Text:
        return "action_handle_fallback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        text = latest_text(tracker)
        if consecutive_fallbacks(tracker) >= FALLBACKS_BEFORE_HANDOFF or is_urgent(text, hotel_for(tracker)):
            return await hand_over(dispatcher, tracker)
        recovered = recovered_request(text, tracker) if tracker.active_loop_name is None else None
        if recovered == "person":
            return await hand_over(dispatcher, tracker)
        if recovered:
            return [FollowupAction(recovered)]  # the form reads the stay from this message and asks the rest
        dispatcher.utter_message(response="utter_default")
        return []


class ActionReportIssue(Action):
    def name(self) -> Text:
        return "action_report_issue"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        hotel = hotel_for(tracker)
        text = latest_text(tracker)
        urgent = is_urgent(text, hotel)
        request = await record_guest_request("issue", tracker.sender_id, text, urgent=urgent)
        dispatcher.utter_message(response="utter_issue_reported", ticket=f"#{request.id}" if request else "")
        if urgent:
            dispatcher.utter_message(response="utter_handoff_urgent", emergency_phone=hotel.emergency_phone)
            return [ConversationPaused()]
        return []
