"""One test (or a few) per point of docs/qloapps.md, against the fake with QloApps
1.6.1's defaults on (``Behaviour()``): what the client does about each."""
from __future__ import annotations

import base64
import json
import logging
from dataclasses import replace
from datetime import date, time, timedelta
from decimal import Decimal

import pybreaker
import pytest
import requests

from actions.pms import metrics
from actions.pms.base import BookingRejected, BookingRequest, BookingStatus, PMSError, PMSUnavailable
from actions.pms.gateway import PMSGateway, build_breaker
from actions.pms.qloapps import QloAppsPMS, parse_reference
from tests.fakes.qloapps_server import (
    DEFAULT_STATES,
    PSWS_VERSION,
    STATE_CANCELED,
    STATE_PARTIAL_PAYMENT,
    STATE_REFUND,
    STATE_REMOTE_PAYMENT_ACCEPTED,
    Behaviour,
    FakeQloApps,
    FakeService,
)

API_KEY = "QLOKEY7H2M9X4P1Z8W5V3N6B0C2D4F6G"
TODAY = date(2031, 5, 20)
IN, OUT = date(2031, 6, 1), date(2031, 6, 3)
ROOM_MAP = {"single": 11, "double": 12, "suite": 13, "family": 14}
PHONE = "+34600111222"


@pytest.fixture
def server():
    fake = FakeQloApps(api_key=API_KEY).seed_demo().start()  # QloApps' defaults
    try:
        yield fake
    finally:
        fake.stop()


def make_pms(server: FakeQloApps, **kwargs) -> QloAppsPMS:
    options = {"room_type_map": ROOM_MAP, "timeout": 2.0, "clock": lambda: TODAY, "catalog_ttl": 0}
    options.update(kwargs)
    return QloAppsPMS(server.base_url, options.pop("api_key", API_KEY), 1, **options)


@pytest.fixture
def pms(server):
    client = make_pms(server)
    yield client
    client.close()


def request(room_type="double", name="Ana García", contact="ana@example.com", phone=PHONE, **kwargs) -> BookingRequest:
    return BookingRequest(name, room_type, IN, OUT, 2, contact, phone=phone, **kwargs)


def soon(booking: BookingRequest) -> BookingRequest:
    """The same stay a month from the real today: the gateway checks stays against the hotel's clock."""
    checkin = date.today() + timedelta(days=30)
    return replace(booking, checkin=checkin, checkout=checkin + timedelta(days=2))


def order_of(server: FakeQloApps, reference: str):
    return server.orders[parse_reference(reference)]


def closed_breaker() -> pybreaker.CircuitBreaker:
    return build_breaker(fail_max=2, reset_timeout=60)


# -- 1. a phone number is required ------------------------------------------------------
def test_1_whatsapp_guest_is_booked_with_their_phone(pms, server):
    booking = pms.create_booking(request(contact="34600111222@1098765", phone=PHONE))
    customer = server.calls("POST", "bookings")[-1].json()["booking"]["associations"]["customer_detail"]
    assert customer["phone"] == PHONE
    assert server.customers[order_of(server, booking.reference).id_customer]["phone"] == PHONE


async def test_1_no_phone_is_an_answer_never_an_outage(pms, server):
    """Refused 400 by QloApps: BookingRejected("phone") every time, the breaker
    never opens (it would after 2 failures) and the call counts as business."""
    gateway = PMSGateway(pms, closed_breaker())
    business = metrics.BREAKER_CALLS.labels(operation="create_booking", result="business")
    before = business._value.get()
    for _ in range(4):
        with pytest.raises(BookingRejected) as refused:
            await gateway.call(gateway.pms.create_booking, soon(request(phone="", contact="ana@example.com")))
        assert refused.value.field == "phone"
    assert gateway.breaker.current_state == pybreaker.STATE_CLOSED
    assert business._value.get() == before + 4
    assert server.orders == {}
    assert "phone number" in str(refused.value)


