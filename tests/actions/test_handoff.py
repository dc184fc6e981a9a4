"""Handing over to a person: desk open -> pause; after hours -> request queued,
no pause; urgent -> pause at any hour; repeated fallbacks -> handoff; issues."""
from __future__ import annotations

import datetime as dt

import pytest

from actions.handoff import ActionHandleFallback, ActionHandoff, ActionReportIssue, consecutive_fallbacks
from tests.conftest import TODAY, at_hotel_time, make_tracker, run_action

PAUSE = {"event": "pause", "timestamp": None}


def user(text: str, intent: str) -> dict:
    return {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.3}, "entities": []}}


def bot(response: str) -> list[dict]:
    return [{"event": "action", "name": "action_handle_fallback"}, {"event": "bot", "text": "...", "metadata": {"utter_action": response}}]


async def test_handoff_while_open_pauses_the_conversation(now, staff_store):
    now(at_hotel_time(TODAY, 10))
    result = await run_action(ActionHandoff(), make_tracker(text="quiero hablar con una persona", intent="request_human"))
    assert result.responses == ["utter_handoff_open"]
    assert result.events == [PAUSE]
    [request] = staff_store.open_requests("handoff")
    assert (request.sender_id, request.text, bool(request.urgent)) == ("guest-1", "quiero hablar con una persona", False)


async def test_handoff_after_hours_queues_the_request_without_pausing(now, staff_store, hotel):
    now(at_hotel_time(TODAY, 23))
    result = await run_action(ActionHandoff(), make_tracker(text="can I talk to someone?", intent="request_human", language="en"))
    assert result.responses == ["utter_handoff_closed"]
    assert result.events == []  # the bot keeps helping
    message = result.message("utter_handoff_closed")
    assert message["next_opening"] == "tomorrow at 8:00 AM"
    assert message["emergency_phone"] == hotel.emergency_phone
    [request] = staff_store.open_requests("handoff")
    assert request.text == "can I talk to someone?" and not request.urgent


async def test_urgent_after_hours_pauses(now, staff_store, hotel):
    now(at_hotel_time(dt.date(2026, 12, 25), 3))  # Christmas night: closed
    result = await run_action(ActionHandoff(), make_tracker(text="¡Hay humo en la habitación!", intent="request_human"))
    assert result.responses == ["utter_handoff_urgent"]
    assert result.message("utter_handoff_urgent")["emergency_phone"] == "+34 600 000 112"
    assert result.events == [PAUSE]
    [request] = staff_store.open_requests("handoff")
    assert request.urgent


async def test_urgent_while_open_is_urgent_too(now, staff_store):
    now(at_hotel_time(TODAY, 12))
    result = await run_action(ActionHandoff(), make_tracker(text="there is a water LEAK", intent="request_human", language="en"))
    assert result.responses == ["utter_handoff_urgent"]
    assert result.events == [PAUSE]


async def test_first_fallback_asks_again(staff_store):
    tracker = make_tracker(text="blorp", intent="nlu_fallback", events=[user("hola", "greet"), *bot("utter_greet"), user("blorp", "nlu_fallback")])
    result = await run_action(ActionHandleFallback(), tracker)
    assert result.responses == ["utter_default"]
    assert result.events == []
    assert staff_store.open_requests() == []


async def test_second_consecutive_fallback_hands_over(now, staff_store):
    now(at_hotel_time(TODAY, 10))
    events = [user("blorp", "nlu_fallback"), *bot("utter_default"), user("zzzt", "nlu_fallback")]
    tracker = make_tracker(text="zzzt", intent="nlu_fallback", events=events)
    assert consecutive_fallbacks(tracker) == 2
    result = await run_action(ActionHandleFallback(), tracker)
    assert result.responses == ["utter_handoff_open"]
    assert result.events == [PAUSE]
    [request] = staff_store.open_requests("handoff")
    assert request.text == "zzzt"


