"""A DLQ worker in an OS process of its own, for the cross-process tests.

    python -m tests.dlq.worker_process <mode> <redis_url> <prefix> <database_url> <kind> <lease_seconds>

mode "count": adds 1 to <prefix>:ready, waits for the key <prefix>:go, then retries until the queue is
empty; each handler call adds 1 to <prefix>:calls[<entry id>] and to
<prefix>:by_process[<pid>].
mode "hang": claims one entry, sets <prefix>:hung to its id and hangs in the
handler, until the test kills the process.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time

import redis.asyncio as aioredis

from dlq import DLQSettings, RetryWorker, build_queue


async def main(mode: str, redis_url: str, prefix: str, database_url: str, kind: str, lease: str) -> None:
    settings = DLQSettings(redis_url=redis_url, database_url=database_url, lease_seconds=float(lease))
    queue = build_queue(settings, prefix=prefix, record_metrics=False)
    probe = aioredis.Redis.from_url(redis_url, decode_responses=True)
    pid = str(os.getpid())

    async def count(entry) -> None:
        await probe.hincrby(f"{prefix}:calls", entry.id, 1)
        await probe.hincrby(f"{prefix}:by_process", pid, 1)
        await asyncio.sleep(0.002)

    async def hang(entry) -> None:
        await probe.set(f"{prefix}:hung", entry.id)
        await asyncio.sleep(3600)

    worker = RetryWorker(queue, {kind: count if mode == "count" else hang}, batch=10)
    if mode == "hang":
        await worker.run_once()
        return
    deadline = time.monotonic() + 60
    await probe.incr(f"{prefix}:ready")
    while not await probe.exists(f"{prefix}:go"):
        await asyncio.sleep(0.01)
    while await queue.size() and time.monotonic() < deadline:
        await worker.run_once()
    await probe.close()
    await queue.close()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
