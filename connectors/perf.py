"""Turn cost (issue #15): Rasa's inference off the event loop, and dialogue
states that are not recomputed from the start of the conversation for every
prediction.

1. Inference off the event loop.

Rasa 3.6's ``MessageProcessor`` runs the model graph (NLU parse, every
policy prediction) synchronously inside its async handlers, so while one turn
is being predicted the Sanic event loop of the process answers nothing: no
WhatsApp webhook acknowledgement, no health check, no other guest's tracker
read. ``install`` moves those graph runs to one worker thread
(``INFERENCE``, a single thread: graph runs stay one at a time, as they were
on the loop, and the model's objects are never used by two threads at once);
the turn's coroutine awaits the result, the loop serves everything else
meanwhile. Nothing else changes: same graph, same inputs, same order of
events.

The seams (rasa 3.6.21), checked by ``check_seams`` at install:

- ``MessageProcessor.parse_message``: calls
  ``self._parse_message_with_graph(message, tracker, only_output_properties)``
  then ``_update_full_retrieval_intent`` and ``_check_for_unseen_features``;
  replaced by the same steps with the graph run in the worker;
- ``MessageProcessor._run_prediction_loop``: calls
  ``self.predict_next_with_tracker_if_should(tracker)`` in its loop;
  replaced by the same loop with that call in the worker.

2. Dialogue states computed once. Every policy prediction (Memoization,
Rule and TED policies, several per action) asks
``Domain.states_for_tracker_history``, which replays the whole session from
its first event and builds a state per action, then the policies keep the
last few: a turn's cost grew with the conversation. ``StatesCache`` keeps,
per conversation and arguments, that replay where it stopped (the replayed
tracker, the states so far and the loop's two variables), and continues it
with the events added since: the same states, in the same order, computed
once. The cache is used only while ``MessageProcessor`` predicts (a thread
flag set around ``_predict_next_with_tracker``), never for training
trackers; a conversation whose events are not an extension of the cached
ones (a rewind, a reverted action, a replaced history) is replayed from the
start. Returned states are copies (aliasing between sub-states kept, as
callers change the last state in place).

The cache's inputs are kept cheap too (the drift of a long conversation,
measured 2026-12-02: Rasa's ``applied_events()``, a walk of every event, was
called 9 times a turn and was most of what grew):

- ``AppliedEvents``: a conversation's tracker (``DialogueStateTracker``
  itself, no capped history, not a rule tracker: never a training tracker)
  keeps its applied events and continues Rasa's loop with the events
  appended since the last call (``DialogueStateTracker.applied_events`` is
  patched for those trackers). Rasa's loop first reads the names of every
  loop activated in the whole history; an appended ``ActiveLoop`` naming a
  loop whose action was already taken as a plain action makes the list start
  again from the first event. The tracker's deque must be the same object
  with its first and last kept events in place (Rasa only appends to it).
  Each update that removed applied events records the shortest length the
  list had, so the states cache checks in O(1) that its replay is still a
  prefix (event by event only for another tracker object).
- Inside ``MaxHistoryTrackerFeaturizer.prediction_states`` (Memoization,
  Rule and TED policies), the states are sliced to those the featurizer keeps
  (``max_history``, after dropping ``action_unlikely_intent`` states when
  asked) before they are copied, and only their user sub-states are copied:
  in rasa 3.6.21 the featurizer (``_choose_last_user_input``,
  ``_remove_user_text_if_intent``) and those policies change nothing else of
  a state.

The seams: the source of every Rasa function mirrored or relied on here must
be the one this was written for (``STATES_SOURCE_SHA``).

3. Action-server answers validated against a schema checked once. Rasa
checks every answer of the action server (``RemoteAction._validate_action_result``)
with ``jsonschema.validate(result, spec)``, which first validates the *schema*
against its meta-schema, every call: with jsonschema 4.17 that was two
thirds of the Rasa process's CPU in a REST turn (py-spy, 2026-12-02). The
patch builds the validator once (same spec, same validator class, schema
checked once at install) and raises the same error (``best_match``, Rasa's
message appended) when an answer does not fit. The seam:
``_validate_action_result`` must still call
``validate(result, self.action_response_format_spec())``.

4. The language slot's action (and the hotel-information actions that read as
little) gets the latest turn only. The ``language``
slot's custom mapping (``action_detect_language``, actions/session.py) runs
on the action server on every guest message, and Rasa sends every action
the whole session's events: a payload growing with the conversation,
serialised here and parsed there on every message. That action reads the
latest message, the slots and the sender only, so for the actions in
``SLIM_TRACKER_ACTIONS`` the payload's ``events`` are those from the latest
user message on; everything else in it (slots, latest message, active loop,
latest action, ...) is Rasa's own ``current_state``. An action listed there
must not read ``tracker.events`` (tests/connectors/test_perf.py runs it on
both payloads over every story). The seam: ``RemoteAction._action_call_format``
reads nothing of the tracker but ``current_state(EventVerbosity.ALL)`` and
``sender_id``.

5. A shorter GIL switch interval (``SWITCH_INTERVAL_SECONDS``, 1 ms instead
of Python's 5 ms): with inference in its own thread, the loop thread waits
for the GIL each time it wakes up (a webhook arriving, a reply written) while
the inference thread runs Python code; with 5 ms per wait an acknowledgement
took tens of milliseconds under load.

6. Models loaded without a training step. Rasa's ``RasaModel.load`` (TED
and the ResponseSelector) builds the model's variables by ``fit`` on one
example before restoring the trained weights: Keras traces the whole training
step (loss, gradients, optimizer update) as a graph for a step whose result is
thrown away, most of ``Agent.load``'s time (cProfile, 2026-12-03: 21.6 of
28.5 s). For prediction (``finetune_mode`` false) the patch traces the
model's loss alone, forward, as a graph (so every variable of both branches of
each ``tf.cond`` exists, as after ``fit``), then restores the weights and warms
the prediction function as Rasa does; the optimizer's slots in the checkpoint
are left unread (``expect_partial``), nothing predicts with them. Fine-tuning
keeps Rasa's own load. tests/connectors/test_perf.py loads the trained model
both ways and compares every variable of both models, by checkpoint path, and
their predictions. The seam: ``RasaModel.load``'s source
(``STATES_SOURCE_SHA``).

7. RulePolicy's debug line built only for debug logging. Each of its
predictions formats every dialogue state of the session into a string (and
deep-copies it) as an argument of ``structlogger.debug``, even when debug
logging is off: work that grows with the conversation (py-spy, 2026-12-04:
2 samples over turns 8-47, 19 over turns 200-239). With the ``rasa`` logger
above DEBUG (Rasa configures structlog from the same level) RulePolicy's
``format_tracker_states`` returns an empty string; the string is read by
nothing else. The seam: ``RulePolicy._find_action_from_rules``'s source
(``STATES_SOURCE_SHA``).

Installed from connectors/safeguards.py (``install``), like every
process-wide change this project makes to Rasa.
"""
from __future__ import annotations

