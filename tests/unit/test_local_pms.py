"""The embedded PMS on a real SQLite file: availability, bookings, cancellation,
payments, late checkout and concurrent bookings."""
from __future__ import annotations

import datetime as dt
import re
import threading
from collections import Counter
from decimal import Decimal

import pytest
from sqlalchemy.exc import OperationalError

from actions.pms.base import (
    PMS,
    BookingNotFound,
    BookingRequest,
    BookingStatus,
    InvalidBookingState,
    NoAvailability,
)
from actions.pms.local import LocalPMS
from tests.conftest import TODAY

INVENTORY = {"single": 4, "double": 8, "family": 3, "suite": 2}
RATES = {"single": Decimal("70.00"), "double": Decimal("95.00"), "family": Decimal("140.00"), "suite": Decimal("180.00")}
D = dt.date


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def request(room_type="double", checkin=D(2026, 12, 1), checkout=D(2026, 12, 3), guests=2, name="Ana López") -> BookingRequest:
    return BookingRequest(guest_name=name, room_type=room_type, checkin=checkin, checkout=checkout, guests=guests, contact="guest-1")


def left(pms: LocalPMS, room_type: str, checkin, checkout, guests=1) -> int:
    for option in pms.check_availability(checkin, checkout, guests, "es"):
        if option.room_type.code == room_type:
            return option.rooms_left
    return 0


def fill(pms: LocalPMS, room_type: str, checkin, checkout, count: int):
    return [pms.create_booking(request(room_type, checkin, checkout, guests=1, name=f"Guest {i}")) for i in range(count)]


@pytest.fixture
def clock():
    """A clock the test can move: ``clock.today = ...``."""

    class Clock:
        today = TODAY

        def __call__(self):
            return self.today

    return Clock()


@pytest.fixture
def moving_pms(tmp_path, clock) -> LocalPMS:
    return LocalPMS(f"sqlite:///{tmp_path / 'moving.sqlite3'}", clock=clock, media_base_url="http://media.test")


# --- room types and availability ---------------------------------------------------
def test_is_a_pms(pms):
    assert isinstance(pms, PMS)


def test_room_types_are_localised_with_absolute_photo_urls(pms):
    spanish = pms.list_room_types("es")
    english = pms.list_room_types("en")
    assert [r.code for r in spanish] == ["single", "double", "family", "suite"]  # by price
    assert {r.code: r.name for r in english}["suite"] == "Sea-view suite"
    assert {r.code: r.name for r in spanish}["suite"] == "Suite con vistas al mar"
    assert {r.code: r.nightly_rate for r in spanish} == RATES
    double = next(r for r in spanish if r.code == "double")
    assert double.max_guests == 2 and double.currency == "EUR"
    assert double.photos == ("http://media.test/static/rooms/double-1.jpg", "http://media.test/static/rooms/double-2.jpg")


def test_availability_counts_and_prices(pms):
    # Dec 1-4: nothing booked
    options = pms.check_availability(D(2026, 12, 1), D(2026, 12, 4), 1, "es")
    assert [(o.room_type.code, o.rooms_left, o.nights, o.total_price) for o in options] == [
        ("single", 4, 3, Decimal("210.00")),
        ("double", 8, 3, Decimal("285.00")),
        ("family", 3, 3, Decimal("420.00")),
        ("suite", 2, 3, Decimal("540.00")),
    ]


def test_availability_counts_the_demo_bookings(pms):
    # BK100001 (double) is in house until TODAY+2
    assert left(pms, "double", TODAY, days(1)) == 7
    assert left(pms, "double", days(2), days(3)) == 8  # its checkout day is free
    # BK100002 (suite) TODAY+14..+17
    assert left(pms, "suite", days(14), days(17)) == 1
    assert left(pms, "suite", days(16), days(20)) == 1  # partial overlap
    assert left(pms, "suite", days(17), days(20)) == 2
    assert left(pms, "suite", days(10), days(14)) == 2


def test_capacity_filter(pms):
    def codes(guests):
        return [o.room_type.code for o in pms.check_availability(D(2026, 12, 1), D(2026, 12, 2), guests, "en")]

    assert codes(1) == ["single", "double", "family", "suite"]
    assert codes(2) == ["double", "family", "suite"]
    assert codes(3) == ["family", "suite"]
    assert codes(4) == ["family"]
    assert codes(5) == []


