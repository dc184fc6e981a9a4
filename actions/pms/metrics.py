"""Prometheus metrics of the PMS path (names fixed in docs/production-contract.md).

``pms_circuit_breaker_state`` follows the breaker's *stored* state: with the
state in Redis another process may open or close the circuit, so the gauge is
refreshed after every call and at every scrape, not only on this process's
own transitions (``BreakerStateListener``).
"""
from __future__ import annotations

import pybreaker
from prometheus_client import Counter, Gauge, Histogram

STATE_CODES = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_OPEN: 1, pybreaker.STATE_HALF_OPEN: 2}
CALL_RESULTS = ("success", "failure", "rejected", "business")

BREAKER_STATE = Gauge("pms_circuit_breaker_state", "PMS circuit breaker state: 0 closed, 1 open, 2 half-open")
# One series per PMS when hotels book in their own PMS (the gauge above follows the process-wide one).
BREAKER_STATE_BY_PMS = Gauge("pms_circuit_breaker_state_by_pms",
                             "Circuit breaker state of each PMS: 0 closed, 1 open, 2 half-open", ["pms"])
DEFAULT_BREAKER = "pms"
BREAKER_CALLS = Counter(
    "pms_circuit_breaker_calls",
    "PMS calls through the circuit breaker by operation and result "
    "(success; failure: the PMS failed; rejected: circuit open, not attempted; business: a normal 'no' answer)",
    ["operation", "result"],
)
PMS_LATENCY = Histogram(
    "pms_api_latency_seconds",
    "Duration of PMS calls that were attempted, whatever their result",
    ["operation"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def record_call(operation: str, result: str) -> None:
    if result not in CALL_RESULTS:
        raise ValueError(f"unknown PMS call result {result!r}")
    BREAKER_CALLS.labels(operation=operation, result=result).inc()


def record_state(state_name: str, breaker_name: str = DEFAULT_BREAKER) -> None:
    BREAKER_STATE_BY_PMS.labels(pms=breaker_name).set(STATE_CODES[state_name])
    if breaker_name == DEFAULT_BREAKER:
        BREAKER_STATE.set(STATE_CODES[state_name])


def observe_breaker(breaker: pybreaker.CircuitBreaker) -> None:
    """Set the gauge from the breaker's storage (Redis when shared). Blocking: call it in a thread."""
    record_state(breaker.current_state, breaker.name or DEFAULT_BREAKER)


class BreakerStateListener(pybreaker.CircuitBreakerListener):
    """Keeps the state gauge right at the moment this process changes the state."""

    def state_change(self, cb, old_state, new_state) -> None:
        record_state(new_state.name, cb.name or DEFAULT_BREAKER)
