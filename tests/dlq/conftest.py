"""Fixtures of the dead-letter queue tests: the machine's real Redis with a key
prefix of its own per test (deleted after), a PostgreSQL database created for
this session (dropped after), SQLite files, a clock the test moves by hand."""
from __future__ import annotations

import uuid
from typing import Callable, List

import pytest
import redis.asyncio as aioredis
from sqlalchemy import create_engine, text

from dlq import DeadLetterQueue, DLQSettings, build_queue
from tests.stack_common import PrivateRedis, fresh_postgres_database, redis_answers

REDIS_URL = "redis://127.0.0.1:6379/0"


class Clock:
    """Epoch seconds that move only when the test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def shared_redis_url() -> str:
    if not redis_answers(REDIS_URL):
        pytest.fail(f"the DLQ tests need the machine's Redis at {REDIS_URL}")
    return REDIS_URL


@pytest.fixture
def prefix() -> str:
    return f"dlqtest:{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def redis_client(shared_redis_url, prefix):
    """A raw client to look at (and tamper with) the queue's keys; deletes them after."""
    client = aioredis.Redis.from_url(shared_redis_url, decode_responses=True)
    yield client
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.close()


@pytest.fixture(scope="session")
def postgres_url():
    """A database of its own for this test session, dropped at the end."""
    with fresh_postgres_database("dlq_test") as database:
        yield database.url()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'dlq.sqlite3'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, sqlite_url):
    """Each permanent-table test runs on SQLite and on PostgreSQL (emptied after)."""
    if request.param == "sqlite":
        yield sqlite_url
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    engine = create_engine(url, future=True)
    with engine.begin() as connection:
        for table in ("dlq_permanent_failures", "dlq_spool"):
            connection.execute(text(f"DELETE FROM {table}")) if engine.dialect.has_table(connection, table) else None
    engine.dispose()


@pytest.fixture
async def make_queue(clock, prefix, sqlite_url, redis_client) -> Callable[..., DeadLetterQueue]:
    """``make_queue("redis" | "memory", database_url=..., redis_url=..., **settings)``."""
    queues: List[DeadLetterQueue] = []

    def make(backend: str = "redis", *, database_url: str = "", redis_url: str = REDIS_URL, **settings) -> DeadLetterQueue:
        config = DLQSettings(
            redis_url=redis_url if backend == "redis" else "",
            database_url=database_url or sqlite_url,
            **settings,
        )
        queue = build_queue(config, prefix=prefix, clock=clock)
        queues.append(queue)
        return queue

    yield make
    for queue in queues:
        await queue.close()


@pytest.fixture(params=["memory", "redis"])
def backend(request) -> str:
    return request.param


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis")
    server.start()
    yield server
    server.kill()