import asyncio
import collections
import contextvars
import functools
import hashlib
import inspect
import logging
import re
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from connectors.seams import source_of as _source

logger = logging.getLogger(__name__)

SUPPORTED_RASA = "3.6.21"
T = TypeVar("T")

# one thread: graph runs are serialised as they were on the event loop
INFERENCE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rasa-inference")

# sha256 (first 16 hex digits) of the Rasa 3.6.21 source the states cache mirrors
STATES_SOURCE_SHA = {
    "Domain.states_for_tracker_history": "035111ce73ac90ba",
    "DialogueStateTracker.generate_all_prior_trackers": "a1f6954347b52649",
    # what AppliedEvents mirrors (applied_events' loop and its two undo helpers)
    "DialogueStateTracker.applied_events": "764d5065ea9997d6",
    "DialogueStateTracker._undo_till_previous": "3a3710e5e73cb945",
    "DialogueStateTracker._undo_till_previous_loop_execution": "7ecfe12cccb39814",
    # the max_history callers whose states are sliced before they are copied
    "MaxHistoryTrackerFeaturizer.prediction_states": "451caf09a389e871",
    "MaxHistoryTrackerFeaturizer.slice_state_history": "f90eb9f4789d2c10",
    "TrackerFeaturizer._remove_action_unlikely_intent_from_states": "c2bed0e9c82d6fca",
    "tracker_featurizers._is_prev_action_unlikely_intent_in_state": "062de8dc6bce69ac",
    # what the model load without a training step replaces
    "RasaModel.load": "84fd81c0fdd01a80",
    # reads format_tracker_states only for its debug line
    "RulePolicy._find_action_from_rules": "be6da6ee0f5429bd",
}
# actions that read the latest message, slots and sender only: they get the latest turn's events
# (action_share_location and action_business_hours, actions/hotel_info.py, read the hotel from the latest
# message's metadata and the language slot: with the whole session their payload grew with the conversation,
# the main cost that grew over an 80-turn conversation, json.dumps on the event loop; py-spy 2026-12-02)
SLIM_TRACKER_ACTIONS = frozenset({"action_detect_language", "action_share_location", "action_business_hours"})
CACHED_CONVERSATIONS = 512
SWITCH_INTERVAL_SECONDS = 0.001  # least recently predicted conversations beyond this are forgotten

