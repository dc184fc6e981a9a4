"""Redis outages against a private redis-server we kill and restart: an entry
enqueued while Redis is down waits in the SQL spool and is retried once Redis is
back; the worker keeps polling and says so once; AOF keeps queued entries
across a restart."""
import asyncio
import json
import logging

import pytest
from sqlalchemy.exc import OperationalError

from dlq import DLQSettings, QueueUnavailable, RetryWorker, build_queue

KIND = "pms.create_booking"
PAYLOAD = {"check_in": "2026-12-05", "nights": 3}


@pytest.fixture
async def private_queue(private_redis, sqlite_url, clock):
    queue = build_queue(DLQSettings(redis_url=private_redis.url, database_url=sqlite_url), prefix="dlq", clock=clock)
    yield queue
    await queue.close()


async def test_enqueue_while_redis_is_down_spools_then_the_worker_moves_and_runs_it(private_queue, private_redis, clock, caplog):
    queue = private_queue
    handled = []
    worker = RetryWorker(queue, {KIND: handled.append})
    private_redis.kill()
    entry = await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable: circuit open", reason="pms_unavailable")
    assert [json.loads(spooled)["id"] for spooled in await queue.spool.list(10)] == [entry.id]
    clock.advance(60)
    with caplog.at_level(logging.ERROR, logger="dlq.worker"):
        reports = [await worker.run_once() for _ in range(3)]
    assert all(report.queue_unavailable for report in reports)
    assert caplog.text.count("the DLQ worker keeps polling") == 1, "an outage is logged once, not every tick"
    assert await queue.spool.count() == 1, "nothing leaves the spool while Redis is down"

    private_redis.start()
    report = await worker.run_once()
    assert (report.unspooled, report.claimed, report.succeeded) == (1, 1, 1)
    assert [(e.id, e.payload) for e in handled] == [(entry.id, PAYLOAD)]
    assert await queue.spool.count() == 0 and await queue.size() == 0


async def test_a_spooled_entry_keeps_its_schedule(private_queue, private_redis, clock):
    queue = private_queue
    private_redis.kill()
    entry = await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable: circuit open", reason="pms_unavailable")
    private_redis.start()
    worker = RetryWorker(queue, {KIND: lambda e: None})
    report = await worker.run_once()
    assert (report.unspooled, report.claimed) == (1, 0), "moved into Redis but not due before its backoff"
    moved = await queue.get(entry.id)
    assert (moved.status, moved.next_retry_at) == ("queued", entry.next_retry_at)
    clock.advance(60)
    assert (await worker.run_once()).succeeded == 1


async def test_staff_see_and_retry_spooled_entries(private_queue, private_redis, clock):
    queue = private_queue
    private_redis.kill()
    entry = await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable: circuit open", reason="pms_unavailable")
    with pytest.raises(QueueUnavailable, match="unavailable"):
        await queue.list_queued()
    private_redis.start()
    assert [e.id for e in await queue.list_queued()] == [entry.id]
    assert await queue.size() == 1
    assert (await queue.retry_now(entry.id)).next_retry_at == clock.now
    assert (await RetryWorker(queue, {KIND: lambda e: None}).run_once()).succeeded == 1


async def test_a_handler_outcome_lost_in_an_outage_is_retried_after_the_lease(private_queue, private_redis, clock):
    queue = private_queue
    entry = await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable: circuit open", reason="pms_unavailable")
    calls = []

    async def redis_dies_during_the_handler(dead_letter):
        calls.append(dead_letter.attempts)
        if len(calls) == 1:
            private_redis.stop()  # Redis goes away while the handler runs (SIGTERM: its AOF keeps the claim)

    worker = RetryWorker(queue, {KIND: redis_dies_during_the_handler})
    clock.advance(60)
    assert (await worker.run_once()).succeeded == 0, "the success could not be recorded"
    private_redis.start()
    assert (await queue.get(entry.id)).status == "retrying"
    clock.advance(queue.settings.lease_seconds)
    assert (await worker.run_once()).succeeded == 1
    assert calls == [0, 1], "at least once: the handler ran again after the lease"


async def test_aof_keeps_queued_entries_across_a_redis_restart(private_queue, private_redis, clock):
    queue = private_queue
    entries = [await queue.enqueue(KIND, {"n": n}, error="PMSUnavailable", conversation_id=f"c{n}",
                                   reason="pms_unavailable") for n in range(3)]
    private_redis.stop()
    private_redis.start()
    assert sorted(e.id for e in await queue.list_queued()) == sorted(e.id for e in entries)
    assert await queue.get(entries[1].id) == entries[1]
    handled = []
    clock.advance(60)
    assert (await RetryWorker(queue, {KIND: handled.append}).run_once()).succeeded == 3
    assert sorted(e.payload["n"] for e in handled) == [0, 1, 2]


async def test_with_redis_and_the_spool_database_both_down_enqueue_raises(private_redis, tmp_path, clock):
    queue = build_queue(DLQSettings(redis_url=private_redis.url, database_url=f"sqlite:///{tmp_path}/missing/dir/x.db"),
                        clock=clock)
    (tmp_path / "missing" / "dir").rmdir()  # the spool cannot be written either
    private_redis.kill()
    with pytest.raises(OperationalError, match="unable to open database file"):
        await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable", reason="pms_unavailable")
    await queue.close()


async def test_two_workers_draining_the_spool_move_each_entry_once(private_redis, database_url, clock):
    settings = DLQSettings(redis_url=private_redis.url, database_url=database_url)
    first, second = (build_queue(settings, prefix="dlq", clock=clock) for _ in range(2))
    private_redis.kill()
    ids = {(await first.enqueue(KIND, {"n": n}, error="PMSUnavailable", reason="pms_unavailable")).id for n in range(20)}
    private_redis.start()
    moved = await asyncio.gather(first.drain_spool(limit=50), second.drain_spool(limit=50))
    assert sum(moved) == 20, f"a spooled row was moved by both workers: {moved}"
    assert {e.id for e in await first.list_queued()} == ids
    assert await first.spool.count() == 0
    await first.close()
    await second.close()


async def test_a_spool_database_outage_does_not_stop_retries_from_redis(private_redis, tmp_path, clock, caplog):
    spool_dir = tmp_path / "spool"
    queue = build_queue(DLQSettings(redis_url=private_redis.url, database_url=f"sqlite:///{spool_dir}/dlq.db"), clock=clock)
    entry = await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable", reason="pms_unavailable")
    spool_dir.rmdir()  # the database cannot even be created now
    handled = []
    worker = RetryWorker(queue, {KIND: handled.append})
    clock.advance(60)
    with caplog.at_level(logging.ERROR, logger="dlq.worker"):
        report = await worker.run_once()
        await worker.run_once()
    assert (report.succeeded, [e.id for e in handled]) == (1, [entry.id])
    assert caplog.text.count("spool database unavailable") == 1
    await queue.close()


async def test_a_full_redis_spools_the_entry_instead_of_losing_it(private_queue, private_redis, clock):
    import redis

    queue = private_queue
    admin = redis.Redis.from_url(private_redis.url)
    admin.config_set("maxmemory", 1)  # noeviction: every write answers OOM
    entry = await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable", reason="pms_unavailable")
    assert [json.loads(spooled)["id"] for spooled in await queue.spool.list(10)] == [entry.id]
    admin.config_set("maxmemory", 0)
    admin.close()
    clock.advance(60)
    assert (await RetryWorker(queue, {KIND: lambda e: None}).run_once()).succeeded == 1
