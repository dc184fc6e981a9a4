"""Limits on the staff requests guests can raise (handoffs, incident reports).

Why: 20 anonymous senders writing "fire" made 20 urgent requests in 4 s, and
one sender can repeat a message forever. A guest's request is recorded when
- that sender raised fewer than ``SENDER_MAX`` in the last ``SENDER_WINDOW``
  (more only repeat what staff already have: the conversation is paused and
  in their queue), and
- all guests together raised fewer than ``GLOBAL_MAX`` in the last
  ``GLOBAL_WINDOW``; above it one summary request (urgent, kind ``issue``)
  per window tells reception that a flood is going on, so a real emergency
  reported by many guests still reaches them, once.
The guest gets the same answer either way (and an urgent message still
pauses the bot). Counts come from the staff_requests table, so every
action-server process shares them.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Optional

from actions.staff_requests import StaffRequest, record_staff_request, store

logger = logging.getLogger(__name__)

SENDER_MAX, SENDER_WINDOW = 3, dt.timedelta(minutes=10)
GLOBAL_MAX, GLOBAL_WINDOW = 10, dt.timedelta(minutes=1)
FLOOD_SENDER = "system:request-flood"


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


async def record_guest_request(kind: str, sender_id: str, text: str, urgent: bool = False) -> Optional[StaffRequest]:
    """The new request, or None when a limit held it back (logged; see the module docstring)."""
    now = _utc_now()
    db = store()
    mine = await asyncio.to_thread(db.count_since, now - SENDER_WINDOW, sender_id)
    if mine >= SENDER_MAX:
        logger.warning("staff request from %s not recorded: %d in the last %s", sender_id, mine, SENDER_WINDOW)
        return None
    everyone = await asyncio.to_thread(db.count_since, now - GLOBAL_WINDOW)
    if everyone >= GLOBAL_MAX:
        flood_noted = await asyncio.to_thread(db.count_since, now - GLOBAL_WINDOW, FLOOD_SENDER)
        logger.warning("staff request from %s not recorded: %d from everyone in the last %s", sender_id, everyone, GLOBAL_WINDOW)
        if not flood_noted:
            await record_staff_request(
                "issue", FLOOD_SENDER,
                f"More than {GLOBAL_MAX} guest requests in {GLOBAL_WINDOW} (the latest: {kind} from {sender_id}: "
                f"{text[:200]!r}); further ones in this window are not listed one by one: check paused conversations.",
                urgent=True,
            )
        return None
    return await record_staff_request(kind, sender_id, text, urgent=urgent)