def test_checkout_must_follow_checkin(pms):
    with pytest.raises(ValueError):
        pms.check_availability(D(2026, 12, 5), D(2026, 12, 5), 1, "es")
    with pytest.raises(ValueError):
        pms.check_availability(D(2026, 12, 5), D(2026, 12, 4), 1, "es")


# --- bookings ---------------------------------------------------------------------------
def test_create_booking(pms):
    booking = pms.create_booking(request("family", D(2026, 12, 1), D(2026, 12, 4), guests=4, name="Familia Ruiz"))
    assert re.fullmatch(r"BK[A-HJ-NP-Z2-9]{10}", booking.reference)  # long random references (issue #9)
    assert booking.status is BookingStatus.PENDING_PAYMENT and not booking.is_paid
    assert booking.nights == 3
    assert booking.nightly_rate == Decimal("140.00")
    assert booking.total_price == Decimal("420.00")
    assert booking.currency == "EUR"
    stored = pms.get_booking(booking.reference)
    assert stored == booking
    assert stored.guest_name == "Familia Ruiz" and stored.guests == 4


def test_booking_reduces_availability_only_on_its_nights(pms):
    pms.create_booking(request("family", D(2026, 12, 1), D(2026, 12, 4), guests=3))
    assert left(pms, "family", D(2026, 12, 1), D(2026, 12, 4)) == 2
    assert left(pms, "family", D(2026, 12, 3), D(2026, 12, 6)) == 2
    assert left(pms, "family", D(2026, 12, 4), D(2026, 12, 6)) == 3
    assert left(pms, "family", D(2026, 11, 28), D(2026, 12, 1)) == 3
    assert left(pms, "double", D(2026, 12, 1), D(2026, 12, 4)) == 8  # other types untouched


def test_no_availability_when_full(pms):
    fill(pms, "suite", D(2026, 12, 1), D(2026, 12, 3), 2)
    assert left(pms, "suite", D(2026, 12, 1), D(2026, 12, 3)) == 0
    assert "suite" not in [o.room_type.code for o in pms.check_availability(D(2026, 12, 1), D(2026, 12, 3), 1, "es")]
    with pytest.raises(NoAvailability):
        pms.create_booking(request("suite", D(2026, 12, 2), D(2026, 12, 5)))
    # the night after is free again
    assert pms.create_booking(request("suite", D(2026, 12, 3), D(2026, 12, 5))).room_type == "suite"


def test_whole_inventory_can_be_booked_and_no_more(pms):
    checkin, checkout = D(2027, 1, 10), D(2027, 1, 12)
    for code, count in INVENTORY.items():
        fill(pms, code, checkin, checkout, count)
        with pytest.raises(NoAvailability):
            pms.create_booking(request(code, checkin, checkout, guests=1))
    assert pms.check_availability(checkin, checkout, 1, "es") == []


def test_room_too_small_or_unknown_is_no_availability(pms):
    with pytest.raises(NoAvailability):
        pms.create_booking(request("single", guests=2))
    with pytest.raises(NoAvailability):
        pms.create_booking(request("penthouse"))


def test_get_booking_normalises_the_reference(pms):
    for reference in ("BK100001", "bk100001", "bk-100001", "BK 100001"):
        assert pms.get_booking(reference).guest_name == "Lucía Fernández"
    with pytest.raises(BookingNotFound):
        pms.get_booking("BK999999")


# --- cancellation ---------------------------------------------------------------------------
def test_cancel_then_cancel_again(pms):
    cancelled = pms.cancel_booking("BK100002")
    assert cancelled.status is BookingStatus.CANCELLED
    assert pms.get_booking("BK100002").status is BookingStatus.CANCELLED
    with pytest.raises(InvalidBookingState):
        pms.cancel_booking("BK100002")
    with pytest.raises(BookingNotFound):
        pms.cancel_booking("BK999999")


