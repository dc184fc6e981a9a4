"""Conversations written into a tracker store by Rasa's own SQLTrackerStore,
with real Rasa events, so the staff reader is tested against exactly what
Rasa stores. The expected facts sit next to the events that produce them.

    whatsapp:34600111222  WhatsApp, Spanish, asked for a person -> paused   (oldest)
    rest-xss_guest        REST, English, guest text is an XSS attempt; paused then resumed
    guest@example.com     Gmail, English, asked for photos -> bot image    (newest)
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import List

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActiveLoop,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

ROOT = Path(__file__).resolve().parents[2]
BASE = dt.datetime(2026, 11, 23, 8, 0, tzinfo=dt.timezone.utc).timestamp()  # 09:00 in Madrid

WHATSAPP = "whatsapp:34600111222"
XSS = "rest-xss_guest"
GMAIL = "guest@example.com"
XSS_TEXT = '<script>alert("xss")</script><img src=x onerror="alert(1)">'
HANDOFF_TEXT = "quiero hablar con una persona"
PHOTO_URL = "http://localhost:5055/static/rooms/suite.jpg"
BY_RECENCY = [GMAIL, XSS, WHATSAPP]


def at(minutes: float) -> float:
    return BASE + minutes * 60


def _user(text: str, intent: str, channel: str, minute: float) -> UserUttered:
    return UserUttered(text, intent={"name": intent, "confidence": 0.97}, input_channel=channel, timestamp=at(minute))


def _session(minute: float) -> List[Event]:
    return [ActionExecuted("action_session_start", timestamp=at(minute)), SessionStarted(timestamp=at(minute)),
            ActionExecuted("action_listen", timestamp=at(minute))]


def whatsapp_events() -> List[Event]:
    return _session(0) + [
        _user("hola", "greet", "whatsapp", 0.1),
        SlotSet("language", "es", timestamp=at(0.1)),
        ActionExecuted("utter_greet", timestamp=at(0.2)),
        BotUttered("¡Hola! ¿En qué puedo ayudarte?", data={"buttons": [
            {"title": "Reservar", "payload": "/book_room"}, {"title": "Hablar con recepción", "payload": "/human_handoff"},
        ]}, timestamp=at(0.2)),
        ActionExecuted("action_listen", timestamp=at(0.2)),
        _user(HANDOFF_TEXT, "human_handoff", "whatsapp", 1),
        ActionExecuted("action_handoff", timestamp=at(1.1)),
        BotUttered("Te paso con recepción.", timestamp=at(1.1)),
        ConversationPaused(timestamp=at(1.1)),
    ]


def xss_events() -> List[Event]:
    return _session(5) + [
        _user(XSS_TEXT, "nlu_fallback", "rest", 5.1),
        SlotSet("language", "en", timestamp=at(5.1)),
        ActionExecuted("action_handle_fallback", timestamp=at(5.2)),
        ConversationPaused(timestamp=at(5.2)),
        ConversationResumed(timestamp=at(6)),
    ]


def gmail_events() -> List[Event]:
    return _session(10) + [
        _user("Hi, can you send me photos of the rooms?", "ask_room_photos", "gmail", 10.1),
        SlotSet("language", "en", timestamp=at(10.1)),
        ActiveLoop("availability_form", timestamp=at(10.15)),
        ActiveLoop(None, timestamp=at(10.18)),
        ActionExecuted("action_show_rooms", timestamp=at(10.2)),
        BotUttered("Our suite", data={"image": PHOTO_URL}, timestamp=at(10.2)),
    ]


SCENARIO = {WHATSAPP: whatsapp_events, XSS: xss_events, GMAIL: gmail_events}


def load_domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def open_store(url: str, domain: Domain) -> SQLTrackerStore:
    """Rasa's store on an SQLAlchemy URL (Rasa accepts a whole URL as ``host``)."""
    return SQLTrackerStore(domain, host=url)


async def save(store: SQLTrackerStore, sender_id: str, events: List[Event]) -> None:
    tracker = await store.retrieve_full_tracker(sender_id)
    if tracker is None:
        tracker = DialogueStateTracker.from_events(sender_id, [], store.domain.slots)
    for event in events:
        tracker.update(event)
    await store.save(tracker)


async def fill(url: str, domain: Domain) -> SQLTrackerStore:
    store = open_store(url, domain)
    for sender_id, events in SCENARIO.items():
        await save(store, sender_id, events())
    return store
