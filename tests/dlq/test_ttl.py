"""Entries expire DLQ_TTL_DAYS after enqueue, so Redis cannot fill up with
entries no worker handles."""
import logging

from dlq import RetryWorker

KIND = "gmail.send"


async def test_redis_hash_expires_after_seven_days(make_queue, redis_client, prefix):
    queue = make_queue("redis")
    entry = await queue.enqueue(KIND, {"thread": "t1"}, error="HTTP 500", reason="gmail_unavailable")
    ttl = await redis_client.ttl(f"{prefix}:messages:{entry.id}")
    assert 7 * 86400 - 5 <= ttl <= 7 * 86400


async def test_ttl_survives_a_failed_retry(make_queue, redis_client, prefix, clock):
    queue = make_queue("redis", ttl_days=1)

    async def fails(entry):
        raise RuntimeError("no")

    entry = await queue.enqueue(KIND, {"thread": "t1"}, error="HTTP 500", reason="gmail_unavailable")
    clock.advance(60)
    await RetryWorker(queue, {KIND: fails}).run_once()
    assert (await queue.get(entry.id)).attempts == 1
    assert 86400 - 5 <= await redis_client.ttl(f"{prefix}:messages:{entry.id}") <= 86400


async def test_an_expired_entry_is_dropped_from_the_schedule_and_logged(make_queue, redis_client, prefix, clock, caplog):
    queue = make_queue("redis")
    entry = await queue.enqueue(KIND, {"thread": "t1"}, error="HTTP 500", reason="gmail_unavailable")
    await redis_client.delete(f"{prefix}:messages:{entry.id}")  # what the TTL does after 7 days
    clock.advance(60)
    with caplog.at_level(logging.ERROR, logger="dlq.queue"):
        assert (await RetryWorker(queue, {KIND: lambda e: None}).run_once()).claimed == 0
    assert f"DLQ entry {entry.id} expired" in caplog.text
    assert await redis_client.zcard(f"{prefix}:schedule:{KIND}") == 0


async def test_in_process_entries_expire_too(make_queue, clock):
    queue = make_queue("memory", ttl_days=7)
    await queue.enqueue(KIND, {"thread": "t1"}, error="HTTP 500", reason="gmail_unavailable")
    clock.advance(7 * 86400 - 1)
    assert await queue.size() == 1
    clock.advance(1)
    assert await queue.size() == 0
