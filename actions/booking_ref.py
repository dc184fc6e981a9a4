"""Forms that ask for a booking reference, and the lookup of that booking."""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions import booking_access
from actions.audit import record_audit
from actions.booking_access import Verification
from actions.context import (
    hotel_for,
    hotel_today,
    latest_intent,
    latest_text,
    looks_like_question,
    pms_gateway,
    question_answered_mid_form,
)
from actions.pms.base import Booking, BookingNotFound, PMSUnavailable
from actions.references import canonical_reference
from actions.stay_form import not_understood, run_stopping_when_told

VERIFY_SLOTS = ("verify_surname", "verify_checkin")
NOT_AN_ANSWER = ("deny", "request_human")
# questions data/rules.yml answers in the middle of these forms
QUESTION_INTENTS = frozenset({"faq", "business_hours", "hotel_location", "room_options", "bot_challenge"})
MAX_ANSWER_CHARS = 100


async def _booking_or_none(reference: str, tracker: Tracker) -> Optional[Booking]:
    """The booking in the PMS of the conversation's hotel, None when unknown; PMSUnavailable passes through."""
    pms = pms_gateway(tracker)
    try:
        return await pms.call(pms.pms.get_booking, reference)
    except BookingNotFound:
        return None


class BookingRefMixin:
    """booking_ref extraction and validation for the status / cancel / late
    checkout / payment forms (mixed into each form's FormValidationAction),
    with the second factor (verify_surname, verify_checkin) asked only when
    this conversation may not use the booking yet (actions/booking_access.py).
    Nothing said here tells a stranger whether a reference exists."""

    async def get_extraction_events(self, dispatcher, tracker: Tracker, domain) -> List[EventType]:
        if question_answered_mid_form(tracker) or self._asks_a_question(tracker):
            # "what time is checkout?" is no reference: nothing extracted, the form steps aside
            # (Rasa's rules answer the question, then the form asks again)
            return []
        return await super().get_extraction_events(dispatcher, tracker, domain)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        return await run_stopping_when_told(super(), dispatcher, tracker, domain)

    @staticmethod
    def _asks_a_question(tracker: Tracker) -> bool:
        text = latest_text(tracker)
        return latest_intent(tracker) in QUESTION_INTENTS and looks_like_question(text) and canonical_reference(text) is None

    async def required_slots(self, domain_slots, dispatcher, tracker: Tracker, domain):
        if await booking_access.locked(tracker.sender_id):
            return []  # the submit action says why (booking_in_slot)
        reference = canonical_reference(tracker.get_slot("booking_ref"))
        if reference is None or not await self._needs_verification(reference, tracker):
            return [slot for slot in domain_slots if slot not in VERIFY_SLOTS]
        return list(domain_slots)

    @staticmethod
    async def _needs_verification(reference: str, tracker: Tracker) -> bool:
        if await booking_access.granted(tracker.sender_id, reference):
            return False
        try:
            booking = await _booking_or_none(reference, tracker)
        except PMSUnavailable:
            return False  # the submit action reports the outage; booking_in_slot checks access again
        return booking is None or not await booking_access.may_use(booking, tracker.sender_id)

    async def extract_booking_ref(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "booking_ref" or latest_intent(tracker) in NOT_AN_ANSWER:
            return {}
        return {"booking_ref": latest_text(tracker)}

    async def validate_booking_ref(
        self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> Dict[Text, Any]:
        reference = canonical_reference(value)
        if reference is None:
            not_understood(dispatcher, tracker, "booking_ref", "utter_booking_ref_invalid")
            return {"booking_ref": None}
        return {"booking_ref": reference}  # unknown or not theirs: the verification questions follow

    async def extract_verify_surname(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        return self._answer_to("verify_surname", tracker)

    async def extract_verify_checkin(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        return self._answer_to("verify_checkin", tracker)

    @staticmethod
    def _answer_to(slot: str, tracker: Tracker) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != slot or latest_intent(tracker) in NOT_AN_ANSWER:
            return {}
        return {slot: latest_text(tracker)[:MAX_ANSWER_CHARS]}

    async def validate_verify_surname(self, value, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        return {"verify_surname": str(value or "")[:MAX_ANSWER_CHARS] or None}

    async def validate_verify_checkin(self, value, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        reference = canonical_reference(tracker.get_slot("booking_ref")) or ""
        surname = str(tracker.get_slot("verify_surname") or "")
        cleared = {"verify_surname": None, "verify_checkin": None}
        try:
            booking = await _booking_or_none(reference, tracker) if reference else None
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_pms_unavailable")
            return {**cleared, "booking_ref": None}
        outcome = await booking_access.verify(
            booking, reference, surname, str(value or ""), tracker.sender_id, hotel_today(hotel_for(tracker))
        )
        await record_audit(f"booking_access_{'granted' if outcome is Verification.GRANTED else 'failed'}",
                           tracker, booking_ref=reference, details={"outcome": outcome.value})
        if outcome is Verification.GRANTED:
            return cleared  # required_slots drops the questions now: the form is done
        if outcome is Verification.FAILED:
            dispatcher.utter_message(response="utter_booking_verification_failed")
            if _failed_before(tracker):
                dispatcher.utter_message(response="utter_offer_person")  # the form stops asking (run_stopping_when_told)
        return {**cleared, "booking_ref": None}


def _failed_before(tracker: Tracker) -> bool:
    """Whether an identity check of this conversation failed before this one."""
    return any(
        e.get("event") == "bot" and (e.get("metadata") or {}).get("utter_action") == "utter_booking_verification_failed"
        for e in tracker.events
    )


class ValidateStatusForm(BookingRefMixin, FormValidationAction):
    def name(self) -> Text:
        return "validate_status_form"


class ValidateCancelForm(BookingRefMixin, FormValidationAction):
    def name(self) -> Text:
        return "validate_cancel_form"


class ValidateLateCheckoutForm(BookingRefMixin, FormValidationAction):
    def name(self) -> Text:
        return "validate_late_checkout_form"


class ValidatePaymentForm(BookingRefMixin, FormValidationAction):
    def name(self) -> Text:
        return "validate_payment_form"


async def booking_in_slot(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[Booking]:
    """The booking named by the booking_ref slot if this conversation may use it,
    or None after telling the guest why not (never whether it exists)."""
    if await booking_access.locked(tracker.sender_id):
        dispatcher.utter_message(response="utter_booking_verification_locked", phone=hotel_for(tracker).phone)
        return None
    reference = canonical_reference(tracker.get_slot("booking_ref"))
    if reference is None:
        dispatcher.utter_message(response="utter_booking_ref_invalid")
        return None
    try:
        booking = await _booking_or_none(reference, tracker)
    except PMSUnavailable:
        dispatcher.utter_message(response="utter_pms_unavailable")
        return None
    if booking is None and await booking_access.granted(tracker.sender_id, reference):
        dispatcher.utter_message(response="utter_booking_not_found", booking_ref=reference)  # theirs, since removed
        return None
    if booking is None or not await booking_access.may_use(booking, tracker.sender_id):
        dispatcher.utter_message(response="utter_booking_access_denied")  # the same whether it exists or not
        return None
    await booking_access.remember(tracker.sender_id, booking.reference)  # the confirm actions check this
    return booking


async def reference_in_use(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[str]:
    """The booking_ref slot's reference when this conversation may use that booking
    (shown it before, made it, or is its contact); None after saying why not. For the
    confirm actions, which act on the slot after an offer (even while the PMS is away,
    for a booking this conversation was shown)."""
    reference = canonical_reference(tracker.get_slot("booking_ref"))
    if reference is None:
        dispatcher.utter_message(response="utter_booking_ref_invalid")
        return None
    if await booking_access.granted(tracker.sender_id, reference):
        return reference
    try:
        booking = await _booking_or_none(reference, tracker)
    except PMSUnavailable:
        dispatcher.utter_message(response="utter_pms_unavailable")
        return None
    if booking is None or not await booking_access.may_use(booking, tracker.sender_id):
        dispatcher.utter_message(response="utter_booking_access_denied")
        return None
    await booking_access.remember(tracker.sender_id, reference)
    return reference
