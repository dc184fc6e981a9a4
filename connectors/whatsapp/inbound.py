"""Webhook payload parsing: Meta's JSON -> typed inbound messages.

Pure functions, no I/O. ``parse_webhook`` raises ``MalformedPayload`` for a
body that is not a WhatsApp Business Account notification; status callbacks
and other fields are counted and otherwise ignored.

Shape (Cloud API ``messages`` field)::

    {"object": "whatsapp_business_account",
     "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": ..., "phone_number_id": ...},
         "contacts": [{"profile": {"name": ...}, "wa_id": ...}],
         "messages": [{"from": ..., "id": "wamid...", "timestamp": "...", "type": "text", "text": {"body": ...}}],
         "statuses": [...]}}]}]}
"""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

MEDIA_TYPES = ("image", "audio", "document", "video", "sticker")
BOOKING_REF = re.compile(r"\bBK[-\s]?(\d{6})\b", re.IGNORECASE)


class MalformedPayload(ValueError):
    """The body is not a WhatsApp webhook notification."""


@dataclass(frozen=True)
class Media:
    id: str
    mime_type: str = ""
    sha256: str = ""
    caption: str = ""
    filename: str = ""
    voice: bool = False


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    name: str = ""
    address: str = ""


@dataclass(frozen=True)
class InboundMessage:
    message_id: str
    phone_number_id: str  # the hotel's number that received it
    display_phone_number: str
    wa_id: str  # the guest
    profile_name: str
    timestamp: int
    type: str  # text | interactive | button | location | image | audio | document | ... | unsupported
    text: str = ""  # typed text
    reply_id: str = ""  # interactive button/list reply id, or template quick-reply payload
    reply_title: str = ""
    media: Optional[Media] = None
    location: Optional[Location] = None
    context_id: str = ""  # the message this one replies to

    @property
    def sender_key(self) -> str:
        """Messages with the same key are processed one at a time, in order."""
        return f"{self.phone_number_id}:{self.wa_id}"


@dataclass
class WebhookBatch:
    messages: List[InboundMessage] = field(default_factory=list)
    statuses: int = 0
    errors: List[Dict[str, Any]] = field(default_factory=list)
    ignored_fields: int = 0


def decode_json(body: bytes) -> Dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise MalformedPayload("body is not a JSON object")
    return data


def parse_webhook(data: Dict[str, Any]) -> WebhookBatch:
    if data.get("object") != "whatsapp_business_account":
        raise MalformedPayload("object is not 'whatsapp_business_account'")
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise MalformedPayload("'entry' is not a list")
    batch = WebhookBatch()
    for entry in entries:
        changes = entry.get("changes") if isinstance(entry, dict) else None
        if not isinstance(changes, list):
            raise MalformedPayload("entry without a 'changes' list")
        for change in changes:
            if not isinstance(change, dict) or not isinstance(change.get("value"), dict):
                raise MalformedPayload("change without a 'value' object")
            if change.get("field") != "messages":
                batch.ignored_fields += 1
                continue
            _parse_value(change["value"], batch)
    return batch


def _parse_value(value: Dict[str, Any], batch: WebhookBatch) -> None:
    metadata = value.get("metadata") or {}
    phone_number_id = str(metadata.get("phone_number_id") or "")
    display = str(metadata.get("display_phone_number") or "")
    names = {
        str(c.get("wa_id")): str((c.get("profile") or {}).get("name") or "")
        for c in value.get("contacts") or []
        if isinstance(c, dict)
    }
    statuses = value.get("statuses") or []
    batch.statuses += len(statuses) if isinstance(statuses, list) else 0
    batch.errors.extend(e for e in value.get("errors") or [] if isinstance(e, dict))
    messages = value.get("messages") or []
    if not isinstance(messages, list):
        raise MalformedPayload("'messages' is not a list")
    if messages and not phone_number_id:
        raise MalformedPayload("messages without metadata.phone_number_id")
    parsed = []
    for raw in messages:
        if not isinstance(raw, dict) or not raw.get("id") or not raw.get("from"):
            raise MalformedPayload("message without 'id' or 'from'")
        parsed.append(_parse_message(raw, phone_number_id, display, names))
    # Meta may batch several messages; keep the guest's order.
    parsed.sort(key=lambda m: m.timestamp)
    batch.messages.extend(parsed)


