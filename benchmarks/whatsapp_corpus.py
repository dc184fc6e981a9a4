"""Published WhatsApp webhook bodies against the channel (a script, not a test).

Every ``*.json`` of a directory (default ``../shared/corpora/whatsapp``: 74
bodies from pywa's tests) is signed with HMAC-SHA256 as Meta signs it, posted
to the WhatsApp channel served by Sanic on loopback (fake Graph API, the
dead-letter queue in memory, a stand-in for Rasa that echoes), posted a second
time (Meta's redelivery), and judged:

- guest content (a ``messages`` notification with a message of the guest that
  is not a system notice, a reaction or a deletion) must reach Rasa or get a
  reply, once: the redelivery adds nothing;
- anything else (statuses, system notices, reactions, deletions, echoes of the
  business's own messages, account/template/call/preference fields) must
  neither reach Rasa nor send anything;
- every body is answered 200, and no message is left in the journal.

The bodies reuse message ids across files, so each starts with empty done
marks. Each hotel number found in the bodies is configured (the real channel ignores
numbers it does not serve). The expected outcome is computed here from the
body alone, not from the channel's code.

    .venv/bin/python benchmarks/whatsapp_corpus.py [DIR] [--out results/whatsapp_corpus.md]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from connectors.whatsapp import WhatsAppInput  # noqa: E402
from connectors.whatsapp.store import MemoryStore  # noqa: E402
from dlq import DLQSettings  # noqa: E402
from tests.fakes.graph_server import GraphServer  # noqa: E402
from tests.whatsapp.conftest import ACCESS_TOKEN, ChannelServer, make_config  # noqa: E402

DEFAULT_DIR = ROOT.parent / "shared" / "corpora" / "whatsapp"
NOT_GUEST_CONTENT = ("system", "reaction", "revoke")


def expected_guest_content(body: Dict[str, Any]) -> bool:
    """Judged from the body only: a guest's own message in a ``messages`` change."""
    for entry in body.get("entry") or []:
        for change in entry.get("changes") or []:
            if change.get("field") != "messages":
                continue
            for message in (change.get("value") or {}).get("messages") or []:
                if isinstance(message, dict) and message.get("type") not in NOT_GUEST_CONTENT:
                    return True
    return False


def hotel_numbers(bodies: List[Dict[str, Any]]) -> List[str]:
    numbers = set()
    for body in bodies:
        for entry in body.get("entry") or []:
            for change in entry.get("changes") or []:
                number = ((change.get("value") or {}).get("metadata") or {}).get("phone_number_id")
                if isinstance(number, str) and number and "," not in number and "=" not in number:
                    numbers.add(number)
    return sorted(numbers)


async def echo_bot(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


async def run(directory: Path) -> Dict[str, Any]:
    files = sorted(directory.glob("*.json"))
    if not files:
        raise SystemExit(f"no *.json in {directory}")
    bodies = [json.loads(path.read_text(encoding="utf-8")) for path in files]
    graph = GraphServer(token=ACCESS_TOKEN).start()
    workdir = Path(tempfile.mkdtemp(prefix="wa-corpus-"))
    numbers = hotel_numbers(bodies)
    config = make_config(graph.url, redis_url="", hotels=",".join(f"{n}=hotel.yml" for n in numbers))
    settings = DLQSettings(database_url=f"sqlite:///{workdir / 'dlq.sqlite3'}", retry_backoff_base=60.0)
    server = await ChannelServer(WhatsAppInput(config), echo_bot, settings).start()
    rows, latencies = [], []
    try:
        for path, body in zip(files, bodies):
            # the published bodies reuse message ids ("wamid.xyzxyz") across files: each body is its
            # own case, so the done marks start empty for each (the redelivery below is deduplicated)
            server.channel.store = server.channel.sender.store = MemoryStore(config.dedup_ttl_seconds)
            received_before, sent_before = len(server.received), len(graph.messages())
            raw = path.read_bytes()
            started = time.perf_counter()
            first_status, _ = await post_raw(server, raw)
            latencies.append(time.perf_counter() - started)
            await server.settle()
            received, sent = len(server.received) - received_before, len(graph.messages()) - sent_before
            second_status, _ = await post_raw(server, raw)  # Meta's redelivery
            await server.settle()
            repeated = (len(server.received) - received_before - received) + (len(graph.messages()) - sent_before - sent)
            guest = expected_guest_content(body)
            reached = received > 0 or sent > 0
            ok = first_status == second_status == 200 and repeated == 0 and reached == guest
            rows.append({"file": path.name, "guest": guest, "rasa": received, "replies": sent, "repeated": repeated,
                         "status": f"{first_status}/{second_status}", "ok": ok})
        journal = await server.dead_letters.queue.list_queued(1000)
        permanent = await server.dead_letters.queue.list_permanent(1000)
    finally:
        await server.stop()
        graph.stop()
    return {"rows": rows, "latencies": latencies, "journal_left": len([e for e in journal if e.kind == "whatsapp.inbound"]),
            "permanent": len(permanent), "directory": directory}


async def post_raw(server: ChannelServer, raw: bytes):
    from tests.whatsapp import payloads
    from tests.whatsapp.conftest import APP_SECRET

    async with server.http.post(server.url, data=raw, headers=payloads.signed_headers(raw, APP_SECRET)) as answer:
        return answer.status, await answer.read()


def report(result: Dict[str, Any]) -> str:
    rows = result["rows"]
    handled = sum(row["ok"] for row in rows)
    guest = [row for row in rows if row["guest"]]
    lines = [
        f"# WhatsApp corpus: {handled}/{len(rows)} bodies handled",
        "",
        f"Directory: `{result['directory']}`. Guest content: {sum(r['ok'] for r in guest)}/{len(guest)} reached Rasa or "
        f"got a reply once; other notifications: {sum(r['ok'] for r in rows if not r['guest'])}/{len(rows) - len(guest)} "
        f"silent. Redeliveries answered again: {sum(r['repeated'] for r in rows)}. Journal entries left: "
        f"{result['journal_left']}; permanent dead letters: {result['permanent']}.",
        f"Acknowledgement: median {statistics.median(result['latencies']) * 1000:.1f} ms, "
        f"max {max(result['latencies']) * 1000:.1f} ms (loopback, includes signing check and journal).",
        "",
        "| body | guest content | to Rasa | replies | redelivery added | HTTP | ok |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| {row['file']} | {'yes' if row['guest'] else 'no'} | {row['rasa']} | {row['replies']} | "
                     f"{row['repeated']} | {row['status']} | {'✓' if row['ok'] else '✗'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "whatsapp_corpus.md")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.ERROR)
    text = report(asyncio.run(run(args.directory)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(text)
    if "✗" in text:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
