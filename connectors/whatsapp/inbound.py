"""Webhook payload parsing: Meta's JSON -> typed inbound messages.

Pure functions, no I/O. ``parse_webhook`` raises ``MalformedPayload`` only for
a body that is not a WhatsApp Business Account notification at all (not an
object, no ``entry`` list, a change without a ``value`` object). Inside a
valid notification each message stands alone: one that does not fit (no
``id`` string, no sender, non-numeric coordinates, a text that is not a
string, a Flow answer that is not a JSON object...) becomes a ``Rejected``
(kept for staff by the channel) and the others are parsed as usual. Status
callbacks and other fields are counted; ``user_preferences`` (marketing
opt-out / resume) are returned as ``Preference``.

Shape (Cloud API ``messages`` field)::

    {"object": "whatsapp_business_account",
     "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp",
         "metadata": {"display_phone_number": ..., "phone_number_id": ...},
         "contacts": [{"profile": {"name": ...}, "wa_id": ..., "user_id": "US.134..."}],
         "messages": [{"from": ..., "from_user_id": "US.134...", "id": "wamid...", "timestamp": "...",
                       "type": "text", "text": {"body": ...}}],
         "statuses": [...]}}]}]}

Guests: ``from`` is the phone number (``wa_id``); since 2026 Meta also sends a
business-scoped user id (BSUID, ``from_user_id`` and ``contacts[].user_id``)
and may omit the phone number of a guest who adopted a username.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from actions.references import canonical_reference

MEDIA_TYPES = ("image", "audio", "document", "video", "sticker")
PASSIVE_TYPES = ("reaction", "contacts", "order", "system", "revoke")
READ_TYPES = ("text", "interactive", "button", "location", "edit", "revoke") + MEDIA_TYPES  # their body is read

MAX_ID_CHARS = 512
MAX_TEXT_CHARS = 64 * 1024  # WhatsApp caps texts at 4096; anything far longer is not a guest's message
MAX_FLOW_JSON_CHARS = 32 * 1024
MAX_FLOW_FIELDS = 50
MAX_FLOW_VALUE_CHARS = 1000
MAX_REJECTED_RAW_CHARS = 16 * 1024
FLOW_TOKEN = "flow_token"


class MalformedPayload(ValueError):
    """The body (or one message of it) is not what Meta sends."""


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
    wa_id: str  # the guest's phone number; "" when Meta sent only the user id
    profile_name: str
    timestamp: int
    type: str  # text | interactive | button | location | image | audio | ... | flow | call_permission | edit | unsupported
    text: str = ""  # typed text (an edit: the new text or caption)
    reply_id: str = ""  # interactive button/list reply id, or template quick-reply payload
    reply_title: str = ""
    media: Optional[Media] = None
    location: Optional[Location] = None
    context_id: str = ""  # the message this one replies to
    user_id: str = ""  # the guest's business-scoped user id (BSUID), when Meta sent one
    flow: Optional[Dict[str, Any]] = None  # a submitted WhatsApp Flow: {"name", "body", "token", "fields": {str: str}}
    call_permission: str = ""  # accept | reject
    original_id: str = ""  # edit / revoke: the message edited or deleted

    @property
    def guest(self) -> str:
        """The guest as this message names them: phone number, else user id."""
        return self.wa_id or self.user_id

    @property
    def sender_key(self) -> str:
        """Messages with the same key are processed one at a time, in order (the user
        id when there is one: Meta sends it with every message since 2026)."""
        return f"{self.phone_number_id}:{self.user_id or self.wa_id}"


@dataclass(frozen=True)
class Rejected:
    """A message that does not fit: kept for staff, never answered automatically."""

    error: str
    raw: str  # the message's JSON, cut at MAX_REJECTED_RAW_CHARS
    phone_number_id: str = ""
    guest: str = ""  # phone or user id, when one could be read


@dataclass(frozen=True)
class Preference:
    """A ``user_preferences`` notice: the guest stopped or resumed marketing messages."""

    phone_number_id: str
    wa_id: str
    user_id: str
    category: str
    value: str  # stop | resume | signup | ...
    timestamp: int


@dataclass
class WebhookBatch:
    messages: List[InboundMessage] = field(default_factory=list)
    rejected: List[Rejected] = field(default_factory=list)
    preferences: List[Preference] = field(default_factory=list)
    statuses: int = 0
    errors: List[Dict[str, Any]] = field(default_factory=list)
    ignored_fields: int = 0


def decode_json(body: bytes) -> Dict[str, Any]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedPayload(f"body is not JSON: {exc}") from None
    except RecursionError:  # nesting deeper than the interpreter allows: not a webhook
        raise MalformedPayload("body is nested too deeply") from None
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
            if change.get("field") == "user_preferences":
                _parse_preferences(change["value"], batch)
            elif change.get("field") == "messages":
                _parse_value(change["value"], batch)
            else:
                batch.ignored_fields += 1
    return batch


# -- one change ---------------------------------------------------------------------


def _parse_value(value: Dict[str, Any], batch: WebhookBatch) -> None:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    phone_number_id = _optional_str(metadata.get("phone_number_id"))
    display = _optional_str(metadata.get("display_phone_number"))
    contacts = _Contacts(value.get("contacts"))
    statuses = value.get("statuses")
    batch.statuses += len(statuses) if isinstance(statuses, list) else 0
    errors = value.get("errors")
    batch.errors.extend(e for e in (errors if isinstance(errors, list) else []) if isinstance(e, dict))
    messages = value.get("messages")
    if messages is None:
        return
    if not isinstance(messages, list):
        batch.rejected.append(Rejected("'messages' is not a list", _raw(messages), phone_number_id))
        return
    parsed = []
    for raw in messages:
        try:
            if not phone_number_id:
                raise MalformedPayload("message without metadata.phone_number_id")
            parsed.append(_parse_message(raw, phone_number_id, display, contacts))
        except MalformedPayload as exc:
            batch.rejected.append(Rejected(str(exc), _raw(raw), phone_number_id, _guest_of(raw)))
    # Meta may batch several messages; keep the guest's order (a stable sort: ties keep arrival order).
    parsed.sort(key=lambda m: m.timestamp)
    batch.messages.extend(parsed)


def _parse_preferences(value: Dict[str, Any], batch: WebhookBatch) -> None:
    metadata = value.get("metadata") if isinstance(value.get("metadata"), dict) else {}
    phone_number_id = _optional_str(metadata.get("phone_number_id"))
    notices = value.get("user_preferences")
    for notice in notices if isinstance(notices, list) else []:
        try:
            if not isinstance(notice, dict):
                raise MalformedPayload("preference is not an object")
            wa_id, user_id = _optional_str(notice.get("wa_id")), _optional_str(notice.get("user_id"))
            if not (wa_id or user_id):
                raise MalformedPayload("preference without wa_id or user_id")
            batch.preferences.append(Preference(
                phone_number_id, wa_id, user_id, _optional_str(notice.get("category")),
                _optional_str(notice.get("value")), _timestamp(notice.get("timestamp")),
            ))
        except MalformedPayload as exc:
            batch.rejected.append(Rejected(str(exc), _raw(notice), phone_number_id, _guest_of(notice)))


class _Contacts:
    """``contacts``: profile names and the phone <-> user id pairs Meta gives."""

    def __init__(self, raw: Any) -> None:
        self.names: Dict[str, str] = {}
        self.user_of_phone: Dict[str, str] = {}
        self.phone_of_user: Dict[str, str] = {}
        for contact in raw if isinstance(raw, list) else []:
            if not isinstance(contact, dict):
                continue
            wa_id, user_id = _optional_str(contact.get("wa_id")), _optional_str(contact.get("user_id"))
            profile = contact.get("profile") if isinstance(contact.get("profile"), dict) else {}
            name = _optional_str(profile.get("name"))
            for key in filter(None, (wa_id, user_id)):
                self.names[key] = name
            if wa_id and user_id:
                self.user_of_phone[wa_id], self.phone_of_user[user_id] = user_id, wa_id


# -- one message --------------------------------------------------------------------


def _parse_message(raw: Any, phone_number_id: str, display: str, contacts: _Contacts) -> InboundMessage:
    if not isinstance(raw, dict):
        raise MalformedPayload("message is not an object")
    message_id = raw.get("id")
    if not isinstance(message_id, str) or not message_id.strip() or len(message_id) > MAX_ID_CHARS:
        raise MalformedPayload("message without an 'id' string")
    wa_id = _optional_str(raw.get("from"), "from")
    user_id = _optional_str(raw.get("from_user_id"), "from_user_id")
    if not (wa_id or user_id):
        raise MalformedPayload("message without 'from' or 'from_user_id'")
    wa_id = wa_id or contacts.phone_of_user.get(user_id, "")
    user_id = user_id or contacts.user_of_phone.get(wa_id, "")
    kind = _optional_str(raw.get("type"), "type") or "unsupported"
    context = raw.get("context") if isinstance(raw.get("context"), dict) else {}
    common: Dict[str, Any] = dict(
        message_id=message_id,
        phone_number_id=phone_number_id,
        display_phone_number=display,
        wa_id=wa_id,
        user_id=user_id,
        profile_name=contacts.names.get(wa_id) or contacts.names.get(user_id, ""),
        timestamp=_timestamp(raw.get("timestamp")),
        context_id=_optional_str(context.get("id")),
    )
    body = raw.get(kind)
    if kind in READ_TYPES and body is not None and not isinstance(body, dict):
        raise MalformedPayload(f"'{kind}' is not an object")
    return _content(kind, body if isinstance(body, dict) else {}, common)


def _content(kind: str, body: Dict[str, Any], common: Dict[str, Any]) -> InboundMessage:
    if kind == "text":
        return InboundMessage(type=kind, text=_text(body.get("body"), "text.body"), **common)
    if kind == "interactive":
        return _interactive(body, common)
    if kind == "button":  # quick reply on a template message
        return InboundMessage(type=kind, reply_id=_optional_str(body.get("payload"), "button.payload"),
                              reply_title=_optional_str(body.get("text"), "button.text"), **common)
    if kind == "location":
        return InboundMessage(type=kind, location=_location(body), **common)
    if kind in MEDIA_TYPES:
        return InboundMessage(type=kind, media=_media(kind, body), **common)
    if kind == "edit":
        return _edit(body, common)
    if kind == "revoke":
        return InboundMessage(type=kind, original_id=_optional_str(body.get("original_message_id")), **common)
    return InboundMessage(type=kind if kind in PASSIVE_TYPES else "unsupported", **common)


def _interactive(body: Dict[str, Any], common: Dict[str, Any]) -> InboundMessage:
    subtype = _optional_str(body.get("type"), "interactive.type")
    if not subtype:  # older payloads name the reply only by its key
        subtype = next((key for key in ("button_reply", "list_reply", "nfm_reply") if key in body), "")
    if subtype in ("button_reply", "list_reply"):
        reply = body.get(subtype)
        if not isinstance(reply, dict):
            raise MalformedPayload(f"interactive {subtype} is not an object")
        return InboundMessage(type="interactive", reply_id=_optional_str(reply.get("id"), f"{subtype}.id"),
                              reply_title=_optional_str(reply.get("title"), f"{subtype}.title"), **common)
    if subtype == "nfm_reply":
        return InboundMessage(type="flow", flow=_flow(body.get("nfm_reply")), **common)
    if subtype == "call_permission_reply":
        reply = body.get("call_permission_reply")
        answer = _optional_str(reply.get("response"), "call_permission_reply.response") if isinstance(reply, dict) else ""
        if answer not in ("accept", "reject"):
            raise MalformedPayload("call_permission_reply without an accept/reject response")
        return InboundMessage(type="call_permission", call_permission=answer, **common)
    return InboundMessage(type="unsupported", **common)  # e.g. Meta's "Unsupported webhook payload" error


def _flow(reply: Any) -> Dict[str, Any]:
    """``nfm_reply``: ``response_json`` (a JSON object as a string) -> flat string fields."""
    if not isinstance(reply, dict):
        raise MalformedPayload("nfm_reply is not an object")
    text = reply.get("response_json")
    if not isinstance(text, str) or len(text) > MAX_FLOW_JSON_CHARS:
        raise MalformedPayload("nfm_reply.response_json is not a JSON string of a bounded size")
    try:
        answer = json.loads(text)
    except ValueError:
        raise MalformedPayload("nfm_reply.response_json is not JSON") from None
    except RecursionError:
        raise MalformedPayload("nfm_reply.response_json is nested too deeply") from None
    if not isinstance(answer, dict) or len(answer) > MAX_FLOW_FIELDS:
        raise MalformedPayload("nfm_reply.response_json is not a JSON object of a bounded size")
    fields: Dict[str, str] = {}
    for key, value in answer.items():
        if key == FLOW_TOKEN:
            continue
        fields[str(key)[:100]] = _flow_value(key, value)
    return {
        "name": _optional_str(reply.get("name")),
        "body": _optional_str(reply.get("body")),
        "token": _optional_str(answer.get(FLOW_TOKEN)) if isinstance(answer.get(FLOW_TOKEN), str) else "",
        "fields": fields,
    }


def _flow_value(key: str, value: Any) -> str:
    """A scalar, or a list of scalars (a multi-select), as text."""
    if isinstance(value, list) and all(_is_scalar(v) for v in value):
        text = ", ".join(_scalar_text(v) for v in value)
    elif _is_scalar(value):
        text = _scalar_text(value)
    else:
        raise MalformedPayload(f"nfm_reply field {key!r} is neither a value nor a list of values")
    return text[:MAX_FLOW_VALUE_CHARS]


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _location(body: Dict[str, Any]) -> Location:
    latitude, longitude = _coordinate(body.get("latitude"), 90), _coordinate(body.get("longitude"), 180)
    return Location(latitude, longitude, _optional_str(body.get("name"), "location.name"),
                    _optional_str(body.get("address"), "location.address"))


def _coordinate(value: Any, bound: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise MalformedPayload("location without numeric latitude/longitude")
    try:
        number = float(value)
    except ValueError:
        raise MalformedPayload("location without numeric latitude/longitude") from None
    if not math.isfinite(number) or abs(number) > bound:
        raise MalformedPayload("location coordinates out of range")
    return number


def _media(kind: str, body: Dict[str, Any]) -> Media:
    media_id = body.get("id")
    if not isinstance(media_id, str) or not media_id:
        raise MalformedPayload(f"{kind} message without a media id")
    return Media(
        id=media_id,
        mime_type=_optional_str(body.get("mime_type"), f"{kind}.mime_type"),
        sha256=_optional_str(body.get("sha256"), f"{kind}.sha256"),
        caption=_text(body.get("caption"), f"{kind}.caption"),
        filename=_optional_str(body.get("filename"), f"{kind}.filename"),
        voice=body.get("voice") is True,
    )


def _edit(body: Dict[str, Any], common: Dict[str, Any]) -> InboundMessage:
    """An edited message: its new text (or caption) is what the guest now says."""
    inner = body.get("message")
    if not isinstance(inner, dict):
        raise MalformedPayload("edit without a 'message' object")
    inner_kind = _optional_str(inner.get("type"), "edit.message.type")
    content = inner.get(inner_kind) if isinstance(inner.get(inner_kind), dict) else {}
    text = _text(content.get("body") if inner_kind == "text" else content.get("caption"), "edit text")
    return InboundMessage(type="edit", text=text, original_id=_optional_str(body.get("original_message_id")), **common)


# -- fields ---------------------------------------------------------------------------


def _optional_str(value: Any, name: str = "") -> str:
    """A string field, "" when absent; a field of another type is malformed when named."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value[:MAX_ID_CHARS * 2]
    if name:
        raise MalformedPayload(f"'{name}' is not a string")
    return str(value)[:MAX_ID_CHARS * 2] if isinstance(value, (int, float)) and not isinstance(value, bool) else ""


