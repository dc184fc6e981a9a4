"""QloAppsPMS against a fake QloApps webservice running on 127.0.0.1."""
from __future__ import annotations

import base64
import logging
import socket
import traceback
import xml.etree.ElementTree as ET
from datetime import date, time
from decimal import Decimal

import pytest
import requests

from actions.pms.base import (
    PMS,
    BookingNotFound,
    BookingRequest,
    BookingStatus,
    InvalidBookingState,
    NoAvailability,
    PMSError,
    PMSUnavailable,
)
from actions.pms.qloapps import QloAppsPMS, format_reference, parse_reference
from tests.fakes.qloapps_server import (
    CUSTOM_STATES,
    FakeQloApps,
)

STATE_CANCELED = CUSTOM_STATES["PS_OS_CANCELED"]
STATE_PAYMENT_ACCEPTED = CUSTOM_STATES["PS_OS_PAYMENT_ACCEPTED"]
STATE_REFUND = CUSTOM_STATES["PS_OS_REFUND"]
# QloApps' defaults (Behaviour()), with renumbered order states so the client must read them.

API_KEY = "QLOKEY7H2M9X4P1Z8W5V3N6B0C2D4F6G"
TODAY = date(2031, 5, 20)
IN = date(2031, 6, 1)
OUT = date(2031, 6, 3)
ROOM_MAP = {"single": 11, "double": 12, "suite": 13, "family": 14}
PHONE = "+34600111222"  # QloApps needs one (docs/qloapps.md point 1)


@pytest.fixture
def server():
    fake = FakeQloApps(api_key=API_KEY, order_states=CUSTOM_STATES).seed_demo().start()
    try:
        yield fake
    finally:
        fake.stop()


def make_pms(server: FakeQloApps, **kwargs) -> QloAppsPMS:
    options = {
        "room_type_map": ROOM_MAP,
        "timeout": 2.0,
        "clock": lambda: TODAY,
        "catalog_ttl": 0,
    }
    options.update(kwargs)
    return QloAppsPMS(server.base_url, options.pop("api_key", API_KEY), 1, **options)


@pytest.fixture
def pms(server):
    client = make_pms(server)
    yield client
    client.close()


def book(pms: QloAppsPMS, room_type="double", checkin=IN, checkout=OUT, guests=2, name="Ana García",
         contact="ana@example.com", phone=PHONE):
    return pms.create_booking(BookingRequest(name, room_type, checkin, checkout, guests, contact, phone=phone))


def order_id(reference: str) -> int:
    return parse_reference(reference)


def assert_key_absent(exc: BaseException) -> None:
    rendered = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for text in (str(exc), repr(exc), rendered):
        assert API_KEY not in text


# -- references ---------------------------------------------------------------------
def test_reference_round_trip():
    assert format_reference(42) == "BK000042"
    assert parse_reference("BK000042") == 42
    assert parse_reference("bk-482913") == 482913
    assert parse_reference(" BK 000007 ") == 7
    assert parse_reference("BK12") is None
    assert parse_reference("XX000042") is None
    assert parse_reference("BK000000") is None


def test_is_a_pms_and_repr_hides_key(pms):
    assert isinstance(pms, PMS)
    assert API_KEY not in repr(pms) and API_KEY not in str(pms)


# -- requests on the wire -----------------------------------------------------------
def test_every_request_uses_basic_auth_and_json_output(pms, server):
    pms.list_room_types("en")
    pms.check_availability(IN, OUT, 2, "en")
    assert server.requests
    expected = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    for request in server.requests:
        assert request.authorized
        assert request.headers["Authorization"] == expected
        assert request.query["output_format"] == "JSON"
        assert "ws_key" not in request.query
        assert API_KEY not in request.path


