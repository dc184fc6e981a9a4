"""dlq/retry.py, the project's one retry policy: delays, caps, Retry-After, which errors."""
from __future__ import annotations

import pytest

from dlq.retry import RetryPolicy


class Flaky(Exception):
    pass


def test_delays_double_from_the_first_and_are_capped():
    policy = RetryPolicy(retries=5, first_delay=0.5, max_delay=3)
    assert [policy.nominal_delay(k) for k in range(1, 6)] == [0.5, 1, 2, 3, 3]
    assert policy.attempts == 6 and policy.window_seconds == 0.5 + 1 + 2 + 3 + 3
    with pytest.raises(ValueError, match="start at 1"):
        policy.nominal_delay(0)
    with pytest.raises(ValueError):
        RetryPolicy(retries=-1, first_delay=1)


def test_jitter_spreads_within_bounds_and_a_hint_replaces_the_exponential_wait():
    policy = RetryPolicy(retries=3, first_delay=1, max_delay=30, jitter=0.2)
    waits = {policy.delay(3) for _ in range(50)}
    assert all(3.2 <= w <= 4.8 for w in waits) and len(waits) > 1
    assert 8 <= policy.delay(1, hint=10) <= 12 and policy.delay(1, hint=999) <= 36


async def test_call_retries_only_what_is_retryable_and_stops_after_the_last_try():
    calls, waits = [], []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def attempt():
        calls.append(1)
        if len(calls) < 3:
            raise Flaky()
        return "ok"

    policy = RetryPolicy(retries=4, first_delay=0.1)
    assert await policy.call(attempt, retryable=lambda exc: isinstance(exc, Flaky), sleep=sleep) == "ok"
    assert len(calls) == 3 and waits == [0.1, 0.2]

    async def always():
        calls.append(1)
        raise Flaky()

    calls.clear(), waits.clear()
    with pytest.raises(Flaky):
        await policy.call(always, retryable=lambda exc: True, sleep=sleep)
    assert len(calls) == 5 and waits == [0.1, 0.2, 0.4, 0.8]

    calls.clear()
    with pytest.raises(Flaky):
        await policy.call(always, retryable=lambda exc: False, sleep=sleep)
    assert len(calls) == 1


async def test_call_reports_each_retry_and_honours_the_hint():
    seen, waits = [], []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def attempt():
        if len(seen) < 1:
            raise Flaky()
        return 1

    policy = RetryPolicy(retries=1, first_delay=5)
    await policy.call(attempt, retryable=lambda exc: True, delay_hint=lambda exc: 0.25,
                      on_retry=lambda exc, n, wait: seen.append((type(exc), n, wait)), sleep=sleep)
    assert seen == [(Flaky, 1, 0.25)] and waits == [0.25]
