"""Two Rasa processes sharing the lock store vs one (a script, not a test).

Starts one action server and two ``rasa run`` processes with the trained model
(models/hotel.tar.gz; trains nothing), the production ``endpoints.yml`` and
the REST channel, both on the same PostgreSQL tracker store (a database of its
own on 127.0.0.1:5432, dropped at the end) and the same Redis lock store
(127.0.0.1:6379 unless --redis-url). Then:

1. one process: G simulated guests at once, each sending M messages one after
   the other (waiting for each answer);
2. two processes: the same load, every request sent to the next process in
   turn (client-side round robin), so a guest's messages alternate between them;
3. the same conversation on both: C conversations whose M messages are all
   sent at once, alternately to the two processes; only the lock store keeps
   their turns from overlapping.

For each it reports turns/s and p50/p95 latency, and checks every
conversation in PostgreSQL: exactly the messages sent (in the order sent for
1 and 2), each turn complete (ending in action_listen) before the next user
message, and no lock left in Redis. ``--control`` repeats 3 with in-memory
lock stores (LOCK_STORE_URL unset): what the checks catch without a shared lock.

    .venv/bin/python benchmarks/lock_store_bench.py [--guests 8] [--messages 6] [--conversations 6] [--control]

Prints a Markdown report and writes it to results/bench/lock_store.md.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
import psycopg2  # noqa: E402
import redis  # noqa: E402

from tests.stack_common import MODEL, RASA, ActionServer, free_port, stop_process, wait_http  # noqa: E402

POSTGRES_ADMIN = dict(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
REDIS_LOCK_KEY_PREFIX = "lock:"  # RedisLockStore's default
# Guest messages that get an answer without pausing the bot or opening a form.
MESSAGES = [
    "hola",
    "¿a qué hora abre recepción?",
    "do you have parking?",
    "¿dónde están?",
    "what time is check-out?",
    "¿tienen wifi?",
    "gracias",
    "thanks, bye",
]
OUT = ROOT / "results" / "bench" / "lock_store.md"


# -- the processes ------------------------------------------------------------------


class RasaProcess:
    """``rasa run`` with the project's endpoints.yml and a REST-only credentials file."""

    def __init__(self, name: str, workdir: Path, env: Dict[str, str]) -> None:
        self.name, self.workdir, self.env = name, workdir, env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"rasa-{name}.log"
        self.proc: Optional[subprocess.Popen] = None

    def spawn(self) -> None:
        credentials = self.workdir / "credentials.yml"
        credentials.write_text("rest:\n", encoding="utf-8")
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [str(RASA), "run", "--model", str(MODEL), "--endpoints", str(ROOT / "endpoints.yml"),
                 "--credentials", str(credentials), "--port", str(self.port), "-i", "127.0.0.1"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )

    def wait_ready(self) -> None:
        assert self.proc is not None
        wait_http(f"{self.url}/", self.proc, self.log_path, timeout=300)

    def stop(self) -> None:
        stop_process(self.proc, 30)

    @property
    def rest_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"


def start_rasa(processes: Sequence[RasaProcess]) -> None:
    """Start them together (they load the model in parallel), return when all answer."""
    for process in processes:
        process.spawn()
    for process in processes:
        process.wait_ready()


def rasa_environment(action: ActionServer, tracker_store_url: str, lock_store_url: str) -> Dict[str, str]:
    env = dict(action.env, TRACKER_STORE_URL=tracker_store_url, ACTION_ENDPOINT_URL=f"{action.url}/webhook")
    env.pop("LOCK_STORE_URL", None)
    if lock_store_url:
        env["LOCK_STORE_URL"] = lock_store_url
    return env


