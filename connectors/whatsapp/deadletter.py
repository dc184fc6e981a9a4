"""The WhatsApp channel's entries in the project's dead-letter queue (dlq/).

- ``whatsapp.send``: a message Graph refused or could not take after the
  client's retries. Payload ``{phone_number_id, recipient, message,
  fallback_text}``: the Graph message body as the bot built it (no access
  token) and the text a template would carry, so a resend outside the
  24-hour window goes out as the template (``sender.MessageSender``).
- ``whatsapp.inbound``: the journal of guests' messages, payload
  ``{"messages": [inbound.to_payload(...), ...]}``: written before the webhook
  is acknowledged (reason ``journal``, up to 100 messages an entry) and removed
  once their turns finished, or for one message whose turn failed (reason
  ``turn_failed``), retried by the worker (channel.py).
- ``whatsapp.rejected``: messages that do not fit (inbound.Rejected: error,
  raw JSON cut at 16 KB, hotel number, sender), kept for staff as permanent
  entries at once.

Logs name the guest by the last digits of the number only.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

from connectors.whatsapp.graph import GraphError

logger = logging.getLogger(__name__)

KIND_SEND = "whatsapp.send"
KIND_INBOUND = "whatsapp.inbound"
KIND_REJECTED = "whatsapp.rejected"
JOURNAL_REASON = "journal"
TURN_FAILED_REASON = "turn_failed"
JOURNAL_NOTE = "received; turn not finished yet"
CHUNK_MESSAGES = 100
CHUNK_BYTES = 160 * 1024  # the queue takes payloads of up to 256 KB


def _chunks(items: Sequence[Any], size: Callable[[Any], int], most: int) -> Iterator[List[Any]]:
    chunk: List[Any] = []
    total = 0
    for item in items:
        item_size = size(item)
        if chunk and (len(chunk) >= most or total + item_size > CHUNK_BYTES):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += item_size
    if chunk:
        yield chunk


def journal_chunks(payloads: Sequence[Dict[str, Any]]) -> Iterator[List[Dict[str, Any]]]:
    """A batch's journaled messages (``inbound.to_payload``) in entries of at most 100
    messages and ~160 KB."""
    return _chunks(payloads, _encoded_size_bound, CHUNK_MESSAGES)


def _encoded_size_bound(payload: Dict[str, Any]) -> int:
    """An upper bound of the payload's JSON size without encoding every message of a
    batch of thousands: a character takes at most 12 bytes (``\\uXXXX`` twice for an emoji); long or nested
    values are measured exactly."""
    size = 300  # keys, punctuation, numbers
    for value in payload.values():
        if isinstance(value, str) and len(value) <= 256:
            size += 12 * len(value)
        elif isinstance(value, (str, dict)):
            size += len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    return size


def rejected_chunks(rejected: Sequence[Any]) -> Iterator[List[Any]]:
    """Rejected messages, one entry each for the first ones, never more than ~160 KB an entry."""
    return _chunks(rejected, lambda r: len(r.raw.encode("utf-8")) + len(r.error) + 200, 20)


def masked(phone: str) -> str:
    """'34600111222' -> '…1222': enough to find the guest, not to publish the number."""
    return "…" + phone[-4:] if len(phone) > 4 else "…"


def send_payload(phone_number_id: str, recipient: str, message: Dict[str, Any], fallback_text: Optional[str]) -> Dict[str, Any]:
    return {"phone_number_id": phone_number_id, "recipient": recipient, "message": message, "fallback_text": fallback_text}


def failure_reason(error: GraphError) -> str:
    if error.status == 0:
        return "graph_unreachable"
    return "graph_unavailable" if error.retryable else "graph_rejected"


async def enqueue_failed_send(
    queue, phone_number_id: str, recipient: str, message: Dict[str, Any], fallback_text: Optional[str], error: GraphError
) -> None:
    """Into the queue; if there is none or it fails too, an error log line (the message is then lost)."""
    summary = f"Graph API {error.status} (code {error.code}): {error.detail}"[:300]
    if queue is not None:
        try:
            entry = await queue.enqueue(
                KIND_SEND, send_payload(phone_number_id, recipient, message, fallback_text), error=summary,
                conversation_id=f"{recipient}@{phone_number_id}", reason=failure_reason(error),
            )
            logger.warning("WhatsApp %s message to %s failed (%s); dead-letter entry %s",
                           message.get("type"), masked(recipient), summary, entry.id)
            return
        except Exception as exc:
            logger.error("dead-letter queue refused a failed WhatsApp send: %s", type(exc).__name__)
    logger.error("WhatsApp %s message to %s via %s dropped after retries: %s",
                 message.get("type"), masked(recipient), phone_number_id, summary)
