"""Dedup / service-window / payload store: in memory, in real Redis, and the fallback between them."""
from __future__ import annotations

import asyncio

from connectors.whatsapp.store import FallbackStore, MemoryStore, RedisStore, build_store


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_memory_store_done_marks_and_windows_expire():
    clock = Clock()
    store = MemoryStore(dedup_ttl=60, clock=clock)
    await store.mark_done("wamid.1")
    assert await store.is_done("wamid.1") and not await store.is_done("wamid.2")
    clock.now += 61
    assert not await store.is_done("wamid.1")
    assert not await store.window_open("1:34")
    await store.open_window("1:34")
    assert await store.window_open("1:34")
    clock.now += 24 * 3600 + 1
    assert not await store.window_open("1:34")


async def test_memory_store_is_bounded():
    store = MemoryStore(dedup_ttl=60, max_entries=3)
    for n in range(5):
        await store.mark_done(f"m{n}")
    assert len(store._entries) == 3
    assert not await store.is_done("m0") and await store.is_done("m4")  # the oldest evicted first


async def test_redis_store_shares_state_between_instances(redis_url, redis_prefix):
    first = RedisStore(redis_url, redis_prefix, dedup_ttl=60)
    second = RedisStore(redis_url, redis_prefix, dedup_ttl=60)
    try:
        owners = ("a", "b", "c", "d")
        results = await asyncio.gather(*(s.acquire("wamid.same", o, 5) for s, o in zip((first, second, first, second), owners)))
        assert sorted(results) == [False, False, False, True]  # one process owns the turn
        await first.mark_done("wamid.same")
        assert await second.is_done("wamid.same")
        await first.open_window("1:34")
        assert await second.window_open("1:34") and not await second.window_open("1:35")
        await first.put_payload("k", '/inform{"room_type":"double"}')
        assert await second.get_payload("k") == '/inform{"room_type":"double"}'
        assert await second.get_payload("missing") is None
        ttl = await first.client.ttl(f"{redis_prefix}:done:wamid.same")
        assert 0 < ttl <= 60
    finally:
        await first.close()
        await second.close()


async def test_fallback_store_uses_memory_while_redis_is_down(caplog):
    broken = RedisStore("redis://127.0.0.1:1/0", "x", dedup_ttl=60)  # nothing listens on port 1
    store = FallbackStore(broken, MemoryStore(60))
    await store.mark_done("wamid.9")
    assert await store.is_done("wamid.9") and await store.done_among(["wamid.9", "wamid.8"]) == {"wamid.9"}
    assert store.degraded and "Redis unavailable" in caplog.text
    await store.close()


def test_build_store_picks_memory_without_url():
    assert isinstance(build_store("", "p", 60), MemoryStore)
    assert isinstance(build_store("redis://127.0.0.1:6379/0", "p", 60), FallbackStore)


async def test_done_among_answers_a_batch_in_one_call_and_guest_links_last(redis_url, redis_prefix):
    for store in (MemoryStore(60), RedisStore(redis_url, redis_prefix, 60)):
        await store.mark_done("wamid.A")
        await store.mark_done("wamid.C")
        assert await store.done_among(["wamid.A", "wamid.B", "wamid.C"]) == {"wamid.A", "wamid.C"}
        assert await store.done_among([]) == set()
        assert await store.phone_of("ES.1") is None
        await store.link_guest("ES.1", "34600111222")
        assert await store.phone_of("ES.1") == "34600111222"
        await store.close()
