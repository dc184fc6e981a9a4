"""One tick of the journey, run by every process that runs it (any number):
reconcile each hotel's plan against the PMS, expire what is too late, claim
what is due and send it. The store's unique key and atomic claims make the
result exactly once however many processes tick at the same moment.

``retry_failed`` is the dead-letter queue's handler for ``journey.send``: the
retry takes the failed row back with the same claim, so a retry can never
send a step that another process already sent.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional

from actions import booking_access
from actions.config import HotelConfig
from actions.pms.base import Booking, BookingNotFound, BookingStatus, PMSUnavailable
from dlq import PermanentFailure
from journey import metrics
from journey.bookings import EMAIL, PHONE, BookingFeed, JourneyBooking
from journey.config import BOOKING_CONFIRMATION, CHECKOUT_MORNING, REVIEW_REQUEST, JourneyConfig
from journey.delivery import JourneyDelivery, OptedOutOnChannel, Refused, TryLater, channel_of
from journey.facts import step_facts
from journey.messages import compose
from journey.plan import REVIEW_GRACE_DAYS, plan
from journey.store import (
    CANCELLED,
    FAILED,
    NO_CONTACT,
    PENDING,
    SENT,
    SKIPPED,
    JourneyStore,
    StepRow,
    Target,
    naive_utc,
)

logger = logging.getLogger(__name__)
RETRY_KIND = "journey.send"
SEND_FAILED_REASON = "send_failed"


@dataclass
class TickReport:
    added: int = 0
    moved: int = 0
    cancelled: int = 0
    expired: int = 0
    interrupted: int = 0
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    skipped: int = 0


def target_of(booking: JourneyBooking, journey: JourneyConfig) -> Target:
    """Whom the booking's steps go to (an empty conversation id: nobody reachable)."""
    contact = booking.contact.strip()
    if booking.from_chat and contact and not PHONE.match(contact):
        conversation = contact  # the conversation id the booking was made in (a PMS holding a phone: below)
    elif PHONE.match(contact) and journey.whatsapp_phone_number_id:
        conversation = f"{re.sub(r'[^0-9]', '', contact)}@{journey.whatsapp_phone_number_id}"
    elif EMAIL.match(contact):
        conversation = contact.lower()
    else:
        conversation = ""
    return Target(conversation, channel_of(conversation) if conversation else "", booking.language, booking.party)


