"""Per-turn context shared by the actions: the hotel, its clock and the guest's language."""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Text

from babel.dates import format_date, format_time
from rasa_sdk import Tracker

from actions import config
from actions.config import HotelConfig
from actions.pms.gateway import PMSGateway, gateway
from actions.text import normalise

LANGUAGES = ("es", "en")
logger = logging.getLogger(__name__)

# Test/benchmark-only clock override. scripts/conversation_report.py sets it for
# the action server it starts, so held-out conversations written for a fixed
# "today" (INTERFACES.md item 8) read the same on any day. An ISO 8601 moment
# with its UTC offset, e.g. 2027-03-03T10:00:00+01:00. NEVER set in production:
# every "now" and "today" of the actions would stand still.
FIXED_NOW_ENV = "ASSISTANT_TEST_FIXED_NOW"


def _fixed_now_from_env() -> dt.datetime | None:
    raw = os.environ.get(FIXED_NOW_ENV, "").strip()
    if not raw:
        return None
    moment = dt.datetime.fromisoformat(raw)  # malformed: the process refuses to start
    if moment.tzinfo is None:
        raise ValueError(f"{FIXED_NOW_ENV} needs a UTC offset (e.g. +01:00), got {raw!r}")
    logger.warning("%s is set: the clock is fixed at %s (tests and benchmarks only)", FIXED_NOW_ENV, raw)
    return moment.astimezone(dt.timezone.utc)


_FIXED_NOW = _fixed_now_from_env()


def utc_now() -> dt.datetime:
    """Patched by tests that need another moment; fixed by ASSISTANT_TEST_FIXED_NOW (benchmarks)."""
    if _FIXED_NOW is not None:
        return _FIXED_NOW
    return dt.datetime.now(dt.timezone.utc)


def hotel_for(tracker: Tracker) -> HotelConfig:
    """The hotel this conversation belongs to. Channels that serve several
    hotels (one WhatsApp number each) put ``{"hotel": {"id": ...}}`` in the
    message metadata; the id is looked up among the hotels the action server
    was configured with (HOTEL_CONFIG), never loaded from a path in the message."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    hotel_meta = metadata.get("hotel") if isinstance(metadata.get("hotel"), dict) else {}
    return config.hotel(hotel_meta.get("id"))


def pms_gateway(tracker: Tracker) -> PMSGateway:
    """The gateway of the PMS this conversation's hotel books in (one per PMS)."""
    return gateway(hotel_for(tracker).id)


def language_of(tracker: Tracker) -> str:
    language = tracker.get_slot("language")
    if language in LANGUAGES:
        return language
    return hotel_for(tracker).default_language


def hotel_now(hotel: HotelConfig) -> dt.datetime:
    return utc_now().astimezone(hotel.timezone)


def hotel_today(hotel: HotelConfig) -> dt.date:
    return hotel_now(hotel).date()


def show_date(value: dt.date, language: str) -> str:
    """'sáb, 5 dic 2026' / 'Sat, Dec 5, 2026'."""
    return format_date(value, format="EEE d MMM y" if language == "es" else "EEE, MMM d, y", locale=language)


def show_time(value: dt.time, language: str) -> str:
    return format_time(value, format="HH:mm" if language == "es" else "h:mm a", locale=language)


COUNT_WORDS = {
    "es": {"night": ("noche", "noches"), "guest": ("persona", "personas")},
    "en": {"night": ("night", "nights"), "guest": ("guest", "guests")},
}


def count_phrase(count: int, kind: str, language: str) -> str:
    """'1 noche' / '3 noches', '1 guest' / '2 guests': responses never say '1 nights'."""
    singular, plural = COUNT_WORDS[language if language in COUNT_WORDS else "es"][kind]
    return f"{count} {singular if count == 1 else plural}"


def money(amount: Decimal) -> str:
    return str(Decimal(amount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def latest_text(tracker: Tracker) -> Text:
    return (tracker.latest_message or {}).get("text") or ""


def latest_intent(tracker: Tracker) -> Text:
    return ((tracker.latest_message or {}).get("intent") or {}).get("name") or ""


def iso_date(value: Any) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value))
    except (TypeError, ValueError):
        return None


# Actions that run between a guest's message and the form without interrupting it.
_NOT_INTERRUPTIONS = frozenset({"action_listen", "action_extract_slots", "action_session_start", "action_detect_language"})


_QUESTION_START = re.compile(
    r"^(?:(?:oye|oiga|una cosa|otra cosa|por cierto|x cierto|btw|oh|ah|and|y|also|tambien|quick question|wait|espera|"
    r"hey|hola|hi|perdona|sorry|ok|vale)[\s,.!:]+)*"
    r"(?:que|q|cual|cuales|cuando|donde|como|cuanto|cuanta|cuantos|cuantas|hay|teneis|tienen|tiene|se puede|puedo|podeis|"
    r"pueden|a que|a q|what|whats|what's|when|where|how|do|does|is|are|can|could|any|which|who|is there|are there)\b"
)


def looks_like_question(text: str) -> bool:
    """A question mark, or a sentence starting the way questions do ("do you take dogs")."""
    return "?" in text or "¿" in text or bool(_QUESTION_START.match(normalise(text)))


def resuming_after_interruption(tracker: Tracker) -> bool:
    """Whether the active form runs again after answering something else in this
    turn ("is there parking?" mid-booking: utter_faq, then the form asks its
    question again)."""
    events = list(tracker.events or [])
    last_user = next((i for i in range(len(events) - 1, -1, -1) if events[i].get("event") == "user"), None)
    if last_user is None:
        return False
    active = None
    for event in events[:last_user]:
        if event.get("event") == "active_loop":
            active = event.get("name")
    if not active:
        return False  # the form starts in this turn: the message is its first answer
    for event in events[last_user + 1:]:
        if event.get("event") == "active_loop" and event.get("name") != active:
            return False
        name = event.get("name") or ""
        if event.get("event") == "action" and name not in _NOT_INTERRUPTIONS and name != active and not name.startswith("validate_"):
            return True
    return False


def question_answered_mid_form(tracker: Tracker) -> bool:
    """The form resumes after the bot answered the guest's question: that message
    is no answer to the form (read as one it would be "not understood" and count
    as a failed answer). An answer the NLU took for a question ("Park" as an FAQ,
    "del 4 al 6" as something else) is still read."""
    return resuming_after_interruption(tracker) and looks_like_question(latest_text(tracker))