# -- list_room_types ----------------------------------------------------------------
def test_list_room_types_localised_with_photos(pms, server):
    server.behaviour.single_language = False  # a shop with English and Spanish
    rooms = pms.list_room_types("en")
    assert [r.code for r in rooms] == ["single", "double", "family", "suite"]  # ROOM_TYPE_CODES
    single = rooms[0]
    assert single.name == "Single Room"
    assert single.description == "Cosy room for one & a desk."  # HTML stripped and unescaped
    assert single.max_guests == 1
    assert single.nightly_rate == Decimal("60.00")
    assert single.currency == "EUR"
    assert single.photos == (f"{server.base_url}/img/p/5/5.jpg", f"{server.base_url}/img/p/1/2/12.jpg")
    family = rooms[2]
    assert family.max_guests == 4  # adults + children
    spanish = {r.code: r.name for r in pms.list_room_types("es")}
    assert spanish == {"single": "Habitación individual", "double": "Habitación doble", "suite": "Suite júnior",
                       "family": "Habitación familiar"}
    # unknown language falls back to the default (English)
    assert pms.list_room_types("fr")[1].name == "Double Room"
    calls = server.calls("GET", "room_types")
    assert calls and all(c.query["display"] == "full" for c in calls)


def test_room_types_discovered_by_name_keywords(server):
    client = make_pms(server, room_type_map=None)
    rooms = {r.code: r for r in client.list_room_types("en")}
    # the inactive "Single Economy" (15) and hotel 2's double (21) are ignored
    assert {code: r.name for code, r in rooms.items()} == {
        "single": "Single Room", "double": "Double Room", "suite": "Junior Suite", "family": "Family Room"}
    booking = client.create_booking(BookingRequest("Ana Ruiz", "suite", IN, OUT, 3, "ana@example.com", phone=PHONE))
    assert booking.room_type == "suite"
    assert server.orders[order_id(booking.reference)].room_type_id == 13


def test_room_type_map_scoped_to_hotel(server):
    # hotel 2 only has room type 21; a map pointing at hotel 1's types yields nothing there
    other = make_pms(server, room_type_map={"double": 12})
    assert [r.code for r in other.list_room_types("en")] == ["double"]
    hotel2 = QloAppsPMS(server.base_url, API_KEY, 2, room_type_map={"double": 12}, catalog_ttl=0)
    assert hotel2.list_room_types("en") == []
    hotel2_ok = QloAppsPMS(server.base_url, API_KEY, 2, room_type_map={"double": 21}, catalog_ttl=0)
    assert [r.nightly_rate for r in hotel2_ok.list_room_types("en")] == [Decimal("70.00")]


def test_catalogue_is_cached_for_ttl(server):
    client = make_pms(server, catalog_ttl=300)
    client.list_room_types("en")
    client.list_room_types("es")
    client.check_availability(IN, OUT, 1, "en")
    assert len(server.calls("GET", "room_types")) == 1


# -- check_availability -------------------------------------------------------------
def test_check_availability_prices_and_rooms_left(pms, server):
    result = {a.room_type.code: a for a in pms.check_availability(IN, OUT, 2, "en")}
    assert set(result) == {"double", "suite", "family"}  # single holds one guest
    double = result["double"]
    assert double.rooms_left == 2
    assert double.nights == 2
    assert double.total_price == Decimal("198.00")  # 2 x 90 + 10 % tax
    assert double.room_type.nightly_rate == Decimal("99.00")
    assert double.room_type.name == "Double Room"
    ari = server.calls("POST", "hotel_ari")[-1]
    node = ET.fromstring(ari.body).find("hotel_ari")
    assert node.findtext("id_hotel") == "1"
    assert node.findtext("date_from") == "2031-06-01"
    assert node.findtext("date_to") == "2031-06-03"
    assert node.findtext("associations/room_occupancies/room_occupancy/adults") == "2"
    assert ari.headers["Content-Type"].startswith("application/xml")


def test_check_availability_without_tax(server):
    client = make_pms(server, prices_include_tax=False)
    double = {a.room_type.code: a for a in client.check_availability(IN, OUT, 2, "en")}["double"]
    assert double.total_price == Decimal("180.00")


