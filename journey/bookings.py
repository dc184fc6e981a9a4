"""What the journey needs to know about a booking, and where it reads it.

The PMS protocol (``actions.pms.base``) answers questions about one booking
the guest names; the journey needs the other direction: every booking whose
stay is near, with the guest's contact, language and party. ``BookingFeed``
is that read-only view. ``PMSBookingFeed`` reads it from each hotel's PMS
(``PMS.list_bookings``: the embedded PMS's table, QloApps' orders).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

from actions.pms.base import MAX_LISTED_BOOKINGS, Booking, BookingStatus

SOLO, COUPLE, FAMILY, GROUP, BUSINESS = "solo", "couple", "family", "group", "business"
PARTIES = (SOLO, COUPLE, FAMILY, GROUP, BUSINESS)
# Country calling codes of Spanish-speaking countries: a guest with such a phone number gets Spanish.
SPANISH_CALLING_CODES = ("34", "52", "54", "56", "57", "51", "58", "593", "591", "595", "598", "502", "503", "504",
                         "505", "506", "507", "53", "1809", "1829", "1849", "240")
PHONE = re.compile(r"^\+?[0-9][0-9 ()-]{6,20}$")
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class JourneyBooking:
    hotel_id: str
    reference: str
    guest_name: str
    checkin: dt.date
    checkout: dt.date
    guests: int
    room_type: str
    status: BookingStatus
    contact: str  # what the PMS holds: a phone number, an e-mail address, or a chat conversation id
    language: str  # es | en
    party: str  # one of PARTIES
    from_chat: bool  # booked in a conversation with the assistant (no confirmation step then)

    @property
    def paid(self) -> bool:
        return self.status is BookingStatus.CONFIRMED

    @property
    def cancelled(self) -> bool:
        return self.status is BookingStatus.CANCELLED


class BookingFeed(Protocol):
    def bookings(self, hotel_id: str, stays_ending_from: dt.date) -> Sequence[JourneyBooking]:
        """Every booking of the hotel (cancelled ones too) whose checkout is on or after the date."""


def party_of(guests: int, room_type: str, declared: str = "") -> str:
    """The party the review wording is chosen for: what the PMS declares
    (e.g. a business booking), else what the booking shows."""
    if declared in PARTIES:
        return declared
    if guests <= 1:
        return SOLO
    if room_type == "family":
        return FAMILY
    if guests == 2:
        return COUPLE
    return FAMILY if guests <= 4 else GROUP


def language_of_contact(contact: str, default: str) -> str:
    """Spanish for phone numbers of Spanish-speaking countries, English for other
    numbers, the hotel's language for e-mail and chat contacts."""
    contact = contact.strip()
    if PHONE.match(contact):
        digits = re.sub(r"\D", "", contact)
        return "es" if digits.startswith(SPANISH_CALLING_CODES) else "en"
    return default


def journey_booking(hotel_id: str, booking: Booking, default_language: str) -> JourneyBooking:
    return JourneyBooking(
        hotel_id=hotel_id,
        reference=booking.reference,
        guest_name=booking.guest_name,
        checkin=booking.checkin,
        checkout=booking.checkout,
        guests=booking.guests,
        room_type=booking.room_type,
        status=booking.status,
        contact=booking.contact,
        language=language_of_contact(booking.contact, default_language),
        party=party_of(booking.guests, booking.room_type, booking.party),
        from_chat=booking.made_by_assistant,
    )


class PMSBookingFeed:
    """Each hotel's bookings from its own PMS (``PMS.list_bookings``, any backend),
    through that PMS's gateway: the breaker guards and counts the read."""

    def __init__(self, gateway_of: Callable[[str], Any], default_language: str = "es",
                 limit: int = MAX_LISTED_BOOKINGS) -> None:
        self._gateway_of = gateway_of  # hotel id -> PMSGateway
        self._default_language = default_language
        self._limit = limit

    def bookings(self, hotel_id: str, stays_ending_from: dt.date) -> Sequence[JourneyBooking]:
        gateway = self._gateway_of(hotel_id)
        listed = gateway.call_blocking(gateway.pms.list_bookings, stays_ending_from, self._limit)
        return [journey_booking(hotel_id, booking, self._default_language) for booking in listed]


class LocalBookingFeed(PMSBookingFeed):
    """One embedded PMS's bookings, for every hotel id asked (tests, one-hotel set-ups)."""

    def __init__(self, pms, default_language: str = "es") -> None:
        from actions.pms.breaker import build_breaker
        from actions.pms.gateway import PMSGateway
        from actions.pms.local import LocalPMS

        if not isinstance(pms, LocalPMS):
            raise TypeError(f"LocalBookingFeed reads the embedded PMS, not {type(pms).__name__}")
        one = PMSGateway(pms, build_breaker())
        super().__init__(lambda _hotel_id: one, default_language)
