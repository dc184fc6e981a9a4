"""Saved requests: a PMS write the guest asked for while the PMS was down is
kept in the dead-letter queue (utter_request_saved), redone by the worker
when the PMS is back, exactly once, and the guest is told through Rasa's HTTP
API (a fake of it records the trigger_intent calls); a request that cannot be
done reaches reception and the guest hears that too."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from actions.booking import ActionCancelReservation, ActionCreateBooking
from actions.config import settings
from actions.late_checkout import ActionConfirmLateCheckout
from actions.pms.base import BookingRequest, BookingStatus
from actions.pms.gateway import PMSGateway, build_breaker, use_gateway
from actions.rasa_api import RasaAPI
from actions.saved_request_worker import build_worker
from actions.saved_requests import use_queue
from dlq import DLQSettings, QueueUnavailable, build_queue
from tests.actions.broken_pms import BrokenPMS
from tests.actions.fake_rasa_api import FakeRasaAPI
from tests.conftest import TODAY, make_tracker, run_action
from tests.dlq.conftest import Clock

CHECKIN, CHECKOUT = TODAY + dt.timedelta(days=12), TODAY + dt.timedelta(days=15)
NEW_BOOKING = {"checkin": CHECKIN.isoformat(), "checkout": CHECKOUT.isoformat(), "guests": 2,
               "room_type": "double", "guest_name": "Ana López"}
CANCEL = {"booking_ref": "BK100002", "pending_confirmation": "cancellation"}
LATE_CHECKOUT = {"booking_ref": "BK100001", "pending_confirmation": "late_checkout"}
BACKOFF = 60.0


@pytest.fixture
def clock() -> Clock:
    return Clock(start=1_900_000_000.0)


@pytest.fixture
def saved_queue(tmp_path, clock):
    """In-process queue on a clock the test moves (retry k is due after 60·2^(k-1) s)."""
    queue = build_queue(
        DLQSettings(database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}", retry_backoff_base=BACKOFF, max_retries=3),
        record_metrics=False, clock=clock,
    )
    use_queue(queue)
    yield queue
    use_queue(None)


@pytest.fixture
def broken(tmp_path) -> BrokenPMS:
    pms = BrokenPMS(f"sqlite:///{tmp_path / 'broken.sqlite3'}", clock=lambda: TODAY)
    use_gateway(PMSGateway(pms, build_breaker(fail_max=3, reset_timeout=60)))
    return pms


@pytest.fixture
def rasa():
    fake = FakeRasaAPI().start()
    yield fake
    fake.stop()


@pytest.fixture
def worker(saved_queue, rasa):
    return build_worker(settings(), queue=saved_queue, rasa=RasaAPI(rasa.url, rasa.token, timeout_seconds=5))


def bookings_of(pms, guest_name: str):
    from sqlalchemy import select

    from actions.pms.local import BookingRow

    with pms._session() as session:
        return list(session.execute(select(BookingRow).where(BookingRow.guest_name == guest_name)).scalars())


async def retry_due(worker, clock: Clock, seconds: float = BACKOFF):
    clock.advance(seconds + 1)
    return await worker.run_once()


# --- the action side: saved, said, slots consistent ---------------------------------------
async def test_new_booking_while_the_pms_is_down_is_saved(broken, saved_queue):
    tracker = make_tracker(slots=NEW_BOOKING, sender_id="whatsapp:34600111222", language="en")
    result = await run_action(ActionCreateBooking(), tracker)
    assert result.responses == ["utter_request_saved"]
    assert result.slot("booking_ref") == "missing"  # no reference before there is a booking
    for slot in ("checkin", "checkout", "guests", "room_type", "guest_name"):
        assert result.slot(slot) is None  # the form is done: a new "book" starts afresh
    [entry] = await saved_queue.list_queued()
    assert (entry.kind, entry.reason, entry.conversation_id) == ("pms.create_booking", "pms_unavailable", "whatsapp:34600111222")
    assert entry.error.startswith("PMSUnavailable")
    payload = dict(entry.payload)
    assert len(payload.pop("request_id")) == 32
    assert payload == {"guest_name": "Ana López", "room_type": "double", "checkin": CHECKIN.isoformat(),
                       "checkout": CHECKOUT.isoformat(), "guests": 2, "contact": "whatsapp:34600111222",
                       "phone": "", "language": "en", "hotel_id": "demo"}  # no phone: not a WhatsApp id


async def test_cancellation_while_the_pms_is_down_is_saved(broken, saved_queue):
    result = await run_action(ActionCancelReservation(), make_tracker(slots=CANCEL))
    assert result.responses == ["utter_request_saved"]
    assert result.slot("pending_confirmation") is None
    [entry] = await saved_queue.list_queued()
    assert entry.kind == "pms.cancel_booking"
    assert (entry.payload["reference"], entry.payload["language"]) == ("BK100002", "es")


async def test_late_checkout_while_the_pms_is_down_is_saved(broken, saved_queue):
    result = await run_action(ActionConfirmLateCheckout(), make_tracker(slots=LATE_CHECKOUT))
    assert result.responses == ["utter_request_saved"]
    assert result.slot("pending_confirmation") is None
    [entry] = await saved_queue.list_queued()
    assert (entry.kind, entry.payload["reference"], entry.payload["hotel_id"]) == ("pms.set_late_checkout", "BK100001", "demo")


async def test_an_open_circuit_saves_without_touching_the_pms(broken, saved_queue):
    for _ in range(3):  # fail_max: the circuit opens
        await run_action(ActionCancelReservation(), make_tracker(slots=CANCEL))
    attempts = broken.attempts
    result = await run_action(ActionCreateBooking(), make_tracker(slots=NEW_BOOKING))
    assert result.responses == ["utter_request_saved"]
    assert broken.attempts == attempts
    assert "circuit open" in (await saved_queue.list_queued())[-1].error


async def test_nothing_is_promised_when_the_request_cannot_be_saved(broken, saved_queue):
    class UnavailableQueue:
        async def enqueue(self, *args, **kwargs):
            raise QueueUnavailable("Redis down and spool database unavailable")

    use_queue(UnavailableQueue())
    for action, slots in ((ActionCreateBooking(), NEW_BOOKING), (ActionCancelReservation(), CANCEL),
                          (ActionConfirmLateCheckout(), LATE_CHECKOUT)):
        result = await run_action(action, make_tracker(slots=slots))
        assert result.responses == ["utter_pms_unavailable"]
        assert result.slot("booking_ref") == "missing"


async def test_reads_are_not_saved(broken, saved_queue):
    from actions.booking import ActionCheckAvailability

    result = await run_action(ActionCheckAvailability(), make_tracker(slots=NEW_BOOKING))
    assert result.responses == ["utter_pms_unavailable"]
    assert await saved_queue.size() == 0


# --- the worker: redo when the PMS is back, tell the guest ---------------------------------
async def test_saved_booking_is_made_when_the_pms_is_back_and_the_guest_told(broken, saved_queue, worker, rasa, clock):
    await run_action(ActionCreateBooking(), make_tracker(slots=NEW_BOOKING, sender_id="guest-7", language="en"))

    still_down = await retry_due(worker, clock)
    assert (still_down.claimed, still_down.failed) == (1, 1)
    assert bookings_of(broken, "Ana López") == [] and rasa.calls == []

    broken.down = False
    report = await retry_due(worker, clock, 2 * BACKOFF)  # the second retry waits twice as long
    assert report.succeeded == 1
    [row] = bookings_of(broken, "Ana López")
    assert (row.room_type, row.checkin, row.checkout, row.guests) == ("double", CHECKIN, CHECKOUT, 2)
    [call] = rasa.calls
    assert (call.conversation_id, call.intent, call.output_channel) == ("guest-7", "EXTERNAL_saved_request", "latest")
    assert call.entities == {"saved_request": "pms.create_booking", "outcome": "done", "booking_ref": row.reference}
    assert await saved_queue.size() == 0


async def test_a_create_that_reached_the_pms_is_not_made_twice(broken, saved_queue, worker, rasa, clock):
    """The first attempt wrote the booking but its answer was lost: the retry
    finds it by request id instead of booking a second room."""
    broken.down, broken.answers_lost = False, True
    result = await run_action(ActionCreateBooking(), make_tracker(slots=NEW_BOOKING))
    assert result.responses == ["utter_request_saved"]
    [first] = bookings_of(broken, "Ana López")

    broken.answers_lost = False
    assert (await retry_due(worker, clock)).succeeded == 1
    assert [row.reference for row in bookings_of(broken, "Ana López")] == [first.reference]
    assert rasa.calls[0].entities["booking_ref"] == first.reference


async def test_saved_cancellation_and_late_checkout_are_done(broken, saved_queue, worker, rasa, clock, hotel):
    await run_action(ActionCancelReservation(), make_tracker(slots=CANCEL, sender_id="guest-c"))
    await run_action(ActionConfirmLateCheckout(), make_tracker(slots=LATE_CHECKOUT, sender_id="guest-l"))
    broken.down = False
    assert (await retry_due(worker, clock)).succeeded == 2
    assert broken.get_booking("BK100002").status is BookingStatus.CANCELLED
    late = broken.get_booking("BK100001")
    assert (late.late_checkout_until, late.late_checkout_fee) == (hotel.policies.late_checkout_until, Decimal("47.50"))
    told = {call.conversation_id: call.entities for call in rasa.calls}
    assert told == {
        "guest-c": {"saved_request": "pms.cancel_booking", "outcome": "done", "booking_ref": "BK100002"},
        "guest-l": {"saved_request": "pms.set_late_checkout", "outcome": "done", "booking_ref": "BK100001"},
    }


async def test_a_cancellation_done_by_an_earlier_attempt_counts_as_done(broken, saved_queue, worker, rasa, clock):
    broken.down, broken.answers_lost = False, True
    await run_action(ActionCancelReservation(), make_tracker(slots=CANCEL))
    broken.answers_lost = False
    assert (await retry_due(worker, clock)).succeeded == 1
    assert rasa.calls[0].entities["outcome"] == "done"


async def test_permanent_failure_reaches_reception_and_the_guest(broken, saved_queue, worker, rasa, clock, staff_store):
    await run_action(ActionCreateBooking(), make_tracker(slots=NEW_BOOKING, sender_id="guest-p"))
    for retry in range(1, 4):  # DLQ_MAX_RETRIES=3, the PMS never comes back
        await retry_due(worker, clock, BACKOFF * 2 ** (retry - 1))
    assert await saved_queue.size() == 0
    [permanent] = await saved_queue.list_permanent()
    assert permanent.kind == "pms.create_booking"
    [call] = rasa.calls
    assert call.entities == {"saved_request": "pms.create_booking", "outcome": "failed"}
    [request] = staff_store.open_requests("saved_request")
    assert request.sender_id == "guest-p"
    assert "new booking: Ana López, double" in request.text and "language es" in request.text


async def test_a_room_taken_meanwhile_fails_at_once(broken, saved_queue, worker, rasa, clock, staff_store):
    await run_action(ActionCreateBooking(), make_tracker(slots={**NEW_BOOKING, "room_type": "suite"}))
    broken.down = False
    options = broken.check_availability(CHECKIN, CHECKOUT, 2, "es")
    suites_left = next(option.rooms_left for option in options if option.room_type.code == "suite")
    for _ in range(suites_left):  # reception sells the last suites meanwhile
        broken.create_booking(BookingRequest("Walk-in", "suite", CHECKIN, CHECKOUT, 2))
    report = await retry_due(worker, clock)
    assert report.permanent == 1
    assert rasa.calls[0].entities["outcome"] == "failed"
    assert len(staff_store.open_requests("saved_request")) == 1
    assert bookings_of(broken, "Ana López") == []


async def test_a_notification_rasa_refused_is_queued_and_delivered_later(broken, saved_queue, worker, rasa, clock):
    await run_action(ActionCancelReservation(), make_tracker(slots=CANCEL, sender_id="guest-n"))
    broken.down = False
    rasa.down(503)
    assert (await retry_due(worker, clock)).succeeded == 1  # the cancellation itself is done
    assert broken.get_booking("BK100002").status is BookingStatus.CANCELLED
    [notify] = await saved_queue.list_queued()
    assert (notify.kind, notify.reason, notify.conversation_id) == ("rasa.notify", "rasa_unavailable", "guest-n")
    assert "503" in notify.error and rasa.token not in notify.error

    rasa.up()
    assert (await retry_due(worker, clock)).succeeded == 1
    [call] = rasa.calls
    assert call.entities == {"saved_request": "pms.cancel_booking", "outcome": "done", "booking_ref": "BK100002"}
    assert await saved_queue.size() == 0


async def test_a_notification_that_never_gets_through_reaches_reception(broken, saved_queue, worker, rasa, clock, staff_store):
    await run_action(ActionCancelReservation(), make_tracker(slots=CANCEL, sender_id="guest-x"))
    broken.down = False
    rasa.down(500)
    await retry_due(worker, clock)
    for retry in range(1, 4):
        await retry_due(worker, clock, BACKOFF * 2 ** (retry - 1))
    [permanent] = await saved_queue.list_permanent()
    assert permanent.kind == "rasa.notify"
    [request] = staff_store.open_requests("saved_request")
    assert request.sender_id == "guest-x" and "could not be told" in request.text and "BK100002" in request.text
