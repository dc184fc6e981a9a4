"""Where replies go that could not be sent after every retry.

Set ``GMAIL_DEAD_LETTER`` to ``"package.module:callable"``; it receives one
``FailedEmail`` (it may be a coroutine function). Until then failures are
logged, without the body (personal data) and never with the access token.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Awaitable, Callable, Dict, Union

from connectors import dead_letter_hook

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class FailedEmail:
    channel: str
    recipient: str
    thread_id: str
    in_reply_to: str  # the guest's Message-ID
    gmail_id: str  # the guest's message in the mailbox
    raw: bytes = field(repr=False)  # the RFC 2822 reply that failed (resend with messages.send)
    status: int = 0  # HTTP status, 0 for connection errors
    error: str = ""
    failed_at: float = field(default_factory=time.time)

    def as_dict(self) -> Dict[str, Any]:
        return asdict(self)


DeadLetterSink = Callable[[FailedEmail], Union[None, Awaitable[None]]]


def masked(address: str) -> str:
    """'lucia.garcia@example.com' -> 'l…@example.com'."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}" if domain else "…"


def log_failed_send(failed: FailedEmail) -> None:
    logger.error(
        "Gmail reply to %s (thread %s) dropped after retries: %s %s",
        masked(failed.recipient), failed.thread_id, failed.status, failed.error,
    )


def load_sink(path: str) -> DeadLetterSink:
    return dead_letter_hook.load_sink(path, default=log_failed_send)


async def deliver(sink: DeadLetterSink, failed: FailedEmail) -> None:
    await dead_letter_hook.deliver(sink, failed, fallback=log_failed_send)
