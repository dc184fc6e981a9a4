"""End to end with the trained model: the checkout-morning step offers the
late checkout in the guest's conversation, the guest answers "sí" and the
existing late-checkout flow writes it to the PMS (the action server process
of tests/integration, the model loaded in-process; their session fixtures
are shared, so this costs one conversation, not another model load)."""
from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import EventVerbosity

from actions import booking_access
from actions.config import HotelConfig
from actions.pms.gateway import PMSGateway, build_breaker
from actions.pms.local import LocalPMS
from connectors.outreach import Outreach
from journey.bookings import LocalBookingFeed
from journey.config import JourneyConfig
from journey.delivery import JourneyDelivery
from journey.runner import JourneyRunner
from journey.store import SENT, JourneyStore
from tests.integration.conftest import ROOT, Guest

pytestmark = pytest.mark.model


class AgentRasaAPI:
    """What outreach needs from Rasa's HTTP API (read a tracker, append events),
    done on the in-process agent's tracker store, as `rasa run --enable-api` does."""

    def __init__(self, rasa_agent) -> None:
        self.agent = rasa_agent

    async def tracker(self, conversation_id: str) -> dict:
        tracker = await self.agent.tracker_store.get_or_create_tracker(conversation_id)
        return tracker.current_state(EventVerbosity.ALL)

    async def append_events(self, conversation_id: str, events: list) -> dict:
        tracker = await self.agent.tracker_store.get_or_create_tracker(conversation_id)
        for event in events:
            tracker.update(Event.from_parameters(event), self.agent.domain)
        await self.agent.tracker_store.save(tracker)
        return tracker.current_state(EventVerbosity.AFTER_RESTART)


def test_guest_answers_the_checkout_morning_offer_and_the_late_checkout_is_written(agent, action_server, tmp_path):
    hotel = HotelConfig.load(ROOT / "hotel.yml")
    today = dt.datetime.now(hotel.timezone).date()
    guest = Guest(agent, "journey-checkout-guest")
    guest.say("hola")  # the guest has chatted before (a dev channel: outreach only records there)
    database = action_server["workdir"] / "pms.sqlite3"
    pms = LocalPMS(f"sqlite:///{database}", clock=lambda: today)  # the action server's PMS database, seeded
    with sqlite3.connect(database) as db:  # BK100001 (in house, paid) leaves today; booked in this chat
        db.execute("UPDATE bookings SET checkout = ?, contact = ?, request_id = 'chat-e2e', late_checkout_until = NULL,"
                   " late_checkout_fee = NULL WHERE reference = 'BK100001'", (today.isoformat(), guest.sender_id))
    journey = JourneyConfig.from_mapping(hotel.id, {"enabled": True, "steps": {
        name: {"enabled": name == "checkout_morning"} for name in
        ("booking_confirmation", "pre_arrival", "arrival_day", "checkout_morning", "review_request")}})
    pms_gateway = PMSGateway(pms, build_breaker())
    morning = dt.datetime.combine(today, dt.time(9, 30), tzinfo=hotel.timezone)
    outreach = Outreach(AgentRasaAPI(agent), clock=lambda: morning.timestamp())
    store = JourneyStore(f"sqlite:///{tmp_path / 'journey.sqlite3'}")
    runner = JourneyRunner(store, hotels={hotel.id: hotel}, journeys={hotel.id: journey},
                           feed=LocalBookingFeed(pms, hotel.default_language), pms_call=pms_gateway.call, pms=pms,
                           delivery=JourneyDelivery(outreach), clock=lambda: morning.astimezone(dt.timezone.utc),
                           public_url="http://hotel.test", qr_secret="e2e")
    # the journey records, as the action server would, that this conversation may use the booking
    booking_access.use_store(booking_access.AccessStore(f"sqlite:///{action_server['workdir'] / 'assistant.sqlite3'}"))
    try:
        report = agent.test_loop.run_until_complete(runner.tick())
    finally:
        booking_access.use_store(None)
    assert report.sent == 1, report
    [row] = store.list_steps(hotel.id, [SENT])
    assert (row.booking_ref, row.step, row.conversation_id) == ("BK100001", "checkout_morning", guest.sender_id)
    offer = [e for e in guest.tracker().events if e.type_name == "bot"][-1]
    assert "late checkout" in offer.text and "47.50" in offer.text and offer.metadata["author"] == "journey"

    reply = " ".join(m.get("text", "") for m in guest.say("sí"))
    assert "Late checkout hasta las 15:00" in reply, reply
    with sqlite3.connect(database) as db:
        fee, until = db.execute("SELECT late_checkout_fee, late_checkout_until FROM bookings "
                                "WHERE reference = 'BK100001'").fetchone()
    assert float(fee) == 47.5 and until.startswith("15:00")
    assert agent.test_loop.run_until_complete(runner.tick()).sent == 0  # once
    store.dispose()


