"""Dead-letter queue: failed operations kept for retry with backoff, then kept
for staff as permanent failures. API and names: docs/production-contract.md;
design and guarantees: docs/dlq.md.

    queue = build_queue(DLQSettings.from_env())
    await queue.enqueue("pms.create_booking", payload, error="PMSUnavailable: circuit open",
                        conversation_id="346001@123", reason="pms_unavailable")
    worker = RetryWorker(queue, {"pms.create_booking": handler}, on_permanent=callback)
"""
from __future__ import annotations

import dataclasses
import time
from typing import Callable, Optional

from dlq.config import DLQSettings
from dlq.database import Database
from dlq.entry import PERMANENT, QUEUED, RETRYING, DeadLetter
from dlq.errors import CorruptEntry, DLQConfigError, DLQError, PermanentFailure, QueueUnavailable
from dlq.memory_queue import MemoryQueueStore
from dlq.metrics import DLQMetrics, NullMetrics
from dlq.permanent import PermanentStore
from dlq.queue import DeadLetterQueue
from dlq.redis_queue import RedisQueueStore
from dlq.spool import Spool
from dlq.worker import RetryWorker, TickReport


def build_queue(
    settings: Optional[DLQSettings] = None,
    *,
    prefix: Optional[str] = None,
    record_metrics: bool = True,
    clock: Callable[[], float] = time.time,
) -> DeadLetterQueue:
    """The queue the settings describe: Redis (with the SQL spool) when a Redis URL
    is set, else in-process memory. Connects lazily: nothing is contacted here."""
    settings = settings or DLQSettings.from_env()
    if prefix:
        settings = dataclasses.replace(settings, prefix=prefix)
    database = Database(settings.database_url)
    if settings.redis_url:
        store = RedisQueueStore.from_url(settings.redis_url, settings.prefix)
        spool: Optional[Spool] = Spool(database)
    else:
        store, spool = MemoryQueueStore(clock), None
    return DeadLetterQueue(
        store,
        PermanentStore(database),
        settings=settings,
        spool=spool,
        metrics=DLQMetrics() if record_metrics else NullMetrics(),
        clock=clock,
    )


__all__ = [
    "CorruptEntry",
    "DLQConfigError",
    "DLQError",
    "DLQSettings",
    "DeadLetter",
    "DeadLetterQueue",
    "PERMANENT",
    "PermanentFailure",
    "QUEUED",
    "QueueUnavailable",
    "RETRYING",
    "RetryWorker",
    "TickReport",
    "build_queue",
]
