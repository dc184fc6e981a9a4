"""Turn cost: Rasa's inference off the event loop (issue #15).

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

Installed from connectors/safeguards.py (``install``), like every
process-wide change this project makes to Rasa.
"""
from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, TypeVar

logger = logging.getLogger(__name__)

SUPPORTED_RASA = "3.6.21"
T = TypeVar("T")

# one thread: graph runs are serialised as they were on the event loop
INFERENCE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rasa-inference")

_installed = False


class PerfSeamMissing(RuntimeError):
    """The Rasa code this module replaces is not what it expects."""


def _source(function: Any) -> str:
    try:
        return inspect.getsource(getattr(function, "__wrapped__", function))
    except (OSError, TypeError):
        return ""


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
    _installed = True
    logger.info("perf: model graph runs in the inference thread, off the event loop")


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
