"""Small shared state of the channel, in Redis or in this process.

- ``mark_done`` / ``is_done``: the message's turn finished (redeliveries and
  the dead-letter recovery are answered once), for ``dedup_ttl`` seconds;
- ``acquire`` / ``refresh`` / ``release``: a short lease on a message while
  one process runs its turn (``owner`` names the holder), so the dead-letter
  worker never runs a turn that is still in progress elsewhere.
- ``open_window`` / ``window_open``: the 24-hour customer-service window of
  a (hotel number, guest) pair, opened by each message from the guest.
- ``put_payload`` / ``get_payload``: button payloads too long for a WhatsApp
  reply id, kept under a short key.
- ``done_among(ids)``: which of a batch's messages are done, in one call (the
  webhook journals only the others, whatever the batch size);
- ``link_guest`` / ``phone_of``: the phone number Meta gave with a guest's
  business-scoped user id, so a later message carrying only the user id joins
  the same conversation.

``RedisStore`` is what several Rasa processes must share. ``MemoryStore`` is
the embedded default (one process). ``FallbackStore`` uses Redis and falls back
to memory, with a warning, while Redis is unreachable.
"""
from __future__ import annotations

import logging
import time
from collections import OrderedDict
from typing import Callable, Optional, Protocol, Sequence, Set

from connectors import channel_base

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 24 * 3600
PAYLOAD_TTL_SECONDS = 30 * 24 * 3600
GUEST_LINK_TTL_SECONDS = 400 * 24 * 3600  # a guest who comes back next year is still the same guest


class StateStore(Protocol):
    async def mark_done(self, message_id: str) -> None: ...
    async def is_done(self, message_id: str) -> bool: ...
    async def done_among(self, message_ids: Sequence[str]) -> Set[str]: ...
    async def link_guest(self, user_id: str, wa_id: str) -> None: ...
    async def phone_of(self, user_id: str) -> Optional[str]: ...
    async def acquire(self, message_id: str, owner: str, ttl: float) -> bool: ...
    async def refresh(self, message_id: str, owner: str, ttl: float) -> bool: ...
    async def release(self, message_id: str, owner: str) -> None: ...
    async def open_window(self, conversation: str) -> None: ...
    async def window_open(self, conversation: str) -> bool: ...
    async def put_payload(self, key: str, payload: str) -> None: ...
    async def get_payload(self, key: str) -> Optional[str]: ...
    async def close(self) -> None: ...