def test_check_availability_excludes_full_room_types(pms, server):
    book(pms, "suite", guests=2)
    codes = {a.room_type.code for a in pms.check_availability(date(2031, 6, 2), date(2031, 6, 5), 2, "es")}
    assert "suite" not in codes
    assert {"double", "family"} <= codes
    # the neighbouring stay is unaffected
    assert "suite" in {a.room_type.code for a in pms.check_availability(OUT, date(2031, 6, 4), 2, "en")}
    both_doubles = [book(pms, "double"), book(pms, "double", name="Luis Pérez")]
    assert all(b.room_type == "double" for b in both_doubles)
    codes = {a.room_type.code for a in pms.check_availability(IN, OUT, 1, "en")}
    assert "double" not in codes and "single" in codes


def test_check_availability_too_many_guests_and_bad_dates(pms, server):
    assert pms.check_availability(IN, OUT, 9, "en") == []
    assert server.calls("POST", "hotel_ari") == []  # nothing fits: no search needed
    with pytest.raises(ValueError):
        pms.check_availability(OUT, IN, 2, "en")


# -- create_booking ---------------------------------------------------------------------
def test_create_booking(pms, server):
    booking = book(pms, "double", guests=2, name="Ana García", contact="ana@example.com")
    assert booking.reference == "BK000001"
    assert booking.status is BookingStatus.PENDING_PAYMENT
    assert not booking.is_paid
    assert (booking.guest_name, booking.room_type, booking.guests) == ("Ana García", "double", 2)
    assert (booking.checkin, booking.checkout, booking.nights) == (IN, OUT, 2)
    assert booking.total_price == Decimal("198.00")
    assert booking.nightly_rate == Decimal("99.00")
    assert booking.currency == "EUR"
    assert booking.late_checkout_until is None

    post = server.calls("POST", "bookings")[-1].json()["booking"]
    assert post["id_property"] == 1
    assert post["currency"] == "EUR"
    assert post["booking_status"] == 1 and post["payment_status"] == 3  # new, awaiting payment
    assert "price_details" not in post
    assert post["associations"]["customer_detail"] == {
        "firstname": "Ana", "lastname": "García", "email": "ana@example.com", "phone": PHONE}
    [room_type] = post["associations"]["room_types"]
    assert room_type["id_room_type"] == 12
    assert (room_type["checkin_date"], room_type["checkout_date"]) == ("2031-06-01", "2031-06-03")
    assert room_type["number_of_rooms"] == 1
    assert room_type["rooms"] == [{"adults": 2, "adult": 2, "child": 0}]
    assert "ana@example.com" in post["remark"]
    order = server.orders[1]
    assert order.room_type_id == 12 and order.current_state == 10


def test_create_booking_guest_without_email(pms, server):
    booking = book(pms, "single", guests=1, name="Cher", contact="+34 600 123 456", phone="")
    assert booking.guest_name == "Cher"
    customer = server.calls("POST", "bookings")[-1].json()["booking"]["associations"]["customer_detail"]
    assert customer["firstname"] == customer["lastname"] == "Cher"
    assert customer["email"].startswith("guest-") and customer["email"].endswith("@guest-assistant.invalid")
    assert customer["phone"] == "+34 600 123 456"
    again = book(pms, "single", guests=1, name="Cher", contact="+34 600 123 456", phone="",
                 checkin=date(2031, 7, 1), checkout=date(2031, 7, 2))
    assert server.orders[order_id(again.reference)].id_customer == server.orders[order_id(booking.reference)].id_customer


def test_create_booking_no_availability(pms, server):
    book(pms, "suite", guests=2)
    posts_before = len(server.calls("POST", "bookings"))
    with pytest.raises(NoAvailability):
        book(pms, "suite", guests=2, name="Luis Pérez", contact="luis@example.com")
    assert len(server.calls("POST", "bookings")) == posts_before  # refused after the hotel_ari check


def test_create_booking_race_reported_by_qloapps(pms, server):
    # hotel_ari still shows the room free, but QloApps refuses the booking itself
    server.fail_next(400, resource="bookings",
                     body='{"errors":[{"code":404,"message":"Requested room(s) not available."}]}')
    with pytest.raises(NoAvailability):
        book(pms, "family", guests=3)


