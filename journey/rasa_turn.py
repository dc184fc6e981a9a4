"""The Rasa side of an opt-out: a guest message that is an opt-out ("baja",
"stop", "no más mensajes", WhatsApp's "Stop promotions") runs
``action_journey_opt_out`` on the action server instead of the predicted
dialogue — the NLU would read "baja" as a cancellation. Same shape as the
urgent-keyword turn of connectors/safeguards.py, which calls ``is_opt_out``
and ``opt_out_turn`` from its message hook.

The action is called by name (``RemoteAction``), so it needs no domain entry
and no retraining."""
from __future__ import annotations

import logging

from journey.optout import is_opt_out  # noqa: F401  (the check the hook uses)

logger = logging.getLogger(__name__)
OPT_OUT_ACTION = "action_journey_opt_out"


async def opt_out_turn(processor, message):
    """Log the guest's message, run the opt-out action, listen again. Returns
    what a CollectingOutputChannel gathered (None for other channels), as
    ``MessageProcessor.handle_message`` does."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.channel import CollectingOutputChannel
    from rasa.core.policies.policy import PolicyPrediction
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted

    tracker = await processor.log_message(message, should_save_tracker=False)
    if tracker.is_paused():  # staff are talking to the guest: no bot reply, but the opt-out counts
        await _store_quietly(message)
    else:
        logger.info("conversation %s: opt-out from proactive messages", message.sender_id)
        action = RemoteAction(OPT_OUT_ACTION, processor.action_endpoint)
        await processor._run_action(action, tracker, message.output_channel, processor.nlg,
                                    PolicyPrediction([], policy_name="journey_opt_out"))
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
    await processor.save_tracker(tracker)
    output = message.output_channel
    return output.messages if isinstance(output, CollectingOutputChannel) else None


async def _store_quietly(message) -> None:
    import asyncio
    import datetime as dt

    from actions import config
    from journey.guest_messages import default_store, handle_guest_message

    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    hotel = metadata.get("hotel") if isinstance(metadata.get("hotel"), dict) else {}
    try:
        await asyncio.to_thread(handle_guest_message, default_store(), config.hotel(hotel.get("id")).id,
                                message.sender_id, message.text or "", dt.datetime.now(dt.timezone.utc))
    except Exception:
        logger.exception("journey: opt-out of a paused conversation not stored")