class MemoryStore:
    """TTL entries in an LRU bounded to ``max_entries`` (oldest evicted first)."""

    def __init__(self, dedup_ttl: int, max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.dedup_ttl, self.max_entries, self.clock = dedup_ttl, max_entries, clock
        self._entries: "OrderedDict[str, tuple[float, str]]" = OrderedDict()

    def _get(self, key: str) -> Optional[str]:
        item = self._entries.get(key)
        if item is None:
            return None
        expires, value = item
        if expires <= self.clock():
            del self._entries[key]
            return None
        return value

    def _set(self, key: str, value: str, ttl: float) -> None:
        self._entries[key] = (self.clock() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def mark_done(self, message_id: str) -> None:
        self._set(f"done:{message_id}", "1", self.dedup_ttl)

    async def is_done(self, message_id: str) -> bool:
        return self._get(f"done:{message_id}") is not None

    async def done_among(self, message_ids: Sequence[str]) -> Set[str]:
        return {m for m in message_ids if self._get(f"done:{m}") is not None}

    async def link_guest(self, user_id: str, wa_id: str) -> None:
        self._set(f"guest:{user_id}", wa_id, GUEST_LINK_TTL_SECONDS)

    async def phone_of(self, user_id: str) -> Optional[str]:
        return self._get(f"guest:{user_id}")

    async def acquire(self, message_id: str, owner: str, ttl: float) -> bool:
        holder = self._get(f"lease:{message_id}")
        if holder is not None and holder != owner:
            return False
        self._set(f"lease:{message_id}", owner, ttl)
        return True

    async def refresh(self, message_id: str, owner: str, ttl: float) -> bool:
        return await self.acquire(message_id, owner, ttl)

    async def release(self, message_id: str, owner: str) -> None:
        if self._get(f"lease:{message_id}") == owner:
            del self._entries[f"lease:{message_id}"]

    async def open_window(self, conversation: str) -> None:
        self._set(f"window:{conversation}", "1", WINDOW_SECONDS)

    async def window_open(self, conversation: str) -> bool:
        return self._get(f"window:{conversation}") is not None

    async def put_payload(self, key: str, payload: str) -> None:
        self._set(f"payload:{key}", payload, PAYLOAD_TTL_SECONDS)

    async def get_payload(self, key: str) -> Optional[str]:
        return self._get(f"payload:{key}")

    async def close(self) -> None:
        pass


# KEYS[1] the lease, ARGV[1] its owner, ARGV[2] milliseconds: extend only our own lease
REFRESH_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""
RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""


class RedisStore:
    def __init__(self, url: str, prefix: str, dedup_ttl: int, client=None) -> None:
        import redis.asyncio as redis_asyncio

        self.prefix, self.dedup_ttl = prefix, dedup_ttl
        self.client = client or redis_asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def key(self, *parts: str) -> str:
        return ":".join((self.prefix,) + parts)

    async def mark_done(self, message_id: str) -> None:
        await self.client.set(self.key("done", message_id), b"1", ex=max(1, self.dedup_ttl))

    async def is_done(self, message_id: str) -> bool:
        return bool(await self.client.exists(self.key("done", message_id)))

    async def done_among(self, message_ids: Sequence[str]) -> Set[str]:
        done: Set[str] = set()
        for start in range(0, len(message_ids), 1000):  # one MGET per 1,000 ids: one reply to parse, not 1,000
            ids = list(message_ids[start:start + 1000])
            values = await self.client.mget([self.key("done", m) for m in ids])
            done.update(m for m, value in zip(ids, values) if value is not None)
        return done

    async def link_guest(self, user_id: str, wa_id: str) -> None:
        await self.client.set(self.key("guest", user_id), wa_id.encode(), ex=GUEST_LINK_TTL_SECONDS)

    async def phone_of(self, user_id: str) -> Optional[str]:
        value = await self.client.get(self.key("guest", user_id))
        return value.decode() if value is not None else None

    async def acquire(self, message_id: str, owner: str, ttl: float) -> bool:
        return bool(await self.client.set(self.key("lease", message_id), owner.encode(), nx=True, px=max(1, int(ttl * 1000))))

    async def refresh(self, message_id: str, owner: str, ttl: float) -> bool:
        return bool(await self.client.eval(REFRESH_SCRIPT, 1, self.key("lease", message_id), owner, max(1, int(ttl * 1000))))

    async def release(self, message_id: str, owner: str) -> None:
        await self.client.eval(RELEASE_SCRIPT, 1, self.key("lease", message_id), owner)

    async def open_window(self, conversation: str) -> None:
        await self.client.set(self.key("window", conversation), b"1", ex=WINDOW_SECONDS)

    async def window_open(self, conversation: str) -> bool:
        return bool(await self.client.exists(self.key("window", conversation)))

    async def put_payload(self, key: str, payload: str) -> None:
        await self.client.set(self.key("payload", key), payload.encode("utf-8"), ex=PAYLOAD_TTL_SECONDS)

    async def get_payload(self, key: str) -> Optional[str]:
        value = await self.client.get(self.key("payload", key))
        return value.decode("utf-8") if value is not None else None

    async def close(self) -> None:
        await self.client.close()


class FallbackStore(channel_base.FallbackStore):
    """Redis first; on a Redis error, this process's memory (connectors/channel_base.py).
    What later outages must still know (done marks, windows, payloads) is also kept in memory."""

    def __init__(self, primary: RedisStore, fallback: MemoryStore) -> None:
        super().__init__(primary, fallback, what="WhatsApp channel")

    async def mark_done(self, message_id: str) -> None:
        await self.call("mark_done", message_id)
        await self.fallback.mark_done(message_id)

    async def is_done(self, message_id: str) -> bool:
        return await self.call("is_done", message_id) or await self.fallback.is_done(message_id)

    async def done_among(self, message_ids: Sequence[str]) -> Set[str]:
        return set(await self.call("done_among", message_ids)) | await self.fallback.done_among(message_ids)

    async def link_guest(self, user_id: str, wa_id: str) -> None:
        await self.call("link_guest", user_id, wa_id)
        await self.fallback.link_guest(user_id, wa_id)

    async def phone_of(self, user_id: str) -> Optional[str]:
        return await self.call("phone_of", user_id) or await self.fallback.phone_of(user_id)

    async def acquire(self, message_id: str, owner: str, ttl: float) -> bool:
        return await self.call("acquire", message_id, owner, ttl)

    async def refresh(self, message_id: str, owner: str, ttl: float) -> bool:
        return await self.call("refresh", message_id, owner, ttl)

    async def release(self, message_id: str, owner: str) -> None:
        await self.call("release", message_id, owner)

    async def open_window(self, conversation: str) -> None:
        await self.call("open_window", conversation)
        await self.fallback.open_window(conversation)  # so a later outage still knows the window

    async def window_open(self, conversation: str) -> bool:
        return await self.call("window_open", conversation)

    async def put_payload(self, key: str, payload: str) -> None:
        await self.call("put_payload", key, payload)
        await self.fallback.put_payload(key, payload)

    async def get_payload(self, key: str) -> Optional[str]:
        return await self.call("get_payload", key) or await self.fallback.get_payload(key)


def build_store(redis_url: str, prefix: str, dedup_ttl: int) -> StateStore:
    memory = MemoryStore(dedup_ttl)
    if not redis_url:
        return memory
    return FallbackStore(RedisStore(redis_url, prefix, dedup_ttl), memory)
