"""Handing the conversation to a person: on request, after repeated
misunderstandings, and for urgent incident reports.

While the desk is open (or the message is urgent) the conversation is paused
(``ConversationPaused``): the bot stays silent and staff answer until they
resume it. After hours a non-urgent request is queued for staff and the bot
keeps helping.
"""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.business_hours import desk_status, is_urgent
from actions.context import hotel_for, hotel_now, language_of, latest_text
from actions.hotel_info import describe_opening
from actions.request_limits import record_guest_request

FALLBACKS_BEFORE_HANDOFF = 2


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
        if consecutive_fallbacks(tracker) >= FALLBACKS_BEFORE_HANDOFF or is_urgent(latest_text(tracker), hotel_for(tracker)):
            return await hand_over(dispatcher, tracker)
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
