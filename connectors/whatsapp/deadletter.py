"""The WhatsApp channel's entries in the project's dead-letter queue (dlq/).

- ``whatsapp.send``: a message Graph refused or could not take after the
  client's retries. Payload ``{phone_number_id, recipient, message,
  fallback_text}``: the Graph message body as the bot built it (no access
  token) and the text a template would carry, so a resend outside the
  24-hour window goes out as the template (``sender.MessageSender``).
- ``whatsapp.inbound``: the journal of a guest's message, written before the
  webhook is acknowledged and removed once its turn finished (channel.py).

Logs name the guest by the last digits of the number only.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from connectors.whatsapp.graph import GraphError

logger = logging.getLogger(__name__)

KIND_SEND = "whatsapp.send"
KIND_INBOUND = "whatsapp.inbound"
JOURNAL_REASON = "journal"
JOURNAL_NOTE = "received; turn not finished yet"


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
