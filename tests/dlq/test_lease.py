"""Leases: an entry claimed by a worker that dies is due again after
DLQ_LEASE_SECONDS and another worker retries it; the dead worker's unfinished
retry counts as an attempt; a worker whose lease ran out cannot overwrite the
result of the worker that took over."""
import asyncio
import subprocess
import sys
import time
from pathlib import Path

from dlq import DLQSettings, RetryWorker, build_queue

KIND = "rasa.notify"
PROJECT = Path(__file__).resolve().parents[2]


async def test_a_dead_workers_entry_is_retried_after_the_lease(make_queue, backend, clock):
    queue = make_queue(backend, lease_seconds=300)
    entry = await queue.enqueue(KIND, {"conversation": "c1"}, error="Rasa API 503", reason="rasa_unavailable")
    clock.advance(60)
    [claimed] = await queue.claim_due([KIND], 10)  # this worker "dies" here: never reports back
    assert claimed.status == "retrying" and claimed.lease_until == clock.now + 300
    handled = []
    worker = RetryWorker(queue, {KIND: handled.append})
    clock.advance(299)
    assert (await worker.run_once()).claimed == 0, "taken over before the lease ended"
    clock.advance(1)
    assert (await worker.run_once()).succeeded == 1
    [retried] = handled
    assert (retried.id, retried.attempts) == (entry.id, 1), "the dead worker's retry counts as an attempt"
    assert retried.error.startswith("lease expired")
    assert await queue.get(entry.id) is None


async def test_a_late_worker_cannot_overwrite_the_new_holder(make_queue, backend, clock):
    queue = make_queue(backend, lease_seconds=300)
    entry = await queue.enqueue(KIND, {"conversation": "c1"}, error="Rasa API 503", reason="rasa_unavailable")
    clock.advance(60)
    [slow] = await queue.claim_due([KIND], 10)
    clock.advance(300)
    [fresh] = await queue.claim_due([KIND], 10)
    assert fresh.claim != slow.claim
    assert await queue.succeed(entry.id, claim=slow.claim) is False
    assert await queue.fail(entry.id, "late failure", claim=slow.claim) is None
    assert (await queue.get(entry.id)).claim == fresh.claim
    assert await queue.succeed(entry.id, claim=fresh.claim) is True
    assert await queue.get(entry.id) is None


async def test_death_during_the_last_retry_makes_the_entry_permanent_without_running_it(make_queue, backend, clock):
    queue = make_queue(backend, lease_seconds=300, max_retries=1)
    entry = await queue.enqueue(KIND, {"conversation": "c1"}, error="Rasa API 503", reason="rasa_unavailable")
    clock.advance(60)
    await queue.claim_due([KIND], 10)  # the only retry; its worker dies (e.g. the handler crashes the process)
    clock.advance(300)
    handled, buried = [], []
    report = await RetryWorker(queue, {KIND: handled.append}, on_permanent=buried.append).run_once()
    assert (report.claimed, report.permanent, handled) == (1, 1, [])
    assert [(e.id, e.attempts) for e in buried] == [(entry.id, 1)]
    assert [e.id for e in await queue.list_permanent()] == [entry.id]


async def test_a_killed_worker_process_leaves_the_entry_to_another_process(redis_client, prefix, sqlite_url):
    settings = DLQSettings(redis_url="redis://127.0.0.1:6379/0", database_url=sqlite_url, lease_seconds=2)
    queue = build_queue(settings, prefix=prefix, clock=lambda: time.time() - 3600)  # enqueued an hour ago: due
    entry = await queue.enqueue(KIND, {"conversation": "c1"}, error="Rasa API 503", reason="rasa_unavailable")
    await queue.close()
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.dlq.worker_process", "hang", settings.redis_url, prefix, sqlite_url, KIND, "2"],
        cwd=PROJECT,
    )
    try:
        deadline = time.monotonic() + 30
        while await redis_client.get(f"{prefix}:hung") != entry.id:
            assert child.poll() is None and time.monotonic() < deadline, "the child never claimed the entry"
            await asyncio.sleep(0.02)
    finally:
        child.kill()
        child.wait()
    claimed_at = time.time()
    queue = build_queue(settings, prefix=prefix)
    handled = []
    worker = RetryWorker(queue, {KIND: handled.append})
    assert (await worker.run_once()).claimed == 0, "the lease of the killed worker still holds"
    await asyncio.sleep(max(0.0, claimed_at + 2.1 - time.time()))
    assert (await worker.run_once()).succeeded == 1
    assert [(e.id, e.attempts) for e in handled] == [(entry.id, 1)]
    await queue.close()
