"""PMS.list_bookings (the stay journey's read) on both backends, and the journey
reading a QloApps shop through it (QloApps' default behaviours on)."""
from __future__ import annotations

import asyncio
import datetime as dt
from datetime import date

import pytest
import yaml

from actions import config
from actions.booking_access import is_contact
from actions.pms import gateway
from actions.pms.base import (
    MAX_LISTED_BOOKINGS,
    PMS,
    BookingNotFound,
    BookingRequest,
    BookingStatus,
    InvalidBookingState,
    PMSError,
)
from actions.pms.breaker import build_breaker
from actions.pms.local import LocalPMS
from actions.pms.qloapps import QloAppsPMS
from actions.pms.qloapps import pms as qloapps_pms
from journey import config as journey_config
from journey.bookings import PMSBookingFeed
from journey.service import JourneyService
from tests.fakes.qloapps_server import FakeQloApps
from tests.stack_common import ROOT

API_KEY = "QLOKEY7H2M9X4P1Z8W5V3N6B0C2D4F6G"
ROOM_MAP = {"single": 11, "double": 12, "suite": 13, "family": 14}
PHONE = "+34600111222"
TODAY = date(2031, 5, 20)


@pytest.fixture
def server():
    fake = FakeQloApps(api_key=API_KEY).seed_demo().start()
    try:
        yield fake
    finally:
        fake.stop()


def make_pms(server: FakeQloApps, hotel_id: int = 1, **kwargs) -> QloAppsPMS:
    room_map = ROOM_MAP if hotel_id == 1 else {"double": 21}
    return QloAppsPMS(server.base_url, API_KEY, hotel_id, room_type_map=room_map, timeout=2.0,
                      clock=lambda: TODAY, catalog_ttl=0, **kwargs)


def book(pms, checkin: date, nights: int = 2, room_type: str = "double", guests: int = 2, contact: str = "",
         request_id: str = "", name: str = "Ana García"):
    return pms.create_booking(BookingRequest(name, room_type, checkin, checkin + dt.timedelta(days=nights), guests,
                                             contact, phone=PHONE, request_id=request_id))


def back_office_booking(pms: QloAppsPMS, checkin: date, email: str = "walk.in@example.com") -> int:
    """An order reception made in QloApps itself (no assistant remark)."""
    body = {"booking": {
        "id_property": 1, "currency": "EUR", "booking_status": 1, "payment_status": 3, "source": "Front desk",
        "associations": {
            "customer_detail": {"firstname": "Walk", "lastname": "In", "email": email, "phone": "+44 7700 900123"},
            "room_types": [{"id_room_type": 11, "checkin_date": checkin.isoformat(),
                            "checkout_date": (checkin + dt.timedelta(days=1)).isoformat(), "number_of_rooms": 1,
                            "rooms": [{"adults": 1, "adult": 1, "child": 0}]}],
        },
    }}
    return int(pms._request("POST", "bookings", json_body=body)["booking"]["id"])


# -- QloApps ------------------------------------------------------------------------------
def test_qloapps_lists_this_hotels_bookings_ending_from_the_date(server):
    pms, other = make_pms(server), make_pms(server, hotel_id=2)
    try:
        past = book(pms, date(2031, 5, 1), request_id="r-past")
        current = book(pms, date(2031, 6, 1), contact="ana@example.com", request_id="r-1")
        cancelled = book(pms, date(2031, 6, 10), request_id="r-2")
        pms.cancel_booking(cancelled.reference)
        paid = book(pms, date(2031, 6, 20), room_type="family", guests=4, request_id="r-3")
        server.mark_paid(int(paid.reference[2:]))
        walk_in = back_office_booking(pms, date(2031, 7, 1))
        other_hotel = book(other, date(2031, 6, 1), request_id="r-other")

        listed = {b.reference: b for b in pms.list_bookings(date(2031, 5, 20))}
    finally:
        pms.close()
        other.close()
    assert past.reference not in listed and other_hotel.reference not in listed
    assert set(listed) == {current.reference, cancelled.reference, paid.reference, f"BK{walk_in:06d}"}
    assert listed[cancelled.reference].status is BookingStatus.CANCELLED
    assert listed[paid.reference].status is BookingStatus.CONFIRMED
    assert listed[paid.reference].room_type == "family" and listed[paid.reference].guests == 4
    assert listed[current.reference].made_by_assistant and not listed[f"BK{walk_in:06d}"].made_by_assistant


def test_qloapps_listing_reads_bounded_pages_and_stops_at_the_limit(server, monkeypatch):
    monkeypatch.setattr(qloapps_pms, "LIST_PAGE", 2)
    pms = make_pms(server)
    try:
        made = [book(pms, date(2031, 6, 1) + dt.timedelta(days=3 * i), request_id=f"r-{i}") for i in range(5)]
        server.requests.clear()
        everything = pms.list_bookings(date(2031, 5, 20))
        pages = [call.query.get("limit") for call in server.calls("GET", "orders") if call.resource == "orders"]
        server.requests.clear()
        newest = pms.list_bookings(date(2031, 5, 20), limit=3)
        read = server.calls("GET", "bookings")
        huge = pms.list_bookings(date(2031, 5, 20), limit=10**9)  # clamped, not a billion requests
    finally:
        pms.close()
    assert {b.reference for b in everything} == {b.reference for b in made}
    assert pages == ["0,2", "2,2", "4,2"]  # the short third page ends the listing
    assert {b.reference for b in newest} == {b.reference for b in made[-3:]}
    assert len(read) == 3  # orders past the limit are not loaded
    assert len(huge) == 5 and MAX_LISTED_BOOKINGS < 10**9


