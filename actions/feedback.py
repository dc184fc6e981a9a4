"""Guest feedback: a 1-5 rating and a comment; happy guests get review links,
unhappy ones reach the manager."""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.context import hotel_for, latest_intent, latest_text, question_answered_mid_form
from actions.staff_requests import record_staff_request
from actions.stay_form import failed_answers
from actions.text import normalise

RATING_WORDS = {"uno": 1, "one": 1, "dos": 2, "two": 2, "tres": 3, "three": 3, "cuatro": 4, "four": 4, "cinco": 5, "five": 5}
POSITIVE_FROM = 4
NO_COMMENT = "-"
NO_RATING = 0.0  # two answers that were no rating: the feedback is taken without one
MAX_RATING_ANSWERS = 2


def parse_rating(text: str) -> Optional[int]:
    # A number wins over the stars: "5⭐" and the buttons' "⭐ 3" are 5 and 3, not 1.
    norm = normalise(text)
    match = re.search(r"\b([1-5])(?:\s*/\s*5|\s*(?:estrellas?|stars?|de 5|out of 5))?\b", norm)
    if match:
        return int(match.group(1))
    stars = text.count("⭐") + text.count("★")
    if 1 <= stars <= 5:
        return stars
    for word, value in RATING_WORDS.items():
        if re.search(rf"\b{word}\b", norm):
            return value
    return None


class ValidateFeedbackForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_feedback_form"

    async def get_extraction_events(self, dispatcher, tracker: Tracker, domain) -> List[EventType]:
        if question_answered_mid_form(tracker):
            return []
        return await super().get_extraction_events(dispatcher, tracker, domain)

    async def extract_feedback_rating(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        requested = tracker.get_slot("requested_slot")
        if requested not in (None, "feedback_rating"):
            return {}
        rating = parse_rating(latest_text(tracker))
        if rating is None:
            return {"feedback_rating": latest_text(tracker)} if requested == "feedback_rating" else {}
        return {"feedback_rating": float(rating)}

    async def validate_feedback_rating(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain):
        try:
            rating = float(value)
        except (TypeError, ValueError):
            rating = 0
        if not 1 <= rating <= 5:
            if failed_answers(tracker, "feedback_rating") >= MAX_RATING_ANSWERS:
                # not asked a third time: what the guest wrote is the feedback, without a rating
                return {"feedback_rating": NO_RATING, "feedback_comment": latest_text(tracker).strip()[:2000] or NO_COMMENT}
            dispatcher.utter_message(response="utter_rating_not_understood")
            return {"feedback_rating": None}
        return {"feedback_rating": rating}

    async def validate_feedback_comment(self, value, dispatcher, tracker: Tracker, domain):
        if latest_intent(tracker) == "deny":
            return {"feedback_comment": NO_COMMENT}
        return {"feedback_comment": str(value or "").strip()[:2000] or NO_COMMENT}


class ActionSubmitFeedback(Action):
    def name(self) -> Text:
        return "action_submit_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        rating = int(float(tracker.get_slot("feedback_rating") or 0))
        comment = tracker.get_slot("feedback_comment") or NO_COMMENT
        done = [SlotSet("feedback_rating", None), SlotSet("feedback_comment", None)]
        if rating == NO_RATING:
            await record_staff_request("feedback", tracker.sender_id, f"no rating: {comment}", urgent=False)
            dispatcher.utter_message(response="utter_feedback_unrated")
            return done
        positive = rating >= POSITIVE_FROM
        await record_staff_request("feedback", tracker.sender_id, f"{rating}/5: {comment}", urgent=not positive)
        if positive:
            links = " · ".join(f"{name.title()}: {url}" for name, url in hotel_for(tracker).review_links.items())
            dispatcher.utter_message(response="utter_feedback_positive", review_links=links)
        else:
            dispatcher.utter_message(response="utter_feedback_negative")
        return [SlotSet("feedback_rating", None), SlotSet("feedback_comment", None)]
