"""Dead-letter queue benchmark (a script, not a test), against a real Redis.

Measures, with a key prefix of its own (deleted afterwards):

1. enqueue throughput and latency: N entries one at a time, then N with C in flight;
2. claim -> handler -> succeed throughput of one RetryWorker draining N due
   entries with the given batch size (the tick interval is skipped: run_once
   back to back, so this is the ceiling, not the production rate of
   batch / DLQ_WORKER_INTERVAL);
3. the same with the in-process backend, for comparison.

    .venv/bin/python benchmarks/dlq_bench.py [--entries 5000] [--concurrency 50] [--batch 100] [--redis redis://127.0.0.1:6379/0]

Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402

from dlq import DeadLetterQueue, DLQSettings, RetryWorker, build_queue  # noqa: E402

KIND = "pms.create_booking"
PAYLOAD = {"check_in": "2026-12-05", "check_out": "2026-12-08", "guests": 2, "room_type": "double", "name": "Ana"}


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def timed_enqueue(queue: DeadLetterQueue) -> float:
    started = time.perf_counter()
    await queue.enqueue(KIND, PAYLOAD, error="PMSUnavailable: circuit open", conversation_id="346001@123",
                        reason="pms_unavailable")
    return time.perf_counter() - started


async def enqueue_sequential(queue: DeadLetterQueue, entries: int) -> tuple:
    started = time.perf_counter()
    latencies = [await timed_enqueue(queue) for _ in range(entries)]
    return entries / (time.perf_counter() - started), latencies


async def enqueue_concurrent(queue: DeadLetterQueue, entries: int, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate:
            await timed_enqueue(queue)

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(entries)))
    return entries / (time.perf_counter() - started)


async def drain(queue: DeadLetterQueue, batch: int) -> tuple:
    handled = 0

    async def handler(entry) -> None:
        nonlocal handled
        handled += 1

    worker = RetryWorker(queue, {KIND: handler}, batch=batch)
    total = await queue.size()
    started = time.perf_counter()
    while handled < total:
        await worker.run_once()
    return handled, handled / (time.perf_counter() - started)


def build(redis_url: str, database_url: str, prefix: str, clock: Callable[[], float]) -> DeadLetterQueue:
    return build_queue(DLQSettings(redis_url=redis_url, database_url=database_url), prefix=prefix,
                       record_metrics=True, clock=clock)


async def main(args: argparse.Namespace) -> None:
    prefix = f"dlqbench:{uuid.uuid4().hex[:8]}"
    now = [time.time()]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        database_url = f"sqlite:///{tmp}/dlq.sqlite3"
        for backend, redis_url in (("redis", args.redis), ("memory", "")):
            queue = build(redis_url, database_url, f"{prefix}:{backend}", lambda: now[0])
            rate, latencies = await enqueue_sequential(queue, args.entries)
            rows.append((backend, f"enqueue, one at a time ({args.entries})", f"{rate:,.0f}/s",
                         f"p50 {percentile(latencies, 50) * 1000:.2f} ms, p99 {percentile(latencies, 99) * 1000:.2f} ms"))
            rate = await enqueue_concurrent(queue, args.entries, args.concurrency)
            rows.append((backend, f"enqueue, {args.concurrency} in flight ({args.entries})", f"{rate:,.0f}/s", ""))
            now[0] += 60  # every entry is due
            handled, rate = await drain(queue, args.batch)
            rows.append((backend, f"claim -> handler -> succeed, batch {args.batch} ({handled})", f"{rate:,.0f}/s",
                         f"left: {await queue.size()}"))
            await queue.close()
    client = aioredis.Redis.from_url(args.redis)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.close()
    print("| backend | operation | throughput | notes |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    asyncio.run(main(parser.parse_args()))
