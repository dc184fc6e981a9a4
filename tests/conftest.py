"""Shared fixtures: a fresh embedded PMS per test, a fixed hotel clock, and
helpers to build Rasa SDK trackers and run actions against them."""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import booking_access, config, context
from actions.booking_access import AccessStore
from actions.booking_ref import canonical_reference
from actions.pms.gateway import PMSGateway, build_breaker, use_gateway
from actions.pms.local import LocalPMS
from actions.staff_requests import StaffRequestStore, use_store

TODAY = dt.date(2026, 11, 23)  # a Monday
MADRID = config.ZoneInfo("Europe/Madrid")


def at_hotel_time(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=MADRID)


@pytest.fixture
def hotel():
    return config.hotel()


@pytest.fixture
def now(monkeypatch):
    """Set the hotel clock: ``now(at_hotel_time(TODAY, 23))``. Defaults to Monday 10:00."""

    def set_now(moment: dt.datetime) -> None:
        monkeypatch.setattr(context, "utc_now", lambda: moment.astimezone(dt.timezone.utc))

    set_now(at_hotel_time(TODAY, 10))
    return set_now


@pytest.fixture
def pms(tmp_path) -> LocalPMS:
    return LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: TODAY, media_base_url="http://media.test")


@pytest.fixture
def staff_store(tmp_path) -> StaffRequestStore:
    return StaffRequestStore(f"sqlite:///{tmp_path / 'assistant.sqlite3'}")


@pytest.fixture(autouse=True)
def action_backends(request, monkeypatch, tmp_path):
    """Every action test talks to its own embedded PMS and staff store."""
    if "pms" not in request.fixturenames:
        yield
        return
    pms = request.getfixturevalue("pms")
    store = request.getfixturevalue("staff_store")
    request.getfixturevalue("now")
    use_gateway(PMSGateway(pms, build_breaker(fail_max=3, reset_timeout=60)))
    use_store(store)
    booking_access.use_store(AccessStore(f"sqlite:///{tmp_path / 'assistant.sqlite3'}"))
    yield
    use_gateway(None)
    use_store(None)
    booking_access.use_store(None)


def make_tracker(
    slots: Optional[Dict[str, Any]] = None,
    text: str = "",
    intent: str = "inform",
    entities: Optional[List[Dict[str, Any]]] = None,
    events: Optional[List[Dict[str, Any]]] = None,
    sender_id: str = "guest-1",
    active_loop: Optional[str] = None,
    language: str = "es",
    verified: bool = True,
    metadata: Optional[Dict[str, Any]] = None,
) -> Tracker:
    """``verified``: the conversation already proved the booking in its booking_ref
    slot is the guest's (a grant in the test's own access store, actions/booking_access.py);
    False for a stranger who only knows the reference."""
    all_slots = {"language": language, "requested_slot": None}
    all_slots.update(slots or {})
    reference = canonical_reference(all_slots.get("booking_ref"))
    if verified and reference and booking_access.current_store() is not None:
        if not booking_access.current_store().granted(sender_id, reference):
            booking_access.current_store().grant(sender_id, reference)
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.99}, "entities": entities or []}
    if metadata is not None:
        latest["metadata"] = metadata
    return Tracker(
        sender_id=sender_id,
        slots=all_slots,
        latest_message=latest,
        events=events if events is not None else [{"event": "user", "text": text, "parse_data": latest}],
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


@dataclass
class ActionResult:
    messages: List[Dict[str, Any]]
    events: List[Dict[str, Any]]

    @property
    def responses(self) -> List[str]:
        return [m.get("response") for m in self.messages]

    def slot(self, name: str, default: Any = "missing") -> Any:
        for event in reversed(self.events):
            if event.get("event") == "slot" and event.get("name") == name:
                return event.get("value")
        return default

    def message(self, response: str) -> Dict[str, Any]:
        for message in self.messages:
            if message.get("response") == response:
                return message
        raise AssertionError(f"{response} not sent; sent {self.responses}")


async def run_action(action, tracker: Tracker, domain: Optional[dict] = None) -> ActionResult:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, domain or {})
    return ActionResult(dispatcher.messages, [dict(e) for e in events])


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under `make test` (REQUIRE_ALL_TESTS=1) a skipped test is a failure: a
    missing model, Redis or voice model must not pass CI silently."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("REQUIRE_ALL_TESTS") == "1":
        report.outcome = "failed"
        report.longrepr = f"skipped under REQUIRE_ALL_TESTS=1: {report.longrepr}"


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.model)
