"""Saved requests: a PMS write the guest asked for while the PMS was unavailable.

The action saves it in the dead-letter queue (``dlq``) and tells the guest
``utter_request_saved``; the action server's worker (``actions.saved_request_worker``)
redoes it when the PMS is back and tells the guest how it went. Flow, payloads
and guarantees: docs/saved-requests.md.

A payload holds what redoing the call needs, plus the guest's language, the
hotel id and a request id (the idempotency key of a booking), never secrets.
"""
from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Any, Dict

from rasa_sdk import Tracker

from actions.context import hotel_for, language_of
from actions.pms.base import BookingRequest
from dlq import DLQSettings, build_queue

logger = logging.getLogger(__name__)

CREATE_BOOKING = "pms.create_booking"
CANCEL_BOOKING = "pms.cancel_booking"
SET_LATE_CHECKOUT = "pms.set_late_checkout"
PMS_KINDS = (CREATE_BOOKING, CANCEL_BOOKING, SET_LATE_CHECKOUT)
NOTIFY = "rasa.notify"
PMS_UNAVAILABLE = "pms_unavailable"  # the DLQ reason of every saved request

_queue = None


def saved_request_queue():
    """The process-wide dead-letter queue (Redis when DLQ_REDIS_URL/REDIS_URL is set)."""
    global _queue
    if _queue is None:
        _queue = build_queue(DLQSettings.from_env())
    return _queue


def use_queue(replacement) -> None:
    """Swap the process-wide queue (tests; None rebuilds it from the environment)."""
    global _queue
    _queue = replacement


def new_request_id() -> str:
    return uuid.uuid4().hex


def booking_payload(request: BookingRequest) -> Dict[str, Any]:
    return {
        "request_id": request.request_id,
        "guest_name": request.guest_name,
        "room_type": request.room_type,
        "checkin": request.checkin.isoformat(),
        "checkout": request.checkout.isoformat(),
        "guests": request.guests,
        "contact": request.contact,
        "phone": request.phone,
    }


def booking_request_from(payload: Dict[str, Any]) -> BookingRequest:
    """The saved booking, marked as a replay. ValueError/KeyError when the payload is damaged."""
    return BookingRequest(
        guest_name=str(payload["guest_name"]),
        room_type=str(payload["room_type"]),
        checkin=dt.date.fromisoformat(payload["checkin"]),
        checkout=dt.date.fromisoformat(payload["checkout"]),
        guests=int(payload["guests"]),
        contact=str(payload.get("contact") or ""),
        phone=str(payload.get("phone") or ""),
        request_id=str(payload["request_id"]),
        replay=True,
    )


async def save_request(kind: str, details: Dict[str, Any], tracker: Tracker, error: str) -> bool:
    """Queue ``kind`` for the worker. False when it could not be saved (the
    queue itself is unavailable): the caller must then not promise anything."""
    payload = {
        "request_id": details.get("request_id") or new_request_id(),
        "language": language_of(tracker),
        "hotel_id": hotel_for(tracker).id,
        **details,
    }
    try:
        entry = await saved_request_queue().enqueue(
            kind, payload, error=error, conversation_id=tracker.sender_id, reason=PMS_UNAVAILABLE
        )
    except Exception as exc:  # Redis down too: nothing was saved
        logger.error("could not save %s for later (%s): the guest is told to try again", kind, type(exc).__name__)
        return False
    logger.info("saved %s as dead letter %s until the PMS is back", kind, entry.id)
    return True
