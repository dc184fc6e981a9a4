"""The actions with a hotel that books in QloApps (the fake, QloApps' defaults):
who is asked for a phone, and a refusal is an answer to the guest, never a
saved request or a breaker failure (docs/qloapps.md points 1 and 2)."""
from __future__ import annotations

import datetime as dt

import pybreaker
import pytest
import yaml

from actions import config
from actions.booking import ActionCreateBooking, ValidateReservationForm
from actions.late_checkout import GRANTED, grant_late_checkout
from actions.pms.base import BookingRequest
from actions.pms.gateway import gateway
from actions.pms.qloapps import parse_reference
from actions.saved_requests import use_queue
from dlq import DLQSettings, build_queue
from tests.conftest import TODAY, make_tracker, run_action
from tests.fakes.qloapps_server import FakeQloApps

KEY = "ACTIONS0KEY0000000000000000000CC"
CHECKIN, CHECKOUT = TODAY + dt.timedelta(days=10), TODAY + dt.timedelta(days=12)
STAY = {"checkin": CHECKIN.isoformat(), "checkout": CHECKOUT.isoformat(), "guests": 2, "room_type": "double",
        "guest_name": "Ana García"}


@pytest.fixture(scope="module")
def domain() -> dict:
    return yaml.safe_load((config.PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


@pytest.fixture
def saved_queue(tmp_path):
    queue = build_queue(DLQSettings(database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}"), record_metrics=False)
    use_queue(queue)
    yield queue
    use_queue(None)


@pytest.fixture
def qloapps(tmp_path, monkeypatch, pms):  # ``pms``: the action test backends (staff store, access store)
    fake = FakeQloApps(api_key=KEY).seed_demo().start()
    base = yaml.safe_load((config.PROJECT_ROOT / "hotel.yml").read_text(encoding="utf-8"))
    hotel = dict(base, pms={"backend": "qloapps", "url": fake.base_url, "api_key_env": "ACTIONS_QLOAPPS_KEY",
                            "room_types": {"single": 11, "double": 12, "suite": 13, "family": 14}})
    (tmp_path / "hotel.yml").write_text(yaml.safe_dump(hotel, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("ACTIONS_QLOAPPS_KEY", KEY)
    monkeypatch.setenv("HOTEL_CONFIG", str(tmp_path / "hotel.yml"))
    monkeypatch.setenv("PMS_BREAKER_FAIL_MAX", "2")
    config.settings.cache_clear()
    config.hotels.cache_clear()
    yield fake
    config.settings.cache_clear()
    config.hotels.cache_clear()
    fake.stop()


def email_guest(**slots):
    return make_tracker(slots={**STAY, **slots}, sender_id="ana@example.com",
                        metadata={"channel": "gmail", "hotel": {"id": "demo"}})


async def required(tracker, domain) -> list[str]:
    form = ValidateReservationForm()
    return await form.required_slots(form.domain_slots(domain), None, tracker, domain)


async def test_the_form_asks_an_email_guest_for_a_phone_not_a_whatsapp_guest(qloapps, domain):
    assert "guest_phone" in await required(email_guest(), domain)
    whatsapp = make_tracker(slots=STAY, sender_id="34600111222@1065", metadata={"whatsapp": {"wa_id": "34600111222"}})
    assert "guest_phone" not in await required(whatsapp, domain)
    assert "guest_phone" in await required(email_guest(guest_phone="+34600111222"), domain)  # filled: validated


async def test_the_guests_answer_is_checked(qloapps, domain):
    form = ValidateReservationForm()
    result = await run_action(form, make_tracker(slots={**STAY, "requested_slot": "guest_phone"},
                                                 text="+34 600 111 222", sender_id="ana@example.com",
                                                 active_loop="reservation_form"), domain)
    assert result.slot("guest_phone") == "+34600111222"
    result = await run_action(form, make_tracker(slots={**STAY, "requested_slot": "guest_phone"}, text="no tengo",
                                                 sender_id="ana@example.com", active_loop="reservation_form"), domain)
    assert result.slot("guest_phone") is None and result.responses == ["utter_phone_not_understood"]


async def test_the_email_guest_with_a_phone_is_booked(qloapps):
    result = await run_action(ActionCreateBooking(), email_guest(guest_phone="+34600111222"))
    assert result.responses == ["utter_booking_created"]
    [order] = qloapps.orders.values()
    assert qloapps.customers[order.id_customer] == {"firstname": "Ana", "lastname": "García",
                                                    "email": "ana@example.com", "phone": "+34600111222"}


async def test_a_refused_booking_is_an_answer_not_saved_and_the_breaker_stays_closed(qloapps, saved_queue):
    for _ in range(3):  # fail_max is 2
        result = await run_action(ActionCreateBooking(), email_guest())  # no phone: QloApps says 400
        assert result.responses == ["utter_booking_refused_phone"]
    assert await saved_queue.size() == 0
    assert gateway().breaker.current_state == pybreaker.STATE_CLOSED
    qloapps.fail_next(500, resource="bookings", method="POST", body="")  # a name QloApps' PHP dies on
    result = await run_action(ActionCreateBooking(), email_guest(guest_phone="+34600111222"))
    assert result.responses == ["utter_booking_refused"]
    assert await saved_queue.size() == 0 and qloapps.orders == {}


async def test_a_late_checkout_granted_by_the_assistant_keeps_the_breakfast(qloapps):
    """grant_late_checkout (what action_confirm_late_checkout and the saved-request
    worker call) on a QloApps booking with breakfast: the breakfast and the total stay."""
    checkin = dt.date.today() + dt.timedelta(days=5)  # the QloApps client's clock is the real one
    booking = gateway().pms.create_booking(BookingRequest("Ana García", "double", checkin, checkin + dt.timedelta(days=2),
                                                          2, "ana@example.com", phone="+34600111222"))
    order = qloapps.orders[parse_reference(booking.reference)]
    qloapps.add_services_to_order(order.id, 2)  # breakfast, added at reception
    total = order.total_incl
    outcome, updated = await grant_late_checkout(booking.reference, config.hotel())
    assert outcome == GRANTED and updated.late_checkout_until == config.hotel().policies.late_checkout_until
    assert [s["name"] for s in order.rooms[0]["services"]] == ["Breakfast"]
    assert order.total_incl == total == updated.total_price


async def test_a_saved_booking_qloapps_refuses_is_permanent_not_retried(qloapps):
    """The saved-request worker redoing a booking QloApps refuses for good (no
    phone): a permanent failure for reception, never retried for ever."""
    from types import SimpleNamespace

    from actions.saved_request_worker import SavedRequestHandlers
    from actions.saved_requests import booking_payload
    from dlq import PermanentFailure

    request = BookingRequest("Ana García", "double", CHECKIN, CHECKOUT, 2, "ana@example.com", request_id="r" * 32)
    entry = SimpleNamespace(id="e1", kind="pms.create_booking", conversation_id="ana@example.com",
                            payload={**booking_payload(request), "hotel_id": "demo", "language": "es"})
    with pytest.raises(PermanentFailure, match="BookingRejected \\(phone\\)"):
        await SavedRequestHandlers(queue=None, rasa=None).create_booking(entry)
    assert qloapps.orders == {}
