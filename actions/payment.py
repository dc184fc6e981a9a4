"""Payment notices: confirmed bookings get a signed QR check-in code."""
from __future__ import annotations

from typing import List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions import qr
from actions.booking_ref import booking_in_slot
from actions.config import settings
from actions.pms.base import InvalidBookingState, PMSUnavailable
from actions.pms.gateway import gateway
from actions.staff_requests import record_staff_request


class ActionConfirmPayment(Action):
    def name(self) -> Text:
        return "action_confirm_payment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        booking = await booking_in_slot(dispatcher, tracker)
        if booking is None:
            return []
        try:
            booking = await gateway().call(gateway().pms.confirm_payment, booking.reference)
        except InvalidBookingState:
            dispatcher.utter_message(response="utter_payment_booking_cancelled", reference=booking.reference)
            return []
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_pms_unavailable")
            return []
        if not booking.is_paid:
            await record_staff_request("payment_check", tracker.sender_id, f"payment notice for {booking.reference}")
            dispatcher.utter_message(response="utter_payment_under_review", reference=booking.reference)
            return []
        config = settings()
        token = qr.sign_booking(booking, config.qr_secret)
        dispatcher.utter_message(
            response="utter_payment_confirmed_qr",
            reference=booking.reference,
            image=qr.image_url(config.public_url, token),
            json_message={"qr": {"reference": booking.reference, "token": token}},
        )
        return []
