"""What the journey does with each message a guest sends (called once per
message from ``action_detect_language``, which Rasa runs on every turn):
an opt-out is stored (and answered), and a message after a journey message
counts as a reply."""
from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import os
from typing import Optional

from actions.config import settings
from journey import metrics
from journey.optout import OPTED_OUT_TEXT, is_opt_out
from journey.store import JourneyStore

logger = logging.getLogger(__name__)
REPLY_WITHIN = dt.timedelta(hours=48)


@functools.lru_cache(maxsize=1)
def default_store() -> JourneyStore:
    return JourneyStore(os.environ.get("JOURNEY_DATABASE_URL", "").strip() or settings().assistant_database_url)


def handle_guest_message(store: JourneyStore, hotel_id: str, conversation_id: str, text: str,
                         now: dt.datetime, *, button: bool = False) -> Optional[str]:
    """Record an opt-out or a reply. Returns "opted_out" when this message
    stopped the guest's proactive messages, else None."""
    if is_opt_out(text):
        if store.opt_out(hotel_id, conversation_id, "whatsapp" if button else "keyword", text, now):
            metrics.OPT_OUTS.labels(hotel=hotel_id, source="whatsapp" if button else "keyword").inc()
        return "opted_out"
    if store.mark_replied(conversation_id, now, REPLY_WITHIN):
        metrics.REPLIES.labels(hotel=hotel_id).inc()
    return None


async def on_guest_message(hotel_id: str, conversation_id: str, text: str, language: str) -> Optional[str]:
    """For the action server: the answer to send when the guest opted out
    (None otherwise). A store that fails is logged; the turn goes on."""
    if not text:
        return None
    try:
        outcome = await asyncio.to_thread(handle_guest_message, default_store(), hotel_id, conversation_id, text,
                                          dt.datetime.now(dt.timezone.utc))
    except Exception:
        logger.exception("journey: could not record the guest's message (opt-out/reply)")
        return None
    return OPTED_OUT_TEXT.get(language, OPTED_OUT_TEXT["en"]) if outcome == "opted_out" else None


async def on_whatsapp_preference(hotel_id: str, conversation_id: str, value: str) -> bool:
    """WhatsApp's own opt-out ("Stop promotions" in the app, a ``user_preferences``
    notice with value ``stop``) ends proactive messages like a typed "stop".
    True when an opt-out was stored. Other values (resume, signup) change
    nothing: a guest who opted out here opts in again by writing to reception."""
    if value != "stop":
        return False
    now = dt.datetime.now(dt.timezone.utc)
    added = await asyncio.to_thread(default_store().opt_out, hotel_id, conversation_id, "whatsapp",
                                    "user_preferences: stop", now)
    if added:
        metrics.OPT_OUTS.labels(hotel=hotel_id, source="whatsapp").inc()
    return True