_installed = False


class PerfSeamMissing(RuntimeError):
    """The Rasa code this module replaces is not what it expects."""


def check_seams() -> None:
    import rasa
    from rasa.core.processor import MessageProcessor

    if rasa.__version__ != SUPPORTED_RASA:
        raise PerfSeamMissing(f"connectors/perf.py is written for rasa {SUPPORTED_RASA}, found {rasa.__version__}")
    problems = []
    parse = _source(MessageProcessor.parse_message)
    for fragment in ("self._parse_message_with_graph(", "self._update_full_retrieval_intent(parse_data)",
                     "self._check_for_unseen_features(parse_data)", "self.http_interpreter"):
        if fragment not in parse:
            problems.append(f"MessageProcessor.parse_message no longer contains {fragment!r}")
    loop = _source(MessageProcessor._run_prediction_loop)
    for fragment in ("self.predict_next_with_tracker_if_should(tracker)", "except ActionLimitReached:",
                     "prediction.is_end_to_end_prediction", "self.run_action_extract_slots(output_channel, tracker)",
                     "self._run_action(", "self.on_circuit_break(tracker, output_channel, self.nlg)",
                     "self._should_handle_message(tracker)"):
        if fragment not in loop:
            problems.append(f"MessageProcessor._run_prediction_loop no longer contains {fragment!r}")
    from rasa.core.featurizers import tracker_featurizers
    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer, TrackerFeaturizer
    from rasa.core.policies.rule_policy import RulePolicy
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker
    from rasa.utils.tensorflow.models import RasaModel

    for name, function in (("RasaModel.load", RasaModel.load),
                           ("RulePolicy._find_action_from_rules", RulePolicy._find_action_from_rules),
                           ("Domain.states_for_tracker_history", Domain.states_for_tracker_history),
                           ("DialogueStateTracker.generate_all_prior_trackers",
                            DialogueStateTracker.generate_all_prior_trackers),
                           ("DialogueStateTracker.applied_events", DialogueStateTracker.applied_events),
                           ("DialogueStateTracker._undo_till_previous", DialogueStateTracker._undo_till_previous),
                           ("DialogueStateTracker._undo_till_previous_loop_execution",
                            DialogueStateTracker._undo_till_previous_loop_execution),
                           ("MaxHistoryTrackerFeaturizer.prediction_states", MaxHistoryTrackerFeaturizer.prediction_states),
                           ("MaxHistoryTrackerFeaturizer.slice_state_history",
                            MaxHistoryTrackerFeaturizer.slice_state_history),
                           ("TrackerFeaturizer._remove_action_unlikely_intent_from_states",
                            TrackerFeaturizer._remove_action_unlikely_intent_from_states),
                           ("tracker_featurizers._is_prev_action_unlikely_intent_in_state",
                            tracker_featurizers._is_prev_action_unlikely_intent_in_state)):
        digest = hashlib.sha256(_source(function).encode()).hexdigest()[:16]
        if digest != STATES_SOURCE_SHA[name]:
            problems.append(f"{name} is not the code the states cache mirrors")
    from rasa.core.actions.action import RemoteAction

    if "validate(result, self.action_response_format_spec())" not in _source(RemoteAction._validate_action_result):
        problems.append("RemoteAction._validate_action_result no longer calls validate(result, spec)")
    call_format = _source(RemoteAction._action_call_format)
    if sorted(set(re.findall(r"tracker\.\w+(?:\(\w*\.?\w*\))?", call_format))) != [
        "tracker.current_state(EventVerbosity.ALL)", "tracker.sender_id"
    ]:
        problems.append("RemoteAction._action_call_format reads more of the tracker than current_state and sender_id")
    if not hasattr(MessageProcessor, "_predict_next_with_tracker"):
        problems.append("MessageProcessor._predict_next_with_tracker is gone")
    if list(inspect.signature(MessageProcessor.parse_message).parameters) != [
        "self", "message", "tracker", "only_output_properties"
    ]:
        problems.append("MessageProcessor.parse_message's parameters changed")
    if problems:
        raise PerfSeamMissing("cannot install connectors/perf.py: " + "; ".join(problems))


async def off_loop(function: Callable[..., T], *args: Any) -> T:
    """``function(*args)`` in the inference thread (with this task's context vars)."""
    context = contextvars.copy_context()
    return await asyncio.get_running_loop().run_in_executor(
        INFERENCE, functools.partial(context.run, function, *args)
    )


