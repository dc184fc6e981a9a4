"""Prometheus metrics of the dead-letter queue (names fixed by
docs/production-contract.md), in the process's default registry.

``DLQMetrics`` records them; ``NullMetrics`` records nothing (benchmarks,
read-only tools such as the staff console).
"""
from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter("dlq_messages_total", "Entries put into the dead-letter queue", ["kind", "reason"])
RETRIES = Counter("dlq_retries_total", "Retries run by the DLQ worker (success, failure, permanent)", ["kind", "result"])
PERMANENT_FAILURES = Counter("dlq_permanent_failures_total", "Entries moved to the permanent-failure table", ["kind"])
RETRY_LATENCY = Histogram(
    "dlq_retry_latency_seconds",
    "Time a retry handler took",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
QUEUE_SIZE = Gauge("dlq_queue_size", "Entries waiting in the dead-letter queue (queued, retrying or spooled)")


class DLQMetrics:
    def enqueued(self, kind: str, reason: str) -> None:
        MESSAGES.labels(kind=kind, reason=reason).inc()

    def retried(self, kind: str, result: str, seconds: float) -> None:
        RETRIES.labels(kind=kind, result=result).inc()
        RETRY_LATENCY.labels(kind=kind).observe(seconds)

    def permanent(self, kind: str) -> None:
        PERMANENT_FAILURES.labels(kind=kind).inc()

    def queue_size(self, size: int) -> None:
        QUEUE_SIZE.set(size)


class NullMetrics(DLQMetrics):
    def enqueued(self, kind: str, reason: str) -> None:
        pass

    def retried(self, kind: str, result: str, seconds: float) -> None:
        pass

    def permanent(self, kind: str) -> None:
        pass

    def queue_size(self, size: int) -> None:
        pass
