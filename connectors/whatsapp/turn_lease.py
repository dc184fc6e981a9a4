"""One process at a time owns a WhatsApp message until its turn finished.

A ``TurnLease`` is a key in the channel's store (Redis when configured) that
names its owner and lapses after ``ttl`` seconds. ``acquire`` takes it when
nobody holds it and then extends it every ``ttl / 3`` seconds until
``release``, so a message waiting behind a guest's slow turn or in its own
turn is never taken over, while a process that died (kill -9) lets its leases
lapse after at most ``ttl`` seconds. The webhook takes the lease when it
accepts a message; the dead-letter worker takes it to recover one.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Optional

logger = logging.getLogger(__name__)


class LeaseBusy(Exception):
    """Another process owns this message right now."""


class TurnLease:
    def __init__(self, store, message_id: str, ttl: float) -> None:
        self.store, self.message_id, self.ttl = store, message_id, ttl
        self.owner = uuid.uuid4().hex
        self._heartbeat: Optional[asyncio.Task] = None

    async def acquire(self) -> bool:
        if not await self.store.acquire(self.message_id, self.owner, self.ttl):
            return False
        self._heartbeat = asyncio.get_running_loop().create_task(self._extend())
        return True

    async def release(self) -> None:
        if self._heartbeat is None:
            return
        self._heartbeat.cancel()
        self._heartbeat = None
        try:
            await self.store.release(self.message_id, self.owner)
        except Exception as exc:  # it lapses by itself after ttl
            logger.warning("could not release the lease on %s: %s", self.message_id, type(exc).__name__)

    async def _extend(self) -> None:
        while True:
            await asyncio.sleep(self.ttl / 3)
            try:
                if not await self.store.refresh(self.message_id, self.owner, self.ttl):
                    logger.warning("lease on %s was lost while this process held it", self.message_id)
            except Exception as exc:
                logger.warning("could not extend the lease on %s: %s", self.message_id, type(exc).__name__)