def test_1_without_a_phone_the_hotels_fallback_number_is_sent(server):
    client = make_pms(server, fallback_phone="+34 952 000 000")
    booking = client.create_booking(request(phone="", contact="ana@example.com"))
    customer = server.calls("POST", "bookings")[-1].json()["booking"]["associations"]["customer_detail"]
    assert customer == {"firstname": "Ana", "lastname": "García", "email": "ana@example.com",
                        "phone": "+34 952 000 000"}
    assert "contact: ana@example.com" in server.orders[parse_reference(booking.reference)].messages[0]


def test_1_the_fake_can_be_kind(server):
    server.behaviour.phone_required = False
    assert make_pms(server).create_booking(request(phone="")).reference


# -- 2. names ------------------------------------------------------------------------------
def test_2_names_are_cleaned_before_sending(pms, server):
    booking = pms.create_booking(request(name='Ana (Ani) García_López #2 "la jefa"'))
    customer = server.calls("POST", "bookings")[-1].json()["booking"]["associations"]["customer_detail"]
    assert (customer["firstname"], customer["lastname"]) == ("Ana", "Ani García López la jefa")
    assert booking.guest_name == "Ana Ani García López la jefa"


async def test_2_the_empty_500_of_a_refused_name_is_an_answer(server):
    """What QloApps does with a name its validation refuses: HTTP 500, no body.
    On a booking write that is BookingRejected, not an outage: not retried, breaker untouched."""
    gateway = PMSGateway(make_pms(server), closed_breaker())
    server.fail_next(500, times=3, resource="bookings", method="POST", body="")
    for _ in range(3):
        with pytest.raises(BookingRejected):
            await gateway.call(gateway.pms.create_booking, soon(request()))
    assert gateway.breaker.current_state == pybreaker.STATE_CLOSED
    # the same status with a body, or on a read, is still an outage
    server.fail_next(500, resource="room_types", body="")
    with pytest.raises(PMSUnavailable):
        await gateway.call(gateway.pms.list_room_types, "en")


def test_2_the_fake_dies_on_names_like_qloapps(server):
    body = {"booking": {"id_property": 1, "currency": "EUR", "booking_status": 1, "payment_status": 3,
                        "associations": {"customer_detail": {"firstname": "Ana2", "lastname": "X",
                                                             "email": "a@example.com", "phone": PHONE},
                                         "room_types": [{"id_room_type": 12, "checkin_date": "2031-06-01",
                                                         "checkout_date": "2031-06-03", "number_of_rooms": 1}]}}}
    auth = "Basic " + base64.b64encode(f"{API_KEY}:".encode()).decode()
    answer = requests.post(f"{server.base_url}/api/bookings", params={"output_format": "JSON"}, json=body,
                           headers={"Authorization": auth}, timeout=5)
    assert (answer.status_code, answer.content) == (500, b"")


# -- 3. the quote is the booked price ----------------------------------------------------------
def test_3_hotel_ari_quotes_auto_added_services_that_a_plain_booking_drops(server):
    """Why the client cannot quote hotel_ari's total and book without the services."""
    client = make_pms(server)
    ari = client._ari(IN, OUT, room_type_id=13, adults=2)[13]
    assert ari["total"] == Decimal("451.00")  # (2 x 180 room + 2 x 25 maintenance) + 10 %
    booking = client.create_booking(request("suite"))
    assert booking.total_price == Decimal("396.00")  # QloApps removed the fees


def test_3_with_auto_services_configured_quote_and_order_include_them(server):
    client = make_pms(server, auto_services=[1])
    [suite] = [a for a in client.check_availability(IN, OUT, 2, "en") if a.room_type.code == "suite"]
    booking = client.create_booking(request("suite"))
    order = order_of(server, booking.reference)
    assert suite.total_price == booking.total_price == order.total_incl == Decimal("451.00")
    assert [s["id_service"] for s in order.rooms[0]["services"]] == [1]
    sent = server.calls("POST", "bookings")[-1].json()["booking"]["associations"]["room_types"][0]["rooms"]
    assert sent[0]["services"] == [{"id_service": 1, "quantity": 1}]


