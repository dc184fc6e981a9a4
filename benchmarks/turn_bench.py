"""Turn cost against Rasa's own starter bot (issue #15; a script, not a test).

In one run, on loopback only:

1. trains Rasa's starter bot (``rasa init --no-prompt`` in a temporary
   folder; ``--starter-dir`` reuses one trained before) and starts it like the
   hotel bot: ``rasa run --enable-api`` plus its action server (``rasa run
   actions``), embedded defaults (its in-memory tracker store);
2. starts the hotel bot with the trained model (models/hotel.tar.gz, or
   ``--model``), its action server and its embedded defaults (SQLite tracker
   store, embedded PMS), REST and WhatsApp channels (tests/whatsapp/stack.py);
3. REST turn time on a fixed mix of guest messages (``MIX``), the same texts
   to both bots, interleaved so both see the same machine load: each measured
   message is the second of a fresh conversation (the first, a greeting,
   starts the session and is not counted). p50 per bot and the ratio;
4. ``--long-conversations`` (3) conversations of ``--long-turns`` turns (80)
   per bot, cycling ``LONG_CYCLE``, the bots' conversations interleaved (bot
   A's first, bot B's first, A's second, ...) so load changes hit both: for
   each conversation p50 of its last 20 turns / p50 of its first 20 (the
   target's definition), then the median of those ratios;
5. WhatsApp webhook acknowledgement with ``--concurrency`` (30) webhooks in
   flight while their turns run (benchmarks/whatsapp_bench.py's measure):
   p50 / p99 / max;
6. model size on disk and load time (``Agent.load`` in a fresh process,
   after the imports; the hotel bot's with connectors/safeguards.py's
   install timed too, as ``rasa run`` does it) of both models.

    .venv/bin/python benchmarks/turn_bench.py [--rounds 3] [--long-turns 80] [--long-conversations 3] [--webhooks 300]

Prints a Markdown report with the targets of issue #15 and the machine's load
average before and after, and writes it to results/turn_bench.md.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402

from benchmarks.whatsapp_bench import ack_under_load, percentile  # noqa: E402
from tests.stack_common import RASA, free_port, stop_process, unique_prefix, wait_http  # noqa: E402
from tests.whatsapp.stack import MODEL, Stack  # noqa: E402

# what guests send, both languages: greetings, thanks, FAQ, hours, location, a
# booking started (a form: validation on the action server), a booking look-up
MIX = [
    "hola", "hello", "muchas gracias", "thanks a lot",
    "¿a qué hora es el desayuno?", "what time is breakfast served?",
    "¿tenéis aparcamiento?", "is there wifi in the rooms?",
    "¿dónde está el hotel?", "when is reception open?",
    "quiero reservar una habitación", "I'd like to book a room",
    "what's the status of booking BK100001?",
]
WARM_UP = "hola"
# a long conversation without forms (each answer stands alone)
LONG_CYCLE = [
    "hola", "¿a qué hora es el desayuno?", "gracias", "do you have parking?",
    "thanks", "¿hay wifi?", "¿dónde estáis?", "what time is check-out?",
]
TARGETS = {"turn_ratio": 1.5, "drift": 1.15, "ack_p99_ms": 50.0, "model_mb": 40.0, "load_s": 15.0}


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} (1/5/15 min, {os.cpu_count()} cores)"


# -- the starter bot ------------------------------------------------------------


def train_starter(folder: Path) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    result = subprocess.run([str(RASA), "init", "--no-prompt", "--init-dir", str(folder)], cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_quiet_env())
    if result.returncode != 0 or not list((folder / "models").glob("*.tar.gz")):
        raise RuntimeError(f"rasa init failed:\n{result.stdout[-3000:]}")
    return time.perf_counter() - started


def starter_model(folder: Path) -> Path:
    return sorted((folder / "models").glob("*.tar.gz"))[-1]


def _quiet_env(**extra: str) -> Dict[str, str]:
    return dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", SQLALCHEMY_SILENCE_UBER_WARNING="1", **extra)


class StarterStack:
    """The starter bot as ``rasa run --enable-api`` + ``rasa run actions``, its defaults."""

    def __init__(self, folder: Path, workdir: Path) -> None:
        self.folder, self.workdir = folder, workdir
        self.action_port, self.rasa_port = free_port(), free_port()
        self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        self.rest_url = f"{self.rasa_url}/webhooks/rest/webhook"
        self.procs: List[subprocess.Popen] = []

    def start(self) -> "StarterStack":
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        (self.workdir / "starter-endpoints.yml").write_text(
            f'action_endpoint:\n  url: "http://127.0.0.1:{self.action_port}/webhook"\n', encoding="utf-8")
        (self.workdir / "starter-credentials.yml").write_text("rest:\n", encoding="utf-8")
        action_log = self.workdir / "starter-actions.log"
        action = subprocess.Popen([str(RASA), "run", "actions", "--port", str(self.action_port), "--actions", "actions"],
                                  cwd=self.folder, env=_quiet_env(), stdout=open(action_log, "w"), stderr=subprocess.STDOUT)
        self.procs.append(action)
        wait_http(f"http://127.0.0.1:{self.action_port}/health", action, action_log, 120)
        rasa_log = self.workdir / "starter-rasa.log"
        rasa = subprocess.Popen(
            [str(RASA), "run", "--model", str(starter_model(self.folder)), "--enable-api", "--port", str(self.rasa_port),
             "-i", "127.0.0.1", "--endpoints", str(self.workdir / "starter-endpoints.yml"),
             "--credentials", str(self.workdir / "starter-credentials.yml")],
            cwd=self.folder, env=_quiet_env(), stdout=open(rasa_log, "w"), stderr=subprocess.STDOUT)
        self.procs.append(rasa)
        wait_http(f"{self.rasa_url}/", rasa, rasa_log, 240)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            stop_process(proc)


# -- measures -----------------------------------------------------------------------


UNANSWERED: Dict[str, int] = {}  # url -> turns answered with no message (counted, shown in the report)


async def rest_turn(http: aiohttp.ClientSession, url: str, sender: str, text: str) -> float:
    started = time.perf_counter()
    async with http.post(url, json={"sender": sender, "message": text}) as answer:
        replies = await answer.json()
    elapsed = time.perf_counter() - started
    if answer.status != 200 or not isinstance(replies, list):
        raise RuntimeError(f"{url} answered {answer.status}: {replies}")
    if not replies:
        UNANSWERED[url] = UNANSWERED.get(url, 0) + 1
    return elapsed


async def mix_turns(urls: Dict[str, str], rounds: int) -> Dict[str, Dict[str, List[float]]]:
    """{bot: {message: [seconds]}}; bots interleaved message by message."""
    times: Dict[str, Dict[str, List[float]]] = {bot: {text: [] for text in MIX} for bot in urls}
    async with aiohttp.ClientSession() as http:
        for _ in range(rounds):
            for text in MIX:
                for bot, url in urls.items():
                    sender = f"bench-{uuid.uuid4().hex[:12]}"
                    await rest_turn(http, url, sender, WARM_UP)
                    times[bot][text].append(await rest_turn(http, url, sender, text))
    return times


async def long_conversation(url: str, turns: int) -> List[float]:
    sender = f"long-{uuid.uuid4().hex[:12]}"
    async with aiohttp.ClientSession() as http:
        return [await rest_turn(http, url, sender, LONG_CYCLE[i % len(LONG_CYCLE)]) for i in range(turns)]


def load_time(model: Path, cwd: Path, project: bool = False) -> float:
    """Seconds ``Agent.load`` takes in a fresh process (imports of ``rasa.core.agent`` not counted).

    ``project``: connectors/safeguards.py's ``install`` first, timed with the load, as in ``rasa run``
    (the project's tracker store installs it before the model is loaded; connectors/perf.py's model
    load is one of its patches)."""
    code = (
        "import time, sys\n"
        "from rasa.core.agent import Agent\n"
        "started = time.perf_counter()\n"
        + ("from connectors import safeguards\nsafeguards.install()\n" if project else "")
        + "agent = Agent.load(model_path=sys.argv[1])\n"
        "assert agent.is_ready()\n"
        "print('\\nLOAD', time.perf_counter() - started)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(model)], cwd=cwd, env=_quiet_env(PYTHONPATH=str(ROOT)),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = re.search(r"LOAD ([0-9.]+)", result.stdout)
    if found:
        return float(found.group(1))
    raise RuntimeError(f"could not load {model}:\n{result.stdout[-3000:]}")


def verdict(value: float, limit: float) -> str:
    return "ok" if value <= limit else "NOT MET"


async def measure(args: argparse.Namespace, hotel: Stack, starter: StarterStack) -> Dict[str, object]:
    urls = {"starter": starter.rest_url, "hotel": hotel.rest_url}
    # warm both (lazily built graphs, first TF calls, connections)
    await mix_turns(urls, 1)
    UNANSWERED.clear()
    mix = await mix_turns(urls, args.rounds)
    longs: Dict[str, List[List[float]]] = {bot: [] for bot in urls}
    for _ in range(args.long_conversations):  # interleaved: each bot's n-th conversation under the same load
        for bot, url in urls.items():
            longs[bot].append(await long_conversation(url, args.long_turns))
    ack = await ack_under_load(hotel, args.webhooks, args.concurrency)
    unanswered = {bot: UNANSWERED.get(url, 0) for bot, url in urls.items()}
    return {"mix": mix, "long": longs, "ack": ack, "unanswered": unanswered}


def report(args: argparse.Namespace, results: Dict[str, object], sizes: Dict[str, float], loads: Dict[str, float],
           load_before: str, load_after: str, trained_in: Optional[float]) -> str:
    mix = results["mix"]
    flat = {bot: [t for values in per_text.values() for t in values] for bot, per_text in mix.items()}
    p50 = {bot: statistics.median(values) for bot, values in flat.items()}
    turn_ratio = p50["hotel"] / p50["starter"]
    window = 20
    drifts = {bot: [(statistics.median(times[:window]), statistics.median(times[-window:])) for times in conversations]
              for bot, conversations in results["long"].items()}
    ratios = {bot: [last / first for first, last in pairs] for bot, pairs in drifts.items()}
    drift = {bot: (statistics.median(first for first, _ in pairs), statistics.median(last for _, last in pairs))
             for bot, pairs in drifts.items()}
    hotel_drift = statistics.median(ratios["hotel"])
    ack = results["ack"]
    lines = [
        f"Turn benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, loopback; "
        f"load average before {load_before}, after {load_after})",
        "",
        "| measure | starter bot | hotel bot | ratio | target |",
        "|---|---|---|---|---|",
        f"| REST turn p50, mix of {len(MIX)} messages × {args.rounds} | {ms(p50['starter'])} | {ms(p50['hotel'])} | "
        f"{turn_ratio:.2f}× | ≤ {TARGETS['turn_ratio']}× {verdict(turn_ratio, TARGETS['turn_ratio'])} |",
        f"| REST turn p99 | {ms(percentile(flat['starter'], 99))} | {ms(percentile(flat['hotel'], 99))} | | |",
        f"| {args.long_turns}-turn conversation × {args.long_conversations}: p50 turns 0-19 → last 20, median ratio "
        f"| {ms(drift['starter'][0])} → {ms(drift['starter'][1])} ({statistics.median(ratios['starter']):.2f}×) "
        f"| {ms(drift['hotel'][0])} → {ms(drift['hotel'][1])} | "
        f"{hotel_drift:.2f}× | ≤ {TARGETS['drift']}× {verdict(hotel_drift, TARGETS['drift'])} |",
        f"| WhatsApp webhook ack, {ack['count']} webhooks, {ack['concurrency']} in flight | | p50 {ms(ack['p50'])}, "
        f"p99 {ms(ack['p99'])}, max {ms(ack['max'])} | | p99 ≤ {TARGETS['ack_p99_ms']:.0f} ms "
        f"{verdict(ack['p99'] * 1000, TARGETS['ack_p99_ms'])} |",
        f"| model size | {sizes['starter']:.1f} MB | {sizes['hotel']:.1f} MB | | ≤ {TARGETS['model_mb']:.0f} MB "
        f"{verdict(sizes['hotel'], TARGETS['model_mb'])} |",
        (f"| model load (Agent.load, fresh process) | {loads['starter']:.1f} s | {loads['hotel']:.1f} s | | "
         f"≤ {TARGETS['load_s']:.0f} s {verdict(loads['hotel'], TARGETS['load_s'])} |") if loads else
        "| model load | not measured (--skip-load) | | | |",
        "",
        f"Under load: {ack['count']} webhooks acknowledged in {ack['sent_in']:.2f} s; "
        f"{'all' if ack['answered'] else 'NOT all'} replies at the Graph API after {ack['answered_in']:.1f} s "
        f"({ack['count'] / ack['answered_in']:.1f} turns/s).",
        f"REST turns answered with no message (mix and long conversations): starter {results['unanswered']['starter']}, "
        f"hotel {results['unanswered']['hotel']} of {len(flat['hotel']) + args.long_turns * args.long_conversations} each.",
        "",
        f"Each {args.long_turns}-turn conversation (in the order run; p50 of turns 0-19 → p50 of the last 20, ratio):",
        "",
        "| conversation | starter | hotel |",
        "|---|---|---|",
        *(f"| {number + 1} | {ms(drifts['starter'][number][0])} → {ms(drifts['starter'][number][1])} "
          f"({ratios['starter'][number]:.2f}×) | {ms(drifts['hotel'][number][0])} → {ms(drifts['hotel'][number][1])} "
          f"({ratios['hotel'][number]:.2f}×) |" for number in range(args.long_conversations)),
        "",
        "REST turn p50 per message (starter / hotel):",
        "",
        "| message | starter | hotel |",
        "|---|---|---|",
    ]
    for text in MIX:
        lines.append(f"| {text} | {ms(statistics.median(mix['starter'][text]))} | {ms(statistics.median(mix['hotel'][text]))} |")
    if trained_in is not None:
        lines += ["", f"Starter bot trained in this run in {trained_in:.0f} s (`rasa init --no-prompt`)."]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--starter-dir", type=Path, help="a starter bot trained before (default: train one now)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--long-turns", type=int, default=80)
    parser.add_argument("--long-conversations", type=int, default=3,
                        help="long conversations per bot (interleaved); the drift is the median of their ratios")
    parser.add_argument("--webhooks", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=30)
    parser.add_argument("--skip-load", action="store_true", help="do not measure load times (quicker runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "turn_bench.md")
    args = parser.parse_args()
    if not args.model.exists():
        sys.exit(f"{args.model} is missing: run `make train` first")
    load_before = load_average()
    with tempfile.TemporaryDirectory() as workdir_name:
        workdir = Path(workdir_name)
        trained_in = None
        folder = args.starter_dir
        if folder is None or not list((folder / "models").glob("*.tar.gz")):
            folder = folder or workdir / "starter"
            print(f"training Rasa's starter bot in {folder} ...", flush=True)
            trained_in = train_starter(folder)
        model_copy = workdir / "hotel.tar.gz"
        shutil.copy(args.model, model_copy)  # the shared model may be retrained meanwhile
        sizes = {"starter": starter_model(folder).stat().st_size / 1e6, "hotel": model_copy.stat().st_size / 1e6}
        print("measuring model load times ...", flush=True)
        loads = ({} if args.skip_load else
                 {"starter": load_time(starter_model(folder), folder), "hotel": load_time(model_copy, ROOT, project=True)})
        (workdir / "hotel").mkdir()
        hotel = Stack(workdir / "hotel", redis_prefix=unique_prefix("turn-bench"))
        hotel.model = model_copy
        starter = StarterStack(folder, workdir)
        print("starting both bots (a minute or two) ...", flush=True)
        try:
            starter.start()
            hotel.start()
            results = asyncio.run(measure(args, hotel, starter))
        finally:
            hotel.stop()
            starter.stop()
    text = report(args, results, sizes, loads, load_before, load_average(), trained_in)
    print(text)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
