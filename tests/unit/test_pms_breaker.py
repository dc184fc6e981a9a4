"""The PMS circuit breaker with its state in the machine's Redis (a unique
namespace per test): shared by gateways and by processes, business answers
never trip it, and with Redis unreachable it keeps working from memory."""
from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import time
import uuid

import pybreaker
import pytest
import redis

from actions.config import PROJECT_ROOT
from actions.pms.base import BookingNotFound, PMSUnavailable
from actions.pms.breaker import FailSafeStorage, build_breaker
from actions.pms.gateway import PMSGateway

REDIS_URL = "redis://127.0.0.1:6379/0"


def closed_port_url() -> str:
    from tests.stack_common import free_port

    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


class FlakyPMS:
    """Just enough of a PMS for the gateway: get_booking fails while ``down``."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0

    def get_booking(self, reference: str):
        self.calls += 1
        if self.down:
            raise ConnectionError("PMS unreachable")
        if reference == "BK999999":
            raise BookingNotFound(reference)
        return reference


@pytest.fixture
def namespace():
    name = f"test-breaker:{uuid.uuid4().hex}"
    yield name
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{name}:*"))
    if keys:
        client.delete(*keys)


async def fail(gateway: PMSGateway, times: int) -> None:
    for _ in range(times):
        with pytest.raises(PMSUnavailable):
            await gateway.call(gateway.pms.get_booking, "BK100001")


async def test_two_gateways_share_one_circuit(namespace):
    pms = FlakyPMS()
    first = PMSGateway(pms, build_breaker(fail_max=3, reset_timeout=60, redis_url=REDIS_URL, namespace=namespace))
    second = PMSGateway(pms, build_breaker(fail_max=3, reset_timeout=60, redis_url=REDIS_URL, namespace=namespace))
    await fail(first, 2)
    await fail(second, 1)  # the third failure overall opens it, for both
    assert first.breaker.current_state == second.breaker.current_state == pybreaker.STATE_OPEN
    pms.down = False
    calls = pms.calls
    with pytest.raises(PMSUnavailable, match="circuit open"):
        await first.call(pms.get_booking, "BK100001")
    assert pms.calls == calls  # rejected without calling the PMS
    stored = redis.Redis.from_url(REDIS_URL)
    assert stored.get(f"{namespace}:pybreaker:state") == b"open"


async def test_a_success_resets_the_shared_failure_count(namespace):
    pms = FlakyPMS()
    first = PMSGateway(pms, build_breaker(fail_max=3, redis_url=REDIS_URL, namespace=namespace))
    second = PMSGateway(pms, build_breaker(fail_max=3, redis_url=REDIS_URL, namespace=namespace))
    await fail(first, 2)
    pms.down = False
    assert await second.call(pms.get_booking, "BK100001") == "BK100001"
    pms.down = True
    await fail(first, 2)
    assert first.breaker.current_state == pybreaker.STATE_CLOSED


async def test_business_answers_never_open_the_shared_circuit(namespace):
    pms = FlakyPMS()
    pms.down = False
    gateway = PMSGateway(pms, build_breaker(fail_max=2, redis_url=REDIS_URL, namespace=namespace))
    for _ in range(5):
        with pytest.raises(BookingNotFound):
            await gateway.call(pms.get_booking, "BK999999")
    assert gateway.breaker.current_state == pybreaker.STATE_CLOSED
    assert gateway.breaker.fail_counter == 0


async def test_another_process_opens_the_circuit_for_this_one(namespace):
    script = textwrap.dedent(f"""
        import pybreaker
        from actions.pms.breaker import build_breaker
        breaker = build_breaker(fail_max=2, reset_timeout=60, redis_url={REDIS_URL!r}, namespace={namespace!r})
        def broken():
            raise ConnectionError("PMS down")
        for _ in range(2):
            try:
                breaker.call(broken)
            except (ConnectionError, pybreaker.CircuitBreakerError):
                pass
        print(breaker.current_state)
    """)
    pms = FlakyPMS()
    pms.down = False
    gateway = PMSGateway(pms, build_breaker(fail_max=2, reset_timeout=60, redis_url=REDIS_URL, namespace=namespace))
    assert await gateway.call(pms.get_booking, "BK100001") == "BK100001"

    other = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)
    assert other.stdout.strip() == "open", other.stderr

    with pytest.raises(PMSUnavailable, match="circuit open"):
        await gateway.call(pms.get_booking, "BK100001")
    assert pms.calls == 1


async def test_the_open_circuit_half_opens_for_everyone_after_the_reset_timeout(namespace):
    pms = FlakyPMS()
    first = PMSGateway(pms, build_breaker(fail_max=1, reset_timeout=1, redis_url=REDIS_URL, namespace=namespace))
    second = PMSGateway(pms, build_breaker(fail_max=1, reset_timeout=1, redis_url=REDIS_URL, namespace=namespace))
    await fail(first, 1)
    pms.down = False
    time.sleep(2.1)  # opened_at is stored in whole seconds
    assert await second.call(pms.get_booking, "BK100001") == "BK100001"
    assert first.breaker.current_state == pybreaker.STATE_CLOSED


async def test_redis_unreachable_the_breaker_still_opens_from_memory(caplog):
    caplog.set_level(logging.WARNING, logger="actions.pms.breaker")
    pms = FlakyPMS()
    gateway = PMSGateway(pms, build_breaker(fail_max=3, reset_timeout=60, redis_url=closed_port_url()))
    started = time.monotonic()
    await fail(gateway, 3)
    assert gateway.breaker.current_state == pybreaker.STATE_OPEN
    pms.down = False
    for _ in range(5):
        with pytest.raises(PMSUnavailable, match="circuit open"):
            await gateway.call(pms.get_booking, "BK100001")
    assert pms.calls == 3
    assert time.monotonic() - started < 5
    outage_logs = [r for r in caplog.records if "Redis unreachable" in r.getMessage()]
    assert len(outage_logs) == 1
    assert "6379" not in outage_logs[0].getMessage()  # no URL (it may hold a password)


async def test_redis_unreachable_calls_go_through():
    pms = FlakyPMS()
    pms.down = False
    gateway = PMSGateway(pms, build_breaker(redis_url=closed_port_url()))
    assert await gateway.call(pms.get_booking, "BK100001") == "BK100001"


async def test_redis_back_the_state_is_shared_again(tmp_path, caplog):
    """A private redis-server killed and restarted (never the machine's)."""
    from tests.stack_common import PrivateRedis

    caplog.set_level(logging.WARNING, logger="actions.pms.breaker")
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        client = redis.Redis.from_url(server.url)
        storage = FailSafeStorage(client, "ns", retry_seconds=0.2)
        breaker = pybreaker.CircuitBreaker(fail_max=5, state_storage=storage)
        assert breaker.current_state == pybreaker.STATE_CLOSED and storage.shared
        server.kill()
        storage.increment_counter()
        assert not storage.shared and storage.counter == 1  # the memory fallback counts
        server.start()
        time.sleep(0.3)
        assert storage.counter == 0  # Redis again: its own (reset-free) count
        assert storage.shared
        storage.state = pybreaker.STATE_OPEN
        assert client.get("ns:pybreaker:state") == b"open"
    finally:
        server.kill()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Redis unreachable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1


async def test_slow_calls_do_not_wait_for_each_other():
    """pybreaker's ``call`` holds the breaker's lock during the call: four 0.5 s
    calls would take 2 s. The gateway only holds it to check and record."""
    import asyncio

    class SlowPMS:
        def get_booking(self, reference: str) -> str:
            time.sleep(0.5)
            return reference

    pms = SlowPMS()
    gateway = PMSGateway(pms, build_breaker())
    started = time.monotonic()
    results = await asyncio.gather(*(gateway.call(pms.get_booking, f"BK00000{i}") for i in range(4)))
    assert results == [f"BK00000{i}" for i in range(4)]
    assert time.monotonic() - started < 1.5
