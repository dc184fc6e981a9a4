"""Availability, new reservations, booking status and cancellation."""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import FormValidationAction

from actions import booking_access
from actions.audit import record_audit
from actions.booking_ref import booking_in_slot, reference_in_use
from actions.context import (
    count_phrase,
    hotel_for,
    hotel_today,
    language_of,
    latest_intent,
    latest_text,
    money,
    pms_gateway,
    show_date,
)
from actions.guest_contact import guest_phone, needs_phone, parse_phone
from actions.pms.base import (
    ROOM_TYPE_CODES,
    Booking,
    BookingNotFound,
    BookingRejected,
    BookingRequest,
    BookingStatus,
    InvalidBookingState,
    InvalidStay,
    NoAvailability,
    PMSUnavailable,
)
from actions.pms.gateway import gateway
from actions.rooms import parse_room_type
from actions.saved_requests import CANCEL_BOOKING, CREATE_BOOKING, booking_payload, new_request_id, save_request
from actions.stay_form import (
    INTERRUPTIONS,
    GuestNameMixin,
    StayFormMixin,
    is_correction,
    not_understood,
    stay_from_slots,
)

ROOM_TYPES = ROOM_TYPE_CODES
STATUS_TEXT = {
    "es": {
        BookingStatus.PENDING_PAYMENT: "pendiente de pago",
        BookingStatus.CONFIRMED: "confirmada y pagada",
        BookingStatus.CANCELLED: "cancelada",
    },
    "en": {
        BookingStatus.PENDING_PAYMENT: "waiting for payment",
        BookingStatus.CONFIRMED: "confirmed and paid",
        BookingStatus.CANCELLED: "cancelled",
    },
}
STAY_SLOTS = ("checkin", "checkout", "guests", "room_type", "guest_name")
logger = logging.getLogger(__name__)


async def room_names(language: str, hotel_id: str | None = None) -> Dict[str, str]:
    pms = gateway(hotel_id)
    try:
        rooms = await pms.call(pms.pms.list_room_types, language)
    except PMSUnavailable:
        return {}
    return {room.code: room.name for room in rooms}


async def booking_facts(booking: Booking, language: str, hotel_id: str | None = None) -> Dict[str, Any]:
    """Template variables describing a booking in the guest's language."""
    names = await room_names(language, hotel_id)
    return dict(
        reference=booking.reference,
        guest_name=booking.guest_name,
        room_name=names.get(booking.room_type, booking.room_type),
        checkin=show_date(booking.checkin, language),
        checkout=show_date(booking.checkout, language),
        guests=booking.guests,
        guests_text=count_phrase(booking.guests, "guest", language),
        total=money(booking.total_price),
        currency=booking.currency,
        status=STATUS_TEXT[language][booking.status],
    )


class ValidateAvailabilityForm(StayFormMixin, FormValidationAction):
    def name(self) -> Text:
        return "validate_availability_form"


