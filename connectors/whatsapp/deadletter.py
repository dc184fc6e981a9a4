"""Where messages go that could not be sent after every retry.

The project's dead-letter queue plugs in here: set ``WHATSAPP_DEAD_LETTER``
to ``"package.module:callable"``; the callable receives one ``FailedSend``
(it may be a coroutine function). Until then failures are logged (without
the message body, which may hold personal data, and never with the token).
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable, Dict, Optional, Union

from connectors import dead_letter_hook

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedSend:
    channel: str
    phone_number_id: str
    recipient: str
    message: Dict[str, Any]  # the Graph API message body that failed
    status: int  # HTTP status, 0 for connection errors
    error_code: Optional[int]
    error: str
    failed_at: float = field(default_factory=time.time)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


DeadLetterSink = Callable[[FailedSend], Union[None, Awaitable[None]]]


def masked(phone: str) -> str:
    """'34600111222' -> '…1222': enough to find the guest, not to publish the number."""
    return "…" + phone[-4:] if len(phone) > 4 else "…"


def log_failed_send(failed: FailedSend) -> None:
    logger.error(
        "WhatsApp message to %s via %s dropped after retries: %s %s (%s)",
        masked(failed.recipient),
        failed.phone_number_id,
        failed.status,
        failed.error,
        failed.message.get("type"),
    )


def load_sink(path: str) -> DeadLetterSink:
    return dead_letter_hook.load_sink(path, default=log_failed_send)


async def deliver(sink: DeadLetterSink, failed: FailedSend) -> None:
    await dead_letter_hook.deliver(sink, failed, fallback=log_failed_send)