def test_cancelling_frees_the_room(pms):
    bookings = fill(pms, "suite", D(2026, 12, 1), D(2026, 12, 3), 2)
    pms.cancel_booking(bookings[0].reference)
    assert left(pms, "suite", D(2026, 12, 1), D(2026, 12, 3)) == 1
    assert pms.create_booking(request("suite", D(2026, 12, 1), D(2026, 12, 3))).status is BookingStatus.PENDING_PAYMENT


def test_past_stay_cannot_be_cancelled(moving_pms, clock):
    booking = moving_pms.create_booking(request("double", D(2026, 12, 1), D(2026, 12, 3)))
    clock.today = D(2026, 12, 3)  # checkout day: the stay is over
    with pytest.raises(InvalidBookingState):
        moving_pms.cancel_booking(booking.reference)
    clock.today = D(2026, 12, 10)
    with pytest.raises(InvalidBookingState):
        moving_pms.cancel_booking(booking.reference)
    assert moving_pms.get_booking(booking.reference).status is BookingStatus.PENDING_PAYMENT


def test_stay_in_progress_can_be_cancelled(pms):
    assert pms.cancel_booking("BK100001").status is BookingStatus.CANCELLED  # checkout TODAY+2


# --- payments -----------------------------------------------------------------------------
def test_confirm_payment_auto_confirms_only_in_the_demo_setting(tmp_path):
    pms = LocalPMS(f"sqlite:///{tmp_path / 'demo.sqlite3'}", clock=lambda: TODAY, auto_confirm_payments=True)
    booking = pms.confirm_payment("BK100002")
    assert booking.status is BookingStatus.CONFIRMED and booking.is_paid
    assert pms.get_booking("BK100002").is_paid


def test_confirm_payment_by_default_stays_pending(pms):
    """Issue #9: a guest's "I paid" is a notice; staff confirm the payment."""
    booking = pms.confirm_payment("BK100002")
    assert booking.status is BookingStatus.PENDING_PAYMENT
    assert not pms.get_booking("BK100002").is_paid
    assert pms.confirm_payment("BK100001").is_paid  # already paid stays paid


def test_cancelled_booking_cannot_be_paid(pms):
    pms.cancel_booking("BK100002")
    with pytest.raises(InvalidBookingState):
        pms.confirm_payment("BK100002")
    with pytest.raises(BookingNotFound):
        pms.confirm_payment("BK999999")


# --- late checkout ------------------------------------------------------------------------------
def test_late_checkout_available_until_the_type_is_full_on_the_checkout_night(pms):
    checkout = days(2)  # BK100001, double
    assert pms.late_checkout_available("BK100001")
    fill(pms, "double", checkout, checkout + dt.timedelta(days=1), INVENTORY["double"] - 1)
    assert pms.late_checkout_available("BK100001")  # one double still free that night
    fill(pms, "double", checkout, checkout + dt.timedelta(days=2), 1)
    assert not pms.late_checkout_available("BK100001")


def test_late_checkout_ignores_other_room_types_and_other_nights(pms):
    checkout = days(2)
    fill(pms, "suite", checkout, checkout + dt.timedelta(days=1), INVENTORY["suite"])
    fill(pms, "double", checkout + dt.timedelta(days=1), checkout + dt.timedelta(days=2), INVENTORY["double"])
    assert pms.late_checkout_available("BK100001")


def test_late_checkout_not_for_cancelled_or_past_bookings(moving_pms, clock):
    moving_pms.cancel_booking("BK100002")
    assert not moving_pms.late_checkout_available("BK100002")
    assert moving_pms.late_checkout_available("BK100001")
    clock.today = days(2)  # checkout day itself: still possible
    assert moving_pms.late_checkout_available("BK100001")
    clock.today = days(3)
    assert not moving_pms.late_checkout_available("BK100001")
    with pytest.raises(InvalidBookingState):
        moving_pms.set_late_checkout("BK100001", dt.time(15), Decimal("47.50"))
    with pytest.raises(BookingNotFound):
        moving_pms.late_checkout_available("BK999999")


def test_set_late_checkout_persists(pms, tmp_path):
    updated = pms.set_late_checkout("bk-100001", dt.time(15, 0), Decimal("47.50"))
    assert updated.late_checkout_until == dt.time(15, 0)
    assert updated.late_checkout_fee == Decimal("47.50")
    # a fresh instance on the same database sees it
    reopened = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: TODAY)
    stored = reopened.get_booking("BK100001")
    assert (stored.late_checkout_until, stored.late_checkout_fee) == (dt.time(15, 0), Decimal("47.50"))
    assert stored.status is BookingStatus.CONFIRMED  # nothing else changed


