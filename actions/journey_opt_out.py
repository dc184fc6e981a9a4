"""``action_journey_opt_out``: the guest asked to stop the hotel's automatic
messages ("baja", "stop", ...). Stores it (journey/guest_messages.py) and
confirms, in the guest's language. Run by the Rasa-side opt-out turn
(journey/rasa_turn.py) instead of the predicted dialogue, so "baja" is never
read as "cancel my booking"; no NLU intent or retraining involved."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.context import hotel_for, language_of, latest_text
from journey.guest_messages import on_guest_message
from journey.optout import OPTED_OUT_TEXT, is_opt_out

NAME = "action_journey_opt_out"


class ActionJourneyOptOut(Action):
    def name(self) -> Text:
        return NAME

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        text, language = latest_text(tracker), language_of(tracker)
        if not is_opt_out(text):  # only ever run for an opt-out message; anything else is left alone
            return []
        await on_guest_message(hotel_for(tracker).id, tracker.sender_id, text, language)
        dispatcher.utter_message(text=OPTED_OUT_TEXT.get(language, OPTED_OUT_TEXT["en"]))
        return []