def test_create_booking_unknown_or_too_small_room_type(server):
    client = make_pms(server, room_type_map={"double": 12})
    with pytest.raises(NoAvailability):
        book(client, "family", guests=2)
    with pytest.raises(NoAvailability):
        book(client, "double", guests=3)
    with pytest.raises(ValueError):
        book(client, "double", checkin=OUT, checkout=IN)
    assert server.calls("POST", "bookings") == []


def test_create_booking_other_validation_error_is_pms_error(pms, server):
    server.fail_next(400, resource="bookings",
                     body='{"errors":[{"code":404,"message":"Please provide a valid phone number."}]}')
    with pytest.raises(PMSError) as err:
        book(pms)
    assert not isinstance(err.value, (PMSUnavailable, NoAvailability))
    assert "phone number" in str(err.value)


# -- get_booking ---------------------------------------------------------------------------
def test_get_booking_round_trip(pms, server):
    created = book(pms, "family", guests=4, name="Marta López Díaz")
    fetched = pms.get_booking(created.reference.lower().replace("bk", "bk-"))
    assert fetched == created
    assert fetched.guest_name == "Marta López Díaz"
    assert fetched.guests == 4
    assert server.calls("GET", "orders/1")  # status comes from the order


def test_get_booking_not_found(pms, server):
    with pytest.raises(BookingNotFound):
        pms.get_booking("BK000777")
    with pytest.raises(BookingNotFound):
        pms.get_booking("not-a-reference")
    assert len(server.calls("GET", "bookings")) == 1  # malformed references never reach QloApps


def test_get_booking_of_another_hotel_is_not_found(server):
    hotel2 = QloAppsPMS(server.base_url, API_KEY, 2, room_type_map={"double": 21}, catalog_ttl=0,
                        clock=lambda: TODAY)
    other = hotel2.create_booking(BookingRequest("Eva Sanz", "double", IN, OUT, 2, "eva@example.com", phone=PHONE))
    assert hotel2.get_booking(other.reference).room_type == "double"
    with pytest.raises(BookingNotFound):
        make_pms(server).get_booking(other.reference)


def test_status_follows_qloapps_order_state(pms, server):
    booking = book(pms)
    oid = order_id(booking.reference)
    server.mark_paid(oid, Decimal("50"))  # partial payment
    assert pms.get_booking(booking.reference).status is BookingStatus.PENDING_PAYMENT
    server.mark_paid(oid, Decimal("148"))  # now fully paid
    assert pms.get_booking(booking.reference).status is BookingStatus.CONFIRMED
    server.set_state(oid, STATE_REFUND)
    assert pms.get_booking(booking.reference).status is BookingStatus.CANCELLED


def test_order_states_resolved_once_from_configurations(pms, server):
    booking = book(pms)
    pms.get_booking(booking.reference)
    pms.get_booking(booking.reference)
    [config] = server.calls("GET", "configurations")
    assert config.query["display"] == "full"
    assert config.query["filter[name]"] == "[PS_OS_CANCELED|PS_OS_REFUND|PS_OS_PAYMENT_ACCEPTED]"


def test_order_state_ids_can_be_configured(server):
    client = make_pms(server, order_state_ids={"cancelled": 6, "refunded": [7], "payment_accepted": 2})
    booking = book(client)
    server.set_state(order_id(booking.reference), STATE_PAYMENT_ACCEPTED)
    assert client.get_booking(booking.reference).status is BookingStatus.CONFIRMED
    assert server.calls("GET", "configurations") == []


