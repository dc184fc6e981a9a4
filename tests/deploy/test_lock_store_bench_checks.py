"""The correctness check of benchmarks/lock_store_bench.py on hand-made
event sequences: it accepts a clean conversation and catches a lost message,
a reordering and overlapping turns."""
from __future__ import annotations

import importlib.util
import sys
from typing import List

from tests.deploy.conftest import PROJECT_ROOT

spec = importlib.util.spec_from_file_location("lock_store_bench", PROJECT_ROOT / "benchmarks" / "lock_store_bench.py")
bench = sys.modules.setdefault("lock_store_bench", importlib.util.module_from_spec(spec))
spec.loader.exec_module(bench)


def user(text: str) -> dict:
    return {"type": "user", "action": None, "data": {"text": text}}


def action(name: str) -> dict:
    return {"type": "action", "action": name, "data": {}}


def bot(text: str) -> dict:
    return {"type": "bot", "action": None, "data": {"text": text}}


SESSION_START = [action("action_session_start"), {"type": "session_started", "action": None, "data": {}}, action("action_listen")]


def turn(text: str) -> List[dict]:
    return [user(text), action("utter_greet"), bot("¡Hola!"), action("action_listen")]


def test_a_clean_conversation_has_no_problems():
    events = SESSION_START + turn("hola") + turn("gracias")
    assert bench.conversation_problems("g", ["hola", "gracias"], events, ordered=True) == []


def test_a_lost_message_is_caught():
    events = SESSION_START + turn("hola")
    problems = bench.conversation_problems("g", ["hola", "gracias"], events, ordered=False)
    assert problems and "stored user messages" in problems[0]


def test_order_matters_only_for_sequential_guests():
    events = SESSION_START + turn("gracias") + turn("hola")
    assert bench.conversation_problems("g", ["hola", "gracias"], events, ordered=False) == []
    assert bench.conversation_problems("g", ["hola", "gracias"], events, ordered=True)


def test_overlapping_turns_are_caught():
    # two turns ran at once: both user messages stored, then both turns' actions
    events = SESSION_START + [user("hola"), user("gracias"), action("utter_greet"), bot("¡Hola!"),
                              action("action_listen"), action("utter_thanks"), bot("De nada"), action("action_listen")]
    problems = bench.conversation_problems("g", ["hola", "gracias"], events, ordered=False)
    assert any("overlapping" in problem or "without a bot answer" in problem for problem in problems)


def test_a_turn_that_never_finished_is_caught():
    events = SESSION_START + turn("hola") + [user("gracias"), action("utter_thanks")]
    problems = bench.conversation_problems("g", ["hola", "gracias"], events, ordered=True)
    assert any("does not end in one action_listen" in problem for problem in problems)
