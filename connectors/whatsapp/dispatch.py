"""Background processing: per-sender order, bounded concurrency.

The webhook handler acknowledges at once and ``submit``s each message here.
Messages with the same key (hotel number + guest) run one after the other in
arrival order; different guests run concurrently, at most ``max_concurrency``
at a time. A key's worker task exists only while it has work.
"""
from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import Awaitable, Callable, Deque, Dict, Generic, Optional, Set, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class OrderedDispatcher(Generic[T]):
    def __init__(self, handle: Callable[[T], Awaitable[None]], max_concurrency: int = 8) -> None:
        self._handle = handle
        self._max_concurrency = max(1, max_concurrency)
        self._queues: Dict[str, Deque[T]] = {}
        self._workers: Set[asyncio.Task] = set()
        self._limit: Optional[asyncio.Semaphore] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    @property
    def pending(self) -> int:
        return sum(len(q) for q in self._queues.values())

    def submit(self, key: str, item: T) -> None:
        queue = self._queues.get(key)
        if queue is not None:  # a worker is draining this key: it will get there in order
            queue.append(item)
            return
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # the semaphore belongs to the loop that serves webhooks
            self._loop, self._limit = loop, asyncio.Semaphore(self._max_concurrency)
        self._queues[key] = deque([item])
        task = loop.create_task(self._drain(key))
        self._workers.add(task)
        task.add_done_callback(self._workers.discard)

    async def _drain(self, key: str) -> None:
        queue, limit = self._queues[key], self._limit
        assert limit is not None
        try:
            while queue:
                item = queue[0]
                async with limit:
                    try:
                        await self._handle(item)
                    except Exception:
                        logger.exception("WhatsApp message processing failed")
                queue.popleft()
        finally:
            del self._queues[key]

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait for the work already submitted (server shutdown, tests)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._workers:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                logger.warning("%d WhatsApp messages still pending at shutdown", self.pending)
                return
            await asyncio.wait(set(self._workers), timeout=remaining)