def install() -> None:
    """Run Rasa's graph (parse and predictions) in the inference thread (idempotent)."""
    global _installed
    if _installed:
        return
    check_seams()
    _install_off_loop_inference()
    _install_states_cache()
    _install_action_result_validator()
    _install_slim_trackers()
    _install_model_load_without_training_step()
    _install_rule_debug_line_when_debugging()
    sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
    _installed = True
    logger.info("perf: model graph runs in the inference thread, off the event loop; dialogue states cached")


def installed() -> bool:
    return _installed


def _install_off_loop_inference() -> None:
    from rasa.core.processor import MessageProcessor
    from rasa.exceptions import ActionLimitReached
    from rasa.shared.core.trackers import DialogueStateTracker

    original_parse = MessageProcessor.parse_message
    original_loop = MessageProcessor._run_prediction_loop

    async def parse_message(self, message, tracker=None, only_output_properties=True):
        if self.http_interpreter:
            return await original_parse(self, message, tracker, only_output_properties)
        if tracker is None:
            tracker = DialogueStateTracker.from_events(message.sender_id, [])
        parse_data = await off_loop(self._parse_message_with_graph, message, tracker, only_output_properties)
        self._update_full_retrieval_intent(parse_data)
        self._check_for_unseen_features(parse_data)
        return parse_data

    async def _run_prediction_loop(self, output_channel, tracker) -> None:
        should_predict_another_action = True
        while should_predict_another_action and self._should_handle_message(tracker):
            try:
                action, prediction = await off_loop(self.predict_next_with_tracker_if_should, tracker)
            except ActionLimitReached:
                logger.warning("Circuit breaker tripped. Stopped predicting more actions for sender '%s'.",
                               tracker.sender_id)
                if self.on_circuit_break:
                    self.on_circuit_break(tracker, output_channel, self.nlg)
                break
            if prediction.is_end_to_end_prediction:
                tracker = await self.run_action_extract_slots(output_channel, tracker)
            should_predict_another_action = await self._run_action(
                action, tracker, output_channel, self.nlg, prediction
            )

    parse_message.__wrapped__ = original_parse  # type: ignore[attr-defined]
    _run_prediction_loop.__wrapped__ = original_loop  # type: ignore[attr-defined]
    MessageProcessor.parse_message = parse_message  # type: ignore[method-assign]
    MessageProcessor._run_prediction_loop = _run_prediction_loop  # type: ignore[method-assign]


# -- 2. dialogue states computed once ---------------------------------------------


@dataclass
class _Scan:
    """``Domain.states_for_tracker_history``'s loop stopped after ``events``."""

    replay: Any  # the tracker those events were applied to (generate_all_prior_trackers' tracker)
    events: List[Any] = field(default_factory=list)
    states: List[Dict[str, Any]] = field(default_factory=list)
    last_ml_action_sub_state: Optional[Dict[str, Any]] = None
    turn_was_hidden: bool = False
    source: Any = None  # the AppliedEvents whose first events ``events`` are (at ``version``)
    version: int = 0


def _entity_labels(entities: Any) -> List[Tuple]:
    return [(e.get("entity"), "role" in e, e.get("role"), "group" in e, e.get("group")) for e in entities]


def _replay_key(event: Any) -> Tuple:
    """What of an event the replay and the states read (the same event read back from the
    tracker store has equal keys; its parse data may differ in float and list types)."""
    from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered

    if isinstance(event, UserUttered):
        return (event.timestamp, event.text, event.intent_name, _entity_labels(event.entities),
                event.use_text_for_featurization)
    if isinstance(event, ActionExecuted):
        return (event.timestamp, event.action_name, event.action_text, event.hide_rule_turn)
    if isinstance(event, BotUttered):
        return (event.timestamp, event.text)
    return (vars(event),)


def _same_event(cached: Any, event: Any) -> bool:
    return cached is event or (type(cached) is type(event) and _replay_key(cached) == _replay_key(event))


def _copy_states(states: List[Dict[str, Any]], only: Optional[str] = None) -> List[Dict[str, Any]]:
    """New state and sub-state dicts (only the ``only`` sub-state when given, the others shared
    with the cache); a sub-state shared by two states stays shared."""
    copies: Dict[int, Dict[str, Any]] = {}

    def sub(key: str, value: Any) -> Any:
        if not isinstance(value, dict) or (only is not None and key != only):
            return value
        if id(value) not in copies:
            copies[id(value)] = dict(value)
        return copies[id(value)]

    return [{key: sub(key, value) for key, value in state.items()} for state in states]