def test_late_checkout_not_written_to_a_cancelled_booking(pms):
    pms.cancel_booking("BK100002")
    with pytest.raises(InvalidBookingState):
        pms.set_late_checkout("BK100002", dt.time(15), Decimal("90.00"))
    assert pms.get_booking("BK100002").late_checkout_fee is None


# --- seeding ---------------------------------------------------------------------------------------
def test_seeding_is_idempotent_and_never_overwrites(pms, tmp_path):
    pms.cancel_booking("BK100002")
    reopened = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: TODAY + dt.timedelta(days=30))
    assert reopened.get_booking("BK100002").status is BookingStatus.CANCELLED
    assert reopened.get_booking("BK100002").checkin == days(14)  # not re-seeded with the new clock
    assert len(reopened.list_room_types("es")) == 4


def test_unseeded_database_has_no_rooms(tmp_path):
    empty = LocalPMS(f"sqlite:///{tmp_path / 'empty.sqlite3'}", seed=False)
    assert empty.list_room_types("es") == []
    with pytest.raises(BookingNotFound):
        empty.get_booking("BK100001")


# --- concurrency ------------------------------------------------------------------------------------
def race(instances: list[LocalPMS], requests: list[BookingRequest]) -> tuple[Counter, list]:
    """Every request in its own thread, released together; instances[i % n] books it."""
    barrier = threading.Barrier(len(requests))
    outcomes: Counter = Counter()
    booked: list = []
    lock = threading.Lock()

    def book(index, req):
        barrier.wait()
        try:
            booking = instances[index % len(instances)].create_booking(req)
            result = "booked"
        except NoAvailability:
            booking, result = None, "full"
        except Exception as exc:  # anything else fails the test
            booking, result = None, f"error: {exc!r}"
        with lock:
            outcomes[result] += 1
            if booking:
                booked.append(booking)

    threads = [threading.Thread(target=book, args=(i, req)) for i, req in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads)
    return outcomes, booked


def occupancy(pms: LocalPMS, references, room_type: str, night: dt.date) -> int:
    """Rooms of ``room_type`` taken on ``night`` by the given bookings, as stored."""
    stored = [pms.get_booking(ref) for ref in references]
    return sum(
        1 for b in stored
        if b.room_type == room_type and b.status is not BookingStatus.CANCELLED and b.checkin <= night < b.checkout
    )


def test_threads_racing_for_the_last_rooms_never_overbook(pms):
    checkin, checkout = D(2026, 12, 1), D(2026, 12, 3)
    earlier = fill(pms, "double", checkin, checkout, INVENTORY["double"] - 2)  # 2 doubles left
    outcomes, booked = race([pms], [request("double", checkin, checkout, name=f"Racer {i}") for i in range(8)])
    assert outcomes == Counter(booked=2, full=6)
    references = [b.reference for b in earlier + booked]
    assert len(set(references)) == len(references)
    for night in (checkin, checkin + dt.timedelta(days=1)):
        assert occupancy(pms, references, "double", night) == INVENTORY["double"]
    assert left(pms, "double", checkin, checkout) == 0


def test_threads_racing_with_overlapping_stays_never_overbook(pms):
    # suite: 2 rooms; BK100002 holds one on TODAY+14..+17; every stay below needs night TODAY+15.
    stays = [(days(13), days(16)), (days(15), days(16)), (days(14), days(18)), (days(15), days(20))] * 2
    outcomes, booked = race([pms], [request("suite", a, b, name=f"Racer {i}") for i, (a, b) in enumerate(stays)])
    assert outcomes == Counter(booked=1, full=7)
    references = ["BK100002"] + [b.reference for b in booked]
    for offset in range(12, 21):
        assert occupancy(pms, references, "suite", days(offset)) <= INVENTORY["suite"]


