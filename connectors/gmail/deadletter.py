"""The Gmail channel's entries in the project's dead-letter queue (dlq/).

- ``gmail.send``: a reply Gmail refused or could not take after the client's
  retries. Payload ``{raw, thread_id, gmail_id}``: the RFC 2822 reply
  (base64url, exactly what ``messages.send`` takes), its thread and the
  guest's message it answers (marked replied once the resend works). No token.
- ``gmail.inbound``: a guest's mail whose turn failed ``MAX_FAILURES_PER_MESSAGE``
  times in a row (e.g. the tracker store is down); it is labelled handled and
  the worker runs its turn again with the queue's backoff. Payload ``{gmail_id}``.

Logs name the guest as ``l…@example.com`` only.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

from connectors.gmail.api import GmailError, b64url_encode

logger = logging.getLogger(__name__)

KIND_SEND = "gmail.send"
KIND_INBOUND = "gmail.inbound"


def masked(address: str) -> str:
    """'lucia.garcia@example.com' -> 'l…@example.com'."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"


def send_payload(raw: bytes, thread_id: str, gmail_id: str) -> Dict[str, Any]:
    return {"raw": b64url_encode(raw), "thread_id": thread_id, "gmail_id": gmail_id}


def failure_reason(error: GmailError) -> str:
    if error.status == 0:
        return "gmail_unreachable"
    return "gmail_unavailable" if error.retryable else "gmail_rejected"


def error_summary(error: GmailError) -> str:
    return f"Gmail API {error.status}: {error.detail}"[:300]
