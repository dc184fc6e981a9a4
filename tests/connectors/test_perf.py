"""connectors/perf.py: the model graph runs in the inference thread, so the
event loop keeps answering while a turn is parsed and predicted, and the turn
does exactly what it did on the loop."""
from __future__ import annotations

import asyncio
import contextlib
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
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
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
GRAPH_SECONDS = 0.5


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
    assert max(gaps) < GRAPH_SECONDS / 2  # without the patch the loop stands still for a whole graph run
    assert graph.threads == ["rasa-inference_0"]


async def test_the_loop_answers_while_a_whole_turn_is_predicted():
    graph = SlowGraph()
    bot = processor(graph)
    channel = CollectingOutputChannel()
    _, took, gaps = await while_ticking(bot.handle_message(UserMessage("greet", channel, sender_id="a")))
    assert [m["text"] for m in channel.messages] == ["hi"]
    assert took >= 3 * GRAPH_SECONDS  # parse, utter_greet, action_listen
    assert max(gaps) < GRAPH_SECONDS / 2
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


# -- dialogue states cache ------------------------------------------------------------

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]
STORY_FILES = [ROOT / "data" / "stories.yml", ROOT / "data" / "rules.yml", *sorted((ROOT / "tests" / "stories").glob("*.yml"))]


@pytest.fixture(scope="module")
def project():
    """The project's domain and every story, rule and test story as a list of events."""
    from rasa.shared.core.generator import TrainingDataGenerator
    from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
    from rasa.shared.core.training_data.structures import StoryGraph

    domain = Domain.load(str(ROOT / "domain.yml"))
    steps = []
    for path in STORY_FILES:
        steps += YAMLStoryReader(domain).read_from_file(path)
    trackers = TrainingDataGenerator(StoryGraph(steps), domain, remove_duplicates=True, augmentation_factor=0).generate()
    histories = [list(tracker.events) for tracker in trackers]
    assert len(histories) > 50
    return domain, histories


def fresh(events):
    """The same events as new objects, as the tracker store gives them back each turn."""
    import json

    from rasa.shared.core.events import Event

    return [Event.from_parameters(json.loads(json.dumps(event.as_dict()))) for event in events]


RULE_ONLY = {"rule_only_slots": ["requested_slot", "language"], "rule_only_loops": ["booking_status_form"]}
ARGUMENTS = [
    dict(omit_unset_slots=False, ignore_rule_only_turns=False, rule_only_data=None),
    dict(omit_unset_slots=True, ignore_rule_only_turns=False, rule_only_data=None),
    dict(omit_unset_slots=False, ignore_rule_only_turns=True, rule_only_data=RULE_ONLY),
    dict(omit_unset_slots=False, ignore_rule_only_turns=True, rule_only_data={}),
]