def test_separate_instances_on_one_database_never_overbook(tmp_path):
    """Like several action-server processes sharing the PMS database: the
    in-process lock does not help there, the database lock must."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first = LocalPMS(url, clock=lambda: TODAY)
    checkin, checkout = D(2026, 12, 1), D(2026, 12, 3)
    earlier = fill(first, "family", checkin, checkout, INVENTORY["family"] - 1)  # 1 family room left
    instances = [LocalPMS(url, clock=lambda: TODAY) for _ in range(6)]
    outcomes, booked = race(instances, [request("family", checkin, checkout, name=f"Racer {i}") for i in range(6)])
    assert outcomes == Counter(booked=1, full=5)
    references = [b.reference for b in earlier + booked]
    assert occupancy(first, references, "family", checkin) == INVENTORY["family"]


# --- request ids: a retried booking is not made twice ---------------------------------------
def with_id(request_id: str, **kwargs) -> BookingRequest:
    from dataclasses import replace

    return replace(request(**kwargs), request_id=request_id)


def test_same_request_id_returns_the_first_booking(pms):
    first = pms.create_booking(with_id("r-1", room_type="suite"))
    left_after_first = left(pms, "suite", D(2026, 12, 1), D(2026, 12, 3))
    again = pms.create_booking(with_id("r-1", room_type="suite"))
    assert again == first
    assert left(pms, "suite", D(2026, 12, 1), D(2026, 12, 3)) == left_after_first


def test_the_last_room_booked_by_the_first_attempt_is_still_returned(pms):
    fill(pms, "suite", D(2026, 12, 1), D(2026, 12, 3), left(pms, "suite", D(2026, 12, 1), D(2026, 12, 3)) - 1)
    last = pms.create_booking(with_id("r-last", room_type="suite"))
    assert pms.create_booking(with_id("r-last", room_type="suite")) == last  # not NoAvailability


def test_a_request_id_reused_for_another_stay_is_refused(pms):
    pms.create_booking(with_id("r-2"))
    with pytest.raises(ValueError, match="already used"):
        pms.create_booking(with_id("r-2", checkin=D(2026, 12, 10), checkout=D(2026, 12, 12)))


def test_bookings_without_request_id_are_independent(pms):
    assert pms.create_booking(request()).reference != pms.create_booking(request()).reference


def test_same_request_id_from_two_processes_books_once(tmp_path):
    """Two PMS objects on one database file stand for two action-server processes."""
    url = f"sqlite:///{tmp_path / 'shared.sqlite3'}"
    first, second = LocalPMS(url, clock=lambda: TODAY), LocalPMS(url, clock=lambda: TODAY, seed=False)
    results = []
    threads = [threading.Thread(target=lambda p=p: results.append(p.create_booking(with_id("r-3"))))
               for p in (first, second, first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({booking.reference for booking in results}) == 1


def test_an_older_database_gets_the_request_id_column(tmp_path):
    import sqlite3

    path = tmp_path / "old.sqlite3"
    LocalPMS(f"sqlite:///{path}", clock=lambda: TODAY)
    with sqlite3.connect(path) as db:  # back to the schema of the first release
        db.execute("DROP INDEX ix_bookings_request_id")
        db.execute("ALTER TABLE bookings DROP COLUMN request_id")
    pms = LocalPMS(f"sqlite:///{path}", clock=lambda: TODAY)
    assert pms.get_booking("BK100001").reference == "BK100001"
    first = pms.create_booking(with_id("r-4"))
    assert pms.create_booking(with_id("r-4")) == first
    with sqlite3.connect(path) as db:
        indexes = {row[1]: row[2] for row in db.execute("PRAGMA index_list(bookings)")}
    assert indexes.get("ix_bookings_request_id") == 1  # unique


def test_database_down_at_start_is_set_up_when_it_comes_back(tmp_path):
    """The action server may start before its PMS database answers."""
    path = tmp_path / "late.sqlite3"
    path.mkdir()  # a directory where the database file should be: unusable
    pms = LocalPMS(f"sqlite:///{path}", clock=lambda: TODAY)
    with pytest.raises(OperationalError):  # the gateway turns it into PMSUnavailable
        pms.get_booking("BK100001")
    path.rmdir()
    assert pms.get_booking("BK100001").guest_name == "Lucía Fernández"
    assert pms.create_booking(request()).status is BookingStatus.PENDING_PAYMENT