# -- cancel_booking ---------------------------------------------------------------------------
def test_cancel_booking(pms, server):
    booking = book(pms, "suite", guests=2)
    cancelled = pms.cancel_booking(booking.reference)
    assert cancelled.status is BookingStatus.CANCELLED
    assert cancelled.reference == booking.reference
    put = server.calls("PUT", "bookings")[-1]
    assert put.path == "/api/bookings/1"
    body = put.json()["booking"]
    assert body["id"] == 1 and body["booking_status"] == 3
    assert "remark" not in body and "price_details" not in body
    [room_type] = body["associations"]["room_types"]
    rooms = room_type.pop("rooms")
    assert room_type == {"id_room_type": 13, "checkin_date": "2031-06-01 00:00:00",
                         "checkout_date": "2031-06-03 00:00:00", "number_of_rooms": 1}
    # the per-room line repeats the room and its services (none here: QloApps dropped the
    # auto-added fee at booking, see test_qloapps_real_behaviour.py point 3), so QloApps keeps them
    assert [(r["id_room"], r["services"]) for r in rooms] == [(301, [])]
    assert body["associations"]["customer_detail"]["email"] == "ana@example.com"
    assert server.orders[1].current_state == STATE_CANCELED
    assert pms.get_booking(booking.reference).status is BookingStatus.CANCELLED
    # the suite is free again
    assert "suite" in {a.room_type.code for a in pms.check_availability(IN, OUT, 2, "en")}


def test_cancel_twice_is_invalid_state(pms, server):
    booking = book(pms)
    pms.cancel_booking(booking.reference)
    puts = len(server.calls("PUT"))
    with pytest.raises(InvalidBookingState):
        pms.cancel_booking(booking.reference)
    assert len(server.calls("PUT")) == puts


def test_cancel_finished_stay_is_invalid_state(server):
    client = make_pms(server, clock=lambda: OUT)
    booking = book(client)
    with pytest.raises(InvalidBookingState):
        client.cancel_booking(booking.reference)
    assert server.calls("PUT") == []


def test_cancel_unknown_booking(pms):
    with pytest.raises(BookingNotFound):
        pms.cancel_booking("BK000404")


def test_cancel_not_applied_by_qloapps_is_an_error(pms, server):
    booking = book(pms)
    # the PUT "succeeds" but the order state does not change
    server.fail_next(200, method="PUT", resource="bookings", body='{"booking": {}}')
    with pytest.raises(PMSError):
        pms.cancel_booking(booking.reference)


# -- confirm_payment ---------------------------------------------------------------------------
def test_confirm_payment_does_not_mark_paid_on_the_guests_word(pms, server):
    booking = book(pms)
    result = pms.confirm_payment(booking.reference)
    assert result.status is BookingStatus.PENDING_PAYMENT
    put = server.calls("PUT", "bookings")[-1].json()["booking"]
    assert "booking_status" not in put and "payment_status" not in put and "price_details" not in put
    assert "reports having paid" in put["remark"]
    assert server.orders[1].current_state == 10 and server.orders[1].total_paid_real == 0
    assert any("reports having paid" in m for m in server.orders[1].messages)


def test_confirm_payment_reports_paid_when_qloapps_says_so(pms, server):
    booking = book(pms)
    server.mark_paid(order_id(booking.reference))
    puts = len(server.calls("PUT"))
    result = pms.confirm_payment(booking.reference)
    assert result.status is BookingStatus.CONFIRMED and result.is_paid
    assert len(server.calls("PUT")) == puts  # nothing to record


def test_confirm_payment_on_cancelled_booking(pms, server):
    booking = book(pms)
    pms.cancel_booking(booking.reference)
    with pytest.raises(InvalidBookingState):
        pms.confirm_payment(booking.reference)
    with pytest.raises(BookingNotFound):
        pms.confirm_payment("BK009999")


# -- late checkout --------------------------------------------------------------------------------
def test_late_checkout_available_when_nobody_arrives(pms, server):
    booking = book(pms, "suite", guests=2)
    assert pms.late_checkout_available(booking.reference) is True
    ari = server.calls("POST", "hotel_ari")[-1]
    node = ET.fromstring(ari.body).find("hotel_ari")
    assert (node.findtext("date_from"), node.findtext("date_to")) == ("2031-06-03", "2031-06-04")
    assert node.findtext("id_room_type") == "13"


