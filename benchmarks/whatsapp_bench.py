"""WhatsApp channel benchmark (a script, not a test).

Starts the same processes as the end-to-end tests (fake Graph API, action
server, ``rasa run`` with the trained model serving both the REST and the
WhatsApp channel; trains nothing) and measures, on loopback only:

1. webhook acknowledgement latency under load: N signed webhooks sent with
   C in flight, each a real guest message that Rasa then answers in the
   background (p50 / p99 / max of the HTTP 200), and how long until every
   reply reached the Graph API;
2. full turn time, one turn at a time, WhatsApp vs Rasa's REST channel on the
   same model: WhatsApp = webhook POST until the reply reaches the (fake)
   Graph API; REST = POST /webhooks/rest/webhook until its answer.

    .venv/bin/python benchmarks/whatsapp_bench.py [--webhooks 300] [--concurrency 30] [--turns 40]

Prints a Markdown table and writes it to results/whatsapp_bench.md.
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from tests.whatsapp import payloads  # noqa: E402
from tests.whatsapp.stack import APP_SECRET, MODEL, PHONE_NUMBER_ID, Stack  # noqa: E402

TURN_TEXTS = ["hola", "gracias", "hello", "thanks"]  # one reply message each


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def new_guest() -> str:
    return f"34{uuid.uuid4().int % 10**9:09d}"


async def post_webhook(http: aiohttp.ClientSession, url: str, wa_id: str, text: str) -> float:
    body = payloads.encode(payloads.webhook([payloads.text(wa_id, text)], PHONE_NUMBER_ID))
    headers = payloads.signed_headers(body, APP_SECRET)
    started = time.perf_counter()
    async with http.post(url, data=body, headers=headers) as answer:
        await answer.read()
        if answer.status != 200:
            raise RuntimeError(f"webhook answered {answer.status}")
    return time.perf_counter() - started


async def ack_under_load(stack: Stack, count: int, concurrency: int) -> dict:
    guests = [new_guest() for _ in range(count)]
    latencies: List[float] = []
    semaphore = asyncio.Semaphore(concurrency)
    before = len(stack.graph.messages())

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        async def one(index: int) -> None:
            async with semaphore:
                latencies.append(await post_webhook(http, stack.webhook_url, guests[index], TURN_TEXTS[index % 2]))

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(count)))
        sent_in = time.perf_counter() - started
    loop = asyncio.get_running_loop()
    answered = await loop.run_in_executor(
        None, lambda: stack.graph.wait_for(lambda g: len(g._messages_unlocked()) - before >= count, timeout=900)
    )
    all_answered_in = time.perf_counter() - started
    return {
        "count": count, "concurrency": concurrency, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
        "max": max(latencies), "sent_in": sent_in, "answered": answered, "answered_in": all_answered_in,
    }


async def whatsapp_turns(stack: Stack, turns: int) -> List[float]:
    times = []
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        for index in range(turns):
            guest = new_guest()
            started = time.perf_counter()
            await post_webhook(http, stack.webhook_url, guest, TURN_TEXTS[index % len(TURN_TEXTS)])
            ok = await loop.run_in_executor(None, lambda guest=guest: stack.graph.wait_for(lambda g: bool(g._messages_unlocked(guest)), 60))
            if not ok:
                raise RuntimeError("no WhatsApp reply in 60 s")
            times.append(time.perf_counter() - started)
    return times


async def rest_turns(stack: Stack, turns: int) -> List[float]:
    times = []
    async with aiohttp.ClientSession() as http:
        for index in range(turns):
            started = time.perf_counter()
            body = {"sender": f"rest-{uuid.uuid4().hex}", "message": TURN_TEXTS[index % len(TURN_TEXTS)]}
            async with http.post(stack.rest_url, json=body) as answer:
                replies = await answer.json()
            if answer.status != 200 or not replies:
                raise RuntimeError(f"REST channel answered {answer.status}: {replies}")
            times.append(time.perf_counter() - started)
    return times


async def run(args: argparse.Namespace, stack: Stack) -> str:
    # warm both paths (first turns load lazily-built graphs and connections)
    await whatsapp_turns(stack, 3)
    await rest_turns(stack, 3)
    rest = await rest_turns(stack, args.turns)
    whatsapp = await whatsapp_turns(stack, args.turns)
    load = await ack_under_load(stack, args.webhooks, args.concurrency)
    lines = [
        "| measure | p50 | p99 | max |",
        "|---|---|---|---|",
        f"| webhook ack, {load['count']} webhooks, {load['concurrency']} in flight | {ms(load['p50'])} | {ms(load['p99'])} | {ms(load['max'])} |",
        f"| full turn, WhatsApp (webhook in → reply at Graph API), {args.turns} turns | {ms(statistics.median(whatsapp))} | {ms(percentile(whatsapp, 99))} | {ms(max(whatsapp))} |",
        f"| full turn, REST channel (request → response), {args.turns} turns | {ms(statistics.median(rest))} | {ms(percentile(rest, 99))} | {ms(max(rest))} |",
        "",
        f"Under load: {load['count']} webhooks acknowledged in {load['sent_in']:.1f} s; "
        f"{'all' if load['answered'] else 'NOT all'} {load['count']} replies at the Graph API after {load['answered_in']:.1f} s "
        f"({load['count'] / load['answered_in']:.1f} turns/s).",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--turns", type=int, default=40)
    parser.add_argument("--redis-url", default="", help="share dedup state in Redis (default: in-process store)")
    args = parser.parse_args()
    if not MODEL.exists():
        sys.exit(f"{MODEL} is missing: run `make train` first")
    with tempfile.TemporaryDirectory() as workdir:
        stack = Stack(Path(workdir), redis_url=args.redis_url, redis_prefix=f"wa-bench-{uuid.uuid4().hex[:8]}")
        print("starting fake Graph API, action server and rasa run (about a minute)...", flush=True)
        stack.start()
        try:
            table = asyncio.run(run(args, stack))
        finally:
            stack.stop()
            if args.redis_url:
                import redis

                client = redis.Redis.from_url(args.redis_url)
                keys = list(client.scan_iter(match=f"{stack.redis_prefix}:*", count=1000))
                if keys:
                    client.delete(*keys)
    report = f"WhatsApp channel benchmark ({time.strftime('%Y-%m-%d')}, loopback, fake Graph API)\n\n{table}\n"
    print(report)
    out = ROOT / "results" / "whatsapp_bench.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(report, encoding="utf-8")
    print(f"written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