class JourneyRunner:
    def __init__(
        self,
        store: JourneyStore,
        *,
        hotels: Mapping[str, HotelConfig],
        journeys: Mapping[str, JourneyConfig],
        feed: BookingFeed,
        pms_call: Callable[..., Any],  # ``gateway().call``: async, breaker-guarded
        pms: Any,  # the PMS whose methods pms_call runs
        delivery: JourneyDelivery,
        clock: Callable[[], dt.datetime],
        public_url: str,
        qr_secret: str,
        queue: Any = None,  # the dead-letter queue for failed sends
        lease_seconds: float = 600.0,  # longer than a send with all its retries (Graph: 4 x 20 s)
        batch: int = 50,
        gateway_of: Optional[Callable[[str], Any]] = None,  # hotel id -> its PMSGateway (several PMS)
    ) -> None:
        self.gateway_of = gateway_of
        self.store, self.hotels, self.journeys, self.feed = store, hotels, journeys, feed
        self.pms_call, self.pms, self.delivery, self.clock = pms_call, pms, delivery, clock
        self.public_url, self.qr_secret, self.queue = public_url, qr_secret, queue
        self.lease_seconds, self.batch = lease_seconds, batch

    def enabled_hotels(self) -> List[str]:
        return [hotel_id for hotel_id, journey in self.journeys.items() if journey.enabled and hotel_id in self.hotels]

    # -- the tick -----------------------------------------------------------------------
    async def tick(self) -> TickReport:
        report = TickReport()
        now = self.clock()
        for hotel_id in self.enabled_hotels():
            await asyncio.to_thread(self._reconcile, hotel_id, now, report)
        report.expired = await asyncio.to_thread(self.store.expire_pending, now)
        report.interrupted = await asyncio.to_thread(self.store.interrupt_stale, now)
        rows = await asyncio.to_thread(self.store.claim_due, now, self.lease_seconds, self.batch)
        report.claimed = len(rows)
        for row in rows:
            outcome = await self._deliver(row)
            setattr(report, outcome, getattr(report, outcome) + 1)
        return report

    def _reconcile(self, hotel_id: str, now: dt.datetime, report: TickReport) -> None:
        hotel, journey = self.hotels[hotel_id], self.journeys[hotel_id]
        review = journey.steps[REVIEW_REQUEST]
        today = now.astimezone(hotel.timezone).date()
        bookings = self.feed.bookings(hotel_id, today - dt.timedelta(days=max(review.days, 0) + REVIEW_GRACE_DAYS + 1))
        existing = self.store.rows_for(hotel_id, [b.reference for b in bookings])
        by_booking: Dict[str, Dict[str, StepRow]] = {}
        for (reference, step), row in existing.items():
            by_booking.setdefault(reference, {})[step] = row
        for booking in bookings:
            rows = by_booking.get(booking.reference, {})
            if booking.cancelled:
                if any(row.status in (PENDING, FAILED) for row in rows.values()):
                    report.cancelled += self.store.close_pending(hotel_id, booking.reference, CANCELLED, "booking cancelled")
                continue
            target = target_of(booking, journey)
            seen = min((row.created_at for row in rows.values()), default=now)
            planned = plan(booking, journey, hotel.timezone, hotel.policies.checkout_time, seen)
            new = [step for name, step in planned.items() if name not in rows]
            if new:
                report.added += self.store.add_steps(hotel_id, booking.reference, new, target, now)
            for name, row in rows.items():
                step = planned.get(name)
                if row.status == SKIPPED and row.detail == NO_CONTACT and step is not None and target.conversation_id:
                    report.moved += self.store.revive(row.id, step, target)
                    continue
                if row.status != PENDING:
                    continue
                if step is None:
                    report.cancelled += self.store.close_pending(hotel_id, booking.reference, CANCELLED,
                                                                 "step turned off or no longer applies", [name])
                elif name != BOOKING_CONFIRMATION and (
                    naive_utc(row.due_at) != naive_utc(step.due) or naive_utc(row.expires_at) != naive_utc(step.expires)
                    or row.conversation_id != target.conversation_id
                ):
                    report.moved += self.store.move_pending(row.id, step, target)

    # -- one step -----------------------------------------------------------------------
    async def _deliver(self, row: StepRow) -> str:
        """Send a claimed step; returns the report field it counts in."""
        now = self.clock()
        outcome, detail, mode = await self._attempt(row, now)
        if outcome == "failed":
            await asyncio.to_thread(self.store.finish, row, FAILED, now, detail=detail)
            await self._dead_letter(row, detail)
        elif outcome == "pending":  # the PMS did not answer: due again next tick
            await asyncio.to_thread(self.store.finish, row, PENDING, now, detail=detail)
        else:
            status = {"sent": SENT, "skipped": SKIPPED, "cancelled": CANCELLED}[outcome]
            await asyncio.to_thread(self.store.finish, row, status, self.clock(), delivery=mode, detail=detail)
        metrics.MESSAGES.labels(hotel=row.hotel_id, step=row.step, outcome=outcome).inc()
        return {"sent": "sent", "failed": "failed", "pending": "failed"}.get(outcome, "skipped")

    async def _attempt(self, row: StepRow, now: dt.datetime) -> tuple:
        """(outcome, detail, delivery mode) with outcome sent | failed | pending | skipped | cancelled."""
        hotel, journey = self.hotels.get(row.hotel_id), self.journeys.get(row.hotel_id)
        if hotel is None or journey is None or not journey.enabled:
            return "skipped", "the hotel's journey is off", ""
        if not row.conversation_id:
            return "skipped", NO_CONTACT, ""
        if await asyncio.to_thread(self.store.opted_out, row.hotel_id, row.conversation_id):
            return "skipped", "the guest opted out", ""
        pms_call, pms = self.pms_call, self.pms
        if self.gateway_of is not None:  # the booking is in its own hotel's PMS, not the first hotel's
            hotel_gateway = self.gateway_of(row.hotel_id)
            pms_call, pms = hotel_gateway.call, hotel_gateway.pms
        try:
            booking: Booking = await pms_call(pms.get_booking, row.booking_ref)
            if booking.status is BookingStatus.CANCELLED:
                return "cancelled", "booking cancelled", ""
            if row.step == CHECKOUT_MORNING:
                if booking.late_checkout_until is not None:
                    return "skipped", "the guest already has a late checkout", ""
                if not await pms_call(pms.late_checkout_available, booking.reference):
                    return "skipped", "the room is needed: no late checkout to offer", ""
        except BookingNotFound:
            return "cancelled", "the booking is no longer in the PMS", ""
        except PMSUnavailable as exc:
            return "pending", f"PMS unavailable: {exc}", ""
        language = row.language if row.language in ("es", "en") else hotel.default_language
        facts = step_facts(booking, hotel, journey, language, public_url=self.public_url,
                           qr_secret=self.qr_secret, link_secret=self.qr_secret)
        first = not await asyncio.to_thread(self.store.has_written_to, row.hotel_id, row.conversation_id)
        message = compose(row.step, language, row.party, facts, journey.steps[row.step].template(language), first)
        metadata = {"journey_step": row.step, "booking_ref": row.booking_ref, "hotel": {"id": row.hotel_id}}
        try:
            sent = await self.delivery.send(row.conversation_id, message, metadata)
        except OptedOutOnChannel as exc:
            await asyncio.to_thread(self.store.opt_out, row.hotel_id, row.conversation_id, "whatsapp", str(exc), now)
            metrics.OPT_OUTS.labels(hotel=row.hotel_id, source="whatsapp").inc()
            return "skipped", "the guest opted out on WhatsApp", ""
        except Refused as exc:
            return "skipped", f"cannot be sent: {exc}", ""
        except TryLater as exc:
            return "failed", str(exc), ""
        await self._continue_conversation(row, language)
        return "sent", "", sent.mode

    async def _continue_conversation(self, row: StepRow, language: str) -> None:
        """The guest's answer continues the existing flows: "yes" to the
        late-checkout offer confirms it, a number to the review request is the
        feedback rating."""
        events: List[Dict[str, Any]] = [
            {"event": "slot", "name": "language", "value": language},
            {"event": "slot", "name": "booking_ref", "value": row.booking_ref},
        ]
        if row.step == CHECKOUT_MORNING:
            events += [{"event": "slot", "name": "pending_confirmation", "value": "late_checkout"},
                       {"event": "action", "name": "action_offer_late_checkout"}]
            try:  # the offer went to the booking's own contact: this conversation may confirm it
                await booking_access.remember(row.conversation_id, row.booking_ref)
            except Exception:
                logger.exception("journey: access to %s not recorded for the offer's conversation", row.booking_ref)
        elif row.step == REVIEW_REQUEST:
            events += [{"event": "action", "name": "feedback_form"},
                       {"event": "active_loop", "name": "feedback_form"},
                       {"event": "slot", "name": "requested_slot", "value": "feedback_rating"}]
        events.append({"event": "action", "name": "action_listen"})
        try:
            await self.delivery.append_events(row.conversation_id, events)
        except Exception as exc:  # the message went out; the guest's answer just lacks the context
            logger.error("journey: %s sent to %s but the conversation state was not set: %s",
                         row.step, row.booking_ref, type(exc).__name__)

    # -- failed sends: the dead-letter queue ----------------------------------------------
    async def _dead_letter(self, row: StepRow, detail: str) -> None:
        if self.queue is None:
            logger.error("journey: %s of %s failed (%s) and no dead-letter queue is set", row.step, row.booking_ref, detail)
            return
        try:
            await self.queue.enqueue(RETRY_KIND, {"step_id": row.id}, error=detail,
                                     conversation_id=row.conversation_id or None, reason=SEND_FAILED_REASON)
        except Exception:
            logger.exception("journey: %s of %s failed and the dead-letter queue refused it; it stays failed",
                             row.step, row.booking_ref)

    async def retry_failed(self, entry) -> None:
        """DLQ handler: resend the step if it is still failed and not too late."""
        step_id = entry.payload.get("step_id")
        if not isinstance(step_id, int):
            raise PermanentFailure("journey.send entry without a step id")
        now = self.clock()
        row = await asyncio.to_thread(self.store.claim_failed, step_id, now, self.lease_seconds)
        if row is None:
            return  # sent, cancelled, expired or opted out meanwhile: nothing to do
        outcome, detail, mode = await self._attempt(row, now)
        if outcome in ("failed", "pending"):
            await asyncio.to_thread(self.store.finish, row, FAILED, now, detail=detail)
            raise TryLater(detail)
        status = {"sent": SENT, "skipped": SKIPPED, "cancelled": CANCELLED}[outcome]
        await asyncio.to_thread(self.store.finish, row, status, self.clock(), delivery=mode, detail=detail)
        metrics.MESSAGES.labels(hotel=row.hotel_id, step=row.step, outcome=outcome).inc()

    def handlers(self) -> Dict[str, Any]:
        return {RETRY_KIND: self.retry_failed}

    def current(self, step_id: int) -> Optional[StepRow]:
        return self.store.get(step_id)
