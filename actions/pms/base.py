"""The PMS (property management system) interface the actions talk to.

Two implementations exist: ``actions.pms.local.LocalPMS`` (embedded, SQLAlchemy)
and ``actions.pms.qloapps.QloAppsPMS`` (QloApps webservice, docs/qloapps.md). The interface is
synchronous; actions call it through ``actions.pms.gateway`` which runs calls in
a worker thread and wraps them with the circuit breaker and metrics.
"""
from __future__ import annotations

import enum
import re
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


class BookingRejected(PMSError):
    """The PMS refused the request's data for good (e.g. QloApps: no phone number,
    a name its validation rejects). An answer, not an outage: the guest is told
    what to change (``field``: "phone", "name" or "other"), nothing is retried and
    the circuit breaker does not count it."""

    def __init__(self, message: str, field: str = "other") -> None:
        super().__init__(message)
        self.field = field


MAX_LISTED_BOOKINGS = 2000  # every list_bookings is bounded, whatever the caller asks


def listed_bookings_limit(limit: int) -> int:
    """``limit`` clamped to 1..MAX_LISTED_BOOKINGS."""
    return max(1, min(int(limit), MAX_LISTED_BOOKINGS))


# The room type codes the actions, the NLU (room_type entity) and every backend share.
ROOM_TYPE_CODES = ("single", "double", "family", "suite")


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
    phone: str = ""  # the guest's phone number when known (WhatsApp id, or asked for)
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
    # who made it: the conversation id (WhatsApp ``<phone>@<number id>``, an
    # e-mail address...) or the contact the PMS holds; actions/booking_access.py
    # shows the booking only to that guest (or after a second factor).
    contact: str = ""
    # made in a conversation with the assistant (the journey sends no confirmation step then)
    made_by_assistant: bool = False
    # the party when the PMS knows more than the guest count ("family": children in a room);
    # "" = unknown (the journey then infers it from guests and room type)
    party: str = ""

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

    def accept_payment(self, reference: str) -> Booking:
        """Reception checked the guest's payment (staff console): the booking is paid.
        Raises BookingNotFound / InvalidBookingState (cancelled)."""

    def list_bookings(self, checkout_from: date, limit: int = 500) -> list[Booking]:
        """The hotel's bookings (cancelled ones too) whose checkout is on or after
        ``checkout_from``, at most ``limit`` (1..MAX_LISTED_BOOKINGS): the stay
        journey's read (journey/bookings.py)."""

    def late_checkout_available(self, reference: str) -> bool:
        """True when the room is not needed by an arrival on the checkout day."""

    def set_late_checkout(self, reference: str, until: time, fee: Decimal) -> Booking:
        """Write the late checkout (time and fee) to the booking."""


# -- input checks every backend shares -------------------------------------------
# Whatever the caller (a form, the saved-request worker, a hand-written call to the
# action server), a PMS call never sees a stay that makes no sense: the gateway
# (actions/pms/gateway.py) checks before any backend runs, LocalPMS again inside.


class InvalidStay(PMSError, ValueError):
    """The stay or booking data are out of bounds (dates, horizon, nights, guests, name).
    An answer, not an outage: the breaker does not count it."""


@dataclass(frozen=True)
class StayLimits:
    max_nights: int = 30
    horizon_days: int = 365
    max_guests: int = 8
    max_name_chars: int = 80

    @classmethod
    def from_policies(cls, policies) -> "StayLimits":
        """From a hotel's ``Policies`` (hotel.yml)."""
        return cls(max_nights=policies.max_nights, horizon_days=policies.booking_horizon_days,
                   max_guests=policies.max_guests_per_booking)


_NAME = re.compile(r"^[\w'.\- ]+$", re.UNICODE)  # letters, digits, space ' . - : no markup, no controls
_LETTER = re.compile(r"[^\W\d_]", re.UNICODE)
PAST_SLACK_DAYS = 1  # the hotel's "today" may be the guest's yesterday


def check_stay(checkin: date, checkout: date, guests: int, today: date, limits: StayLimits) -> None:
    """Raise InvalidStay unless the stay is bookable: checked before any per-night loop."""
    if not isinstance(checkin, date) or not isinstance(checkout, date):
        raise InvalidStay("check-in and check-out must be dates")
    if not isinstance(guests, int) or isinstance(guests, bool) or not 1 <= guests <= limits.max_guests:
        raise InvalidStay(f"guests must be 1..{limits.max_guests}, got {guests!r}")
    if checkout <= checkin:
        raise InvalidStay("check-out must be after check-in")
    if (checkin - today).days < -PAST_SLACK_DAYS:
        raise InvalidStay(f"check-in {checkin} is in the past")
    if (checkin - today).days > limits.horizon_days:
        raise InvalidStay(f"check-in {checkin} is more than {limits.horizon_days} days ahead")
    if (checkout - checkin).days > limits.max_nights:
        raise InvalidStay(f"more than {limits.max_nights} nights")


def check_guest_name(name: str, limits: StayLimits) -> None:
    text = name.strip() if isinstance(name, str) else ""
    if not len(text) <= limits.max_name_chars or not _NAME.match(text) or len(_LETTER.findall(text)) < 2:
        raise InvalidStay(f"the guest name must be at most {limits.max_name_chars} letters, digits, spaces, ' - .")


def check_booking_request(request: BookingRequest, today: date, limits: StayLimits) -> None:
    """Every field of a new booking, whatever the caller."""
    check_stay(request.checkin, request.checkout, request.guests, today, limits)
    check_guest_name(request.guest_name, limits)
    if len(request.contact) > 255 or len(request.request_id) > 64:
        raise InvalidStay("contact or request id too long")

