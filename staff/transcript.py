"""Rasa tracker events turned into transcript lines staff can read.

Guest and bot messages (with buttons, images and attachments), slot changes,
handoff (pause), resume, restart, new sessions, forms and the custom actions
that ran. ``action_listen``, ``utter_*`` actions (their message is already
shown) and featurization bookkeeping are left out.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

SKIPPED_ACTIONS = {"action_listen", "action_session_start"}
SKIPPED_EVENTS = {"user_featurization"}

# kind -> what staff read, for events that carry no text of their own
FIXED_TEXT = {
    "pause": ("paused", "Handed to staff: the bot is paused"),
    "resume": ("resumed", "The bot was resumed"),
    "restart": ("restarted", "Conversation restarted"),
    "session_started": ("session", "New session"),
    "reset_slots": ("slot", "All slots reset"),
    "rewind": ("other", "The guest's last message was undone"),
    "undo": ("other", "The bot's last action was undone"),
    "export": ("other", "Conversation exported"),
}


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class TranscriptEntry:
    event_id: int
    kind: str  # guest | bot | slot | paused | resumed | restarted | session | action | form | other
    at: Optional[dt.datetime]
    text: str = ""
    intent: str = ""
    confidence: Optional[float] = None
    channel: str = ""
    buttons: Tuple[Button, ...] = ()
    images: Tuple[str, ...] = ()
    attachment: str = ""
    slot: str = ""
    value: Any = None
    author: str = ""  # a message the hotel wrote (staff user, journey ...), not the bot
    as_template: bool = False
    extra: Dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """One line: the text plus what else the event carries."""
        parts = [self.text] if self.text else []
        if self.kind == "guest" and self.intent:
            confidence = f" {self.confidence:.2f}" if self.confidence is not None else ""
            parts.append(f"[{self.intent}{confidence}]")
        if self.buttons:
            parts.append("[" + " | ".join(b.title for b in self.buttons) + "]")
        parts.extend(f"(image: {url})" for url in self.images)
        if self.attachment:
            parts.append(f"(attachment: {self.attachment})")
        if self.kind == "slot" and self.slot:
            parts.append(f"{self.slot} = {format_value(self.value)}")
        return " ".join(parts)

    def as_dict(self) -> Dict[str, Any]:
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "at": self.at.isoformat() if self.at else None,
            "text": self.text,
            "intent": self.intent or None,
            "confidence": self.confidence,
            "channel": self.channel or None,
            "buttons": [{"title": b.title, "payload": b.payload} for b in self.buttons],
            "images": list(self.images),
            "attachment": self.attachment or None,
            "slot": self.slot or None,
            "value": self.value,
            "author": self.author or None,
            "as_template": self.as_template,
            "summary": self.summary,
        }


def format_value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def timestamp_to_datetime(timestamp: Any) -> Optional[dt.datetime]:
    try:
        return dt.datetime.fromtimestamp(float(timestamp), dt.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def _buttons(raw: Any) -> Tuple[Button, ...]:
    if not isinstance(raw, list):
        return ()
    return tuple(
        Button(_text(b.get("title")), _text(b.get("payload"))) for b in raw if isinstance(b, dict)
    )


def _attachment(raw: Any) -> str:
    """An attachment is a URL, or Messenger-style ``{"type", "payload": {"src"}}``."""
    if isinstance(raw, dict):
        payload = raw.get("payload")
        if isinstance(payload, dict) and payload.get("src"):
            return _text(payload["src"])
        return json.dumps(raw, ensure_ascii=False)[:200]
    return _text(raw)


def _guest(event_id: int, at: Optional[dt.datetime], event: Dict[str, Any]) -> TranscriptEntry:
    intent = (event.get("parse_data") or {}).get("intent") or {}
    confidence = intent.get("confidence")
    return TranscriptEntry(
        event_id, "guest", at,
        text=_text(event.get("text")),
        intent=_text(intent.get("name")),
        confidence=float(confidence) if isinstance(confidence, (int, float)) else None,
        channel=_text(event.get("input_channel")),
    )


def _bot(event_id: int, at: Optional[dt.datetime], event: Dict[str, Any]) -> TranscriptEntry:
    data = event.get("data") or {}
    buttons = _buttons(data.get("buttons")) or _buttons(data.get("quick_replies"))
    custom = data.get("custom")
    text = _text(event.get("text"))
    if not text and custom:
        text = "custom: " + json.dumps(custom, ensure_ascii=False)[:300]
    if not text and data.get("elements"):
        text = f"{len(data['elements'])} card(s)"
    image = _text(data.get("image"))
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    author = _text(metadata.get("author")) if metadata.get("outreach") else ""
    return TranscriptEntry(
        event_id, "bot", at, text=text, buttons=buttons, author=author[:120],
        as_template=bool(metadata.get("as_template")) if author else False,
        images=(image,) if image else (),
        attachment=_attachment(data.get("attachment")) if data.get("attachment") else "",
    )


def entry_from_event(event_id: int, event: Dict[str, Any]) -> Optional[TranscriptEntry]:
    """The transcript line of one stored event, or None for bookkeeping events."""
    kind = _text(event.get("event"))
    at = timestamp_to_datetime(event.get("timestamp"))
    if kind == "user":
        return _guest(event_id, at, event)
    if kind == "bot":
        return _bot(event_id, at, event)
    if kind == "slot":
        return TranscriptEntry(event_id, "slot", at, slot=_text(event.get("name")), value=event.get("value"))
    if kind == "action":
        name = _text(event.get("name"))
        if name in SKIPPED_ACTIONS or name.startswith("utter_"):
            return None
        return TranscriptEntry(event_id, "action", at, text=name)
    if kind == "active_loop":
        name = event.get("name")
        return TranscriptEntry(event_id, "form", at, text=f"Form {name} started" if name else "Form ended")
    if kind in FIXED_TEXT:
        entry_kind, text = FIXED_TEXT[kind]
        return TranscriptEntry(event_id, entry_kind, at, text=text)
    if kind in SKIPPED_EVENTS or not kind:
        return None
    return TranscriptEntry(event_id, "other", at, text=kind)
