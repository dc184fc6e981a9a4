"""Do oversized inputs still hurt other guests? (issue #9, not a timed test)

Starts the real stack (tests/stack_common.RasaStack: ``rasa run`` with the
trained model + the action server, REST channel) and measures one victim
guest's turns ("hi", "do you have parking?") while attackers send
- 10 concurrent 50 KB REST messages (refused before the NLU), then
- 6 concurrent availability checks to 9999-12-31, straight to the action
  server with Rasa's own secret (refused by the PMS layer before any loop).
Prints p50 / p99 / max of the victim's turns for each phase and the
attackers' answer times. ``--seconds 10`` keeps every attacker going for 10 s
(a sustained flood rather than the issue's one burst).

    .venv/bin/python benchmarks/security_load.py [--rounds 2] [--seconds 10]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from actions.webhook_auth import action_server_token, authorization_header  # noqa: E402
from tests.stack_common import RasaStack  # noqa: E402

VICTIM_TEXTS = ("hi", "do you have parking?", "what time is breakfast?")


def turn(stack: RasaStack, sender: str, text: str) -> float:
    started = time.perf_counter()
    answer = requests.post(f"{stack.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=300)
    answer.raise_for_status()
    return time.perf_counter() - started


def availability_bomb(stack: RasaStack) -> float:
    call = {"next_action": "action_check_availability", "sender_id": "bench", "version": "3.6.21", "domain": {},
            "tracker": {"sender_id": "bench", "slots": {"checkin": "2026-12-20", "checkout": "9999-12-31", "guests": 2},
                        "latest_message": {"text": "", "intent": {}, "entities": []}, "events": [], "paused": False,
                        "followup_action": None, "active_loop": {}, "latest_action_name": "action_listen"}}
    started = time.perf_counter()
    requests.post(f"{stack.action_url}/webhook", json=call, timeout=300,
                  headers={"Authorization": authorization_header(action_server_token())}).raise_for_status()
    return time.perf_counter() - started


def victim_during(stack: RasaStack, attack, attackers: int, rounds: int, seconds: float) -> tuple[list[float], list[float]]:
    """The victim's turn times while ``attackers`` each repeat ``attack`` for ``seconds``, ``rounds`` times."""
    victim_times: list[float] = []
    attack_times: list[float] = []
    for _ in range(rounds):
        stop = threading.Event()
        victim = f"victim-{uuid.uuid4().hex[:8]}"

        def keep_talking(stop: threading.Event = stop, victim: str = victim) -> None:
            n = 0
            while not stop.is_set():
                victim_times.append(turn(stack, victim, VICTIM_TEXTS[n % len(VICTIM_TEXTS)]))
                n += 1

        talker = threading.Thread(target=keep_talking)
        talker.start()
        time.sleep(0.2)
        def attacker(_: int) -> list[float]:
            until, times = time.monotonic() + seconds, [attack(stack)]
            while time.monotonic() < until:
                times.append(attack(stack))
            return times

        with ThreadPoolExecutor(attackers) as pool:
            for times in pool.map(attacker, range(attackers)):
                attack_times += times
        stop.set()
        talker.join()
    return victim_times, attack_times


def show(name: str, times: list[float]) -> str:
    if not times:
        return f"{name}: no samples"
    ordered = sorted(times)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return (f"{name}: n={len(times)} p50={statistics.median(ordered) * 1000:.0f} ms "
            f"p99={p99 * 1000:.0f} ms max={ordered[-1] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=0.0,
                        help="attackers repeat their request for this long (0: once each, the issue's scenario)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="security-load-") as workdir:
        stack = RasaStack(Path(workdir)).start()
        try:
            turn(stack, "warm-up", "hi")  # the first turn loads the model's graph
            baseline = [turn(stack, f"quiet-{n}", VICTIM_TEXTS[n % 3]) for n in range(10)]
            long_message = "room " * 10_000  # 50 KB
            v1, a1 = victim_during(stack, lambda s: turn(s, f"attacker-{uuid.uuid4().hex[:8]}", long_message), 10,
                                   args.rounds, args.seconds)
            v2, a2 = victim_during(stack, availability_bomb, 6, args.rounds, args.seconds)
        finally:
            stack.stop()
    print(show("victim, quiet", baseline))
    print(show("victim during 10 x 50 KB messages", v1))
    print(show("  the 50 KB messages (refused before NLU)", a1))
    print(show("victim during 6 x availability to 9999-12-31", v2))
    print(show("  the availability calls (refused before any loop)", a2))
    worst = max(v1 + v2)
    print(f"worst victim turn under attack: {worst * 1000:.0f} ms ({'under' if worst < 1 else 'OVER'} 1 s)")


if __name__ == "__main__":
    main()