# -- LocalPMS -----------------------------------------------------------------------------
def test_local_lists_bookings_ending_from_the_date_bounded(tmp_path):
    pms = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: date(2031, 5, 1))
    # the demo bookings: BK100001 ends on 3 May, BK100002 on 18 May
    early = book(pms, date(2031, 5, 2), nights=1)
    later = book(pms, date(2031, 6, 1), contact="ana@example.com", request_id="r-1")
    assert [b.reference for b in pms.list_bookings(date(2031, 5, 10))] == sorted(["BK100002", later.reference])
    every = pms.list_bookings(date(2031, 5, 1))
    assert {b.reference for b in every} == {"BK100001", "BK100002", early.reference, later.reference}
    assert len(pms.list_bookings(date(2031, 5, 1), limit=1)) == 1
    made = {b.reference: b.made_by_assistant for b in every}
    assert made[later.reference] and not made[early.reference] and not made["BK100002"]


# -- the journey on QloApps -----------------------------------------------------------------
def use_qloapps_hotel(tmp_path, monkeypatch, server: FakeQloApps) -> None:
    raw = yaml.safe_load((ROOT / "hotel.yml").read_text(encoding="utf-8"))
    raw["journey"]["enabled"] = True
    raw.pop("pms", None)
    path = tmp_path / "hotel.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("HOTEL_CONFIG", str(path))
    monkeypatch.setenv("PMS_BACKEND", "qloapps")
    monkeypatch.setenv("QLOAPPS_URL", server.base_url)
    monkeypatch.setenv("QLOAPPS_API_KEY", API_KEY)
    monkeypatch.setenv("QLOAPPS_HOTEL_ID", "1")
    monkeypatch.setenv("QLOAPPS_ROOM_TYPES", ",".join(f"{k}={v}" for k, v in ROOM_MAP.items()))
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", f"sqlite:///{tmp_path / 'assistant.sqlite3'}")
    monkeypatch.setenv("JOURNEY_TICK_SECONDS", "3600")
    for cached in (config.settings, config.hotels, journey_config.journeys):
        cached.cache_clear()
    gateway.use_gateway(None)


def teardown_function():
    for cached in (config.settings, config.hotels, journey_config.journeys):
        cached.cache_clear()
    gateway.use_gateway(None)


async def test_the_journey_plans_the_steps_of_a_qloapps_booking(tmp_path, monkeypatch, server):
    use_qloapps_hotel(tmp_path, monkeypatch, server)
    pms = make_pms(server)
    try:
        booking = book(pms, dt.date.today() + dt.timedelta(days=5), contact="+34 600 111 222", request_id="r-j")
    finally:
        pms.close()
    service = JourneyService.from_env()  # refused to start with PMS_BACKEND=qloapps before
    assert isinstance(service.runner.pms, QloAppsPMS)
    report = await service.runner.tick()
    await asyncio.sleep(0)
    rows = service.runner.store.rows_for(config.hotel().id, [booking.reference])
    assert report.added >= 1 and rows
    assert server.calls("GET", "orders")


# -- Booking.contact from the QloApps customer ----------------------------------------------
def test_a_whatsapp_guest_who_booked_in_qloapps_owns_the_booking(server):
    pms = make_pms(server)
    try:
        booking = book(pms, date(2031, 6, 1), contact="34600111222@106540352242922")
        walk_in = pms.get_booking(f"BK{back_office_booking(pms, date(2031, 6, 5)):06d}")
        read = pms.get_booking(booking.reference)
    finally:
        pms.close()
    assert booking.contact == read.contact == PHONE  # the customer's phone, not the placeholder e-mail
    assert is_contact(read, "34600111222@999")  # the guest writing on WhatsApp: no second factor
    assert not is_contact(read, "34600999999@999")
    assert walk_in.contact == "+44 7700 900123" and is_contact(walk_in, "447700900123@999")
    assert not walk_in.made_by_assistant


def test_the_reception_fallback_phone_and_placeholder_emails_name_nobody(server):
    pms = make_pms(server, fallback_phone="+34 956 000 000")
    try:
        by_mail = pms.create_booking(BookingRequest("Ana García", "double", date(2031, 6, 1), date(2031, 6, 3), 2,
                                                    "ana@example.com"))
        by_chat = pms.create_booking(BookingRequest("Bob Stone", "double", date(2031, 6, 10), date(2031, 6, 12), 2,
                                                    "web-chat-7f3a"))
        sent = server.customers[server.orders[int(by_mail.reference[2:])].id_customer]
    finally:
        pms.close()
    assert sent["phone"] == "+34 956 000 000"  # QloApps got reception's number...
    assert by_mail.contact == "ana@example.com" and is_contact(by_mail, "ana@example.com")  # ...it is not the owner
    assert by_chat.contact == ""  # guest-<hash>@guest-assistant.invalid is nobody's address
    assert not is_contact(by_chat, "34956000000@999")