class ValidateReservationForm(GuestNameMixin, StayFormMixin, FormValidationAction):
    def name(self) -> Text:
        return "validate_reservation_form"

    async def required_slots(self, domain_slots, dispatcher, tracker, domain) -> List[Text]:
        """The domain's slots; the phone number only when the hotel's PMS needs one
        and the channel gave none (an e-mail guest booking in QloApps)."""
        slots = list(await super().required_slots(domain_slots, dispatcher, tracker, domain))
        if "guest_phone" in slots and not needs_phone(tracker, hotel_for(tracker)):
            slots.remove("guest_phone")
        return slots

    async def extract_guest_phone(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        """The guest's answer while the form asks for the phone (a custom mapping:
        a from_text condition on a slot the domain's form does not list is refused)."""
        if tracker.get_slot("requested_slot") != "guest_phone" or tracker.active_loop_name != "reservation_form":
            return {}
        return {"guest_phone": latest_text(tracker)}

    async def validate_guest_phone(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        phone = parse_phone(str(value or "")[:40])
        if phone is None:
            dispatcher.utter_message(response="utter_phone_not_understood")
            return {"guest_phone": None}
        return {"guest_phone": phone}

    async def extract_room_type(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        """The room as guests write it ("dbl", "la indibidual") when the NLU found no
        room entity: in the answer to the room question, in a correction ("uy no,
        mejor la suite") or in the request that starts the form. An answer to the
        room question that names no room goes to validation (which says so, then
        rephrases), so the form never gives up its question."""
        requested = tracker.get_slot("requested_slot")
        intent = latest_intent(tracker)
        if intent == "request_human":
            return {}
        text = latest_text(tracker)
        code = parse_room_type(text)
        if code and (requested in (None, "room_type") or is_correction(text)):
            return {"room_type": code}
        if requested == "room_type" and code is None and intent not in INTERRUPTIONS and not tracker.get_slot("room_type"):
            return {"room_type": text}
        return {}

    async def validate_room_type(self, value, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> Dict[Text, Any]:
        code = str(value or "").lower()
        if code not in ROOM_TYPES:
            not_understood(dispatcher, tracker, "room_type", "utter_room_type_not_understood")
            return {"room_type": None}
        guests = int(tracker.get_slot("guests") or 0)
        try:
            rooms = await pms_gateway(tracker).call(pms_gateway(tracker).pms.list_room_types, language_of(tracker))
        except PMSUnavailable:
            return {"room_type": code}  # capacity is checked again when booking
        room = next((r for r in rooms if r.code == code), None)
        if room is not None and guests > room.max_guests:
            dispatcher.utter_message(
                response="utter_room_too_small", max_guests=room.max_guests,
                max_guests_text=count_phrase(room.max_guests, "guest", language_of(tracker)),
            )
            return {"room_type": None}
        return {"room_type": code}


class ActionCheckAvailability(Action):
    def name(self) -> Text:
        return "action_check_availability"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        language = language_of(tracker)
        checkin, checkout, guests = stay_from_slots(tracker)
        if not (checkin and checkout and guests):
            dispatcher.utter_message(response="utter_date_not_understood")
            return []
        stay = dict(checkin=show_date(checkin, language), checkout=show_date(checkout, language), guests=guests,
                    guests_text=count_phrase(guests, "guest", language))
        try:
            pms = pms_gateway(tracker)
            options = await pms.call(pms.pms.check_availability, checkin, checkout, guests, language)
        except InvalidStay:  # out of the hotel's bounds (past, beyond the horizon, too many nights or guests)
            dispatcher.utter_message(response="utter_date_not_understood")
            return []
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_pms_unavailable")
            return []
        if not options:
            dispatcher.utter_message(response="utter_no_availability", **stay)
            return []
        dispatcher.utter_message(response="utter_availability_header", nights=options[0].nights,
                                 nights_text=count_phrase(options[0].nights, "night", language), **stay)
        for option in options:
            dispatcher.utter_message(
                response="utter_availability_line",
                room_name=option.room_type.name,
                total=money(option.total_price),
                nightly=money(option.room_type.nightly_rate),
                currency=option.room_type.currency,
                rooms_left=option.rooms_left,
            )
        dispatcher.utter_message(response="utter_availability_footer")
        return []


class ActionCreateBooking(Action):
    def name(self) -> Text:
        return "action_create_booking"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        language = language_of(tracker)
        checkin, checkout, guests = stay_from_slots(tracker)
        if not (checkin and checkout and guests):
            dispatcher.utter_message(response="utter_date_not_understood")
            return []
        request = BookingRequest(
            guest_name=tracker.get_slot("guest_name") or "",
            room_type=tracker.get_slot("room_type") or "",
            checkin=checkin,
            checkout=checkout,
            guests=guests,
            contact=tracker.sender_id,
            phone=guest_phone(tracker),
            request_id=new_request_id(),
        )
        stay_done = [SlotSet(slot, None) for slot in STAY_SLOTS]
        try:
            pms = pms_gateway(tracker)
            booking = await pms.call(pms.pms.create_booking, request)
        except InvalidStay:  # a stay or name the forms would not have let through
            dispatcher.utter_message(response="utter_date_not_understood")
            return stay_done
        except BookingRejected as exc:
            # the PMS refused these data for good: retrying cannot help, the guest can
            logger.warning("booking refused by the PMS (%s): %s", exc.field, exc)
            if exc.field == "phone":
                dispatcher.utter_message(response="utter_booking_refused_phone")
                return [SlotSet("guest_phone", None)]
            dispatcher.utter_message(response="utter_booking_refused")
            return []
        except NoAvailability:
            names = await room_names(language, hotel_for(tracker).id)
            dispatcher.utter_message(response="utter_room_taken", room_name=names.get(request.room_type, request.room_type))
            return [SlotSet("room_type", None)]
        except PMSUnavailable as exc:
            # The same request id makes the retry return this booking if the
            # failed attempt did reach the PMS.
            if await save_request(CREATE_BOOKING, booking_payload(request), tracker, f"PMSUnavailable: {exc}"):
                dispatcher.utter_message(response="utter_request_saved")
                return stay_done  # no booking reference until the worker has one
            dispatcher.utter_message(response="utter_pms_unavailable")
            return []
        await booking_access.remember(tracker.sender_id, booking.reference)  # this conversation made it
        await record_audit("booking_created", tracker, booking_ref=booking.reference, details={
            "room_type": booking.room_type, "checkin": booking.checkin, "checkout": booking.checkout, "guests": booking.guests})
        dispatcher.utter_message(response="utter_booking_created",
                                 **await booking_facts(booking, language, hotel_for(tracker).id))
        return [SlotSet("booking_ref", booking.reference)] + stay_done


class ActionReservationStatus(Action):
    def name(self) -> Text:
        return "action_reservation_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        booking = await booking_in_slot(dispatcher, tracker)
        if booking is not None:
            dispatcher.utter_message(response="utter_booking_status",
                                     **await booking_facts(booking, language_of(tracker), hotel_for(tracker).id))
        return []


class ActionOfferCancellation(Action):
    """Shows the booking and asks the guest to confirm; the cancellation
    itself happens only after an explicit yes (action_cancel_reservation)."""

    def name(self) -> Text:
        return "action_offer_cancellation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        booking = await booking_in_slot(dispatcher, tracker)
        if booking is None:
            return [SlotSet("pending_confirmation", None)]
        facts = await booking_facts(booking, language_of(tracker), hotel_for(tracker).id)
        if booking.status is BookingStatus.CANCELLED or booking.checkout <= hotel_today(hotel_for(tracker)):
            dispatcher.utter_message(response="utter_cannot_cancel", **facts)
            return [SlotSet("pending_confirmation", None)]
        dispatcher.utter_message(response="utter_confirm_cancellation", **facts)
        return [SlotSet("pending_confirmation", "cancellation")]


class ActionCancelReservation(Action):
    def name(self) -> Text:
        return "action_cancel_reservation"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        done = [SlotSet("pending_confirmation", None)]
        if tracker.get_slot("pending_confirmation") != "cancellation":
            dispatcher.utter_message(response="utter_how_can_help")  # a "yes" to no question
            return done
        reference = await reference_in_use(dispatcher, tracker)
        if reference is None:
            return done
        try:
            pms = pms_gateway(tracker)
            booking = await pms.call(pms.pms.cancel_booking, reference)
        except InvalidBookingState:
            dispatcher.utter_message(response="utter_cannot_cancel", reference=reference)
            return done
        except PMSUnavailable as exc:
            saved = await save_request(CANCEL_BOOKING, {"reference": reference}, tracker, f"PMSUnavailable: {exc}")
            dispatcher.utter_message(response="utter_request_saved" if saved else "utter_pms_unavailable")
            return done
        except BookingNotFound:
            dispatcher.utter_message(response="utter_booking_not_found", booking_ref=reference)
            return done
        await record_audit("booking_cancelled", tracker, booking_ref=booking.reference)
        dispatcher.utter_message(response="utter_booking_cancelled", reference=booking.reference)
        return done


class ActionDeclinePending(Action):
    """The guest said no to a pending confirmation: change nothing."""

    def name(self) -> Text:
        return "action_decline_pending"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        pending = tracker.get_slot("pending_confirmation")
        dispatcher.utter_message(response="utter_nothing_changed" if pending else "utter_how_can_help")
        return [SlotSet("pending_confirmation", None)]

