"""How the hotel can reach the guest: the phone number a booking carries.

A WhatsApp guest's WhatsApp id is their phone number in international form
(the channel puts it in the message metadata, and the conversation id is
``<wa_id>@<phone_number_id>``); an e-mail guest has none, and is asked for one
by the reservation form when the hotel's PMS needs it (QloApps' default:
docs/qloapps.md, point 1).
"""
from __future__ import annotations

import re

from rasa_sdk import Tracker

from actions.config import HotelConfig, pms_config

_WA_ID = re.compile(r"^\d{7,15}$")
_CONVERSATION = re.compile(r"^(\d{7,15})@\d+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,24}$")


def whatsapp_phone(tracker: Tracker) -> str:
    """"+<digits>" for a WhatsApp guest, "" for any other channel."""
    metadata = (tracker.latest_message or {}).get("metadata") or {}
    whatsapp = metadata.get("whatsapp") if isinstance(metadata.get("whatsapp"), dict) else {}
    wa_id = str(whatsapp.get("wa_id") or "")
    if _WA_ID.match(wa_id):
        return f"+{wa_id}"
    match = _CONVERSATION.match(tracker.sender_id or "")
    return f"+{match.group(1)}" if match else ""


def parse_phone(text: str) -> str | None:
    """A phone number the guest typed ("+34 600 123 456", "600-123-456"), or None."""
    text = (text or "").strip()
    if not _PHONE.match(text):
        return None
    digits = re.sub(r"\D", "", text)
    if not 7 <= len(digits) <= 15:
        return None
    return ("+" if text.startswith("+") else "") + digits


def guest_phone(tracker: Tracker) -> str:
    """The guest's phone: the channel's (WhatsApp) first, else the one they gave."""
    return whatsapp_phone(tracker) or parse_phone(str(tracker.get_slot("guest_phone") or "")) or ""


def needs_phone(tracker: Tracker, hotel: HotelConfig) -> bool:
    """The reservation form needs the guest_phone slot: the hotel's PMS needs a
    phone, has no fallback number and the channel gives none. (Whether the slot is
    already filled does not matter: a required slot is validated when filled.)"""
    pms = pms_config(hotel)
    return pms.phone_required and not pms.fallback_phone and not whatsapp_phone(tracker)
