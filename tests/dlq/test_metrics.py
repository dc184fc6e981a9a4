"""The contract's dlq_* metrics move as entries are enqueued, retried and buried
(read from prometheus_client's default registry)."""
import uuid

from prometheus_client import REGISTRY

from dlq import PermanentFailure, RetryWorker


def sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_metrics_follow_the_entries(make_queue, backend, clock):
    queue = make_queue(backend)
    kind = f"pms.metrics_{uuid.uuid4().hex[:8]}"  # labels of this test only
    outcomes = iter([None, RuntimeError("PMS down"), PermanentFailure("booking gone")])

    async def handler(entry):
        outcome = next(outcomes)
        if outcome is not None:
            raise outcome

    for _ in range(3):
        await queue.enqueue(kind, {"x": 1}, error="PMSUnavailable", reason="pms_unavailable")
    await queue.enqueue(kind, {"x": 2}, error="timeout", reason="pms_timeout")
    assert sample("dlq_messages_total", kind=kind, reason="pms_unavailable") == 3
    assert sample("dlq_messages_total", kind=kind, reason="pms_timeout") == 1

    worker = RetryWorker(queue, {kind: handler}, batch=3)
    clock.advance(60)
    await worker.run_once()
    assert sample("dlq_retries_total", kind=kind, result="success") == 1
    assert sample("dlq_retries_total", kind=kind, result="failure") == 1
    assert sample("dlq_retries_total", kind=kind, result="permanent") == 1
    assert sample("dlq_permanent_failures_total", kind=kind) == 1
    assert sample("dlq_retry_latency_seconds_count", kind=kind) == 3
    assert sample("dlq_retry_latency_seconds_sum", kind=kind) > 0
    assert sample("dlq_queue_size") == 2 == await queue.size()  # the failed one and the one not yet claimed


async def test_a_queue_built_without_metrics_records_none(make_queue, clock, sqlite_url, prefix):
    from dlq import DLQSettings, build_queue

    queue = build_queue(DLQSettings(database_url=sqlite_url), prefix=prefix, record_metrics=False, clock=clock)
    kind = f"pms.quiet_{uuid.uuid4().hex[:8]}"
    await queue.enqueue(kind, {}, error="x", reason="pms_unavailable")
    clock.advance(60)
    await RetryWorker(queue, {kind: lambda entry: None}).run_once()
    assert sample("dlq_messages_total", kind=kind, reason="pms_unavailable") == 0
    assert sample("dlq_retries_total", kind=kind, result="success") == 0
    await queue.close()
