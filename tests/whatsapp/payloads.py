"""Webhook bodies shaped like Meta's Cloud API notifications, and signing.

Used by the tests and by benchmarks/whatsapp_bench.py.
"""
from __future__ import annotations

import itertools
import json
import time
from typing import Any, Dict, List, Optional

from connectors.whatsapp.signature import HEADER, sign

_ids = itertools.count(1)


def new_message_id() -> str:
    return f"wamid.TEST{time.time_ns()}{next(_ids)}"


def message(wa_id: str, type_: str, body: Dict[str, Any], message_id: Optional[str] = None, **extra: Any) -> Dict[str, Any]:
    return {
        "from": wa_id,
        "id": message_id or new_message_id(),
        "timestamp": str(int(time.time())),
        "type": type_,
        type_: body,
        **extra,
    }


def text(wa_id: str, body: str, **kw: Any) -> Dict[str, Any]:
    return message(wa_id, "text", {"body": body}, **kw)


def button_reply(wa_id: str, reply_id: str, title: str, **kw: Any) -> Dict[str, Any]:
    return message(wa_id, "interactive", {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}, **kw)


def list_reply(wa_id: str, reply_id: str, title: str, **kw: Any) -> Dict[str, Any]:
    return message(wa_id, "interactive", {"type": "list_reply", "list_reply": {"id": reply_id, "title": title}}, **kw)


def location(wa_id: str, latitude: float, longitude: float, name: str = "", address: str = "", **kw: Any) -> Dict[str, Any]:
    body = {"latitude": latitude, "longitude": longitude}
    body.update({k: v for k, v in (("name", name), ("address", address)) if v})
    return message(wa_id, "location", body, **kw)


def image(wa_id: str, media_id: str, caption: str = "", mime_type: str = "image/jpeg", **kw: Any) -> Dict[str, Any]:
    body = {"id": media_id, "mime_type": mime_type, "sha256": "unused-by-the-channel"}
    if caption:
        body["caption"] = caption
    return message(wa_id, "image", body, **kw)


def voice(wa_id: str, media_id: str, **kw: Any) -> Dict[str, Any]:
    return message(wa_id, "audio", {"id": media_id, "mime_type": "audio/ogg; codecs=opus", "voice": True}, **kw)


def webhook(messages: List[Dict[str, Any]], phone_number_id: str, names: Optional[Dict[str, str]] = None) -> Dict[str, Any]:
    names = names or {}
    guests = sorted({m["from"] for m in messages if isinstance(m, dict) and isinstance(m.get("from"), str)})
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "WABA_ID",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "34952000000", "phone_number_id": phone_number_id},
                    "contacts": [{"profile": {"name": names.get(g, "Guest")}, "wa_id": g} for g in guests],
                    "messages": messages,
                },
            }],
        }],
    }


def status_callback(phone_number_id: str, wa_id: str, status: str = "delivered") -> Dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{
            "id": "WABA_ID",
            "changes": [{
                "field": "messages",
                "value": {
                    "messaging_product": "whatsapp",
                    "metadata": {"display_phone_number": "34952000000", "phone_number_id": phone_number_id},
                    "statuses": [{
                        "id": new_message_id(),
                        "status": status,
                        "timestamp": str(int(time.time())),
                        "recipient_id": wa_id,
                        "conversation": {"id": "CONV", "origin": {"type": "service"}},
                        "pricing": {"billable": True, "pricing_model": "CBP", "category": "service"},
                    }],
                },
            }],
        }],
    }


def encode(payload: Dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def signed_headers(body: bytes, app_secret: str) -> Dict[str, str]:
    return {"Content-Type": "application/json", HEADER: sign(body, app_secret)}
