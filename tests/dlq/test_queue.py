"""Queue and worker behaviour shared by the Redis and in-process backends:
enqueue, backoff 60/120/240, success, permanent after 3 failures, retry_now,
kinds, batch limit. The clock is moved by hand; nothing sleeps."""
import pytest

from dlq import PermanentFailure, RetryWorker

KIND = "pms.create_booking"
PAYLOAD = {"check_in": "2026-12-05", "check_out": "2026-12-08", "guests": 2, "name": "Ana"}


class Handler:
    """Records every call; fails while ``failing`` is set."""

    def __init__(self, failing=None):
        self.failing = failing
        self.calls = []

    async def __call__(self, entry):
        self.calls.append(entry)
        if self.failing is not None:
            raise self.failing


async def enqueue(queue, kind=KIND, **extra):
    return await queue.enqueue(kind, PAYLOAD, error="PMSUnavailable: circuit open", conversation_id="346001@123",
                               reason="pms_unavailable", **extra)


async def test_enqueue_keeps_the_entry_due_after_the_backoff_base(make_queue, backend, clock):
    queue = make_queue(backend)
    entry = await enqueue(queue)
    assert (entry.status, entry.attempts, entry.max_retries) == ("queued", 0, 3)
    assert entry.first_failed_at == clock.now and entry.next_retry_at == clock.now + 60
    assert await queue.get(entry.id) == entry
    assert await queue.size() == 1
    assert [e.id for e in await queue.list_queued()] == [entry.id]


async def test_backoff_60_120_240_then_permanent(make_queue, backend, clock):
    queue = make_queue(backend)
    handler = Handler(failing=ConnectionError("PMS down"))
    became_permanent = []
    worker = RetryWorker(queue, {KIND: handler}, on_permanent=became_permanent.append)
    entry = await enqueue(queue)
    start = clock.now
    for retry, wait in enumerate((60, 120, 240), start=1):
        clock.advance(wait - 1)
        assert (await worker.run_once()).claimed == 0, f"retry {retry} ran before its backoff"
        clock.advance(1)
        report = await worker.run_once()
        assert report.claimed == 1
        assert handler.calls[-1].attempts == retry - 1
    assert clock.now - start == 60 + 120 + 240
    assert len(handler.calls) == 3 and report.permanent == 1
    assert await queue.size() == 0
    [failed] = became_permanent
    assert (failed.id, failed.status, failed.attempts, failed.error) == (entry.id, "permanent", 3, "ConnectionError: PMS down")
    assert (await queue.get(entry.id)).status == "permanent"
    clock.advance(10_000)
    assert (await worker.run_once()).claimed == 0, "a permanent entry must not be retried"


async def test_schedule_after_each_failure(make_queue, backend, clock):
    queue = make_queue(backend)
    worker = RetryWorker(queue, {KIND: Handler(failing=RuntimeError("no"))})
    entry = await enqueue(queue)
    clock.advance(60)
    await worker.run_once()
    after_first = await queue.get(entry.id)
    assert (after_first.attempts, after_first.next_retry_at - clock.now, after_first.status) == (1, 120, "queued")
    assert after_first.last_retry_at == clock.now and after_first.error == "RuntimeError: no"
    clock.advance(120)
    await worker.run_once()
    assert (await queue.get(entry.id)).next_retry_at - clock.now == 240


async def test_success_removes_the_entry(make_queue, backend, clock):
    queue = make_queue(backend)
    handler = Handler()
    worker = RetryWorker(queue, {KIND: handler})
    entry = await enqueue(queue)
    clock.advance(60)
    report = await worker.run_once()
    assert (report.claimed, report.succeeded) == (1, 1)
    assert handler.calls[0].payload == PAYLOAD and handler.calls[0].conversation_id == "346001@123"
    assert await queue.get(entry.id) is None
    assert await queue.size() == 0 and await queue.list_permanent() == []


async def test_permanent_failure_skips_the_remaining_retries(make_queue, backend, clock):
    queue = make_queue(backend)
    became_permanent = []
    worker = RetryWorker(queue, {KIND: Handler(failing=PermanentFailure("booking BK1 no longer exists"))},
                         on_permanent=became_permanent.append)
    entry = await enqueue(queue)
    clock.advance(60)
    assert (await worker.run_once()).permanent == 1
    [stored] = await queue.list_permanent()
    assert (stored.id, stored.attempts, stored.error) == (entry.id, 1, "PermanentFailure: booking BK1 no longer exists")
    assert [e.id for e in became_permanent] == [entry.id]


async def test_retry_now_makes_a_queued_entry_due(make_queue, backend, clock):
    queue = make_queue(backend)
    handler = Handler()
    worker = RetryWorker(queue, {KIND: handler})
    entry = await enqueue(queue)
    assert (await worker.run_once()).claimed == 0
    due = await queue.retry_now(entry.id)
    assert (due.id, due.next_retry_at, due.status) == (entry.id, clock.now, "queued")
    assert (await worker.run_once()).succeeded == 1
    assert await queue.retry_now("no-such-entry") is None


