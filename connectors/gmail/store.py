"""Which messages were already answered, in Redis or in this process.

The handled label in Gmail is the durable record; this store closes the gap
between "reply sent" and "label applied": ``mark_replied`` is written right
after the send, ``replied`` checked before a message is processed. With
Redis it survives restarts; the in-process store only covers this process.
``claim`` keeps two pollers (push + timer, or two processes sharing Redis)
from working on one message at once. ``put_offered`` / ``offered`` keep the
buttons of the last reply to a guest (answered by number in the next mail),
so any Rasa process sharing Redis, or a restarted one, understands "2".
"""
from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from typing import Any, Dict, List

logger = logging.getLogger(__name__)

CLAIM_SECONDS = 300
OFFERED_SECONDS = 30 * 24 * 3600  # a guest may answer a numbered list weeks later
Buttons = List[Dict[str, Any]]


class MemoryStore:
    def __init__(self, ttl: int, max_entries: int = 100_000) -> None:
        self.ttl, self.max_entries = ttl, max_entries
        self._entries: "OrderedDict[str, float]" = OrderedDict()
        self._offered: "OrderedDict[str, Buttons]" = OrderedDict()

    def _alive(self, key: str) -> bool:
        expires = self._entries.get(key)
        if expires is None:
            return False
        if expires <= time.monotonic():
            del self._entries[key]
            return False
        return True

    def _set(self, key: str, ttl: float) -> None:
        self._entries[key] = time.monotonic() + ttl
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def claim(self, message_id: str) -> bool:
        if self._alive(f"claim:{message_id}"):
            return False
        self._set(f"claim:{message_id}", CLAIM_SECONDS)
        return True

    async def release(self, message_id: str) -> None:
        self._entries.pop(f"claim:{message_id}", None)

    async def replied(self, message_id: str) -> bool:
        return self._alive(f"replied:{message_id}")

    async def mark_replied(self, message_id: str) -> None:
        self._set(f"replied:{message_id}", self.ttl)

    async def put_offered(self, sender: str, buttons: Buttons) -> None:
        self._set(f"offered:{sender}", OFFERED_SECONDS)
        self._offered[sender] = list(buttons)
        self._offered.move_to_end(sender)
        while len(self._offered) > self.max_entries:
            self._offered.popitem(last=False)

    async def offered(self, sender: str) -> Buttons:
        if not self._alive(f"offered:{sender}"):
            self._offered.pop(sender, None)
        return list(self._offered.get(sender, []))

    async def close(self) -> None:
        pass


class RedisStore:
    """Redis, falling back to memory (with one warning per outage) when unreachable."""

    def __init__(self, url: str, prefix: str, ttl: int, client=None) -> None:
        import redis.asyncio as redis_asyncio

        self.prefix, self.ttl = prefix, ttl
        self.client = client or redis_asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.memory = MemoryStore(ttl)
        self.degraded = False

    def key(self, kind: str, message_id: str) -> str:
        return f"{self.prefix}:{kind}:{message_id}"

    async def _redis(self, call, fallback):
        try:
            result = await call()
        except Exception as exc:  # RedisError, OSError, timeouts
            if not self.degraded:
                logger.warning("Redis unavailable (%s); Gmail dedup is in-process until it is back", type(exc).__name__)
            self.degraded = True
            return await fallback()
        self.degraded = False
        return result

    async def claim(self, message_id: str) -> bool:
        return bool(await self._redis(
            lambda: self.client.set(self.key("claim", message_id), b"1", nx=True, ex=CLAIM_SECONDS),
            lambda: self.memory.claim(message_id),
        ))

    async def release(self, message_id: str) -> None:
        await self.memory.release(message_id)
        await self._redis(lambda: self.client.delete(self.key("claim", message_id)), _none)

    async def replied(self, message_id: str) -> bool:
        if await self.memory.replied(message_id):
            return True
        return bool(await self._redis(lambda: self.client.exists(self.key("replied", message_id)), _false))

    async def mark_replied(self, message_id: str) -> None:
        await self.memory.mark_replied(message_id)
        await self._redis(lambda: self.client.set(self.key("replied", message_id), b"1", ex=max(1, self.ttl)), _none)

    async def put_offered(self, sender: str, buttons: Buttons) -> None:
        await self.memory.put_offered(sender, buttons)
        data = json.dumps(buttons, ensure_ascii=False).encode("utf-8")
        await self._redis(lambda: self.client.set(self.key("offered", sender), data, ex=OFFERED_SECONDS), _none)

    async def offered(self, sender: str) -> Buttons:
        data = await self._redis(lambda: self.client.get(self.key("offered", sender)), _none)
        if data is None:
            return await self.memory.offered(sender)
        try:
            buttons = json.loads(data)
        except ValueError:
            return []
        return [b for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else []

    async def close(self) -> None:
        try:
            await self.client.close()
        except Exception:
            pass


async def _none() -> None:
    return None


async def _false() -> bool:
    return False


def build_store(redis_url: str, prefix: str, ttl: int):
    return RedisStore(redis_url, prefix, ttl) if redis_url else MemoryStore(ttl)