def test_cached_states_are_rasas_states_for_every_prefix_of_every_story(project):
    """A conversation growing event by event (every story, rule and test story of the
    project), its events sometimes fresh objects: the cache gives Rasa's states each time."""
    from rasa.shared.core.trackers import DialogueStateTracker

    domain, histories = project
    original = Domain.states_for_tracker_history.__wrapped__
    cache = perf.StatesCache()
    compared = 0
    for number, events in enumerate(histories):
        for length in range(1, len(events) + 1):
            prefix = events[:length] if length % 3 else fresh(events[:length])
            tracker = DialogueStateTracker.from_events(f"story-{number}", prefix, domain.slots)
            for arguments in ARGUMENTS:
                assert cache.states(domain, tracker, **arguments) == original(domain, tracker, **arguments)
                compared += 1
    assert compared > 1000
    from_the_start = sum(len(events) * (len(events) + 1) // 2 for events in histories) * len(ARGUMENTS)
    # each prefix replayed from the start would apply from_the_start events; forms undo their earlier
    # runs in applied_events (not an extension: replayed again), the rest continues where it stopped
    assert cache.replayed_events < from_the_start / 2


def test_a_history_that_is_not_an_extension_is_replayed_from_the_start(project):
    from rasa.shared.core.events import ActionExecuted, UserUtteranceReverted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    domain, histories = project
    original = Domain.states_for_tracker_history.__wrapped__
    events = max(histories, key=len)
    cache = perf.StatesCache()
    cases = [
        events,
        events[: len(events) // 2],                                           # shorter (a rewind)
        events + [UserUttered("x", {"name": "greet"}), UserUtteranceReverted()],  # reverted
        events[:3] + [ActionExecuted("utter_greet")] + events[3:],            # history replaced
    ]
    for case in cases:
        tracker = DialogueStateTracker.from_events("same-conversation", case, domain.slots)
        for arguments in ARGUMENTS:
            assert cache.states(domain, tracker, **arguments) == original(domain, tracker, **arguments)


def test_changing_returned_states_changes_nothing_cached(project):
    from rasa.shared.core.trackers import DialogueStateTracker

    domain, histories = project
    tracker = DialogueStateTracker.from_events("c", max(histories, key=len), domain.slots)
    cache = perf.StatesCache()
    first = cache.states(domain, tracker, ignore_rule_only_turns=True, rule_only_data=RULE_ONLY)
    expected = Domain.states_for_tracker_history.__wrapped__(domain, tracker, ignore_rule_only_turns=True,
                                                             rule_only_data=RULE_ONLY)
    for state in first:  # what _choose_last_user_input and friends do to the last state
        state.get("user", {}).pop("intent", None)
        state.clear()
    assert cache.states(domain, tracker, ignore_rule_only_turns=True, rule_only_data=RULE_ONLY) == expected


def test_the_cache_is_used_only_while_the_processor_predicts(project):
    from rasa.shared.core.trackers import DialogueStateTracker

    domain, histories = project
    tracker = DialogueStateTracker.from_events("t", max(histories, key=len), domain.slots)
    before = perf.STATES.replayed_events
    domain.states_for_tracker_history(tracker)  # training, rasa test, anything but a prediction
    assert perf.STATES.replayed_events == before


# -- action-server answers ----------------------------------------------------------------

ANSWERS = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "language", "value": "en", "timestamp": None}],
     "responses": [{"text": "hi", "buttons": [{"title": "a", "payload": "/a"}]}]},
    {"events": [{"event": "action", "name": "action_listen"}, {"event": "followup", "name": "utter_greet"},
                {"event": "active_loop", "name": None}, {"event": "restart"}]},
    {"events": [{"event": "slot", "name": 3}]},                 # a slot name must be a string
    {"events": [{"event": "no_such_event"}]},
    {"events": "not a list"},
    {"responses": [42]},
    {"events": [{"name": "language"}]},                       # no event type
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_action_answers_are_judged_as_rasa_judges_them(answer):
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    action = RemoteAction("action_x", None)

    def verdict(validate):
        try:
            return validate(action, answer)
        except ValidationError as error:
            return ("invalid", error.message, list(error.path))

    patched = verdict(RemoteAction._validate_action_result)
    assert patched == verdict(RemoteAction._validate_action_result.__wrapped__)
    if patched is not True:
        assert "Failed to validate Action server response" in patched[1]


# -- the language slot's action gets the latest turn only -----------------------------------


def with_languages(events):
    """The story's guest messages as the NLU gives them: a language verdict on each."""
    out = []
    for number, event in enumerate(events):
        if isinstance(event, UserUttered):
            parse_data = dict(event.parse_data, language={"name": "en" if number % 2 else "es", "reliable": number % 3 != 0})
            event = UserUttered(event.text or "hello there", event.intent, event.entities, parse_data,
                                timestamp=event.timestamp, metadata={"hotel": {"id": "demo"}})
        out.append(event)
    return out


def trackers_at_guest_messages(domain, histories):
    """The tracker as it stands at each guest message of each story history (with_languages applied)."""
    from rasa.shared.core.trackers import DialogueStateTracker

    for number, history in enumerate(histories):
        events = with_languages(history)
        for length, event in enumerate(events, start=1):
            if isinstance(event, UserUttered):
                yield DialogueStateTracker.from_events(f"conversation-{number}", events[:length], domain.slots)


async def test_the_language_action_does_the_same_with_the_latest_turn_only(project, monkeypatch):
    """What actions/session.py's action_detect_language returns and records, at every guest
    message of every story, is the same with the latest turn's events as with all of them."""
    from rasa.core.actions.action import RemoteAction
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions import session

    calls = []

    async def record(*args):
        calls.append(args)

    monkeypatch.setattr(session, "on_guest_message", record)
    domain, histories = project
    action = RemoteAction("action_detect_language", None)
    slim_format, full_format = RemoteAction._action_call_format, RemoteAction._action_call_format.__wrapped__
    compared = smaller = 0
    for tracker in trackers_at_guest_messages(domain, histories):
        outcomes = []
        for call_format in (slim_format, full_format):
            payload = call_format(action, tracker, domain)
            calls.clear()
            result = await session.ActionDetectLanguage().run(CollectingDispatcher(), Tracker.from_dict(payload["tracker"]),
                                                              payload.get("domain", {}))
            outcomes.append((result, list(calls), {k: v for k, v in payload["tracker"].items() if k != "events"}))
        assert outcomes[0] == outcomes[1]
        slim, full = (call_format(action, tracker, domain)["tracker"]["events"] for call_format in (slim_format, full_format))
        smaller += len(slim) < len(full)
        compared += 1
    assert compared > 100 and smaller > compared / 2