def _parse_message(raw: Dict[str, Any], phone_number_id: str, display: str, names: Dict[str, str]) -> InboundMessage:
    wa_id = str(raw["from"])
    kind = str(raw.get("type") or "unsupported")
    try:
        timestamp = int(raw.get("timestamp") or 0)
    except (TypeError, ValueError):
        timestamp = 0
    common = dict(
        message_id=str(raw["id"]),
        phone_number_id=phone_number_id,
        display_phone_number=display,
        wa_id=wa_id,
        profile_name=names.get(wa_id, ""),
        timestamp=timestamp,
        context_id=str((raw.get("context") or {}).get("id") or ""),
    )
    body = raw.get(kind) if isinstance(raw.get(kind), dict) else {}
    if kind == "text":
        return InboundMessage(type=kind, text=str(body.get("body") or ""), **common)
    if kind == "interactive":
        reply = body.get("button_reply") or body.get("list_reply") or {}
        return InboundMessage(
            type=kind, reply_id=str(reply.get("id") or ""), reply_title=str(reply.get("title") or ""), **common
        )
    if kind == "button":  # quick reply on a template message
        return InboundMessage(
            type=kind, reply_id=str(body.get("payload") or ""), reply_title=str(body.get("text") or ""), **common
        )
    if kind == "location":
        try:
            location = Location(
                latitude=float(body["latitude"]),
                longitude=float(body["longitude"]),
                name=str(body.get("name") or ""),
                address=str(body.get("address") or ""),
            )
        except (KeyError, TypeError, ValueError):
            raise MalformedPayload("location without numeric latitude/longitude") from None
        return InboundMessage(type=kind, location=location, **common)
    if kind in MEDIA_TYPES:
        if not body.get("id"):
            raise MalformedPayload(f"{kind} message without a media id")
        media = Media(
            id=str(body["id"]),
            mime_type=str(body.get("mime_type") or ""),
            sha256=str(body.get("sha256") or ""),
            caption=str(body.get("caption") or ""),
            filename=str(body.get("filename") or ""),
            voice=bool(body.get("voice")),
        )
        return InboundMessage(type=kind, media=media, **common)
    return InboundMessage(type=kind if kind in ("reaction", "contacts", "order", "system") else "unsupported", **common)


def booking_ref_in(text: str) -> Optional[str]:
    """'bk-100002 pagado' -> 'BK100002'."""
    match = BOOKING_REF.search(text or "")
    return f"BK{match.group(1)}" if match else None


def intent_payload(intent: str, entities: Optional[Dict[str, Any]] = None) -> str:
    """Rasa's ``/intent{"entity": "value"}`` form, understood without NLU."""
    return f"/{intent}" + (json.dumps(entities, ensure_ascii=False, separators=(",", ":")) if entities else "")


def to_payload(message: InboundMessage) -> Dict[str, Any]:
    """A JSON-ready dict of the message (the dead-letter journal's payload)."""
    return asdict(message)


def from_payload(data: Dict[str, Any]) -> InboundMessage:
    """The message back from ``to_payload``; ``MalformedPayload`` when it does not fit."""
    try:
        fields = dict(data)
        media, location = fields.pop("media", None), fields.pop("location", None)
        return InboundMessage(
            **fields,
            media=Media(**media) if media else None,
            location=Location(**location) if location else None,
        )
    except TypeError as exc:
        raise MalformedPayload(f"not a journaled WhatsApp message: {exc}") from None