def test_3_without_auto_services_the_quote_is_the_room_rate_that_is_booked(pms, server):
    quotes = {a.room_type.code: a.total_price for a in pms.check_availability(IN, OUT, 2, "en")}
    for code in ("double", "suite", "family"):
        booking = pms.create_booking(request(code, name=f"Guest {code.title()}"))
        assert quotes[code] == booking.total_price == order_of(server, booking.reference).total_incl


def test_3_per_room_type_auto_services(server):
    client = make_pms(server, auto_services={"suite": [1]})
    quotes = {a.room_type.code: a.total_price for a in client.check_availability(IN, OUT, 2, "en")}
    assert quotes["suite"] == Decimal("451.00") and quotes["double"] == Decimal("198.00")
    assert client.create_booking(request("double")).total_price == quotes["double"]


# -- 4. updates keep the services ------------------------------------------------------------------
def booking_with_breakfast(pms, server):
    booking = pms.create_booking(request("double"))
    server.add_services_to_order(parse_reference(booking.reference), 2)  # breakfast, 2 x 15 + 10 %
    return booking, order_of(server, booking.reference)


def test_4_late_checkout_keeps_the_breakfast(pms, server):
    booking, order = booking_with_breakfast(pms, server)
    total_before = order.total_incl
    assert total_before == Decimal("231.00")
    updated = pms.set_late_checkout(booking.reference, time(14, 0), Decimal("45"))
    assert [s["name"] for s in order.rooms[0]["services"]] == ["Breakfast"]
    assert order.total_incl == total_before == updated.total_price
    room = server.calls("PUT", "bookings")[-1].json()["booking"]["associations"]["room_types"][0]["rooms"][0]
    assert room["id_room"] == order.rooms[0]["id_room"]
    assert room["services"] == [{"id_service": 2, "quantity": 1, "total_price_without_tax": "30"}]


def test_4_payment_notice_and_cancellation_keep_the_breakfast(pms, server):
    booking, order = booking_with_breakfast(pms, server)
    pms.confirm_payment(booking.reference)
    assert [s["id_service"] for s in order.rooms[0]["services"]] == [2]
    pms.cancel_booking(booking.reference)
    assert [s["id_service"] for s in order.rooms[0]["services"]] == [2]
    assert order.current_state == STATE_CANCELED


def test_4_what_the_old_update_did(pms, server):
    """A PUT without per-room lines (the client before): QloApps drops the breakfast."""
    booking, order = booking_with_breakfast(pms, server)
    detail = pms._request("GET", f"bookings/{order.id}")["booking"]
    stay = detail["associations"]["room_types"][0]
    pms._request("PUT", f"bookings/{order.id}", json_body={"booking": {
        "id": order.id, "id_property": 1, "currency": "EUR", "remark": "x",
        "associations": {"customer_detail": {"email": "ana@example.com"}, "room_types": [{
            key: stay[key] for key in ("id_room_type", "checkin_date", "checkout_date", "number_of_rooms")}]}}})
    assert order.rooms[0]["services"] == [] and order.total_incl == Decimal("198.00")


# -- 5. one request id, one booking ------------------------------------------------------------------
def test_5_the_same_request_id_never_books_twice_whatever_replay_says(pms, server):
    first = pms.create_booking(request(request_id="req-7", replay=False))
    again = pms.create_booking(request(request_id="req-7", replay=False))
    assert again == first
    assert len(server.orders) == 1
    other = pms.create_booking(request(request_id="req-8", replay=False))
    assert other.reference != first.reference and len(server.orders) == 2