def test_other_actions_get_every_event():
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker.from_events("c", [
        ActionExecuted("action_listen"), UserUttered("hola", {"name": "greet"}), ActionExecuted("utter_greet"),
        ActionExecuted("action_listen"), UserUttered("reservar", {"name": "greet"}),
    ], DOMAIN.slots)
    full = RemoteAction("action_check_availability", None)._action_call_format(tracker, DOMAIN)
    assert len(full["tracker"]["events"]) == 5
    slim = RemoteAction("action_detect_language", None)._action_call_format(tracker, DOMAIN)
    assert [e["event"] for e in slim["tracker"]["events"]] == ["user"]
    assert slim["tracker"]["latest_message"]["text"] == "reservar"


@pytest.mark.parametrize("name", sorted(perf.SLIM_TRACKER_ACTIONS - {"action_detect_language"}))
async def test_the_slim_hotel_info_actions_answer_the_same_with_the_latest_turn_only(project, monkeypatch, name):
    """What an action of SLIM_TRACKER_ACTIONS (besides the language action) sends and returns, at
    every guest message of every story, is the same with the latest turn's events as with all."""
    import datetime as dt

    from rasa.core.actions.action import RemoteAction
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions import context, hotel_info

    monkeypatch.setattr(context, "_FIXED_NOW", dt.datetime(2026, 6, 3, 9, 30, tzinfo=dt.timezone.utc))
    action_class = next(cls for cls in vars(hotel_info).values()
                        if isinstance(cls, type) and cls.__module__ == hotel_info.__name__ and hasattr(cls, "name")
                        and cls.name(cls) == name)
    domain, histories = project
    action = RemoteAction(name, None)
    slim_format, full_format = RemoteAction._action_call_format, RemoteAction._action_call_format.__wrapped__
    compared = 0
    for tracker in trackers_at_guest_messages(domain, histories[::3]):
        outcomes = []
        for call_format in (slim_format, full_format):
            payload = call_format(action, tracker, domain)
            dispatcher = CollectingDispatcher()
            result = await action_class().run(dispatcher, Tracker.from_dict(payload["tracker"]), payload.get("domain", {}))
            outcomes.append((result, dispatcher.messages))
        assert outcomes[0] == outcomes[1] and outcomes[0][1]
        compared += 1
    assert compared > 30


# -- applied events kept up to date, states sliced for max_history callers (drift, #15) -----------------


@contextlib.contextmanager
def rasa_alone():
    """Rasa's own applied_events, states and featurizer while the block runs (none of perf's patches)."""
    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
    from rasa.shared.core.trackers import DialogueStateTracker

    patched = [(DialogueStateTracker, "applied_events"), (Domain, "states_for_tracker_history"),
               (MaxHistoryTrackerFeaturizer, "prediction_states")]
    saved = [(owner, name, getattr(owner, name)) for owner, name in patched]
    for owner, name, function in saved:
        setattr(owner, name, function.__wrapped__)
    try:
        yield
    finally:
        for owner, name, function in saved:
            setattr(owner, name, function)


def rasas_applied_events(tracker):
    from rasa.shared.core.trackers import DialogueStateTracker

    return DialogueStateTracker.applied_events.__wrapped__(tracker)


def with_rewinds(events):
    """The story with a guest message taken back, an action reverted, a restart and a new session in it."""
    from rasa.shared.core.events import ActionReverted, Restarted, SessionStarted, UserUtteranceReverted

    third, half = len(events) // 3, len(events) // 2
    return (events[:third] + [UserUtteranceReverted()] + events[third:half] + [ActionReverted()]
            + events[half:] + [Restarted()] + events[:third] + [SessionStarted()] + events[third:])


