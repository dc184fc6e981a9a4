"""The Gmail channel's store through a Redis outage (a redis-server of our own, killed and restarted)."""
from __future__ import annotations

import logging

import pytest

from connectors.gmail.store import FallbackStore, build_store
from tests.stack_common import PrivateRedis


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path / "redis").start()
    yield server
    server.stop()


async def test_a_redis_outage_keeps_records_in_memory_and_redis_is_shared_again_after(private_redis, caplog):
    store = build_store(private_redis.url, "gmail-outage", 3600)
    other = build_store(private_redis.url, "gmail-outage", 3600)  # another Rasa process
    assert isinstance(store, FallbackStore)
    await store.mark_replied("m-before")
    await store.put_offered("ana@example.com", [{"title": "Sí", "payload": "/affirm"}])
    assert await other.replied("m-before") and await other.offered("ana@example.com")

    private_redis.kill()
    with caplog.at_level(logging.WARNING, logger="connectors.channel_base"):
        assert await store.replied("m-before")  # known from before the outage, in memory
        assert await store.claim("m-during") and not await store.claim("m-during")
        await store.mark_replied("m-during")
        assert await store.replied("m-during")
        assert await store.offered("ana@example.com") == [{"title": "Sí", "payload": "/affirm"}]
        await store.release("m-during")
    assert sum("Redis unavailable" in r.getMessage() for r in caplog.records) == 1  # one warning per outage

    private_redis.start()
    assert await store.claim("m-after")
    later = build_store(private_redis.url, "gmail-outage", 3600)  # a process started after the outage
    assert not await later.claim("m-after")  # the claim is in Redis: shared again
    assert await store.replied("m-during")  # what the outage wrote is still known here
    for each in (store, other, later):
        await each.close()
