"""connectors/perf.py: the model graph runs in the inference thread, so the
event loop keeps answering while a turn is parsed and predicted, and the turn
does exactly what it did on the loop."""
from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace
from typing import List

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.policies.policy import PolicyPrediction
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.engine.constants import PLACEHOLDER_MESSAGE, PLACEHOLDER_TRACKER
from rasa.shared.core.domain import Domain
from rasa.shared.data import TrainingType
from rasa.shared.nlu.training_data.message import Message

from connectors import perf

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet, loop]
responses:
  utter_greet: [{text: "hi"}]
  utter_again: [{text: "again"}]
""")
GRAPH_SECONDS = 0.3


class SlowGraph:
    """A graph runner that blocks like inference does: NLU says the text is the intent;
    the policies answer greet with utter_greet then listen, and loop with utter_again for ever."""

    def __init__(self) -> None:
        self.threads: List[str] = []
        self.running = 0
        self.most_at_once = 0
        self._lock = threading.Lock()

    def run(self, inputs, targets):
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        self.threads.append(threading.current_thread().name)
        try:
            time.sleep(GRAPH_SECONDS)  # holds its thread, like a graph run holds the loop without the patch
            if targets == ["nlu"]:
                text = inputs[PLACEHOLDER_MESSAGE][0].text
                message = Message(data={"text": text, "intent": {"name": text, "confidence": 1.0}, "entities": []},
                                  output_properties={"text", "intent", "entities"})
                return {"nlu": [message]}
            tracker = inputs[PLACEHOLDER_TRACKER]
            intent = tracker.latest_message.intent.get("name")
            if intent == "loop":
                name = "utter_again"
            else:
                name = "utter_greet" if tracker.latest_action_name == "action_listen" else "action_listen"
            return {"core": PolicyPrediction.for_action_name(DOMAIN, name, "SlowGraph")}
        finally:
            with self._lock:
                self.running -= 1


def processor(graph: SlowGraph) -> MessageProcessor:
    built = object.__new__(MessageProcessor)  # no model: the graph is the fake above
    built.nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    built.tracker_store = InMemoryTrackerStore(DOMAIN)
    built.lock_store = InMemoryLockStore()
    built.max_number_of_predictions = 4
    built.on_circuit_break = None
    built.action_endpoint = None
    built.http_interpreter = None
    built.domain = DOMAIN
    built.graph_runner = graph
    built.model_metadata = SimpleNamespace(nlu_target="nlu", core_target="core", training_type=TrainingType.BOTH,
                                           assistant_id="test", model_id="test-model")
    return built


@pytest.fixture(autouse=True)
def installed():
    perf.install()
    yield


async def loop_gaps(until: asyncio.Event) -> List[float]:
    """How long the loop went without running this coroutine, tick by tick."""
    gaps, last = [], time.perf_counter()
    while not until.is_set():
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now
    return gaps


async def while_ticking(work):
    done = asyncio.Event()
    ticker = asyncio.create_task(loop_gaps(done))
    started = time.perf_counter()
    try:
        result = await work
    finally:
        done.set()
    return result, time.perf_counter() - started, await ticker


def test_seams_are_where_the_patch_expects_them():
    perf.check_seams()


async def test_the_loop_answers_while_a_message_is_parsed():
    graph = SlowGraph()
    parse_data, took, gaps = await while_ticking(processor(graph).parse_message(UserMessage("greet", sender_id="a")))
    assert parse_data["intent"]["name"] == "greet"
    assert took >= GRAPH_SECONDS
    assert max(gaps) < 0.1  # without the patch the loop stands still for the whole 0.3 s
    assert graph.threads == ["rasa-inference_0"]


async def test_the_loop_answers_while_a_whole_turn_is_predicted():
    graph = SlowGraph()
    bot = processor(graph)
    channel = CollectingOutputChannel()
    _, took, gaps = await while_ticking(bot.handle_message(UserMessage("greet", channel, sender_id="a")))
    assert [m["text"] for m in channel.messages] == ["hi"]
    assert took >= 3 * GRAPH_SECONDS  # parse, utter_greet, action_listen
    assert max(gaps) < 0.1
    assert set(graph.threads) == {"rasa-inference_0"}


async def test_graph_runs_stay_one_at_a_time():
    graph = SlowGraph()
    bot = processor(graph)
    await asyncio.gather(*(bot.handle_message(UserMessage("greet", CollectingOutputChannel(), sender_id=f"g{i}"))
                           for i in range(3)))
    assert graph.most_at_once == 1


def events_of(tracker) -> List[tuple]:
    return [(type(e).__name__, getattr(e, "action_name", None) or getattr(e, "text", None)) for e in tracker.events]


@pytest.mark.parametrize("text", ["greet", "loop"])
async def test_the_turn_is_the_same_as_on_the_loop(monkeypatch, text):
    """Same events with the patch as with Rasa's own methods (``loop``: the action limit trips)."""
    patched = processor(SlowGraph())
    await patched.handle_message(UserMessage(text, CollectingOutputChannel(), sender_id="s"))
    with_patch = events_of(await patched.tracker_store.retrieve("s"))

    monkeypatch.setattr(MessageProcessor, "parse_message", MessageProcessor.parse_message.__wrapped__)
    monkeypatch.setattr(MessageProcessor, "_run_prediction_loop", MessageProcessor._run_prediction_loop.__wrapped__)
    original = processor(SlowGraph())
    await original.handle_message(UserMessage(text, CollectingOutputChannel(), sender_id="s"))
    without = events_of(await original.tracker_store.retrieve("s"))
    assert with_patch == without
    if text == "loop":
        assert [name for kind, name in with_patch if kind == "ActionExecuted"].count("utter_again") == 4
