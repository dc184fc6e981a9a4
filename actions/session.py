"""Session start and language tracking."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.context import LANGUAGES, hotel_for
from journey.guest_messages import on_guest_message

# a message with no word of two letters (a date, a reference, a number, an emoji)
# says nothing about the guest's language, however sure the detector is
WORD = re.compile(r"\b[^\W\d_]{2,}\b")


class ActionSessionStart(Action):
    """Starts a session keeping only what is still true after hours of silence
    (the guest's language and booking reference), plus the hotel's name."""

    CARRIED_SLOTS = ("language", "booking_ref")

    def name(self) -> Text:
        return "action_session_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[EventType]:
        carried = [
            SlotSet(key, tracker.get_slot(key)) for key in self.CARRIED_SLOTS if tracker.get_slot(key) is not None
        ]
        return [
            SessionStarted(),
            *carried,
            SlotSet("hotel_name", hotel_for(tracker).name),
            ActionExecuted("action_listen"),
        ]


class ActionDetectLanguage(Action):
    """Custom slot mapping for ``language``: the NLU LanguageDetector's verdict,
    when reliable; otherwise the conversation keeps its language."""

    def name(self) -> Text:
        return "action_detect_language"

    async def run(self, dispatcher, tracker: Tracker, domain) -> List[EventType]:
        detected = (tracker.latest_message or {}).get("language") or {}
        language = detected.get("name")
        events: List[EventType] = []
        text = (tracker.latest_message or {}).get("text") or ""
        if (detected.get("reliable") and language in LANGUAGES and language != tracker.get_slot("language")
                and WORD.search(text)):
            events.append(SlotSet("language", language))
        # Rasa runs this on every guest message: replies to the journey's messages are
        # counted and an opt-out is stored here too (journey/guest_messages.py); the
        # confirmation comes from action_journey_opt_out (a slot mapping cannot speak).
        await on_guest_message(
            hotel_for(tracker).id, tracker.sender_id, text,
            language if events else (tracker.get_slot("language") or hotel_for(tracker).default_language),
        )
        return events
