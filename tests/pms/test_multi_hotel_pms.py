"""Two hotels, each booking in its own QloApps (two fakes): the hotel in the
message metadata picks the PMS, and each PMS has its own circuit breaker, so one
hotel's QloApps being down never stops the other's bookings."""
from __future__ import annotations

import datetime as dt

import pybreaker
import pytest
import yaml

from actions import config
from actions.booking import ActionCheckAvailability, ActionCreateBooking, ActionReservationStatus
from actions.pms.gateway import gateway
from tests.conftest import TODAY, make_tracker, run_action
from tests.fakes.qloapps_server import FakeQloApps

KEYS = {"mirador": "MIRADOR0KEY0000000000000000000AA", "playa": "PLAYA000KEY0000000000000000000BB"}
ROOM_MAP = {"single": 11, "double": 12, "suite": 13, "family": 14}
CHECKIN, CHECKOUT = TODAY + dt.timedelta(days=10), TODAY + dt.timedelta(days=12)


@pytest.fixture
def hotels(tmp_path, monkeypatch, pms):  # ``pms``: the action test backends (staff store, access store)
    fakes = {name: FakeQloApps(api_key=key).seed_demo().start() for name, key in KEYS.items()}
    base = yaml.safe_load((config.PROJECT_ROOT / "hotel.yml").read_text(encoding="utf-8"))
    for name, fake in fakes.items():
        monkeypatch.setenv(f"{name.upper()}_QLOAPPS_KEY", KEYS[name])
        hotel = dict(base, id=name, name=f"Hotel {name.title()}", pms={
            "backend": "qloapps", "url": fake.base_url, "api_key_env": f"{name.upper()}_QLOAPPS_KEY",
            "hotel_id": 1, "room_types": ROOM_MAP})
        (tmp_path / f"{name}.yml").write_text(yaml.safe_dump(hotel, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("HOTEL_CONFIG", str(tmp_path))
    monkeypatch.setenv("PMS_BREAKER_FAIL_MAX", "2")
    config.settings.cache_clear()
    config.hotels.cache_clear()
    yield fakes
    config.settings.cache_clear()
    config.hotels.cache_clear()
    for fake in fakes.values():
        fake.stop()


def whatsapp_tracker(hotel_id: str, wa_id: str, **slots):
    stay = {"checkin": CHECKIN.isoformat(), "checkout": CHECKOUT.isoformat(), "guests": 2, **slots}
    return make_tracker(slots=stay, sender_id=f"{wa_id}@1065", metadata={
        "channel": "whatsapp", "hotel": {"id": hotel_id}, "whatsapp": {"wa_id": wa_id}})


async def test_each_hotel_books_in_its_own_pms(hotels):
    for name, wa_id in (("mirador", "34600000001"), ("playa", "34600000002")):
        tracker = whatsapp_tracker(name, wa_id, room_type="double", guest_name=f"Guest {name.title()}")
        result = await run_action(ActionCreateBooking(), tracker)
        assert result.responses == ["utter_booking_created"], result.responses
        [order] = hotels[name].orders.values()
        assert hotels[name].customers[order.id_customer]["firstname"] == "Guest"
        assert hotels[name].customers[order.id_customer]["lastname"] == name.title()
        assert hotels[name].customers[order.id_customer]["phone"] == f"+{wa_id}"
    assert gateway("mirador") is not gateway("playa")
    assert gateway("mirador").breaker is not gateway("playa").breaker


async def test_a_booking_is_looked_up_in_its_own_hotels_pms(hotels):
    """The booking-reference forms ask the PMS of the conversation's hotel, not the first hotel's."""
    wa_id = "34600000003"
    booked = await run_action(ActionCreateBooking(), whatsapp_tracker("playa", wa_id, room_type="double",
                                                                      guest_name="Ana Playa"))
    reference = booked.slot("booking_ref")
    assert reference and not hotels["mirador"].orders
    status = await run_action(ActionReservationStatus(), whatsapp_tracker("playa", wa_id, booking_ref=reference))
    assert status.responses == ["utter_booking_status"], status.responses
    assert status.message("utter_booking_status")["reference"] == reference


async def test_one_hotels_pms_down_opens_only_its_breaker(hotels):
    hotels["mirador"].fail_next(503, times=50)
    for _ in range(3):
        result = await run_action(ActionCheckAvailability(), whatsapp_tracker("mirador", "34600000001"))
        assert result.responses == ["utter_pms_unavailable"]
    assert gateway("mirador").breaker.current_state == pybreaker.STATE_OPEN
    calls_while_open = len(hotels["mirador"].requests)
    result = await run_action(ActionCheckAvailability(), whatsapp_tracker("playa", "34600000002"))
    assert "utter_availability_header" in result.responses
    assert gateway("playa").breaker.current_state == pybreaker.STATE_CLOSED
    await run_action(ActionCheckAvailability(), whatsapp_tracker("mirador", "34600000001"))
    assert len(hotels["mirador"].requests) == calls_while_open  # open: not even tried


def test_a_hotels_pms_needs_its_key_in_the_environment(tmp_path, monkeypatch):
    raw = {"backend": "qloapps", "url": "http://qlo.example", "api_key_env": "NOT_SET_ANYWHERE_QLO"}
    monkeypatch.delenv("NOT_SET_ANYWHERE_QLO", raising=False)
    with pytest.raises(config.ConfigError, match="api_key_env"):
        config.PMSConfig.from_mapping(raw, "x")
    with pytest.raises(config.ConfigError, match="unknown fields"):
        config.PMSConfig.from_mapping({"backend": "local", "api_key": "in-the-file"}, "x")
    monkeypatch.setenv("NOT_SET_ANYWHERE_QLO", "K" * 32)
    pms = config.PMSConfig.from_mapping({**raw, "auto_services": [1], "fallback_phone": "+34 952 000 000"}, "x")
    assert (pms.key, pms.phone_required, pms.auto_services) == ("hotel:x", True, (1,))
    assert "K" * 32 not in repr(pms)