def _text(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise MalformedPayload(f"'{name}' is not a string")
    if len(value) > MAX_TEXT_CHARS:
        raise MalformedPayload(f"'{name}' is longer than {MAX_TEXT_CHARS} characters")
    return value


def _timestamp(value: Any) -> int:
    """Meta sends Unix seconds as a string; absent -> 0 (arrival order is kept)."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise MalformedPayload("timestamp is not a number")
    try:
        return int(value)
    except ValueError:
        raise MalformedPayload("timestamp is not a number") from None


def _raw(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = repr(value)[:MAX_REJECTED_RAW_CHARS]
    return text[:MAX_REJECTED_RAW_CHARS]


def _guest_of(raw: Any) -> str:
    if not isinstance(raw, dict):
        return ""
    for key in ("from", "from_user_id", "wa_id", "user_id"):
        if isinstance(raw.get(key), str) and raw[key]:
            return raw[key][:MAX_ID_CHARS]
    return ""


# -- for Rasa -----------------------------------------------------------------------


def flow_text(flow: Dict[str, Any]) -> str:
    """A submitted Flow as text a form can read: "check in: 2027-03-10, guests: 2"."""
    parts = [f"{key.replace('_', ' ').strip()}: {value}" for key, value in flow.get("fields", {}).items() if value != ""]
    return ", ".join(parts) or str(flow.get("body") or "")


def booking_ref_in(text: str) -> Optional[str]:
    """'bk-100002 pagado' -> 'BK100002' (every reference form: actions/references.py)."""
    return canonical_reference(text)


def intent_payload(intent: str, entities: Optional[Dict[str, Any]] = None) -> str:
    """Rasa's ``/intent{"entity": "value"}`` form, understood without NLU."""
    return f"/{intent}" + (json.dumps(entities, ensure_ascii=False, separators=(",", ":")) if entities else "")


# -- the journal ----------------------------------------------------------------------


def to_payload(message: InboundMessage) -> Dict[str, Any]:
    """A JSON-ready dict of the message (the dead-letter journal's payload). Built by
    hand: ``dataclasses.asdict`` deep-copies and costs ~80 µs a message, too much for
    batches of thousands."""
    data = dict(message.__dict__)
    if message.media is not None:
        data["media"] = dict(message.media.__dict__)
    if message.location is not None:
        data["location"] = dict(message.location.__dict__)
    if message.flow is not None:
        data["flow"] = {**message.flow, "fields": dict(message.flow.get("fields") or {})}
    return data


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
