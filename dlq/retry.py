"""The project's one retry policy: how many times, how long between tries.

Like rq's ``Retry(max, interval)``: ``RetryPolicy(retries, first_delay)`` means
up to ``retries`` tries after the first, the k-th retry ``first_delay *
factor**(k-1)`` seconds after the failure before it (capped at ``max_delay``,
spread by ``± jitter`` so that many clients do not retry in step). Used by:

- the Graph API client (connectors/whatsapp/graph.py) and the Gmail client:
  ``await policy.call(attempt, retryable=..., delay_hint=retry_after)``;
- the action-server retry (connectors/action_retry.py): same ``call``;
- the dead-letter queue (dlq/backoff.py): ``policy.delay(k)`` gives when an
  entry is due again; the queue itself counts the tries between restarts.

Why one small module rather than tenacity: every user needs the same three
things (which errors, the server's Retry-After, an injectable sleep for tests)
and a delay computed without running anything (the DLQ schedules, it does not
sleep); that is 60 lines, not a dependency.
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
from dataclasses import dataclass
from typing import Awaitable, Callable, Optional, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]
OnRetry = Callable[[BaseException, int, float], None]


@dataclass(frozen=True)
class RetryPolicy:
    retries: int  # tries after the first one (0: no retry)
    first_delay: float  # seconds before the first retry
    factor: float = 2.0
    max_delay: float = math.inf
    jitter: float = 0.0  # 0.2: each wait is drawn from ±20 % of its nominal value

    def __post_init__(self) -> None:
        if self.retries < 0 or self.first_delay < 0 or self.factor < 1 or not 0 <= self.jitter < 1:
            raise ValueError(f"not a retry policy: {self}")

    @property
    def attempts(self) -> int:
        """Tries in all, the first one included."""
        return self.retries + 1

    def nominal_delay(self, retry_number: int) -> float:
        """Seconds before retry ``retry_number`` (1-based), without jitter."""
        if retry_number < 1:
            raise ValueError(f"retry numbers start at 1, got {retry_number}")
        return min(self.first_delay * self.factor ** (retry_number - 1), self.max_delay)

    def delay(self, retry_number: int, hint: Optional[float] = None) -> float:
        """The wait before retry ``retry_number``; ``hint`` (a server's Retry-After) replaces
        the exponential value, still capped at ``max_delay`` and jittered."""
        nominal = self.nominal_delay(retry_number) if hint is None else min(max(0.0, hint), self.max_delay)
        return nominal * random.uniform(1 - self.jitter, 1 + self.jitter) if self.jitter else nominal

    @property
    def window_seconds(self) -> float:
        """Nominal time spent waiting when every try fails."""
        return sum(self.nominal_delay(k) for k in range(1, self.retries + 1))

    async def call(
        self,
        attempt: Callable[[], Awaitable[T]],
        *,
        retryable: Callable[[BaseException], bool],
        delay_hint: Callable[[BaseException], Optional[float]] = lambda exc: None,
        on_retry: Optional[OnRetry] = None,
        sleep: Sleep = asyncio.sleep,
    ) -> T:
        """``attempt()``'s result; an exception that is not ``retryable``, or the last
        one, is raised as is. ``on_retry(exc, retry_number, delay)`` is called before
        each wait (callers log there: they know what was tried)."""
        for retry_number in range(1, self.retries + 2):
            try:
                return await attempt()
            except Exception as exc:
                if retry_number > self.retries or not retryable(exc):
                    raise
                wait = self.delay(retry_number, delay_hint(exc))
                if on_retry is not None:
                    on_retry(exc, retry_number, wait)
                else:
                    logger.warning("%s; retry %d/%d in %.2fs", type(exc).__name__, retry_number, self.retries, wait)
                await sleep(wait)
        raise AssertionError("unreachable")
