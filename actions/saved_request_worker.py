"""Redo saved requests when the PMS is back, and tell the guest.

The action server runs one ``RetryWorker`` (``dlq``) with a handler per saved
kind (``pms.create_booking``, ``pms.cancel_booking``, ``pms.set_late_checkout``)
plus ``rasa.notify``. A handler that returns = done; ``PermanentFailure`` =
cannot be done (the room was taken, the booking no longer exists...); any
other exception (the PMS still down) = retried with the queue's backoff, and
after DLQ_MAX_RETRIES it is permanent too.

The guest hears about it through Rasa's HTTP API: the intent
``EXTERNAL_saved_request`` with entities ``saved_request`` (the kind),
``outcome`` (done | failed) and ``booking_ref``; ``action_report_saved_request``
words it in their language. A permanent failure also opens a staff request,
so reception contacts the guest. When Rasa cannot be reached the notification
is queued as ``rasa.notify`` and retried on its own (the PMS write is not
redone for it). Every redo is idempotent, so a worker killed between the write
and the acknowledgement (the entry comes back after its lease) does not write
twice: the booking carries its request id, a cancelled booking counts as
done, a late checkout already set counts as done.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from actions import config
from actions.config import Settings
from actions.late_checkout import GRANTED, grant_late_checkout
from actions.pms.base import BookingNotFound, BookingRejected, BookingStatus, InvalidBookingState, NoAvailability
from actions.pms.gateway import gateway
from actions.rasa_api import RasaAPI, RasaAPIError
from actions.saved_requests import (
    CANCEL_BOOKING,
    CREATE_BOOKING,
    NOTIFY,
    PMS_KINDS,
    SET_LATE_CHECKOUT,
    booking_request_from,
    saved_request_queue,
)
from actions.staff_requests import record_staff_request
from dlq import PermanentFailure, RetryWorker

logger = logging.getLogger(__name__)

NOTIFY_INTENT = "EXTERNAL_saved_request"
DONE, FAILED = "done", "failed"
RASA_UNAVAILABLE = "rasa_unavailable"  # DLQ reason of a notification that did not get through


def notification(conversation_id: str, kind: str, outcome: str, booking_ref: Optional[str]) -> Dict[str, Any]:
    """The ``rasa.notify`` payload: which conversation, which intent, which entities."""
    entities = {"saved_request": kind, "outcome": outcome}
    if booking_ref:
        entities["booking_ref"] = booking_ref
    return {"conversation_id": conversation_id, "intent": NOTIFY_INTENT, "entities": entities}


class SavedRequestHandlers:
    """The worker's handlers and its ``on_permanent`` callback."""

    def __init__(self, queue, rasa: RasaAPI) -> None:
        self.queue = queue
        self.rasa = rasa

    def handlers(self) -> Dict[str, Any]:
        return {
            CREATE_BOOKING: self.create_booking,
            CANCEL_BOOKING: self.cancel_booking,
            SET_LATE_CHECKOUT: self.set_late_checkout,
            NOTIFY: self.deliver_notification,
        }

    # -- redo the PMS write (PMSUnavailable propagates: retried later) ----------------
    async def create_booking(self, entry) -> None:
        try:
            request = booking_request_from(entry.payload)
            pms = gateway(entry.payload.get("hotel_id"))  # the PMS of the guest's hotel
            booking = await pms.call(pms.pms.create_booking, request)
        except NoAvailability:
            raise PermanentFailure("NoAvailability: the room type is full for those dates now") from None
        except BookingRejected as exc:  # the PMS refuses these data for good
            raise PermanentFailure(f"BookingRejected ({exc.field}): {exc}") from None
        except (KeyError, ValueError) as exc:
            raise PermanentFailure(f"{type(exc).__name__}: {exc}") from None
        logger.info("saved booking %s done: %s", entry.id, booking.reference)
        await self.tell_guest(entry, DONE, booking.reference)

    async def cancel_booking(self, entry) -> None:
        reference = self._reference(entry)
        pms = gateway(entry.payload.get("hotel_id"))
        try:
            await pms.call(pms.pms.cancel_booking, reference)
        except BookingNotFound:
            raise PermanentFailure(f"BookingNotFound: {reference}") from None
        except InvalidBookingState as exc:
            booking = await pms.call(pms.pms.get_booking, reference)
            if booking.status is not BookingStatus.CANCELLED:  # the stay is over
                raise PermanentFailure(f"InvalidBookingState: {exc}") from None
            # already cancelled: an earlier attempt (or reception) did it
        logger.info("saved cancellation %s done: %s", entry.id, reference)
        await self.tell_guest(entry, DONE, reference)

    async def set_late_checkout(self, entry) -> None:
        reference = self._reference(entry)
        hotel = config.hotel(entry.payload.get("hotel_id"))
        try:
            outcome, booking = await grant_late_checkout(reference, hotel)
        except BookingNotFound:
            raise PermanentFailure(f"BookingNotFound: {reference}") from None
        if outcome != GRANTED:
            raise PermanentFailure(f"late checkout refused: {outcome.removeprefix('utter_late_checkout_')}")
        logger.info("saved late checkout %s done: %s", entry.id, booking.reference)
        await self.tell_guest(entry, DONE, booking.reference)

    @staticmethod
    def _reference(entry) -> str:
        reference = entry.payload.get("reference")
        if not isinstance(reference, str) or not reference:
            raise PermanentFailure("the saved request has no booking reference")
        return reference

    # -- tell the guest ----------------------------------------------------------------
    async def tell_guest(self, entry, outcome: str, booking_ref: Optional[str]) -> None:
        """Trigger the notification now; if Rasa cannot take it, queue it as
        ``rasa.notify`` (raises only if that fails too, so the redo is retried)."""
        if not entry.conversation_id:
            logger.warning("saved request %s has no conversation: the guest cannot be told", entry.id)
            return
        payload = notification(entry.conversation_id, entry.kind, outcome, booking_ref)
        try:
            await self._trigger(payload)
        except RasaAPIError as exc:
            logger.warning("could not tell the guest about %s now (%s); queued as %s", entry.id, exc, NOTIFY)
            await self.queue.enqueue(
                NOTIFY, payload, error=str(exc), conversation_id=entry.conversation_id, reason=RASA_UNAVAILABLE
            )

    async def deliver_notification(self, entry) -> None:
        """The ``rasa.notify`` handler: RasaAPIError propagates, so it is retried."""
        await self._trigger(entry.payload)

    async def _trigger(self, payload: Dict[str, Any]) -> None:
        try:
            conversation_id, intent, entities = payload["conversation_id"], payload["intent"], payload["entities"]
        except KeyError as exc:
            raise PermanentFailure(f"notification without {exc}") from None
        await self.rasa.trigger_intent(conversation_id, intent, entities)

    # -- gave up ---------------------------------------------------------------------
    async def on_permanent(self, entry) -> None:
        """A saved request that cannot be done: reception gets a staff request and
        the guest is told. A notification that never got through: reception is told."""
        sender = entry.conversation_id or "unknown"
        if entry.kind in PMS_KINDS:
            await record_staff_request("saved_request", sender, self._staff_text(entry))
            await self.tell_guest(entry, FAILED, entry.payload.get("reference"))
        elif entry.kind == NOTIFY:
            entities = entry.payload.get("entities") or {}
            await record_staff_request(
                "saved_request", sender,
                f"The guest could not be told that their saved request {entities.get('saved_request')} "
                f"(booking {entities.get('booking_ref') or '-'}) is {entities.get('outcome')}: "
                f"Rasa did not accept the message ({entry.error}). Please contact them.",
            )

    @staticmethod
    def _staff_text(entry) -> str:
        payload = entry.payload
        what = {
            CREATE_BOOKING: "new booking: {guest_name}, {room_type}, {checkin} to {checkout}, {guests} guests",
            CANCEL_BOOKING: "cancel booking {reference}",
            SET_LATE_CHECKOUT: "late checkout for booking {reference}",
        }[entry.kind]
        try:
            what = what.format(**payload)
        except (KeyError, IndexError):
            pass
        return (
            f"Saved request not done ({what}); language {payload.get('language', '?')}, hotel "
            f"{payload.get('hotel_id', '?')}, request {payload.get('request_id', '?')}. "
            f"Last error: {entry.error}. The guest was told reception will contact them."
        )


def build_worker(settings: Settings, queue=None, rasa: Optional[RasaAPI] = None) -> RetryWorker:
    """The action server's worker (not started)."""
    queue = queue or saved_request_queue()
    handlers = SavedRequestHandlers(queue, rasa or RasaAPI(settings.rasa_url, settings.rasa_token))
    return RetryWorker(queue, handlers.handlers(), on_permanent=handlers.on_permanent)