def test_late_checkout_unavailable_when_room_needed_by_arrival(pms, server):
    first = book(pms, "suite", guests=2)
    book(pms, "suite", checkin=OUT, checkout=date(2031, 6, 6), guests=2, name="Luis Pérez",
         contact="luis@example.com")
    assert pms.late_checkout_available(first.reference) is False


def test_late_checkout_checks_the_booked_room_itself(pms, server):
    first = book(pms, "double")  # gets room 201
    # an arrival on the checkout day takes room 201 only if it is free; force it by booking
    # a stay that starts at checkout (first free double = 201 after the first stay ends)
    arrival = book(pms, "double", checkin=OUT, checkout=date(2031, 6, 4), name="Luis Pérez",
                   contact="luis@example.com")
    assert server.orders[order_id(arrival.reference)].rooms[0]["id_room"] == 201
    # room 202 is free that night, but the guest's own room 201 is not
    assert pms.late_checkout_available(first.reference) is False


def test_late_checkout_cancelled_or_past(pms, server):
    booking = book(pms)
    pms.cancel_booking(booking.reference)
    assert pms.late_checkout_available(booking.reference) is False
    past = make_pms(server, clock=lambda: date(2031, 6, 10))
    other = book(pms, "single", guests=1)
    assert past.late_checkout_available(other.reference) is False


def test_set_late_checkout_written_as_order_message(pms, server):
    booking = book(pms)
    updated = pms.set_late_checkout(booking.reference, time(14, 0), Decimal("20"))
    assert updated.late_checkout_until == time(14, 0)
    assert updated.late_checkout_fee == Decimal("20.00")
    body = server.calls("PUT", "bookings")[-1].json()["booking"]
    assert "Late checkout until 14:00, fee 20.00 EUR" in body["remark"]
    assert "booking_status" not in body
    fetched = pms.get_booking(booking.reference)
    assert (fetched.late_checkout_until, fetched.late_checkout_fee) == (time(14, 0), Decimal("20.00"))
    # a later change wins, even when it repeats an earlier value
    pms.set_late_checkout(booking.reference, time(13, 0), Decimal("10"))
    pms.set_late_checkout(booking.reference, time(14, 0), Decimal("20"))
    pms.set_late_checkout(booking.reference, time(12, 30), Decimal("5.5"))
    fetched = pms.get_booking(booking.reference)
    assert (fetched.late_checkout_until, fetched.late_checkout_fee) == (time(12, 30), Decimal("5.5"))
    assert fetched.status is BookingStatus.PENDING_PAYMENT


def test_set_late_checkout_invalid_states(pms, server):
    booking = book(pms)
    pms.cancel_booking(booking.reference)
    with pytest.raises(InvalidBookingState):
        pms.set_late_checkout(booking.reference, time(14, 0), Decimal("20"))
    with pytest.raises(BookingNotFound):
        pms.set_late_checkout("BK000999", time(14, 0), Decimal("20"))
    past = make_pms(server, clock=lambda: date(2031, 6, 10))
    other = book(pms, "single", guests=1)
    with pytest.raises(InvalidBookingState):
        past.set_late_checkout(other.reference, time(14, 0), Decimal("20"))


# -- error mapping ----------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_server_errors_are_unavailable(pms, server, status):
    server.fail_next(status, resource="room_types")
    with pytest.raises(PMSUnavailable) as err:
        pms.list_room_types("en")
    assert str(status) in str(err.value)
    assert_key_absent(err.value)


@pytest.mark.parametrize(
    "call",
    [
        lambda p: p.list_room_types("en"),
        lambda p: p.check_availability(IN, OUT, 2, "en"),
        lambda p: p.create_booking(BookingRequest("Ana", "double", IN, OUT, 2, "ana@example.com")),
        lambda p: p.get_booking("BK000001"),
        lambda p: p.cancel_booking("BK000001"),
        lambda p: p.confirm_payment("BK000001"),
        lambda p: p.late_checkout_available("BK000001"),
        lambda p: p.set_late_checkout("BK000001", time(14, 0), Decimal("20")),
    ],
    ids=["list", "availability", "create", "get", "cancel", "confirm", "late_available", "late_set"],
)
def test_every_method_maps_5xx_to_unavailable(pms, server, call):
    book(pms)  # BK000001 exists
    server.fail_next(503, times=100)
    with pytest.raises(PMSUnavailable) as err:
        call(pms)
    assert_key_absent(err.value)


