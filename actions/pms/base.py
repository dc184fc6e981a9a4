"""The PMS (property management system) interface the actions talk to.

Two implementations exist: ``actions.pms.local.LocalPMS`` (embedded, SQLAlchemy)
and ``actions.pms.qloapps.QloAppsPMS`` (QloApps webservice). The interface is
synchronous; actions call it through ``actions.pms.gateway`` which runs calls in
a worker thread and wraps them with the circuit breaker and metrics.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import date, time
from decimal import Decimal
from typing import Protocol, Sequence, runtime_checkable


class PMSError(Exception):
    """Base class for every PMS failure."""


class PMSUnavailable(PMSError):
    """The PMS could not be reached or answered with a server error (transient)."""


class BookingNotFound(PMSError):
    """No booking with that reference."""


class NoAvailability(PMSError):
    """The requested room type is not free for the requested dates."""


class InvalidBookingState(PMSError):
    """The operation is not allowed in the booking's current state."""


class BookingStatus(str, enum.Enum):
    PENDING_PAYMENT = "pending_payment"
    CONFIRMED = "confirmed"  # paid
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class RoomType:
    code: str  # canonical: single | double | suite | family
    name: str  # localised
    description: str  # localised
    max_guests: int
    nightly_rate: Decimal
    currency: str
    photos: Sequence[str] = field(default_factory=tuple)  # absolute URLs


@dataclass(frozen=True)
class Availability:
    room_type: RoomType
    rooms_left: int
    nights: int
    total_price: Decimal


@dataclass(frozen=True)
class BookingRequest:
    guest_name: str
    room_type: str
    checkin: date
    checkout: date
    guests: int
    contact: str = ""  # sender id / phone / email of the guest
    # Idempotency: the same request_id never makes two bookings. A retried
    # request (``replay``) may already have reached the PMS before the failure.
    request_id: str = ""
    replay: bool = False


@dataclass(frozen=True)
class Booking:
    reference: str
    guest_name: str
    room_type: str
    checkin: date
    checkout: date
    guests: int
    status: BookingStatus
    nightly_rate: Decimal
    total_price: Decimal
    currency: str
    late_checkout_until: time | None = None
    late_checkout_fee: Decimal | None = None

    @property
    def nights(self) -> int:
        return (self.checkout - self.checkin).days

    @property
    def is_paid(self) -> bool:
        return self.status is BookingStatus.CONFIRMED


@runtime_checkable
class PMS(Protocol):
    def list_room_types(self, language: str) -> list[RoomType]: ...

    def check_availability(
        self, checkin: date, checkout: date, guests: int, language: str
    ) -> list[Availability]:
        """Room types that fit ``guests`` and have a free room every night."""

    def create_booking(self, request: BookingRequest) -> Booking:
        """Raises NoAvailability when the room type is full. When a booking was
        already made for ``request.request_id``, returns it instead of a new one."""

    def get_booking(self, reference: str) -> Booking:
        """Raises BookingNotFound."""

    def cancel_booking(self, reference: str) -> Booking:
        """Raises BookingNotFound / InvalidBookingState (already cancelled, past)."""

    def confirm_payment(self, reference: str) -> Booking:
        """Record the guest's payment notice. Returns the booking; its status is
        CONFIRMED only when the PMS considers it paid."""

    def late_checkout_available(self, reference: str) -> bool:
        """True when the room is not needed by an arrival on the checkout day."""

    def set_late_checkout(self, reference: str, until: time, fee: Decimal) -> Booking:
        """Write the late checkout (time and fee) to the booking."""
