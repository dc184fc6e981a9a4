"""One signed webhook body with thousands of messages (a script, not a test).

Meta batches messages into one notification when a number is busy and expects
the 200 within about 250 ms median, retrying after timeouts. This serves the
WhatsApp channel in-process as production runs it (real Redis for the done
marks, leases and the dead-letter queue; typing indicator on), with a
stand-in for Rasa that answers each message once, posts bodies of ``--size``
messages (``--guests`` guests, several messages each, in order) and reports:
the time to the 200 (the journal written before it), the journal entries it
wrote, the time until every message was answered, that each was answered
exactly once and in order per guest, and that no journal entry is left.

    .venv/bin/python benchmarks/whatsapp_batch.py [--size 5000] [--guests 1000] [--rounds 3]

Needs Redis at REDIS_URL (default redis://127.0.0.1:6379/0); keys go under a
throwaway prefix that is deleted afterwards. Writes results/whatsapp_batch.md.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.whatsapp import WhatsAppInput  # noqa: E402
from dlq import DLQSettings  # noqa: E402
from tests.fakes.graph_server import GraphServer  # noqa: E402
from tests.stack_common import delete_keys  # noqa: E402
from tests.whatsapp import payloads  # noqa: E402
from tests.whatsapp.conftest import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, ChannelServer, make_config  # noqa: E402


async def answer_once(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"ok {message.text}")


async def one_round(server: ChannelServer, graph: GraphServer, size: int, guests: int) -> Dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    numbers = [f"34{abs(hash((run, g))) % 10**9:09d}" for g in range(guests)]
    messages = []
    for index in range(size):
        message = payloads.text(numbers[index % guests], f"{run}-{index}")
        message["timestamp"] = str(1_800_000_000 + index // guests)
        messages.append(message)
    body = payloads.encode(payloads.webhook(messages, PHONE_NUMBER_ID))
    headers = payloads.signed_headers(body, APP_SECRET)
    sent_before = len(graph.messages())
    queue = server.dead_letters.queue
    enqueued_before = await journal_entries(queue)
    started = time.perf_counter()
    async with server.http.post(server.url, data=body, headers=headers) as answer:
        await answer.read()
        status = answer.status
    acked = time.perf_counter() - started
    journal = await journal_entries(queue) - enqueued_before
    loop = asyncio.get_running_loop()
    answered = await loop.run_in_executor(
        None, lambda: graph.wait_for(lambda g: len(g._messages_unlocked()) - sent_before >= size, timeout=900))
    answered_in = time.perf_counter() - started
    await server.settle()
    await asyncio.sleep(0.5)
    replies = [m["text"]["body"] for m in graph.messages()[sent_before:] if m.get("type") == "text"]
    mine = [r for r in replies if r.startswith(f"ok {run}-")]
    per_guest: Dict[str, List[int]] = defaultdict(list)
    for reply in mine:
        index = int(reply.rsplit("-", 1)[1])
        per_guest[numbers[index % guests]].append(index)
    in_order = all(indexes == sorted(indexes) for indexes in per_guest.values())
    left = [e for e in await queue.list_queued(1000) if e.kind == "whatsapp.inbound"]
    return {"status": status, "acked": acked, "journal": journal, "answered": answered, "answered_in": answered_in,
            "once": len(mine) == size and len(set(mine)) == size, "in_order": in_order, "left": len(left)}


async def journal_entries(queue) -> int:
    from prometheus_client import REGISTRY

    return int(REGISTRY.get_sample_value("dlq_messages_total", {"kind": "whatsapp.inbound", "reason": "journal"}) or 0)


async def run(size: int, guests: int, rounds: int) -> List[Dict[str, Any]]:
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    prefix = f"bench-wa-batch-{uuid.uuid4().hex[:8]}"
    graph = GraphServer(token=ACCESS_TOKEN).start()
    workdir = Path(tempfile.mkdtemp(prefix="wa-batch-"))
    config = make_config(graph.url, redis_url=redis_url, redis_prefix=prefix)
    settings = DLQSettings(redis_url=redis_url, database_url=f"sqlite:///{workdir / 'dlq.sqlite3'}",
                           prefix=f"{prefix}:dlq")
    server = await ChannelServer(WhatsAppInput(config), answer_once, settings).start()
    try:
        return [await one_round(server, graph, size, guests) for _ in range(rounds)]
    finally:
        await server.stop()
        graph.stop()
        delete_keys(redis_url, prefix)


def report(results: List[Dict[str, Any]], size: int, guests: int) -> str:
    acks = [r["acked"] for r in results]
    lines = [
        f"# One webhook body of {size} messages ({guests} guests)",
        "",
        f"Acknowledged (HTTP 200, journal written first): median {statistics.median(acks) * 1000:.0f} ms, "
        f"max {max(acks) * 1000:.0f} ms over {len(results)} rounds.",
        "",
        "| round | HTTP | ack | journal entries | all answered after | each once | order per guest | journal left |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for number, r in enumerate(results, 1):
        lines.append(f"| {number} | {r['status']} | {r['acked'] * 1000:.0f} ms | {r['journal']} | "
                     f"{r['answered_in']:.1f} s | {'yes' if r['once'] else 'NO'} | {'yes' if r['in_order'] else 'NO'} | "
                     f"{r['left']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=5000)
    parser.add_argument("--guests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    text = report(asyncio.run(run(args.size, args.guests, args.rounds)), args.size, args.guests)
    out = ROOT / "results" / "whatsapp_batch.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
