"""What the journey needs to know about a booking, and where it reads it.

The PMS protocol (``actions.pms.base``) answers questions about one booking
the guest names; the journey needs the other direction: every booking whose
stay is near, with the guest's contact, language and party. ``BookingFeed``
is that read-only view. ``LocalBookingFeed`` reads the embedded PMS's tables;
a QloApps feed needs the booking list of its webservice (see docs/journey.md).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Protocol, Sequence

from sqlalchemy import select

from actions.pms.base import BookingStatus

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


class LocalBookingFeed:
    """The embedded PMS's bookings, read from its database (the same engine)."""

    def __init__(self, pms, default_language: str = "es") -> None:
        from actions.pms.local import LocalPMS

        if not isinstance(pms, LocalPMS):
            raise TypeError(f"LocalBookingFeed reads the embedded PMS, not {type(pms).__name__}")
        self._pms = pms
        self._default_language = default_language

    def bookings(self, hotel_id: str, stays_ending_from: dt.date) -> Sequence[JourneyBooking]:
        from actions.pms.local import BookingRow

        with self._pms._session() as session:  # the feed is part of the embedded PMS (its reading side)
            rows = session.execute(
                select(BookingRow).where(BookingRow.checkout >= stays_ending_from).order_by(BookingRow.reference)
            ).scalars().all()
        return [
            JourneyBooking(
                hotel_id=hotel_id,
                reference=row.reference,
                guest_name=row.guest_name,
                checkin=row.checkin,
                checkout=row.checkout,
                guests=row.guests,
                room_type=row.room_type,
                status=BookingStatus(row.status),
                contact=row.contact or "",
                language=language_of_contact(row.contact or "", self._default_language),
                party=party_of(row.guests, row.room_type),
                from_chat=bool(row.request_id),  # the assistant's bookings carry a request id
            )
            for row in rows
        ]