async def test_retry_now_requeues_a_permanent_entry_with_attempts_reset(make_queue, backend, clock):
    queue = make_queue(backend)
    handler = Handler(failing=TimeoutError("PMS timeout"))
    worker = RetryWorker(queue, {KIND: handler})
    entry = await enqueue(queue)
    for wait in (60, 120, 240):
        clock.advance(wait)
        await worker.run_once()
    assert [e.id for e in await queue.list_permanent()] == [entry.id]
    clock.advance(3600)
    requeued = await queue.retry_now(entry.id)
    assert (requeued.status, requeued.attempts, requeued.next_retry_at) == ("queued", 0, clock.now)
    assert requeued.first_failed_at == entry.first_failed_at and requeued.payload == PAYLOAD
    assert await queue.list_permanent() == []
    assert (await queue.retry_now(entry.id)).status == "queued"  # a second click changes nothing
    handler.failing = None
    assert (await worker.run_once()).succeeded == 1
    assert len(handler.calls) == 4 and await queue.size() == 0


async def test_retry_now_leaves_an_entry_that_is_being_retried(make_queue, backend, clock):
    queue = make_queue(backend)
    entry = await enqueue(queue)
    clock.advance(60)
    [claimed] = await queue.claim_due([KIND], 10)
    busy = await queue.retry_now(entry.id)
    assert busy.status == "retrying"
    assert (await queue.get(entry.id)).lease_until == claimed.lease_until


async def test_worker_claims_only_its_kinds(make_queue, backend, clock):
    queue = make_queue(backend)
    pms, whatsapp = Handler(), Handler()
    await enqueue(queue, kind="pms.cancel_booking")
    sent = await queue.enqueue("whatsapp.send", {"to": "34600111222", "text": "hola"}, error="HTTP 503", reason="graph_unavailable")
    clock.advance(60)
    report = await RetryWorker(queue, {"pms.cancel_booking": pms}).run_once()
    assert (report.claimed, len(pms.calls), len(whatsapp.calls)) == (1, 1, 0)
    assert (await queue.get(sent.id)).status == "queued"
    assert (await RetryWorker(queue, {"whatsapp.send": whatsapp}).run_once()).succeeded == 1


async def test_a_tick_runs_at_most_batch_entries(make_queue, backend, clock):
    queue = make_queue(backend)
    handler = Handler()
    worker = RetryWorker(queue, {KIND: handler}, batch=10)
    for _ in range(25):
        await enqueue(queue)
    clock.advance(60)
    assert [(await worker.run_once()).succeeded for _ in range(4)] == [10, 10, 5, 0]
    assert len({e.id for e in handler.calls}) == 25


async def test_a_handler_that_outlives_its_time_limit_is_a_failure(make_queue, backend, clock):
    import asyncio

    queue = make_queue(backend)

    async def hangs(entry):
        await asyncio.sleep(30)

    worker = RetryWorker(queue, {KIND: hangs}, handler_timeout=0.05)
    entry = await enqueue(queue)
    clock.advance(60)
    assert (await worker.run_once()).failed == 1
    stored = await queue.get(entry.id)
    assert (stored.attempts, stored.error) == (1, "handler timed out after 0.05s")


@pytest.mark.parametrize("kind, payload, reason, message", [
    ("createBooking", {}, "error", "kind must look like"),
    (KIND, ["not", "a", "dict"], "error", "payload must be a JSON object"),
    (KIND, {"when": object()}, "error", "not JSON-serialisable"),
    (KIND, {}, "PMS Unavailable!", "reason must be a short snake_case word"),
])
async def test_bad_input_is_refused_with_a_clear_error(make_queue, backend, kind, payload, reason, message):
    queue = make_queue(backend)
    with pytest.raises(ValueError, match=message):
        await queue.enqueue(kind, payload, error="x", reason=reason)
    assert await queue.size() == 0


async def test_worker_start_and_stop(make_queue, backend, clock):
    import asyncio

    queue = make_queue(backend)
    done = asyncio.Event()

    async def handler(entry):
        done.set()

    worker = RetryWorker(queue, {KIND: handler}, interval=0.02)
    await enqueue(queue)
    clock.advance(60)
    worker.start()
    await asyncio.wait_for(done.wait(), timeout=5)
    await worker.stop()
    assert await queue.size() == 0


async def test_a_failing_on_permanent_callback_does_not_stop_the_worker(make_queue, backend, clock):
    queue = make_queue(backend)

    def broken_callback(entry):
        raise RuntimeError("notification service down")

    worker = RetryWorker(queue, {KIND: Handler(failing=PermanentFailure("gone"))}, on_permanent=broken_callback)
    await enqueue(queue)
    await enqueue(queue)
    clock.advance(60)
    assert (await worker.run_once()).permanent == 2
    assert len(await queue.list_permanent()) == 2


async def test_stop_cancels_handlers_that_outlast_the_grace_period(make_queue, backend, clock):
    import asyncio

    queue = make_queue(backend)
    started = asyncio.Event()

    async def hangs(entry):
        started.set()
        await asyncio.sleep(30)

    worker = RetryWorker(queue, {KIND: hangs}, interval=0.02)
    entry = await enqueue(queue)
    clock.advance(60)
    worker.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await asyncio.wait_for(worker.stop(grace=0.1), timeout=5)
    assert (await queue.get(entry.id)).status == "retrying", "left to come back after its lease"


@pytest.mark.parametrize("entry_id", ["", "../../etc/passwd", "a b", "x" * 65, "*", None])
async def test_ids_that_name_no_entry_are_unknown(make_queue, backend, entry_id):
    queue = make_queue(backend)
    await enqueue(queue)
    assert await queue.get(entry_id) is None
    assert await queue.retry_now(entry_id) is None
    assert await queue.succeed(entry_id) is False
    assert await queue.fail(entry_id, "x") is None
    assert await queue.size() == 1