def test_a_rating_in_reply_to_the_review_request_follows_the_feedback_flow(agent, action_server, tmp_path):
    hotel = HotelConfig.load(ROOT / "hotel.yml")
    today = dt.datetime.now(hotel.timezone).date()
    guest = Guest(agent, "journey-review-guest")
    guest.say("hello")
    database = action_server["workdir"] / "pms.sqlite3"
    pms = LocalPMS(f"sqlite:///{database}", clock=lambda: today)
    with sqlite3.connect(database) as db:  # BK100002 (two guests) left yesterday; booked in this chat
        db.execute("UPDATE bookings SET checkin = ?, checkout = ?, contact = ?, request_id = 'chat-e2e-review', "
                   "status = 'confirmed' WHERE reference = 'BK100002'",
                   ((today - dt.timedelta(days=3)).isoformat(), (today - dt.timedelta(days=1)).isoformat(),
                    guest.sender_id))
    journey = JourneyConfig.from_mapping(hotel.id, {"enabled": True, "steps": {
        name: {"enabled": name == "review_request"} for name in
        ("booking_confirmation", "pre_arrival", "arrival_day", "checkout_morning", "review_request")}})
    late_morning = dt.datetime.combine(today, dt.time(11, 30), tzinfo=hotel.timezone)
    store = JourneyStore(f"sqlite:///{tmp_path / 'journey.sqlite3'}")
    runner = JourneyRunner(store, hotels={hotel.id: hotel}, journeys={hotel.id: journey},
                           feed=LocalBookingFeed(pms, hotel.default_language), pms_call=PMSGateway(pms, build_breaker()).call,
                           pms=pms, delivery=JourneyDelivery(Outreach(AgentRasaAPI(agent), clock=late_morning.timestamp)),
                           clock=lambda: late_morning.astimezone(dt.timezone.utc), public_url="http://hotel.test",
                           qr_secret="e2e")
    # the booking's contact is Spanish by default; the couple wording, the hotel's links through the redirect
    assert agent.test_loop.run_until_complete(runner.tick()).sent == 1
    request = [e for e in guest.tracker().events if e.type_name == "bot"][-1]
    assert "escapada" in request.text and "http://hotel.test/r/" in request.text and "BAJA" in request.text

    asked = " ".join(m.get("text", "") for m in guest.say("2"))
    assert asked, "the rating was not taken by the feedback form"
    answer = " ".join(m.get("text", "") for m in guest.say("la habitación estaba sucia"))
    assert answer
    with sqlite3.connect(action_server["workdir"] / "assistant.sqlite3") as db:
        rows = db.execute("SELECT text, urgent FROM staff_requests WHERE kind = 'feedback' AND sender_id = ?",
                          (guest.sender_id,)).fetchall()
    assert rows == [("2/5: la habitación estaba sucia", 1)]  # a low rating reaches staff
    store.dispose()


def test_baja_stops_the_journey_for_that_guest(agent, action_server, monkeypatch):
    """The opt-out turn as connectors/safeguards.py runs it (this in-process agent has no
    safeguards installed): "BAJA" is not read as a cancellation, it is stored and confirmed."""
    from rasa.core.processor import MessageProcessor

    from journey.rasa_turn import is_opt_out, opt_out_turn

    original = MessageProcessor.handle_message

    async def handle_message(self, message):
        if is_opt_out(message.text or ""):
            return await opt_out_turn(self, message)
        return await original(self, message)

    monkeypatch.setattr(MessageProcessor, "handle_message", handle_message)
    guest = Guest(agent, "journey-optout-guest")
    guest.say("hola")
    reply = " ".join(m.get("text", "") for m in guest.say("BAJA"))
    assert reply == "Hecho: no te enviaremos más mensajes automáticos. Si nos escribes, te seguiremos respondiendo."
    with sqlite3.connect(action_server["workdir"] / "assistant.sqlite3") as db:
        rows = db.execute("SELECT hotel_id, source, text FROM journey_optouts WHERE guest = ?",
                          (guest.sender_id,)).fetchall()
    assert rows == [("demo", "keyword", "BAJA")]
    after = " ".join(m.get("text", "") for m in guest.say("¿a qué hora abre recepción?"))
    assert after  # the conversation goes on as usual
