"""The reservation form's room question: only the rooms that fit the party.

A party of 3 is never offered a single or a double (the buttons would invite a
choice that validation must then refuse). Rasa runs ``action_ask_room_type``
instead of ``utter_ask_room_type`` because the domain lists it.
"""
from __future__ import annotations

import json
from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.context import count_phrase, language_of, pms_gateway
from actions.pms.base import PMSUnavailable

# Short button titles (WhatsApp reply buttons take 20 characters), as utter_ask_room_type has them.
BUTTON_TITLES = {
    "es": {"single": "Individual", "double": "Doble", "family": "Familiar", "suite": "Suite"},
    "en": {"single": "Single", "double": "Double", "family": "Family", "suite": "Suite"},
}
MAX_TITLE = 20


def room_button(code: str, name: str, language: str) -> dict:
    title = BUTTON_TITLES.get(language, BUTTON_TITLES["es"]).get(code) or name[:MAX_TITLE]
    return {"title": title, "payload": "/inform" + json.dumps({"room_type": code}, separators=(",", ":"))}


class ActionAskRoomType(Action):
    def name(self) -> Text:
        return "action_ask_room_type"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        language = language_of(tracker)
        try:
            guests = int(tracker.get_slot("guests") or 0)
        except (TypeError, ValueError):
            guests = 0
        try:
            pms = pms_gateway(tracker)
            rooms = await pms.call(pms.pms.list_room_types, language)
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_ask_room_type")  # every room; capacity is checked on booking
            return []
        fitting = [room for room in rooms if room.max_guests >= guests] or rooms
        dispatcher.utter_message(
            response="utter_ask_room_type_for_party",
            guests_text=count_phrase(max(guests, 1), "guest", language),
            rooms=", ".join(room.name for room in fitting),
            buttons=[room_button(room.code, room.name, language) for room in fitting],
        )
        return []
