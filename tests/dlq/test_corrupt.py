"""A damaged entry goes to the permanent table with a clear error; it neither
crashes the worker nor blocks the entries next to it, and is not retried again."""
from sqlalchemy import create_engine, select

from dlq import RetryWorker
from dlq.permanent import PERMANENT_FAILURES

KIND = "gmail.inbound"


async def test_corrupt_json_payload_is_buried_and_the_rest_proceed(make_queue, redis_client, prefix, clock, sqlite_url):
    queue = make_queue("redis")
    broken = await queue.enqueue(KIND, {"message": "m1"}, error="Rasa 500", reason="rasa_unavailable")
    healthy = await queue.enqueue(KIND, {"message": "m2"}, error="Rasa 500", reason="rasa_unavailable")
    await redis_client.hset(f"{prefix}:messages:{broken.id}", "payload", '{"message": "m1"')  # truncated JSON
    handled, buried = [], []
    worker = RetryWorker(queue, {KIND: handled.append}, on_permanent=buried.append)
    clock.advance(60)
    report = await worker.run_once()
    assert (report.claimed, report.succeeded) == (1, 1)
    assert [e.id for e in handled] == [healthy.id]
    assert await redis_client.exists(f"{prefix}:messages:{broken.id}") == 0
    assert await redis_client.zcard(f"{prefix}:schedule:{KIND}") == 0
    engine = create_engine(sqlite_url, future=True)
    with engine.connect() as connection:
        row = connection.execute(select(PERMANENT_FAILURES).where(PERMANENT_FAILURES.c.id == broken.id)).one()
    engine.dispose()
    assert row.reason == "corrupt_entry" and row.kind == KIND
    assert row.error.startswith(f"CorruptEntry: corrupt entry '{broken.id}': ")
    assert row.payload["raw"]["payload"] == '{"message": "m1"'
    clock.advance(10_000)
    assert (await worker.run_once()).claimed == 0


async def test_a_value_that_is_not_even_a_hash_is_buried(make_queue, redis_client, prefix, clock):
    queue = make_queue("redis")
    entry = await queue.enqueue(KIND, {"message": "m1"}, error="Rasa 500", reason="rasa_unavailable")
    await redis_client.delete(f"{prefix}:messages:{entry.id}")
    await redis_client.set(f"{prefix}:messages:{entry.id}", "garbage")
    clock.advance(60)
    assert (await RetryWorker(queue, {KIND: lambda e: None}).run_once()).claimed == 0
    [buried] = await queue.list_permanent()
    assert buried.id == entry.id and "missing field" in buried.error
    assert await redis_client.exists(f"{prefix}:messages:{entry.id}") == 0


async def test_impossible_attempt_counts_are_corrupt(make_queue, redis_client, prefix, clock):
    queue = make_queue("redis")
    entry = await queue.enqueue(KIND, {"message": "m1"}, error="Rasa 500", reason="rasa_unavailable")
    await redis_client.hset(f"{prefix}:messages:{entry.id}", "attempts", "many")
    clock.advance(60)
    await RetryWorker(queue, {KIND: lambda e: None}).run_once()
    [buried] = await queue.list_permanent()
    assert "invalid literal for int()" in buried.error
    assert await queue.size() == 0
