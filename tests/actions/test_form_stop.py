"""A "no" while a form asks something stops it, unless it also answers (actions/form_stop.py)."""
from __future__ import annotations

import pytest

from actions.form_stop import ActionStopForm
from tests.conftest import make_tracker, run_action


async def stop(text: str, form: str, requested: str, **slots):
    tracker = make_tracker(slots={"requested_slot": requested, **slots}, text=text, intent="deny", active_loop=form)
    return (await run_action(ActionStopForm(), tracker)).events


def stopped(events) -> bool:
    return {"event": "active_loop", "name": None, "timestamp": None} in events or any(
        e["event"] == "active_loop" and e.get("name") is None for e in events)


def resumed(events, form) -> bool:
    return any(e["event"] == "followup" and e.get("name") == form for e in events)


@pytest.mark.parametrize("text, form, requested, slots", [
    ("no, mejor lo dejo", "reservation_form", "checkin", {}),
    ("forget it", "reservation_form", "room_type", {}),
    ("no lo sé", "reservation_form", "guests", {}),
    ("no, olvidalo", "cancel_form", "booking_ref", {}),
    ("no gracias", "reservation_form", "guest_name", {}),
    ("no", "feedback_form", "feedback_rating", {}),
])
async def test_a_plain_no_stops_the_form(text, form, requested, slots):
    events = await stop(text, form, requested, **slots)
    assert stopped(events) and not resumed(events, form)


@pytest.mark.parametrize("text, form, requested, slots", [
    ("dbl", "reservation_form", "room_type", {}),
    ("no no, la suite", "reservation_form", "room_type", {}),
    ("Luz Moreno", "reservation_form", "guest_name", {}),
    ("no, mejor 3 noches", "reservation_form", "guests", {"checkin": "2026-12-05", "checkout": "2026-12-07"}),
    ("no, somos 3", "availability_form", "guests", {}),
    ("no, es la BK100001", "status_form", "booking_ref", {}),
    ("no, nada más", "feedback_form", "feedback_comment", {"feedback_rating": 5.0}),
])
async def test_a_no_that_answers_lets_the_form_read_it(text, form, requested, slots):
    events = await stop(text, form, requested, **slots)
    assert resumed(events, form) and not stopped(events)