def admin_execute(sql: str) -> None:
    connection = psycopg2.connect(**POSTGRES_ADMIN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


# -- the load -----------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    processes: int
    conversations: Dict[str, List[str]]  # sender -> messages, in the order sent
    ordered: bool  # False: a conversation's messages were sent all at once
    latencies: List[float] = field(default_factory=list)
    failures: List[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: List[str] = field(default_factory=list)

    @property
    def turns(self) -> int:
        return sum(len(messages) for messages in self.conversations.values())


async def send(http: aiohttp.ClientSession, url: str, sender: str, text: str, scenario: Scenario) -> None:
    started = time.perf_counter()
    try:
        async with http.post(url, json={"sender": sender, "message": text}) as answer:
            replies = await answer.json(content_type=None)
            if answer.status != 200 or not replies:
                scenario.failures.append(f"{sender} {text!r}: HTTP {answer.status}, {str(replies)[:120]}")
    except (aiohttp.ClientError, asyncio.TimeoutError, json.JSONDecodeError) as error:
        scenario.failures.append(f"{sender} {text!r}: {type(error).__name__}: {error}")
    scenario.latencies.append(time.perf_counter() - started)


def guest_scripts(run_id: str, label: str, count: int, messages: int) -> Dict[str, List[str]]:
    """Each guest sends ``messages`` different texts, starting at a different one."""
    return {
        f"{run_id}-{label}-{index}": [MESSAGES[(index + offset) % len(MESSAGES)] for offset in range(messages)]
        for index in range(count)
    }


async def sequential_guests(scenario: Scenario, urls: Sequence[str]) -> None:
    """Every guest at once; each guest waits for an answer before its next message."""
    next_url = itertools.cycle(urls)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
        async def guest(sender: str, texts: List[str]) -> None:
            for text in texts:
                await send(http, next(next_url), sender, text, scenario)

        started = time.perf_counter()
        await asyncio.gather(*(guest(sender, texts) for sender, texts in scenario.conversations.items()))
        scenario.seconds = time.perf_counter() - started


async def simultaneous_messages(scenario: Scenario, urls: Sequence[str]) -> None:
    """Every message of every conversation at once, alternating between the processes."""
    timeout = aiohttp.ClientTimeout(total=300)
    async with aiohttp.ClientSession(timeout=timeout, connector=aiohttp.TCPConnector(limit=0)) as http:
        started = time.perf_counter()
        await asyncio.gather(*(
            send(http, urls[index % len(urls)], sender, text, scenario)
            for sender, texts in scenario.conversations.items()
            for index, text in enumerate(texts)
        ))
        scenario.seconds = time.perf_counter() - started


# -- the checks ---------------------------------------------------------------------


def stored_events(tracker_store_url: str, sender: str) -> List[dict]:
    connection = psycopg2.connect(tracker_store_url)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT type_name, action_name, data FROM events WHERE sender_id = %s ORDER BY id", (sender,))
            return [{"type": type_name, "action": action_name, "data": json.loads(data)}
                    for type_name, action_name, data in cursor.fetchall()]
    finally:
        connection.close()


def conversation_problems(sender: str, sent: List[str], events: List[dict], ordered: bool) -> List[str]:
    """What is wrong with one stored conversation (empty: nothing)."""
    problems = []
    said = [event["data"].get("text") for event in events if event["type"] == "user"]
    if ordered and said != sent:
        problems.append(f"{sender}: stored user messages {said} != sent {sent}")
    if not ordered and sorted(said) != sorted(sent):
        problems.append(f"{sender}: stored user messages {sorted(said)} != sent {sorted(sent)}")
    # Every turn (the events after a user message) is complete, ending with
    # action_listen, before the next user message: turns did not overlap.
    turn: Optional[List[dict]] = None
    for event in events + [{"type": "user", "data": {}}]:
        if event["type"] == "user":
            if turn is not None:
                actions = [e["action"] for e in turn if e["type"] == "action"]
                if not actions or actions[-1] != "action_listen" or actions.count("action_listen") != 1:
                    problems.append(f"{sender}: turn {actions} does not end in one action_listen (overlapping turns)")
                if not any(e["type"] == "bot" for e in turn):
                    problems.append(f"{sender}: a turn without a bot answer")
            turn = []
        elif turn is not None:
            turn.append(event)
    return problems


def check(scenario: Scenario, tracker_store_url: str, lock_redis: Optional[redis.Redis]) -> None:
    for sender, sent in scenario.conversations.items():
        scenario.problems += conversation_problems(sender, sent, stored_events(tracker_store_url, sender), scenario.ordered)
        if lock_redis is not None and lock_redis.exists(REDIS_LOCK_KEY_PREFIX + sender):
            scenario.problems.append(f"{sender}: lock left in Redis")


# -- the report ---------------------------------------------------------------------


def percentile(values: List[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def report(scenarios: List[Scenario], args: argparse.Namespace, startup_seconds: float) -> str:
    lines = [
        f"# Lock store benchmark ({time.strftime('%Y-%m-%d')})",
        "",
        f"`benchmarks/lock_store_bench.py --guests {args.guests} --messages {args.messages} "
        f"--conversations {args.conversations}{' --control' if args.control else ''}`: "
        "trained model, one action server, `rasa run` with the production endpoints.yml, REST channel, "
        "PostgreSQL tracker store and Redis lock store shared by the Rasa processes; "
        f"all on one {os.cpu_count()}-core machine (client included). Rasa start-up: {startup_seconds:.0f} s.",
        "",
        "| scenario | Rasa processes | lock store | turns | turns/s | p50 | p95 | failed requests | conversations correct |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in scenarios:
        wrong = {problem.split(":")[0] for problem in s.problems}
        correct = len(s.conversations) - len(wrong & set(s.conversations))
        lock = "in memory (each process its own)" if "control" in s.name else "Redis (shared)"
        lines.append(
            f"| {s.name} | {s.processes} | {lock} | {s.turns} | {s.turns / s.seconds:.2f} | "
            f"{percentile(s.latencies, 50) * 1000:.0f} ms | {percentile(s.latencies, 95) * 1000:.0f} ms | "
            f"{len(s.failures)} | {correct}/{len(s.conversations)} |"
        )
    lines += ["", "Correct = in PostgreSQL exactly the user messages sent (in the order sent, for the sequential "
              "scenarios), every turn complete (its bot answer, then one action_listen) before the next user "
              "message, and no lock left in Redis."]
    for s in scenarios:
        if s.problems or s.failures:
            lines += ["", f"**{s.name}**: {len(s.problems)} problems, {len(s.failures)} failed requests; first ones:"]
            lines += [f"- {item}" for item in (s.failures[:3] + s.problems[:5])]
    return "\n".join(lines) + "\n"


# -- main ---------------------------------------------------------------------------


async def warm_up(processes: Sequence[RasaProcess], run_id: str) -> None:
    scenario = Scenario("warm-up", len(processes), {}, True)
    async with aiohttp.ClientSession() as http:
        for process in processes:
            for text in ("hola", "gracias"):
                await send(http, process.rest_url, f"{run_id}-warmup-{process.name}", text, scenario)
    if scenario.failures:
        raise RuntimeError(f"warm-up failed: {scenario.failures}")


def run(args: argparse.Namespace, workdir: Path, database: str) -> str:
    run_id = uuid.uuid4().hex[:8]
    tracker_store_url = f"postgresql://postgres@127.0.0.1:5432/{database}"
    lock_redis = redis.Redis.from_url(args.redis_url)
    action = ActionServer(workdir)
    processes: List[RasaProcess] = []
    scenarios: List[Scenario] = []
    try:
        print("starting the action server and two Rasa processes (a minute or two)...", flush=True)
        action.start()
        started = time.perf_counter()
        shared_lock_env = rasa_environment(action, tracker_store_url, args.redis_url)
        processes = [RasaProcess(name, workdir, shared_lock_env) for name in ("a", "b")]
        start_rasa(processes)
        startup = time.perf_counter() - started
        asyncio.run(warm_up(processes, run_id))
        urls = [process.rest_url for process in processes]

        plan = [
            (Scenario("one process", 1, guest_scripts(run_id, "one", args.guests, args.messages), True), urls[:1]),
            (Scenario("two processes, round robin", 2, guest_scripts(run_id, "two", args.guests, args.messages), True), urls),
        ]
        for scenario, targets in plan:
            print(f"running: {scenario.name}", flush=True)
            asyncio.run(sequential_guests(scenario, targets))
            check(scenario, tracker_store_url, lock_redis)
            scenarios.append(scenario)

        contended = Scenario("same conversations on both processes at once", 2,
                             guest_scripts(run_id, "same", args.conversations, args.messages), False)
        print(f"running: {contended.name}", flush=True)
        asyncio.run(simultaneous_messages(contended, urls))
        check(contended, tracker_store_url, lock_redis)
        scenarios.append(contended)

        if args.control:
            print("control: restarting both Rasa processes with in-memory lock stores", flush=True)
            for process in processes:
                process.stop()
            in_memory_lock_env = rasa_environment(action, tracker_store_url, "")
            processes = [RasaProcess(name, workdir, in_memory_lock_env) for name in ("a-memory", "b-memory")]
            start_rasa(processes)
            control = Scenario("control: same conversations at once, no shared lock", 2,
                               guest_scripts(run_id, "control", args.conversations, args.messages), False)
            asyncio.run(simultaneous_messages(control, [process.rest_url for process in processes]))
            check(control, tracker_store_url, None)
            scenarios.append(control)
    finally:
        for process in processes:
            process.stop()
        action.stop()
        lock_redis.close()
    return report(scenarios, args, startup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=8, help="simulated guests at once (scenarios 1 and 2)")
    parser.add_argument("--messages", type=int, default=6, help=f"messages per guest (at most {len(MESSAGES)})")
    parser.add_argument("--conversations", type=int, default=6, help="conversations sent to both processes at once")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0", help="the shared lock store")
    parser.add_argument("--control", action="store_true", help="also run scenario 3 with in-memory lock stores")
    args = parser.parse_args()
    if not MODEL.exists():
        sys.exit(f"{MODEL} is missing: run `make train` first")
    if not 1 <= args.messages <= len(MESSAGES):
        sys.exit(f"--messages must be between 1 and {len(MESSAGES)}")
    database = f"lock_bench_{uuid.uuid4().hex[:10]}"
    admin_execute(f'CREATE DATABASE "{database}"')
    try:
        with tempfile.TemporaryDirectory(prefix="lock-bench-") as workdir:
            text = run(args, Path(workdir), database)
    finally:
        admin_execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"written to {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