def _kept_from(states: List[Dict[str, Any]], length: Optional[int], drop_unlikely: bool) -> int:
    """Where the states a max_history featurizer keeps begin: the shortest tail holding ``length``
    states that ``_remove_action_unlikely_intent_from_states`` keeps (all when ``length`` is None)."""
    if not length:
        return 0
    if not drop_unlikely:
        return max(0, len(states) - length)
    from rasa.core.featurizers.tracker_featurizers import _is_prev_action_unlikely_intent_in_state

    kept = 0
    for index in range(len(states) - 1, -1, -1):
        kept += not _is_prev_action_unlikely_intent_in_state(states[index])
        if kept == length:
            return index
    return 0


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((key, _freeze(item)) for key, item in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        return tuple(_freeze(item) for item in value)
    return value


class AppliedEvents:
    """``DialogueStateTracker.applied_events()`` of one tracker, kept up to date as events are
    appended to it instead of recomputed from its first event on every call (see the module doc).

    ``extend`` continues Rasa's loop (rasa 3.6.21) with the events appended since the last call.
    That loop reads one thing of the whole history first: the names of the loops activated in
    it (``ActiveLoop`` events). An appended event naming a loop whose action had already been
    taken as a plain action (not checked as a loop) would change how that earlier event is
    read: ``extend`` refuses and the caller starts from the first event again. ``cuts`` records
    every update that removed applied events (a restart, a revert, a loop's earlier run undone)
    with the shortest length the list had, so the states cache can tell in O(1) whether the
    applied events it replayed are still the first ones of the list.
    """

    def __init__(self, events: Any) -> None:
        self.deque = events  # the tracker's deque: another one (a replaced history) is another history
        self.consumed = 0
        self.first: Any = None
        self.last: Any = None
        self.events: List[Any] = []
        self.loop_names: set = set()
        self.plain_actions: set = set()  # ActionExecuted names appended while they named no loop
        self.version = 0
        self.floor_version = 0  # cuts of versions up to this one are forgotten
        self.cuts: List[Tuple[int, int]] = []  # (version, shortest length of the list during that update)

    def fits(self, events: Any) -> bool:
        """``events`` is this deque with nothing changed in its first ``consumed`` events (Rasa only
        appends to a tracker's deque; a new history is a new deque)."""
        return events is self.deque and len(events) >= self.consumed and (
            self.consumed == 0 or (events[0] is self.first and events[self.consumed - 1] is self.last))

    def extend(self, tracker: Any) -> bool:
        from rasa.shared.core.events import (
            ActionExecuted,
            ActionReverted,
            ActiveLoop,
            Restarted,
            SessionStarted,
            UserUtteranceReverted,
            UserUttered,
        )

        events = tracker.events
        count = len(events) - self.consumed
        if count == 0:
            return True
        new = [events[index] for index in range(-count, 0)]  # from the right end: O(count) on a deque
        names = {event.name for event in new if isinstance(event, ActiveLoop) and event.name}
        if names & self.plain_actions:
            return False
        self.loop_names |= names
        applied = self.events
        shortest = before = len(applied)
        for event in new:
            if isinstance(event, (Restarted, SessionStarted)):
                applied.clear()
            elif isinstance(event, ActionReverted):
                _undo_till(ActionExecuted, applied)
            elif isinstance(event, UserUtteranceReverted):
                _undo_till(UserUttered, applied)
                _undo_till(ActionExecuted, applied)
            elif (isinstance(event, ActionExecuted) and event.action_name in self.loop_names
                  and not tracker._first_loop_execution_or_unhappy_path(event.action_name, applied)):
                shortest = min(shortest, _undo_loop_execution(event.action_name, applied))
            else:
                if isinstance(event, ActionExecuted) and event.action_name not in self.loop_names:
                    self.plain_actions.add(event.action_name)
                applied.append(event)
            shortest = min(shortest, len(applied))
        self.version += 1
        if shortest < before:
            self.cuts.append((self.version, shortest))
            if len(self.cuts) > KEPT_CUTS:
                self.floor_version, self.cuts = self.cuts[-1][0], []
        self.consumed, self.first, self.last = len(events), events[0], events[-1]
        return True

    def unchanged(self, length: int, since_version: int) -> bool:
        """The list's first ``length`` events are those it had at ``since_version``."""
        return since_version >= self.floor_version and all(
            shortest >= length for version, shortest in self.cuts if version > since_version)


KEPT_CUTS = 64
_APPLIED_ATTRIBUTE = "_perf_applied_events"


def _undo_till(event_type: Any, done: List[Any]) -> None:
    """``DialogueStateTracker._undo_till_previous`` without its copy of the list."""
    while done:
        if isinstance(done.pop(), event_type):
            break


def _undo_loop_execution(loop_action_name: str, done: List[Any]) -> int:
    """``DialogueStateTracker._undo_till_previous_loop_execution`` without its copy of the list;
    returns the lowest index removed (``len(done)`` when none)."""
    from rasa.shared.core.events import ActionExecuted, DefinePrevUserUtteredFeaturization, UserUttered

    lowest = len(done)
    for index in range(len(done) - 1, -1, -1):
        event = done[index]
        if isinstance(event, ActionExecuted) and event.action_name == loop_action_name:
            break
        if isinstance(event, (ActionExecuted, UserUttered, DefinePrevUserUtteredFeaturization)):
            del done[index]
            lowest = index
    return lowest


def _incremental(tracker: Any) -> bool:
    """A conversation's tracker (not a training tracker, no capped history)."""
    from rasa.shared.core.trackers import DialogueStateTracker

    return type(tracker) is DialogueStateTracker and tracker._max_event_history is None and not tracker.is_rule_tracker


def applied_events_of(tracker: Any) -> AppliedEvents:
    """The tracker's ``AppliedEvents``, brought up to date (read its ``events``, do not change them)."""
    applied = tracker.__dict__.get(_APPLIED_ATTRIBUTE)
    if applied is None or not applied.fits(tracker.events) or not applied.extend(tracker):
        applied = AppliedEvents(tracker.events)
        applied.extend(tracker)
        tracker.__dict__[_APPLIED_ATTRIBUTE] = applied
    return applied


class StatesCache:
    """Per conversation and arguments, the states of its history so far (see the module doc)."""

    def __init__(self, size: int = CACHED_CONVERSATIONS) -> None:
        self.size = size
        self._scans: "collections.OrderedDict[Tuple, _Scan]" = collections.OrderedDict()
        self._lock = threading.Lock()
        self.replayed_events = 0  # events applied to a replay tracker (what the cache saves is the rest)
        self.zip_checks = 0  # times the replayed events were compared one by one with the tracker's

    def clear(self) -> None:
        with self._lock:
            self._scans.clear()

    def states(self, domain: Any, tracker: Any, omit_unset_slots: bool = False, ignore_rule_only_turns: bool = False,
               rule_only_data: Optional[Dict[str, Any]] = None) -> List[Dict[str, Any]]:
        from rasa.shared.core.events import ActionExecuted

        key = (id(domain), tracker.sender_id, omit_unset_slots, ignore_rule_only_turns, _freeze(rule_only_data))
        source = applied_events_of(tracker) if _incremental(tracker) else None
        applied = source.events if source is not None else tracker.applied_events()
        with self._lock:
            scan = self._scans.pop(key, None)
            if scan is None or len(scan.events) > len(applied):
                scan = _Scan(replay=tracker.init_copy())
            elif not (source is not None and scan.source is source and source.unchanged(len(scan.events), scan.version)):
                self.zip_checks += 1
                if not all(_same_event(cached, event) for cached, event in zip(scan.events, applied)):
                    scan = _Scan(replay=tracker.init_copy())
            for event in applied[len(scan.events):]:
                if isinstance(event, ActionExecuted):
                    self._step(scan, domain, scan.replay, event.hide_rule_turn, omit_unset_slots,
                               ignore_rule_only_turns, rule_only_data)
                scan.replay.update(event)
                scan.events.append(event)
                self.replayed_events += 1
            # generate_all_prior_trackers' last tracker (after every event): its state is not kept
            last = _Scan(replay=scan.replay, states=scan.states[-1:],
                         last_ml_action_sub_state=scan.last_ml_action_sub_state, turn_was_hidden=scan.turn_was_hidden)
            self._step(last, domain, scan.replay, False, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
            states = scan.states + last.states[len(scan.states[-1:]):]
            scan.source, scan.version = source, source.version if source is not None else 0
            self._scans[key] = scan
            while len(self._scans) > self.size:
                self._scans.popitem(last=False)
            if not getattr(_sliced, "featurizer", False):
                return _copy_states(states)
            # in MaxHistoryTrackerFeaturizer.prediction_states: see _install_states_cache
            return _copy_states(states[_kept_from(states, _sliced.length, _sliced.drop_unlikely):], only=USER_SUB_STATE)

    @staticmethod
    def _step(scan: _Scan, domain: Any, tr: Any, hide_rule_turn: bool, omit_unset_slots: bool,
              ignore_rule_only_turns: bool, rule_only_data: Optional[Dict[str, Any]]) -> None:
        """One pass of the loop of ``Domain.states_for_tracker_history`` (rasa 3.6.21), on ``scan``."""
        from rasa.shared.core.constants import PREVIOUS_ACTION

        if ignore_rule_only_turns:
            if not scan.turn_was_hidden:
                scan.last_ml_action_sub_state = domain._get_prev_action_sub_state(tr)
            if not tr.followup_action and not tr.latest_action_name == tr.active_loop_name:
                scan.turn_was_hidden = hide_rule_turn
            if scan.turn_was_hidden:
                return
        state = domain.get_active_state(tr, omit_unset_slots=omit_unset_slots)
        if ignore_rule_only_turns:
            domain._remove_rule_only_features(state, rule_only_data)
            if scan.states:
                domain._substitute_rule_only_user_input(state, scan.states[-1])
            if scan.last_ml_action_sub_state:
                state[PREVIOUS_ACTION] = scan.last_ml_action_sub_state
        scan.states.append(domain._clean_state(state))


STATES = StatesCache()
_predicting = threading.local()
# featurizer: inside MaxHistoryTrackerFeaturizer.prediction_states; length: it keeps only the last `length` states
# (after dropping those after action_unlikely_intent when drop_unlikely)
_sliced = threading.local()
USER_SUB_STATE = "user"  # rasa.shared.nlu.constants... USER: the only sub-state prediction_states' callers change


def _cacheable(tracker: Any) -> bool:
    return (getattr(_predicting, "active", False) and not tracker.is_rule_tracker
            and tracker._max_event_history is None and bool(tracker.sender_id))


def _install_states_cache() -> None:
    from rasa.core.featurizers.tracker_featurizers import MaxHistoryTrackerFeaturizer
    from rasa.core.processor import MessageProcessor
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    original_states = Domain.states_for_tracker_history
    original_predict = MessageProcessor._predict_next_with_tracker

    def states_for_tracker_history(self, tracker, omit_unset_slots=False, ignore_rule_only_turns=False,
                                   rule_only_data=None):
        if not _cacheable(tracker):
            return original_states(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
        return STATES.states(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)

    def _predict_next_with_tracker(self, tracker):
        outer = getattr(_predicting, "active", False)
        _predicting.active = True
        try:
            return original_predict(self, tracker)
        finally:
            _predicting.active = outer

    def prediction_states(self, trackers, domain, use_text_for_last_user_input=False, ignore_rule_only_turns=False,
                          rule_only_data=None, ignore_action_unlikely_intent=False):
        # The original keeps slice_state_history(states, max_history) of each tracker's states (after
        # removing action_unlikely_intent states, when asked): the states before those are never read.
        # It and the policies that call it (Memoization, Rule, TED: rasa 3.6.21) change only the user
        # sub-states (_choose_last_user_input, _remove_user_text_if_intent): the others stay shared.
        outer = (getattr(_sliced, "featurizer", False), getattr(_sliced, "length", None),
                 getattr(_sliced, "drop_unlikely", False))
        _sliced.featurizer, _sliced.length, _sliced.drop_unlikely = True, self.max_history, ignore_action_unlikely_intent
        try:
            return original_prediction_states(self, trackers, domain, use_text_for_last_user_input,
                                              ignore_rule_only_turns, rule_only_data, ignore_action_unlikely_intent)
        finally:
            _sliced.featurizer, _sliced.length, _sliced.drop_unlikely = outer

    def applied_events(self):
        if not _incremental(self):
            return original_applied_events(self)
        return list(applied_events_of(self).events)

    original_prediction_states = MaxHistoryTrackerFeaturizer.prediction_states
    original_applied_events = DialogueStateTracker.applied_events
    states_for_tracker_history.__wrapped__ = original_states  # type: ignore[attr-defined]
    _predict_next_with_tracker.__wrapped__ = original_predict  # type: ignore[attr-defined]
    prediction_states.__wrapped__ = original_prediction_states  # type: ignore[attr-defined]
    applied_events.__wrapped__ = original_applied_events  # type: ignore[attr-defined]
    Domain.states_for_tracker_history = states_for_tracker_history  # type: ignore[method-assign]
    MessageProcessor._predict_next_with_tracker = _predict_next_with_tracker  # type: ignore[method-assign]
    MaxHistoryTrackerFeaturizer.prediction_states = prediction_states  # type: ignore[method-assign]
    DialogueStateTracker.applied_events = applied_events  # type: ignore[method-assign]


# -- 3. action-server answers: the schema checked once ---------------------------------


def _install_action_result_validator() -> None:
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    original = RemoteAction._validate_action_result
    spec = RemoteAction.action_response_format_spec()
    validator_class = validators.validator_for(spec)
    validator_class.check_schema(spec)  # what jsonschema.validate does on every call
    validator = validator_class(spec)

    def _validate_action_result(self, result) -> bool:
        error = best_match(validator.iter_errors(result))  # jsonschema.validate, without re-checking the schema
        if error is None:
            return True
        error.message += (
            f". Failed to validate Action server response from API, "
            f"make sure your response from the Action endpoint is valid. "
            f"For more information about the format visit "
            f"{DOCS_BASE_URL}/custom-actions"
        )
        raise error

    _validate_action_result.__wrapped__ = original  # type: ignore[attr-defined]
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


# -- 4. the latest turn only, for the actions that read nothing else ---------------------


def latest_turn_events(tracker: Any) -> List[Any]:
    """The tracker's events from its latest user message on (all of them if it has none)."""
    from rasa.shared.core.events import UserUttered

    events = list(tracker.events)
    for index in range(len(events) - 1, -1, -1):
        if isinstance(events[index], UserUttered):
            return events[index:]
    return events


class _LatestTurnView:
    """What ``RemoteAction._action_call_format`` reads of a tracker, with the latest turn's events."""

    def __init__(self, tracker: Any) -> None:
        self._tracker = tracker
        self.sender_id = tracker.sender_id

    def current_state(self, event_verbosity: Any) -> Dict[str, Any]:
        from rasa.shared.core.trackers import EventVerbosity

        state = self._tracker.current_state(EventVerbosity.NONE)
        state["events"] = [event.as_dict() for event in latest_turn_events(self._tracker)]
        return state


def _install_slim_trackers() -> None:
    from rasa.core.actions.action import RemoteAction

    original = RemoteAction._action_call_format

    def _action_call_format(self, tracker, domain):
        if self.name() in SLIM_TRACKER_ACTIONS:
            return original(self, _LatestTurnView(tracker), domain)
        return original(self, tracker, domain)

    _action_call_format.__wrapped__ = original  # type: ignore[attr-defined]
    RemoteAction._action_call_format = _action_call_format  # type: ignore[method-assign]


def _install_model_load_without_training_step() -> None:
    import tensorflow as tf
    from rasa.utils.tensorflow.constants import LEARNING_RATE, RUN_EAGERLY
    from rasa.utils.tensorflow.data_generator import RasaBatchDataGenerator
    from rasa.utils.tensorflow.models import RasaModel

    rasas_load = RasaModel.load.__func__

    def load(cls, model_file_name, model_data_example, predict_data_example=None, finetune_mode=False,
             *args, **kwargs):
        if finetune_mode:  # training goes on from the optimizer's state: Rasa's own load
            return rasas_load(cls, model_file_name, model_data_example, predict_data_example, finetune_mode,
                              *args, **kwargs)
        model = cls(*args, **kwargs)
        config = kwargs.get("config", {})
        model.compile(optimizer=tf.keras.optimizers.Adam(config.get(LEARNING_RATE, 0.001)),
                      run_eagerly=config.get(RUN_EAGERLY))
        batch, _ = RasaBatchDataGenerator(model_data_example, batch_size=1, shuffle=False)[0]
        model._training = True  # what train_step sets around batch_loss: the same layers are built
        try:
            tf.function(model.batch_loss)(batch)
        finally:
            model._training = None
        model.load_weights(model_file_name).expect_partial()
        if predict_data_example:
            model.run_inference(predict_data_example)  # as Rasa: the first prediction traces the graph
        return model

    load.__wrapped__ = rasas_load  # type: ignore[attr-defined]
    RasaModel.load = classmethod(load)  # type: ignore[method-assign]


# -- 7. RulePolicy's debug line only when debugging -----------------------------------


def _install_rule_debug_line_when_debugging() -> None:
    from rasa.core.policies.policy import Policy
    from rasa.core.policies.rule_policy import RulePolicy

    formats = Policy.format_tracker_states
    rasa_logger = logging.getLogger("rasa")

    def format_tracker_states(states):
        return formats(states) if rasa_logger.isEnabledFor(logging.DEBUG) else ""

    format_tracker_states.__wrapped__ = formats  # type: ignore[attr-defined]
    RulePolicy.format_tracker_states = staticmethod(format_tracker_states)  # type: ignore[method-assign]
