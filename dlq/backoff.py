"""When a dead-letter entry is due again: the project's retry policy
(dlq/retry.py) with the queue's base, so retry k waits base * 2^(k-1) seconds
after the previous failure (60, 120, 240 s with the default base). The queue
counts the retries itself (``max_retries``), across restarts."""
from __future__ import annotations

from dlq.retry import RetryPolicy


def policy(base: float, max_retries: int = 0) -> RetryPolicy:
    """The queue's retry policy (no jitter: due times are exact and testable)."""
    return RetryPolicy(retries=max_retries, first_delay=base)


def delay_before_retry(retry_number: int, base: float) -> float:
    return policy(base).nominal_delay(retry_number)


def next_retry_at(failed_at: float, attempts_so_far: int, base: float) -> float:
    """Due time of the next retry after ``attempts_so_far`` retries have failed
    (0 right after the original failure)."""
    return failed_at + delay_before_retry(attempts_so_far + 1, base)