def test_failure_in_a_later_step_is_unavailable(pms, server):
    booking = book(pms)
    server.fail_next(500, resource="orders")
    with pytest.raises(PMSUnavailable):
        pms.get_booking(booking.reference)
    server.fail_next(502, resource="bookings/")
    with pytest.raises(PMSUnavailable):
        pms.cancel_booking(booking.reference)  # GET bookings/1 fails
    assert server.orders[1].current_state == 10


def test_timeout_is_unavailable(server):
    client = make_pms(server, timeout=0.3)
    server.delay_next(3, resource="room_types")
    with pytest.raises(PMSUnavailable) as err:
        client.list_room_types("en")
    assert "timed out" in str(err.value)
    assert_key_absent(err.value)


def test_timeout_while_booking_is_unavailable(server):
    client = make_pms(server, timeout=0.3)
    server.delay_next(3, resource="bookings")
    with pytest.raises(PMSUnavailable):
        client.create_booking(BookingRequest("Ana", "double", IN, OUT, 2, "ana@example.com"))


def test_connection_refused_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = QloAppsPMS(f"http://127.0.0.1:{port}", API_KEY, 1, room_type_map=ROOM_MAP, timeout=1)
    with pytest.raises(PMSUnavailable) as err:
        client.get_booking("BK000001")
    assert_key_absent(err.value)


