"""Forms that ask for a booking reference, and the lookup of that booking."""
from __future__ import annotations

import re
from typing import Any, Dict, Optional, Text

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions.context import latest_intent, latest_text
from actions.pms.base import Booking, BookingNotFound, PMSUnavailable
from actions.pms.gateway import gateway

# BK + 6 digits (the demo's and older bookings) or BK + 10 of actions.pms.local.REFERENCE_ALPHABET
_REFERENCE = re.compile(r"\b[Bb][Kk][\s-]?(\d{6}|[A-HJ-NP-Za-hj-np-z2-9]{10})\b")


def canonical_reference(text: Any) -> Optional[str]:
    """'bk-482913' -> 'BK482913', 'bk 7qk2m9xrta' -> 'BK7QK2M9XRTA'; None when there is no reference in ``text``."""
    match = _REFERENCE.search(str(text or ""))
    return f"BK{match.group(1).upper()}" if match else None


class BookingRefMixin:
    """booking_ref extraction and validation for the status / cancel / late
    checkout / payment forms (mixed into each form's FormValidationAction)."""

    async def extract_booking_ref(self, dispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        if tracker.get_slot("requested_slot") != "booking_ref" or latest_intent(tracker) in ("deny", "request_human"):
            return {}
        return {"booking_ref": latest_text(tracker)}

    async def validate_booking_ref(
        self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain
    ) -> Dict[Text, Any]:
        reference = canonical_reference(value)
        if reference is None:
            dispatcher.utter_message(response="utter_booking_ref_invalid")
            return {"booking_ref": None}
        try:
            await gateway().call(gateway().pms.get_booking, reference)
        except BookingNotFound:
            dispatcher.utter_message(response="utter_booking_not_found", booking_ref=reference)
            return {"booking_ref": None}
        except PMSUnavailable:
            pass  # the form's submit action reports it; the reference itself is well formed
        return {"booking_ref": reference}


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
    """The booking named by the booking_ref slot, or None after telling the guest why not."""
    reference = canonical_reference(tracker.get_slot("booking_ref"))
    if reference is None:
        dispatcher.utter_message(response="utter_booking_ref_invalid")
        return None
    try:
        return await gateway().call(gateway().pms.get_booking, reference)
    except BookingNotFound:
        dispatcher.utter_message(response="utter_booking_not_found", booking_ref=reference)
    except PMSUnavailable:
        dispatcher.utter_message(response="utter_pms_unavailable")
    return None