def with_unlikely_intents(events):
    """The story with an action_unlikely_intent after every other guest message (UnexpecTED's action)."""
    from rasa.shared.core.constants import ACTION_UNLIKELY_INTENT_NAME

    out, guest_messages = [], 0
    for event in events:
        out.append(event)
        if isinstance(event, UserUttered):
            guest_messages += 1
            if guest_messages % 2:
                out.append(ActionExecuted(ACTION_UNLIKELY_INTENT_NAME))
    return out


def growing(domain, events, sender):
    """One tracker that the events are appended to one by one, as a conversation's tracker grows."""
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker(sender, domain.slots)
    for event in events:
        tracker.update(event)
        yield tracker


def test_applied_events_are_rasas_at_every_event_of_every_story(project):
    """Every story, rule and test story (with rewinds, reverts, restarts and new sessions added), its
    tracker growing event by event: the kept applied events are Rasa's, the same event objects,
    after every event; and they are kept, not recomputed (the same AppliedEvents continues)."""
    from rasa.shared.core.events import ActiveLoop

    domain, histories = project
    compared = continued = cuts = 0
    for number, events in enumerate(histories):
        for variant in (events, with_rewinds(events)):
            previous, started_again = None, 0
            for tracker in growing(domain, variant, f"applied-{number}"):
                assert [id(e) for e in tracker.applied_events()] == [id(e) for e in rasas_applied_events(tracker)]
                kept = tracker.__dict__[perf._APPLIED_ATTRIBUTE]
                continued += kept is previous
                started_again += previous is not None and kept is not previous
                previous = kept
                compared += 1
            # from the start again only when a loop is named after its action ran (once per loop)
            assert started_again <= len({e.name for e in variant if isinstance(e, ActiveLoop) and e.name})
            cuts += bool(previous.cuts)
    assert compared > 2000
    assert continued > compared * 0.8
    assert cuts > len(histories)  # restarts, reverts and forms' earlier runs undone were exercised


def test_a_loop_named_after_its_action_ran_recomputes_the_applied_events():
    """Rasa reads the loop names of the whole history first: an ActiveLoop appended after its action
    ran as a plain action changes how that action is read; the kept list starts again."""
    from rasa.shared.core.events import ActiveLoop
    from rasa.shared.core.trackers import DialogueStateTracker

    tracker = DialogueStateTracker("late-loop", DOMAIN.slots)
    for event in [ActionExecuted("action_listen"), UserUttered("hola", {"name": "greet"}), ActionExecuted("some_form"),
                  ActionExecuted("action_listen"), UserUttered("x", {"name": "greet"}), ActionExecuted("some_form")]:
        tracker.update(event)
        assert tracker.applied_events() == rasas_applied_events(tracker)
    first = tracker.__dict__[perf._APPLIED_ATTRIBUTE]
    tracker.update(ActiveLoop("some_form"))
    assert [id(e) for e in tracker.applied_events()] == [id(e) for e in rasas_applied_events(tracker)]
    assert len(rasas_applied_events(tracker)) < len(tracker.events)  # the earlier run of the loop is undone
    assert tracker.__dict__[perf._APPLIED_ATTRIBUTE] is not first