# -- 6. shapes --------------------------------------------------------------------------------------------
def test_6_single_language_names_string_ids_and_integer_amounts(pms, server):
    raw = pms._request("GET", "room_types", params={"display": "full"})["room_types"][0]
    assert isinstance(raw["name"], str)
    ari = pms._request("POST", "hotel_ari", xml_body=(
        "<qloapps><hotel_ari><id_hotel>1</id_hotel><date_from>2031-06-01</date_from>"
        "<date_to>2031-06-03</date_to></hotel_ari></qloapps>"))["hotel_ari"]["room_types"][1]
    assert ari["id_room_type"] == "12" and ari["total_price"] == 180 and isinstance(ari["total_price"], int)
    assert set(ari["rooms"]) == {"available"}  # booked/partially_available/unavailable only when asked
    rooms = {r.code: r for r in pms.list_room_types("es")}
    assert rooms["double"].name == "Double Room" and rooms["double"].nightly_rate == Decimal("90.00")
    [double] = [a for a in pms.check_availability(IN, OUT, 2, "en") if a.room_type.code == "double"]
    assert double.total_price == Decimal("198.00") and double.rooms_left == 2
    booking = pms.create_booking(request())
    assert pms.get_booking(booking.reference).total_price == Decimal("198.00")
    order = pms._request("GET", f"orders/{parse_reference(booking.reference)}")["order"]
    assert "bookings" in order["associations"] and "order_rows" not in order["associations"]


@pytest.mark.parametrize("state, status", [
    (DEFAULT_STATES["PS_OS_PAYMENT_ACCEPTED"], BookingStatus.CONFIRMED),
    (STATE_REMOTE_PAYMENT_ACCEPTED, BookingStatus.PENDING_PAYMENT),
    (STATE_PARTIAL_PAYMENT, BookingStatus.PENDING_PAYMENT),
    (STATE_CANCELED, BookingStatus.CANCELLED),
    (STATE_REFUND, BookingStatus.CANCELLED),
])
def test_6_default_order_states(pms, server, state, status):
    booking = pms.create_booking(request())
    server.mark_paid(parse_reference(booking.reference), state=state)  # the whole amount recorded
    assert pms.get_booking(booking.reference).status is status


def test_6_malformed_key_and_psws_version(server):
    with pytest.raises(PMSError, match="Invalid authentication key format") as err:
        make_pms(server, api_key="not-a-key").list_room_types("en")
    assert not isinstance(err.value, PMSUnavailable)
    with pytest.raises(PMSError, match="Invalid authentication key\\)"):
        make_pms(server, api_key="A" * 32).list_room_types("en")
    client = make_pms(server)
    client.list_room_types("en")
    assert client.server_version == PSWS_VERSION


@pytest.mark.parametrize("price", ["", "abc", None, "NaN"])
def test_6_malformed_money_raises_instead_of_a_free_room(server, price):
    # what a broken shop, plugin or proxy could answer
    payload = {"room_types": [dict(server._room_type_fields(rt), price=price) for rt in server.room_types.values()]}
    server.fail_next(200, resource="room_types", body=json.dumps(payload))
    with pytest.raises(PMSError, match="price"):
        make_pms(server).list_room_types("en")


def test_6_the_fake_can_answer_the_old_shapes(server):
    server.behaviour = Behaviour(single_language=False, ari_shapes=False, integer_amounts=False)
    client = make_pms(server)
    assert {r.code: r.name for r in client.list_room_types("es")}["double"] == "Habitación doble"
    assert client.create_booking(request()).total_price == Decimal("198.00")


def test_3_a_quote_the_booking_does_not_match_is_reported(server, caplog):
    """An auto-added service the hotel did not list in auto_services: QloApps drops
    it, so the booking costs less than the quote; reception is told in the log."""
    server.add_service(FakeService(3, "Resort Fee", Decimal("10.00"), auto_add=True), [13])
    client = make_pms(server, auto_services={"suite": [1]})
    [suite] = [a for a in client.check_availability(IN, OUT, 2, "en") if a.room_type.code == "suite"]
    with caplog.at_level(logging.ERROR, logger="actions.pms.qloapps.pms"):
        booking = client.create_booking(request("suite"))
    assert suite.total_price == Decimal("473.00") and booking.total_price == Decimal("451.00")
    assert "costs 451.00 but the quote for it was 473.00" in caplog.text
