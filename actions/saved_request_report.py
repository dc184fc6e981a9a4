"""Tell the guest how a saved request ended (``EXTERNAL_saved_request``,
triggered through Rasa's HTTP API by ``actions.saved_request_worker``)."""
from __future__ import annotations

import logging
from typing import List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import booking_facts
from actions.booking_ref import canonical_reference
from actions.context import hotel_for, language_of, money
from actions.late_checkout import late_checkout_facts
from actions.pms.base import Booking, BookingNotFound, PMSUnavailable
from actions.pms.gateway import gateway
from actions.saved_requests import CANCEL_BOOKING, CREATE_BOOKING, SET_LATE_CHECKOUT

logger = logging.getLogger(__name__)

SAVED_KINDS = (CREATE_BOOKING, CANCEL_BOOKING, SET_LATE_CHECKOUT)


def latest_entity(tracker: Tracker, name: str) -> Optional[str]:
    for entity in (tracker.latest_message or {}).get("entities") or []:
        if entity.get("entity") == name and entity.get("value") not in (None, ""):
            return str(entity["value"])
    return None


class ActionReportSavedRequest(Action):
    def name(self) -> Text:
        return "action_report_saved_request"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        kind = latest_entity(tracker, "saved_request")
        outcome = latest_entity(tracker, "outcome")
        reference = canonical_reference(latest_entity(tracker, "booking_ref"))
        if kind not in SAVED_KINDS or outcome not in ("done", "failed"):
            logger.warning("EXTERNAL_saved_request with saved_request=%r outcome=%r: nothing to report", kind, outcome)
            return []
        if outcome == "failed":  # reception already has a staff request
            if kind == CREATE_BOOKING:
                dispatcher.utter_message(response="utter_saved_booking_failed")
            elif kind == CANCEL_BOOKING:
                dispatcher.utter_message(response="utter_saved_cancellation_failed", reference=reference)
            else:
                dispatcher.utter_message(response="utter_saved_late_checkout_failed", reference=reference)
            return []
        if kind == CANCEL_BOOKING:
            dispatcher.utter_message(response="utter_saved_cancellation_done", reference=reference)
            return [SlotSet("booking_ref", reference)]
        booking = await self._booking(reference, hotel_for(tracker).id)
        if booking is None:  # done, but the details cannot be read right now
            dispatcher.utter_message(response="utter_saved_request_done", reference=reference)
            return [SlotSet("booking_ref", reference)]
        language = language_of(tracker)
        if kind == CREATE_BOOKING:
            dispatcher.utter_message(response="utter_saved_booking_created", **await booking_facts(booking, language, hotel_for(tracker).id))
        else:
            dispatcher.utter_message(
                response="utter_saved_late_checkout_done",
                fee=money(booking.late_checkout_fee or 0),
                currency=booking.currency,
                **late_checkout_facts(booking, hotel_for(tracker), language),
            )
        return [SlotSet("booking_ref", booking.reference)]

    @staticmethod
    async def _booking(reference: Optional[str], hotel_id: str) -> Optional[Booking]:
        if reference is None:
            return None
        pms = gateway(hotel_id)
        try:
            return await pms.call(pms.pms.get_booking, reference)
        except (BookingNotFound, PMSUnavailable):
            return None
