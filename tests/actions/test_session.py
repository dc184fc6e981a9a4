"""Session start (carried slots, hotel name) and language detection."""
from __future__ import annotations

from actions.session import ActionDetectLanguage, ActionSessionStart
from tests.conftest import make_tracker, run_action


async def test_session_start_carries_language_and_booking_ref(hotel):
    tracker = make_tracker(slots={"language": "en", "booking_ref": "BK100001", "checkin": "2026-12-05", "guests": 2})
    result = await run_action(ActionSessionStart(), tracker)
    assert result.events[0]["event"] == "session_started"
    assert (result.events[-1]["event"], result.events[-1]["name"]) == ("action", "action_listen")
    assert result.slot("language") == "en"
    assert result.slot("booking_ref") == "BK100001"
    assert result.slot("hotel_name") == hotel.name == "Hotel Mirador del Puerto"
    # stale stay details are not carried over
    assert result.slot("checkin") == "missing" and result.slot("guests") == "missing"
    assert result.messages == []


async def test_session_start_sets_nothing_that_was_not_there():
    result = await run_action(ActionSessionStart(), make_tracker(slots={"language": None}))
    slots = [e["name"] for e in result.events if e["event"] == "slot"]
    assert slots == ["hotel_name"]


def detect_tracker(name, reliable, current="es", text="hello there"):
    tracker = make_tracker(language=current, text=text)
    tracker.latest_message["language"] = {"name": name, "reliable": reliable}
    return tracker


async def test_detect_language_switches_when_reliable():
    assert (await run_action(ActionDetectLanguage(), detect_tracker("en", True))).slot("language") == "en"
    assert (await run_action(ActionDetectLanguage(), detect_tracker("es", True, current="en"))).slot("language") == "es"


async def test_detect_language_keeps_the_language_otherwise():
    assert (await run_action(ActionDetectLanguage(), detect_tracker("en", False))).events == []  # unsure
    assert (await run_action(ActionDetectLanguage(), detect_tracker("es", True))).events == []  # unchanged
    assert (await run_action(ActionDetectLanguage(), detect_tracker("fr", True))).events == []  # not supported
    # a date, a reference or a number answered to a form question carries no language
    for text in ("2026-12-16", "17/03", "BK100002", "4", "👍 2"):
        assert (await run_action(ActionDetectLanguage(), detect_tracker("en", True, text=text))).events == [], text
    assert (await run_action(ActionDetectLanguage(), detect_tracker("en", True, text="hi"))).slot("language") == "en"
    no_verdict = make_tracker(text="ok")
    assert (await run_action(ActionDetectLanguage(), no_verdict)).events == []