def test_wrong_key_is_pms_error_not_unavailable(server, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_pms(server, api_key="WRONGKEY-SECRET-123456")
    with pytest.raises(PMSError) as err:
        client.list_room_types("en")
    assert not isinstance(err.value, PMSUnavailable)
    assert "401" in str(err.value)
    assert server.requests[-1].authorized is False
    for text in (str(err.value), caplog.text):
        assert "WRONGKEY-SECRET-123456" not in text


def test_non_json_answer_is_pms_error(pms, server):
    server.garbage_next(resource="room_types")
    with pytest.raises(PMSError) as err:
        pms.list_room_types("en")
    assert "not JSON" in str(err.value)


def test_empty_collection_answer():
    empty = FakeQloApps(api_key=API_KEY).start()
    try:
        client = make_pms(empty)
        assert client.list_room_types("en") == []
        assert client.check_availability(IN, OUT, 2, "en") == []
    finally:
        empty.stop()


def test_server_error_text_with_key_is_scrubbed(pms, server):
    server.fail_next(400, resource="bookings",
                     body='{"errors":[{"code":1,"message":"bad key ' + API_KEY + ' in request"}]}')
    with pytest.raises(PMSError) as err:
        book(pms)
    assert "bad key *** in request" in str(err.value)
    assert_key_absent(err.value)


def test_api_key_never_logged(server, caplog):
    caplog.set_level(logging.DEBUG)
    client = make_pms(server, timeout=0.3)
    booking = book(client)
    client.get_booking(booking.reference)
    client.confirm_payment(booking.reference)
    client.set_late_checkout(booking.reference, time(14, 0), Decimal("20"))
    client.late_checkout_available(booking.reference)
    client.cancel_booking(booking.reference)
    server.fail_next(500)
    with pytest.raises(PMSUnavailable):
        client.list_room_types("en")
    server.delay_next(3)
    with pytest.raises(PMSUnavailable):
        client.list_room_types("en")
    assert caplog.records  # requests were logged (method, resource, status)
    encoded = base64.b64encode(f"{API_KEY}:".encode()).decode()
    for record in caplog.records:
        message = record.getMessage()
        assert API_KEY not in message and encoded not in message
        if record.exc_info:
            rendered = "".join(traceback.format_exception(*record.exc_info))
            assert API_KEY not in rendered and encoded not in rendered


def test_base_url_with_api_suffix(server):
    client = QloAppsPMS(server.base_url + "/api/", API_KEY, 1, room_type_map=ROOM_MAP, catalog_ttl=0)
    assert len(client.list_room_types("en")) == 4
    assert server.requests[-1].path == "/api/room_types"


def test_custom_session_is_used(server):
    session = requests.Session()
    client = QloAppsPMS(server.base_url, API_KEY, 1, session=session, room_type_map=ROOM_MAP)
    client.list_room_types("en")
    client.close()  # not ours: stays usable
    assert session.get(server.base_url + "/api/room_types", auth=(API_KEY, ""),
                       params={"output_format": "JSON"}).status_code == 200
    assert "Authorization" not in session.headers  # the key is not stored on a shared session


def test_constructor_validation():
    with pytest.raises(ValueError):
        QloAppsPMS("http://localhost", "", 1)
    with pytest.raises(ValueError):
        QloAppsPMS("", "key", 1)
    with pytest.raises(ValueError):
        QloAppsPMS("http://localhost", "key", 1, room_type_map={"penthouse": 3})
    with pytest.raises(ValueError):
        QloAppsPMS("http://localhost", "key", 1, order_state_ids={"refunded": 7})


# -- retried bookings (idempotency by request id) ----------------------------------------------
def saved(request_id: str, replay: bool, room_type="suite", name="Ana García", contact="ana@example.com",
          checkin=IN, checkout=OUT) -> BookingRequest:
    return BookingRequest(name, room_type, checkin, checkout, 2, contact, phone=PHONE, request_id=request_id,
                          replay=replay)


def test_request_id_travels_in_the_remark(pms, server):
    pms.create_booking(saved("req-1", replay=False))
    assert "request req-1" in server.calls("POST", "bookings")[-1].json()["booking"]["remark"]
    # replay or not, a request id is looked for before booking (base.PMS: never two bookings)
    assert len(server.calls("GET", "customers")) == 1


def test_replay_of_a_booking_that_reached_qloapps_returns_it(pms, server):
    """The first attempt booked the only suite; its answer was lost. The retry
    must not book again (and must not answer 'no availability' either)."""
    first = pms.create_booking(saved("req-2", replay=False))
    posts = len(server.calls("POST", "bookings"))
    again = pms.create_booking(saved("req-2", replay=True))
    assert again == first
    assert len(server.calls("POST", "bookings")) == posts
    assert len(server.orders) == 1
    customers = server.calls("GET", "customers")[-1].query
    assert customers["filter[email]"] == "[ana@example.com]"


def test_replay_that_never_reached_qloapps_books(pms, server):
    other = pms.create_booking(saved("req-other", replay=False, room_type="double"))  # same guest, other request
    booking = pms.create_booking(saved("req-3", replay=True))
    assert booking.reference != other.reference
    assert booking.room_type == "suite"
    assert len(server.orders) == 2


def test_replay_does_not_take_another_guests_booking_of_the_same_stay(pms, server):
    pms.create_booking(saved("req-4", replay=False, room_type="double", name="Luis Pérez", contact="luis@example.com"))
    booking = pms.create_booking(saved("req-4", replay=True, room_type="double"))
    assert server.orders[order_id(booking.reference)].id_customer != server.orders[1].id_customer
    assert len(server.orders) == 2


def test_replay_without_permission_to_list_customers_books_anyway(pms, server, caplog):
    server.fail_next(401, resource="customers")
    with caplog.at_level(logging.WARNING, logger="actions.pms.qloapps"):
        booking = pms.create_booking(saved("req-5", replay=True))
    assert booking.room_type == "suite"
    assert any("earlier attempt" in record.getMessage() for record in caplog.records)


def test_replay_while_qloapps_is_down_is_unavailable(pms, server):
    server.fail_next(503, resource="customers")
    with pytest.raises(PMSUnavailable):
        pms.create_booking(saved("req-6", replay=True))
    assert server.calls("POST", "bookings") == []