@pytest.mark.parametrize("field_name, value", [("phone", "call reception"), ("email", "ana at example")])
def test_a_malformed_customer_contact_raises(server, field_name, value):
    pms = make_pms(server)
    try:
        booking = book(pms, date(2031, 6, 1), contact="ana@example.com")
        server.customers[server.orders[int(booking.reference[2:])].id_customer][field_name] = value
        with pytest.raises(PMSError, match="malformed"):
            pms.get_booking(booking.reference)
    finally:
        pms.close()


def test_the_journey_language_follows_the_qloapps_customers_phone(server):
    pms = make_pms(server)
    try:
        walk_in = back_office_booking(pms, date(2031, 6, 5))
        spanish = book(pms, date(2031, 6, 1))
        gw = gateway.PMSGateway(pms, build_breaker())
        feed = {b.reference: b for b in PMSBookingFeed(lambda _hotel: gw, "es").bookings("h", date(2031, 5, 20))}
    finally:
        pms.close()
    assert feed[f"BK{walk_in:06d}"].language == "en" and feed[f"BK{walk_in:06d}"].contact == "+44 7700 900123"
    assert feed[spanish.reference].language == "es" and feed[spanish.reference].from_chat
    assert not feed[f"BK{walk_in:06d}"].from_chat


# -- accept_payment (staff console's payment-check Approve) ------------------------------------
def test_accept_payment_moves_the_order_to_payment_accepted_through_order_histories(server):
    pms = make_pms(server)
    try:
        booking = book(pms, date(2031, 6, 1))
        order = server.orders[int(booking.reference[2:])]
        server.add_services_to_order(order.id, 2)  # reception added breakfast in QloApps
        with_breakfast = pms.get_booking(booking.reference)
        server.requests.clear()
        paid = pms.accept_payment(booking.reference)
        again = pms.accept_payment(booking.reference)
        writes = [call for call in server.requests if call.method in ("POST", "PUT")]
    finally:
        pms.close()
    assert paid.status is BookingStatus.CONFIRMED and paid.is_paid and again.is_paid
    assert order.current_state == 2 and order.history == [2]  # PS_OS_PAYMENT_ACCEPTED, once
    assert order.total_paid_real == order.total_incl
    assert [(call.method, call.resource) for call in writes] == [("POST", "order_histories")]  # no PUT bookings
    assert b"<id_order_state>2</id_order_state>" in writes[0].body
    assert [s["id_service"] for room in order.rooms for s in room["services"]] == [2]  # breakfast kept
    assert paid.total_price == with_breakfast.total_price


def test_accept_payment_refuses_a_cancelled_booking(server):
    pms = make_pms(server)
    try:
        booking = book(pms, date(2031, 6, 1))
        pms.cancel_booking(booking.reference)
        server.requests.clear()
        with pytest.raises(InvalidBookingState):
            pms.accept_payment(booking.reference)
        with pytest.raises(BookingNotFound):
            pms.accept_payment("BK999999")
    finally:
        pms.close()
    assert not server.calls("POST", "order_histories")


def test_accept_payment_is_on_the_protocol_of_both_backends(tmp_path):
    assert "accept_payment" in PMS.__dict__ and "list_bookings" in PMS.__dict__
    local = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: date(2031, 5, 1))
    assert local.accept_payment("BK100002").is_paid
    assert QloAppsPMS.accept_payment is not PMS.accept_payment


def test_a_qloapps_room_with_children_makes_a_family_party(server):
    pms = make_pms(server)
    try:
        body = {"booking": {
            "id_property": 1, "currency": "EUR", "booking_status": 1, "payment_status": 3, "source": "Website",
            "associations": {
                "customer_detail": {"firstname": "Eva", "lastname": "Ruiz", "email": "eva@example.com",
                                    "phone": "+34 611 222 333"},
                "room_types": [{"id_room_type": 13, "checkin_date": "2031-06-01", "checkout_date": "2031-06-03",
                                "number_of_rooms": 1, "rooms": [{"adults": 1, "adult": 1, "child": 1}]}],
            },
        }}
        mother_and_child = int(pms._request("POST", "bookings", json_body=body)["booking"]["id"])
        couple = book(pms, date(2031, 6, 5))
        gw = gateway.PMSGateway(pms, build_breaker())
        feed = {b.reference: b for b in PMSBookingFeed(lambda _hotel: gw, "es").bookings("h", date(2031, 5, 20))}
    finally:
        pms.close()
    family = feed[f"BK{mother_and_child:06d}"]
    assert family.guests == 2 and family.party == "family"  # two guests alone would read as a couple
    assert feed[couple.reference].party == "couple"
