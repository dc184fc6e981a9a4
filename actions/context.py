"""Per-turn context shared by the actions: the hotel, its clock and the guest's language."""
from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Text

from babel.dates import format_date, format_time
from rasa_sdk import Tracker

from actions import config
from actions.config import HotelConfig

LANGUAGES = ("es", "en")


def utc_now() -> dt.datetime:
    """Patched by tests that need another moment."""
    return dt.datetime.now(dt.timezone.utc)


def hotel_for(tracker: Tracker) -> HotelConfig:
    """The hotel this conversation belongs to. Channels that serve several
    hotels (one WhatsApp number each) put ``{"hotel": {"id": ...}}`` in the
    message metadata; the id is looked up among the hotels the action server
    was configured with (HOTEL_CONFIG), never loaded from a path in the message."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    hotel_meta = metadata.get("hotel") if isinstance(metadata.get("hotel"), dict) else {}
    return config.hotel(hotel_meta.get("id"))


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
