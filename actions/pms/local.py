"""Embedded PMS on SQLAlchemy (SQLite by default, any SQLAlchemy URL works).

It is the default backend, so the assistant runs with no outside system. The
first use creates the schema and seeds the demo hotel (``actions.pms.seed``).
Payments: the embedded PMS has no payment gateway, so a guest's payment notice
is accepted as payment (``auto_confirm_payments``); set it False to leave
bookings pending until staff confirm them.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import threading
from decimal import Decimal
from typing import Callable, Iterator

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    Time,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.orm import Session, declarative_base, sessionmaker

from actions.pms.base import (
    PMS,
    Availability,
    Booking,
    BookingNotFound,
    BookingRequest,
    BookingStatus,
    InvalidBookingState,
    NoAvailability,
    PMSUnavailable,
    RoomType,
    StayLimits,
    check_booking_request,
    check_stay,
    listed_bookings_limit,
)
from core.database import project_engine

logger = logging.getLogger(__name__)
Base = declarative_base()


class RoomTypeRow(Base):
    __tablename__ = "room_types"
    code = Column(String(20), primary_key=True)
    name_es = Column(String(80), nullable=False)
    name_en = Column(String(80), nullable=False)
    description_es = Column(Text, nullable=False)
    description_en = Column(Text, nullable=False)
    max_guests = Column(Integer, nullable=False)
    nightly_rate = Column(Numeric(10, 2), nullable=False)
    inventory = Column(Integer, nullable=False)
    photos = Column(Text, nullable=False, default="[]")  # JSON list of paths


class BookingRow(Base):
    __tablename__ = "bookings"
    reference = Column(String(16), primary_key=True)
    guest_name = Column(String(120), nullable=False)
    contact = Column(String(120), nullable=False, default="")
    room_type = Column(String(20), ForeignKey("room_types.code"), nullable=False, index=True)
    checkin = Column(Date, nullable=False, index=True)
    checkout = Column(Date, nullable=False, index=True)
    guests = Column(Integer, nullable=False)
    status = Column(String(20), nullable=False)
    nightly_rate = Column(Numeric(10, 2), nullable=False)
    total_price = Column(Numeric(10, 2), nullable=False)
    currency = Column(String(3), nullable=False)
    late_checkout_until = Column(Time, nullable=True)
    late_checkout_fee = Column(Numeric(10, 2), nullable=True)
    request_id = Column(String(64), nullable=True, unique=True, index=True)  # BookingRequest.request_id
    created_at = Column(DateTime, nullable=False, server_default=func.now())


REFERENCE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud or copied by hand
REFERENCE_LENGTH = 10  # 32**10 ~ 1e15: not walkable (the demo's BK + 6 digits were 900,000)


def new_reference() -> str:
    """'BK' + 10 random characters, e.g. 'BK7QK2M9XRTA'."""
    return "BK" + "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))


class LocalPMS(PMS):
    def __init__(
        self,
        database_url: str,
        *,
        media_base_url: str = "http://localhost:5055",
        currency: str = "EUR",
        auto_confirm_payments: bool = False,
        clock: Callable[[], dt.date] = dt.date.today,
        seed: bool = True,
        limits: StayLimits = StayLimits(),
    ) -> None:
        self._engine = project_engine(database_url)
        self._sessions = sessionmaker(self._engine, future=True, expire_on_commit=False)
        self._media_base_url = media_base_url.rstrip("/")
        self._currency = currency
        self._auto_confirm_payments = auto_confirm_payments
        self._clock = clock
        self._limits = limits
        # Serialise writers in-process; across processes sharing the database,
        # _write takes SQLite's write lock up front (BEGIN IMMEDIATE) and
        # create_booking locks the room type row (SELECT ... FOR UPDATE elsewhere).
        self._write_lock = threading.Lock()
        self._seed = seed
        self._set_up = False
        self._set_up_lock = threading.Lock()
        try:
            self._set_up_database()
        except Exception as exc:  # the database may be down while the action server starts
            logger.warning("embedded PMS database unavailable (%s); set up on first use", type(exc).__name__)

    def _set_up_database(self) -> None:
        """Schema, newer columns and the demo hotel; once, on the first database use."""
        with self._set_up_lock:
            if self._set_up:
                return
            Base.metadata.create_all(self._engine)
            self._add_request_id_column()
            if self._seed:
                from actions.pms.seed import seed_demo_hotel

                with self._sessions() as session:
                    seed_demo_hotel(session, today=self._clock())
            self._set_up = True

    def _add_request_id_column(self) -> None:
        """Databases created before request ids existed get the column and its unique index."""
        if "request_id" in {column["name"] for column in inspect(self._engine).get_columns("bookings")}:
            return
        with self._engine.begin() as connection:
            connection.execute(text("ALTER TABLE bookings ADD COLUMN request_id VARCHAR(64)"))
            connection.execute(text("CREATE UNIQUE INDEX IF NOT EXISTS ix_bookings_request_id ON bookings (request_id)"))

    # -- helpers ---------------------------------------------------------
    def _session(self) -> Session:
        if not self._set_up:
            self._set_up_database()
        return self._sessions()

    def _room_type(self, row: RoomTypeRow, language: str) -> RoomType:
        english = language == "en"
        return RoomType(
            code=row.code,
            name=row.name_en if english else row.name_es,
            description=row.description_en if english else row.description_es,
            max_guests=row.max_guests,
            nightly_rate=Decimal(row.nightly_rate),
            currency=self._currency,
            photos=tuple(f"{self._media_base_url}/{path}" for path in json.loads(row.photos)),
        )

    def _booking(self, row: BookingRow) -> Booking:
        return Booking(
            reference=row.reference,
            guest_name=row.guest_name,
            room_type=row.room_type,
            checkin=row.checkin,
            checkout=row.checkout,
            guests=row.guests,
            status=BookingStatus(row.status),
            nightly_rate=Decimal(row.nightly_rate),
            total_price=Decimal(row.total_price),
            currency=row.currency,
            late_checkout_until=row.late_checkout_until,
            late_checkout_fee=None if row.late_checkout_fee is None else Decimal(row.late_checkout_fee),
            contact=row.contact or "",
            made_by_assistant=bool(row.request_id),  # the assistant's bookings carry a request id
        )

    @staticmethod
    def _nights(checkin: dt.date, checkout: dt.date) -> Iterator[dt.date]:
        for offset in range((checkout - checkin).days):
            yield checkin + dt.timedelta(days=offset)

    def _rooms_left(
        self, session: Session, row: RoomTypeRow, checkin: dt.date, checkout: dt.date, exclude: str = ""
    ) -> int:
        overlapping = session.execute(
            select(BookingRow.checkin, BookingRow.checkout).where(
                BookingRow.room_type == row.code,
                BookingRow.status != BookingStatus.CANCELLED.value,
                BookingRow.checkin < checkout,
                BookingRow.checkout > checkin,
                BookingRow.reference != exclude,
            )
        ).all()
        busiest = max(
            (sum(1 for start, end in overlapping if start <= night < end) for night in self._nights(checkin, checkout)),
            default=0,
        )
        return row.inventory - busiest

    def _get_row(self, session: Session, reference: str) -> BookingRow:
        row = session.get(BookingRow, reference.upper().replace("-", "").replace(" ", ""))
        if row is None:
            raise BookingNotFound(reference)
        return row

    def _write(self, fn):
        try:
            with self._write_lock, self._session() as session, session.begin():
                if self._engine.dialect.name == "sqlite":
                    # Otherwise SQLite only locks at the INSERT, after availability was
                    # read: two processes could both book the last room.
                    session.execute(text("BEGIN IMMEDIATE"))
                return fn(session)
        except (BookingNotFound, NoAvailability, InvalidBookingState, ValueError):
            raise
        except Exception as exc:  # database down, disk full...
            raise PMSUnavailable(f"local PMS write failed: {type(exc).__name__}") from exc

    # -- PMS interface -----------------------------------------------------
    def list_room_types(self, language: str) -> list[RoomType]:
        with self._session() as session:
            rows = session.execute(select(RoomTypeRow).order_by(RoomTypeRow.nightly_rate)).scalars()
            return [self._room_type(row, language) for row in rows]

    def check_availability(self, checkin, checkout, guests, language) -> list[Availability]:
        check_stay(checkin, checkout, guests, self._clock(), self._limits)  # bounded before the per-night loop
        nights = (checkout - checkin).days
        with self._session() as session:
            rows = session.execute(
                select(RoomTypeRow).where(RoomTypeRow.max_guests >= guests).order_by(RoomTypeRow.nightly_rate)
            ).scalars()
            result = []
            for row in rows:
                left = self._rooms_left(session, row, checkin, checkout)
                if left > 0:
                    room = self._room_type(row, language)
                    result.append(Availability(room, left, nights, room.nightly_rate * nights))
            return result

    def create_booking(self, request: BookingRequest) -> Booking:
        check_booking_request(request, self._clock(), self._limits)

        def create(session: Session) -> Booking:
            if request.request_id:
                done = session.execute(
                    select(BookingRow).where(BookingRow.request_id == request.request_id)
                ).scalar_one_or_none()
                if done is not None:
                    return self._already_booked(done, request)
            room = session.get(RoomTypeRow, request.room_type, with_for_update=True)
            if room is None or room.max_guests < request.guests:
                raise NoAvailability(request.room_type)
            if self._rooms_left(session, room, request.checkin, request.checkout) <= 0:
                raise NoAvailability(request.room_type)
            nights = (request.checkout - request.checkin).days
            for _ in range(20):
                reference = new_reference()
                if session.get(BookingRow, reference) is None:
                    break
            row = BookingRow(
                reference=reference,
                guest_name=request.guest_name,
                contact=request.contact,
                room_type=room.code,
                checkin=request.checkin,
                checkout=request.checkout,
                guests=request.guests,
                status=BookingStatus.PENDING_PAYMENT.value,
                nightly_rate=room.nightly_rate,
                total_price=Decimal(room.nightly_rate) * nights,
                currency=self._currency,
                request_id=request.request_id or None,
            )
            session.add(row)
            session.flush()
            return self._booking(row)

        return self._write(create)

    def _already_booked(self, row: BookingRow, request: BookingRequest) -> Booking:
        same = (row.room_type, row.checkin, row.checkout) == (request.room_type, request.checkin, request.checkout)
        if not same:
            raise ValueError(f"request id {request.request_id!r} was already used for booking {row.reference}")
        return self._booking(row)

    def get_booking(self, reference: str) -> Booking:
        with self._session() as session:
            return self._booking(self._get_row(session, reference))

    def cancel_booking(self, reference: str) -> Booking:
        def cancel(session: Session) -> Booking:
            row = self._get_row(session, reference)
            if row.status == BookingStatus.CANCELLED.value:
                raise InvalidBookingState("already cancelled")
            if row.checkout <= self._clock():
                raise InvalidBookingState("stay already over")
            row.status = BookingStatus.CANCELLED.value
            return self._booking(row)

        return self._write(cancel)

    def confirm_payment(self, reference: str) -> Booking:
        def confirm(session: Session) -> Booking:
            row = self._get_row(session, reference)
            if row.status == BookingStatus.CANCELLED.value:
                raise InvalidBookingState("cancelled")
            if self._auto_confirm_payments:
                row.status = BookingStatus.CONFIRMED.value
            return self._booking(row)

        return self._write(confirm)

    def accept_payment(self, reference: str) -> Booking:
        """Reception checked the guest's payment (staff console, payment check
        approved): the booking is paid whatever ``auto_confirm_payments`` says.
        Raises BookingNotFound / InvalidBookingState (cancelled)."""
        def accept(session: Session) -> Booking:
            row = self._get_row(session, reference)
            if row.status == BookingStatus.CANCELLED.value:
                raise InvalidBookingState("cancelled")
            row.status = BookingStatus.CONFIRMED.value
            return self._booking(row)

        return self._write(accept)

    def list_bookings(self, checkout_from: dt.date, limit: int = 500) -> list[Booking]:
        with self._session() as session:
            rows = session.execute(
                select(BookingRow).where(BookingRow.checkout >= checkout_from)
                .order_by(BookingRow.reference).limit(listed_bookings_limit(limit))
            ).scalars().all()
            return [self._booking(row) for row in rows]

    def late_checkout_available(self, reference: str) -> bool:
        with self._session() as session:
            row = self._get_row(session, reference)
            if row.status == BookingStatus.CANCELLED.value or row.checkout < self._clock():
                return False
            room = session.get(RoomTypeRow, row.room_type)
            night_after = row.checkout + dt.timedelta(days=1)
            return self._rooms_left(session, room, row.checkout, night_after, exclude=row.reference) > 0

    def set_late_checkout(self, reference: str, until: dt.time, fee: Decimal) -> Booking:
        def apply(session: Session) -> Booking:
            row = self._get_row(session, reference)
            if row.status == BookingStatus.CANCELLED.value:
                raise InvalidBookingState("cancelled")
            if row.checkout < self._clock():
                raise InvalidBookingState("stay already over")
            row.late_checkout_until = until
            row.late_checkout_fee = fee
            return self._booking(row)

        return self._write(apply)
