"""The permanent-failure table on PostgreSQL and SQLite: three failures write a
row with every column and remove the entry from Redis; staff requeue it."""
import datetime as dt

from sqlalchemy import create_engine, select

from dlq import RetryWorker
from dlq.permanent import PERMANENT_FAILURES

KIND = "pms.set_late_checkout"
PAYLOAD = {"booking": "BK100001", "until": "14:00", "notes": ["ñandú", 3]}


async def fail_three_times(queue, clock):
    async def pms_down(entry):
        raise ConnectionError("PMS down")

    worker = RetryWorker(queue, {KIND: pms_down})
    entry = await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable: circuit open", conversation_id="guest-7",
                                reason="pms_unavailable")
    for wait in (60, 120, 240):
        clock.advance(wait)
        await worker.run_once()
    return entry


def read_row(database_url, entry_id):
    engine = create_engine(database_url, future=True)
    with engine.connect() as connection:
        row = connection.execute(select(PERMANENT_FAILURES).where(PERMANENT_FAILURES.c.id == entry_id)).one()
    engine.dispose()
    return row


def utc(epoch):
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None)


async def test_three_failures_write_a_row_and_leave_redis(make_queue, database_url, redis_client, prefix, clock):
    queue = make_queue("redis", database_url=database_url)
    start = clock.now
    entry = await fail_three_times(queue, clock)
    row = read_row(database_url, entry.id)
    assert (row.kind, row.conversation_id, row.reason, row.retry_count, row.max_retries) == (KIND, "guest-7", "pms_unavailable", 3, 3)
    assert row.payload == PAYLOAD
    assert row.error == "ConnectionError: PMS down"
    assert row.first_failed_at == utc(start)
    assert row.last_retry_at == utc(start + 60 + 120 + 240)
    assert row.failed_at == utc(clock.now) and row.requeued_at is None
    assert await redis_client.exists(f"{prefix}:messages:{entry.id}") == 0
    assert await redis_client.zcard(f"{prefix}:schedule:{KIND}") == 0


async def test_requeue_marks_the_row_and_a_new_failure_reopens_it(make_queue, database_url, clock):
    queue = make_queue("redis", database_url=database_url)
    entry = await fail_three_times(queue, clock)
    clock.advance(600)
    await queue.retry_now(entry.id)
    row = read_row(database_url, entry.id)
    assert row.requeued_at == utc(clock.now)
    assert await queue.list_permanent() == [] and await queue.get(entry.id) is not None
    again = clock.now
    async def pms_down(entry):
        raise ConnectionError("still down")

    worker = RetryWorker(queue, {KIND: pms_down})
    await worker.run_once()  # due now
    for wait in (120, 240):
        clock.advance(wait)
        await worker.run_once()
    row = read_row(database_url, entry.id)
    assert (row.requeued_at, row.retry_count, row.error) == (None, 3, "ConnectionError: still down")
    assert row.last_retry_at == utc(again + 120 + 240)
    [listed] = await queue.list_permanent()
    assert (listed.id, listed.payload, listed.status) == (entry.id, PAYLOAD, "permanent")


async def test_list_permanent_is_newest_first_and_limited(make_queue, database_url, clock):
    queue = make_queue("memory", database_url=database_url)
    ids = []
    for _ in range(3):
        ids.append((await fail_three_times(queue, clock)).id)
    assert [e.id for e in await queue.list_permanent()] == ids[::-1]
    assert [e.id for e in await queue.list_permanent(limit=2)] == ids[:0:-1]
