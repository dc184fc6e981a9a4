"""When the next retry is due: retry k waits base * 2^(k-1) seconds after the
previous failure (60, 120, 240 s with the default base)."""
from __future__ import annotations


def delay_before_retry(retry_number: int, base: float) -> float:
    if retry_number < 1:
        raise ValueError(f"retry numbers start at 1, got {retry_number}")
    return base * 2 ** (retry_number - 1)


def next_retry_at(failed_at: float, attempts_so_far: int, base: float) -> float:
    """Due time of the next retry after ``attempts_so_far`` retries have failed
    (0 right after the original failure)."""
    return failed_at + delay_before_retry(attempts_so_far + 1, base)