def test_a_replaced_history_is_read_again(project):
    from collections import deque

    domain, histories = project
    events = max(histories, key=len)
    tracker = list(growing(domain, events, "replaced"))[-1]
    tracker.applied_events()
    tracker.events = deque(fresh(events[: len(events) // 2]))  # not Rasa's way, but a new deque is a new history
    assert [id(e) for e in tracker.applied_events()] == [id(e) for e in rasas_applied_events(tracker)]
    tracker.events.append(events[-1])
    assert [id(e) for e in tracker.applied_events()] == [id(e) for e in rasas_applied_events(tracker)]


def test_training_trackers_keep_rasas_applied_events():
    from rasa.shared.core.generator import TrackerWithCachedStates

    tracker = TrackerWithCachedStates.from_events("training", [ActionExecuted("action_listen")], DOMAIN.slots)
    tracker.applied_events()
    assert perf._APPLIED_ATTRIBUTE not in tracker.__dict__


def test_states_of_a_growing_tracker_are_rasas_and_continue_without_a_full_check(project):
    """The conversation's own tracker growing event by event (every story, with rewinds): the
    cache's states are Rasa's (nothing of perf patched) each time, and the cache tells that its
    replay is still a prefix without comparing every event (zip_checks)."""
    domain, histories = project
    cache = perf.StatesCache()
    calls = 0
    for number, events in enumerate(histories[::2]):
        every = 1 + number % 4  # states asked after each event, or after a few (a revert and more in between)
        for variant in (events, with_rewinds(events)):
            for length, tracker in enumerate(growing(domain, variant, f"grow-{number}-{len(variant)}"), start=1):
                if length % every:
                    continue
                for arguments in ARGUMENTS:
                    cached = cache.states(domain, tracker, **arguments)
                    with rasa_alone():
                        expected = domain.states_for_tracker_history(tracker, **arguments)
                    assert cached == expected
                    calls += 1
    assert calls > 1000
    assert cache.zip_checks < calls / 10  # after a cut below the replay, or a loop named late (rebuilt list)


@pytest.mark.parametrize("max_history", [5, 1, None])
@pytest.mark.parametrize("use_text", [False, True])
@pytest.mark.parametrize("ignore_unlikely", [False, True])
def test_max_history_featurizers_get_rasas_prediction_states(project, monkeypatch, max_history, use_text,
                                                             ignore_unlikely):
    """What Memoization, Rule and TED policies' featurizer gives them while the processor predicts
    (states cache, states sliced before they are copied) is what Rasa alone gives, at every event
    of every story, with rule-only data and without."""
    from rasa.core.featurizers.single_state_featurizer import SingleStateFeaturizer
    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer

    domain, histories = project
    featurizer = MaxHistoryTrackerFeaturizer(SingleStateFeaturizer(), max_history=max_history)
    monkeypatch.setattr(perf, "STATES", perf.StatesCache())
    monkeypatch.setattr(perf._predicting, "active", True, raising=False)
    compared = 0
    for number, events in enumerate(histories[::4]):
        variant = with_rewinds(events) if number % 2 else with_unlikely_intents(events)
        for tracker in growing(domain, variant, f"featurizer-{number}"):
            for rule_only in (None, RULE_ONLY):
                arguments = dict(use_text_for_last_user_input=use_text, ignore_rule_only_turns=rule_only is not None,
                                 rule_only_data=rule_only, ignore_action_unlikely_intent=ignore_unlikely)
                patched = featurizer.prediction_states([tracker], domain, **arguments)
                with rasa_alone():
                    assert featurizer.prediction_states([tracker], domain, **arguments) == patched
                # what the featurizer changed in its states changed nothing the cache keeps
                states_arguments = dict(ignore_rule_only_turns=rule_only is not None, rule_only_data=rule_only)
                cached = perf.STATES.states(domain, tracker, **states_arguments)
                with rasa_alone():
                    assert cached == domain.states_for_tracker_history(tracker, **states_arguments)
                compared += 1
    assert compared > 500 and perf.STATES.replayed_events > 0


MODEL = ROOT / "models" / "hotel.tar.gz"


@pytest.mark.model
@pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first")
def test_the_trained_policies_predict_what_they_predict_without_perf(project):
    """The trained model's prediction (action, policy, probabilities, events) before every action of
    every story, rule and test story (and of each with rewinds, reverts, a restart and a new session
    added), the tracker growing as a conversation's does: the same with perf's patches as with Rasa alone."""
    from rasa.core.agent import Agent
    from rasa.engine.constants import PLACEHOLDER_TRACKER

    domain, histories = project
    processor = Agent.load(model_path=str(MODEL)).processor
    nodes = sorted(name for name in processor.graph_runner._instantiated_nodes if "Policy" in name)
    assert len(nodes) == 3  # Memoization, Rule, TED

    def outcome(prediction):
        return (prediction.policy_name, prediction.probabilities, prediction.events,
                prediction.is_end_to_end_prediction, prediction.hide_rule_turn, prediction.action_metadata)

    def policies(tracker):
        results = processor.graph_runner.run(inputs={PLACEHOLDER_TRACKER: tracker}, targets=nodes)
        return {name: outcome(results[name]) for name in nodes}

    compared = 0
    for number, events in enumerate(histories):
        for variant in (events, with_rewinds(events)):
            tracker = DialogueStateTracker(f"predict-{number}-{len(variant)}", processor.domain.slots)
            for event in variant:
                if isinstance(event, ActionExecuted):
                    followup = tracker.followup_action  # a prediction takes it off the tracker
                    patched = processor._predict_next_with_tracker(tracker)
                    tracker.followup_action = followup
                    with rasa_alone():
                        alone = MessageProcessor._predict_next_with_tracker.__wrapped__(processor, tracker)
                    tracker.followup_action = followup
                    assert outcome(patched) == outcome(alone)
                    # and each policy's own prediction, the ones the ensemble did not pick too
                    perf._predicting.active = True
                    try:
                        patched = policies(tracker)
                    finally:
                        perf._predicting.active = False
                    with rasa_alone():
                        assert policies(tracker) == patched
                    compared += 1
                tracker.update(event)
    assert compared > 1000


def _tf_models(processor):
    """The trained TF models of a loaded graph (TED's and the ResponseSelector's), by node name."""
    found = {}
    for name, node in processor.graph_runner._instantiated_nodes.items():
        model = getattr(node._component, "model", None)
        if model is not None and hasattr(model, "run_inference"):
            found[name] = model
    return found


def _variables(model, folder):
    """Every variable of ``model`` by its checkpoint path (the optimizer's left out), as numpy arrays."""
    import tensorflow as tf

    path = str(folder / "weights")
    model.save_weights(path, save_format="tf")
    return {key: tf.train.load_variable(path, key) for key, _ in tf.train.list_variables(path)
            if "optimizer" not in key and key != "_CHECKPOINTABLE_OBJECT_GRAPH"}


@pytest.mark.model
@pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first")
async def test_models_loaded_without_a_training_step_are_the_trained_models(project, tmp_path):
    """Loaded by perf (the loss traced forward, no fit) and by Rasa alone (fit on one example): every
    variable of TED and of the ResponseSelector, found by checkpoint path, is the same array, none is
    missing on either side, and both graphs parse and predict the same."""
    import numpy as np
    from rasa.core.agent import Agent
    from rasa.utils.tensorflow.models import RasaModel

    patched_agent = Agent.load(model_path=str(MODEL))
    patched_load = RasaModel.__dict__["load"]  # the classmethod itself: RasaModel.load is bound to RasaModel
    RasaModel.load = classmethod(patched_load.__func__.__wrapped__)
    try:
        alone_agent = Agent.load(model_path=str(MODEL))
    finally:
        RasaModel.load = patched_load
    assert RasaModel.__dict__["load"] is patched_load
    patched, alone = _tf_models(patched_agent.processor), _tf_models(alone_agent.processor)
    assert len(patched) == 2 and patched.keys() == alone.keys()
    for name in patched:
        (tmp_path / f"p-{name}").mkdir()
        (tmp_path / f"a-{name}").mkdir()
        ours, rasas = _variables(patched[name], tmp_path / f"p-{name}"), _variables(alone[name], tmp_path / f"a-{name}")
        assert len(rasas) > 20 and ours.keys() == rasas.keys(), name
        assert all(np.array_equal(ours[key], rasas[key]) for key in rasas), name

    texts = ["hola", "is there wifi in the rooms?", "a que hora es el desayuno", "can I bring my dog",
             "donde aparco", "what time is check out", "quiero reservar una suite", "cancel BK123456"]
    for text in texts:
        ours = await patched_agent.parse_message(text)
        rasas = await alone_agent.parse_message(text)
        assert ours["response_selector"] == rasas["response_selector"], text
        assert ours["intent_ranking"] == rasas["intent_ranking"], text

    domain, histories = project
    compared = 0
    for number, events in enumerate(histories[:60]):
        tracker = DialogueStateTracker(f"load-{number}", patched_agent.processor.domain.slots)
        for event in events:
            if isinstance(event, ActionExecuted):
                followup = tracker.followup_action
                ours = patched_agent.processor._predict_next_with_tracker(tracker)
                tracker.followup_action = followup
                rasas = alone_agent.processor._predict_next_with_tracker(tracker)
                tracker.followup_action = followup
                assert (ours.policy_name, ours.probabilities) == (rasas.policy_name, rasas.probabilities)
                compared += 1
            tracker.update(event)
    assert compared > 200


def test_rule_policys_debug_line_is_built_only_when_debug_logging_is_on():
    import logging

    from rasa.core.policies.policy import Policy
    from rasa.core.policies.rule_policy import RulePolicy

    states = [{}, {"user": {"intent": "greet"}, "prev": {"action_name": "action_listen"}}]
    rasa_logger = logging.getLogger("rasa")
    level = rasa_logger.level
    try:
        rasa_logger.setLevel(logging.INFO)
        assert RulePolicy.format_tracker_states(states) == ""
        rasa_logger.setLevel(logging.DEBUG)
        assert RulePolicy.format_tracker_states(states) == Policy.format_tracker_states(states)
        assert "user intent: greet" in RulePolicy.format_tracker_states(states)
    finally:
        rasa_logger.setLevel(level)
    assert Policy.format_tracker_states(states) != ""  # other policies keep Rasa's own
