"""A tracker store that is down fails the turn instead of being papered over.

Rasa 3.6 wraps every tracker store in ``FailSafeTrackerStore``: when the real
store (PostgreSQL) fails, ``retrieve`` answers "no such conversation" and
``save`` writes to a process-local ``InMemoryTrackerStore``. A guest in the
middle of a booking would be greeted as a stranger and the turn would never
reach PostgreSQL. The channels journal every message and retry failed turns
(dead-letter queue), so they need the failure to surface: ``install(agent)``
sets the fail-safe store's error callback (its ``_on_tracker_store_error``,
which Rasa calls before falling back) to raise ``TrackerStoreUnavailable``.

A failed ``retrieve`` happens before the bot says anything, so the retried
turn answers once. A failed ``save`` comes after the replies were sent: the
retried turn (the tracker in PostgreSQL does not have it) sends them again,
which is the price of not losing the conversation's state.

Checked at install like connectors/action_retry.py: if Rasa's class changed,
``TrackerStoreSeamMissing`` says so at startup.
"""
from __future__ import annotations

import logging
from typing import Any

logger = logging.getLogger(__name__)


class TrackerStoreUnavailable(RuntimeError):
    """The tracker store failed during a turn; the turn must be retried later."""


class TrackerStoreSeamMissing(RuntimeError):
    """Rasa's FailSafeTrackerStore is not what this module expects."""


def _fail_the_turn(error: Exception) -> None:
    raise TrackerStoreUnavailable(f"tracker store unavailable: {type(error).__name__}") from error


def install(agent: Any) -> bool:
    """Make ``agent``'s tracker-store failures raise; False when there is no agent or store yet."""
    from rasa.core.tracker_store import FailSafeTrackerStore

    store = getattr(agent, "tracker_store", None)
    if store is None:
        return False
    if not isinstance(store, FailSafeTrackerStore) or not hasattr(store, "_on_tracker_store_error"):
        raise TrackerStoreSeamMissing(
            f"expected Rasa 3.6's FailSafeTrackerStore with _on_tracker_store_error, got {type(store).__name__}"
        )
    if store._on_tracker_store_error is not _fail_the_turn:
        store._on_tracker_store_error = _fail_the_turn
        logger.info("tracker-store failures fail the turn (retried from the channel's journal)")
    return True
