"""Prometheus metrics of the PMS path, read back from the default registry:
calls by result, latency of attempted calls, the breaker state gauge (also
when another breaker sharing the Redis state changed it)."""
from __future__ import annotations

import time
import uuid

import pybreaker
import pytest
import redis
from prometheus_client import REGISTRY

from actions.pms.base import NoAvailability, PMSUnavailable
from actions.pms.breaker import FailSafeStorage, build_breaker
from actions.pms.gateway import PMSGateway

REDIS_URL = "redis://127.0.0.1:6379/0"


class ProbePMS:
    """A PMS whose single operation has a name no other test uses."""

    def __init__(self) -> None:
        self.mode = "ok"

    def metrics_probe(self) -> str:
        if self.mode == "down":
            raise ConnectionError("PMS down")
        if self.mode == "full":
            raise NoAvailability("suite")
        time.sleep(0.02)
        return "ok"


def calls(result: str) -> float:
    return REGISTRY.get_sample_value(
        "pms_circuit_breaker_calls_total", {"operation": "metrics_probe", "result": result}) or 0.0


def timed_calls() -> float:
    return REGISTRY.get_sample_value("pms_api_latency_seconds_count", {"operation": "metrics_probe"}) or 0.0


def state() -> float:
    return REGISTRY.get_sample_value("pms_circuit_breaker_state")


async def test_calls_are_counted_by_result_and_attempted_ones_timed():
    pms = ProbePMS()
    gateway = PMSGateway(pms, build_breaker(fail_max=2, reset_timeout=60))
    before = {result: calls(result) for result in ("success", "failure", "rejected", "business")}
    timed_before = timed_calls()
    slow_before = REGISTRY.get_sample_value("pms_api_latency_seconds_sum", {"operation": "metrics_probe"}) or 0.0

    assert await gateway.call(pms.metrics_probe) == "ok"
    pms.mode = "full"
    with pytest.raises(NoAvailability):
        await gateway.call(pms.metrics_probe)
    pms.mode = "down"
    for _ in range(2):  # the second failure opens the circuit: still a failure, it was attempted
        with pytest.raises(PMSUnavailable):
            await gateway.call(pms.metrics_probe)
    for _ in range(3):
        with pytest.raises(PMSUnavailable, match="circuit open"):
            await gateway.call(pms.metrics_probe)

    delta = {result: calls(result) - before[result] for result in before}
    assert delta == {"success": 1, "failure": 2, "rejected": 3, "business": 1}
    assert timed_calls() - timed_before == 4  # rejected calls never reached the PMS
    total = REGISTRY.get_sample_value("pms_api_latency_seconds_sum", {"operation": "metrics_probe"}) - slow_before
    assert total >= 0.02


async def test_state_gauge_follows_this_processes_transitions():
    pms = ProbePMS()
    breaker = build_breaker(fail_max=1, reset_timeout=60)
    gateway = PMSGateway(pms, breaker)
    assert await gateway.call(pms.metrics_probe) == "ok"
    assert state() == 0
    pms.mode = "down"
    with pytest.raises(PMSUnavailable):
        await gateway.call(pms.metrics_probe)
    assert state() == 1
    breaker.half_open()
    assert state() == 2
    breaker.close()
    assert state() == 0


async def test_state_gauge_sees_a_change_made_by_another_process():
    namespace = f"test-metrics:{uuid.uuid4().hex}"
    client = redis.Redis.from_url(REDIS_URL)
    try:
        ours = PMSGateway(ProbePMS(), build_breaker(fail_max=1, redis_url=REDIS_URL, namespace=namespace))
        ours.observe_state()
        assert state() == 0
        # another process's breaker: same Redis state, no listener in this process
        theirs = pybreaker.CircuitBreaker(fail_max=1, state_storage=FailSafeStorage(client, namespace))
        with pytest.raises(pybreaker.CircuitBreakerError):
            theirs.call(_pms_down)
        assert state() == 0  # nothing in this process noticed yet
        ours.observe_state()  # what GET /metrics does before each scrape
        assert state() == 1
    finally:
        for key in client.scan_iter(f"{namespace}:*"):
            client.delete(key)


def _pms_down():
    raise ConnectionError("PMS down")