async def test_second_consecutive_fallback_after_hours(now, staff_store):
    now(at_hotel_time(TODAY, 23))
    events = [user("blorp", "nlu_fallback"), *bot("utter_default"), user("zzzt", "nlu_fallback")]
    result = await run_action(ActionHandleFallback(), make_tracker(text="zzzt", intent="nlu_fallback", events=events))
    assert result.responses == ["utter_handoff_closed"]
    assert result.events == []
    assert len(staff_store.open_requests("handoff")) == 1


async def test_fallbacks_not_in_a_row_do_not_hand_over(staff_store):
    events = [user("blorp", "nlu_fallback"), *bot("utter_default"), user("hola", "greet"), *bot("utter_greet"), user("zzzt", "nlu_fallback")]
    tracker = make_tracker(text="zzzt", intent="nlu_fallback", events=events)
    assert consecutive_fallbacks(tracker) == 1
    result = await run_action(ActionHandleFallback(), tracker)
    assert result.responses == ["utter_default"]
    assert staff_store.open_requests() == []


async def test_urgent_message_not_understood_hands_over_at_once(now, staff_store):
    now(at_hotel_time(TODAY, 23))
    result = await run_action(ActionHandleFallback(), make_tracker(text="FUEGO!!!", intent="nlu_fallback"))
    assert result.responses == ["utter_handoff_urgent"]
    assert result.events == [PAUSE]
    assert staff_store.open_requests("handoff")[0].urgent


async def test_report_issue(staff_store):
    result = await run_action(ActionReportIssue(), make_tracker(text="the shower is cold", intent="report_issue", language="en"))
    [request] = staff_store.open_requests("issue")
    assert result.responses == ["utter_issue_reported"]
    assert result.message("utter_issue_reported")["ticket"] == f"#{request.id}"
    assert result.events == []
    assert not request.urgent


async def test_report_urgent_issue_pauses(staff_store):
    result = await run_action(ActionReportIssue(), make_tracker(text="hay una inundación en el baño", intent="report_issue"))
    assert result.responses == ["utter_issue_reported", "utter_handoff_urgent"]
    assert result.events == [PAUSE]
    assert staff_store.open_requests("issue")[0].urgent


async def test_tickets_are_numbered(staff_store):
    first = await run_action(ActionReportIssue(), make_tracker(text="no hay toallas", intent="report_issue"))
    second = await run_action(ActionReportIssue(), make_tracker(text="la tele no va", intent="report_issue"))
    assert first.message("utter_issue_reported")["ticket"] != second.message("utter_issue_reported")["ticket"]
    assert [r.text for r in staff_store.open_requests("issue")] == ["no hay toallas", "la tele no va"]


async def test_a_person_request_not_understood_hands_over_at_once(now, staff_store):
    now(at_hotel_time(TODAY, 10))
    text = "so no room fits us? could somebody from reception arrange two rooms"
    result = await run_action(ActionHandleFallback(), make_tracker(text=text, intent="nlu_fallback", events=[user(text, "nlu_fallback")]))
    assert result.responses == ["utter_handoff_open"] and result.events == [PAUSE]
    assert [r.kind for r in staff_store.open_requests("handoff")] == ["handoff"]


@pytest.mark.parametrize("text, form", [
    ("hi I'm after a double for three nights from the 10th of december", "reservation_form"),
    ("mira te cuento, queriamos una habitacion doble del 4 al 6 de diciembre para el aniversario", "reservation_form"),
    ("any room free on the 12th?", "availability_form"),
])
async def test_a_stay_not_understood_starts_its_form(staff_store, text, form):
    result = await run_action(ActionHandleFallback(), make_tracker(text=text, intent="nlu_fallback", events=[user(text, "nlu_fallback")]))
    assert result.responses == []
    assert result.events == [{"event": "followup", "timestamp": None, "name": form}]


@pytest.mark.parametrize("text", ["the reception staff were lovely", "what time does reception open", "blorp on the 12th"])
async def test_other_messages_not_understood_are_asked_again(staff_store, text):
    result = await run_action(ActionHandleFallback(), make_tracker(text=text, intent="nlu_fallback", events=[user(text, "nlu_fallback")]))
    assert result.responses == ["utter_default"]
