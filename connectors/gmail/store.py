"""Which messages were already answered, in Redis or in this process.

The handled label in Gmail is the durable record; this store closes the gap
between "reply sent" and "label applied": ``mark_replied`` is written right
after the send, ``replied`` checked before a message is processed. With
Redis it survives restarts; the in-process store only covers this process.
``claim`` keeps two pollers (push + timer, or two processes sharing Redis)
from working on one message at once. ``put_offered`` / ``offered`` keep the
buttons of the last reply to a guest (answered by number in the next mail),
so any Rasa process sharing Redis, or a restarted one, understands "2".
While Redis is unreachable the records live in this process's memory
(``FallbackStore``, the channels' shared one in connectors/channel_base.py).
"""
from __future__ import annotations

import json
import logging
import time
from collections import OrderedDict
from typing import Any, Dict, List, Optional

from connectors import channel_base

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
    """The same records in Redis, shared by every Rasa process (and kept across restarts).
    Raises on a Redis error: ``FallbackStore`` decides what happens then."""

    def __init__(self, url: str, prefix: str, ttl: int, client=None) -> None:
        import redis.asyncio as redis_asyncio

        self.prefix, self.ttl = prefix, ttl
        self.client = client or redis_asyncio.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def key(self, kind: str, message_id: str) -> str:
        return f"{self.prefix}:{kind}:{message_id}"

    async def claim(self, message_id: str) -> bool:
        return bool(await self.client.set(self.key("claim", message_id), b"1", nx=True, ex=CLAIM_SECONDS))

    async def release(self, message_id: str) -> None:
        await self.client.delete(self.key("claim", message_id))

    async def replied(self, message_id: str) -> bool:
        return bool(await self.client.exists(self.key("replied", message_id)))

    async def mark_replied(self, message_id: str) -> None:
        await self.client.set(self.key("replied", message_id), b"1", ex=max(1, self.ttl))

    async def put_offered(self, sender: str, buttons: Buttons) -> None:
        data = json.dumps(buttons, ensure_ascii=False).encode("utf-8")
        await self.client.set(self.key("offered", sender), data, ex=OFFERED_SECONDS)

    async def offered(self, sender: str) -> Optional[Buttons]:
        """None when Redis has no record (the fallback's memory may know)."""
        data = await self.client.get(self.key("offered", sender))
        if data is None:
            return None
        try:
            buttons = json.loads(data)
        except ValueError:
            return []
        return [b for b in buttons if isinstance(b, dict)] if isinstance(buttons, list) else []

    async def close(self) -> None:
        await self.client.close()


class FallbackStore(channel_base.FallbackStore):
    """Redis first; on a Redis error, this process's memory (connectors/channel_base.py).
    "Replied" records and offered buttons are also kept in memory, so that an outage
    later still knows them; claims live in Redis alone while it is up."""

    def __init__(self, primary: RedisStore, fallback: MemoryStore) -> None:
        super().__init__(primary, fallback, what="Gmail channel")

    async def claim(self, message_id: str) -> bool:
        return bool(await self.call("claim", message_id))

    async def release(self, message_id: str) -> None:
        await self.fallback.release(message_id)  # a claim taken in memory during an outage
        await self.call("release", message_id)

    async def replied(self, message_id: str) -> bool:
        return await self.fallback.replied(message_id) or bool(await self.call("replied", message_id))

    async def mark_replied(self, message_id: str) -> None:
        await self.fallback.mark_replied(message_id)
        await self.call("mark_replied", message_id)

    async def put_offered(self, sender: str, buttons: Buttons) -> None:
        await self.fallback.put_offered(sender, buttons)
        await self.call("put_offered", sender, buttons)

    async def offered(self, sender: str) -> Buttons:
        buttons = await self.call("offered", sender)
        return buttons if buttons is not None else await self.fallback.offered(sender)


def build_store(redis_url: str, prefix: str, ttl: int):
    memory = MemoryStore(ttl)
    return FallbackStore(RedisStore(redis_url, prefix, ttl), memory) if redis_url else memory
