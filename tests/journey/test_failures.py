"""What happens when a send fails: a ``journey.send`` dead letter resends the
step (once), a process that died mid-send is not resent, WhatsApp's own
opt-out (Graph 131050) is stored. In process: SQLite store and PMS, the
dead-letter queue in memory, outreach to the fake Graph and Rasa servers."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import text

from actions.config import HotelConfig
from actions.pms.base import BookingStatus
from actions.pms.gateway import PMSGateway, build_breaker
from actions.pms.local import BookingRow, LocalPMS
from actions.rasa_api import RasaAPI
from connectors.gmail.config import GmailConfig
from connectors.outreach import Outreach
from connectors.whatsapp.config import WhatsAppConfig
from dlq import DLQSettings, RetryWorker, build_queue
from journey.bookings import LocalBookingFeed
from journey.config import JourneyConfig
from journey.delivery import JourneyDelivery
from journey.runner import JourneyRunner
from journey.store import FAILED, SENDING, SENT, JourneyStore
from tests.fakes.graph_server import GraphServer
from tests.stack_common import ROOT
from tests.staff.fake_rasa_api import FakeRasaAPI

PNID, WA_ID = "1234567890", "34600555111"
DAY = dt.date(2027, 3, 3)


@pytest.fixture
async def setup(tmp_path):
    graph = GraphServer(token="t").start()
    rasa = FakeRasaAPI(token="r").start()
    hotel = HotelConfig.load(ROOT / "hotel.yml")
    now = [dt.datetime.combine(DAY, dt.time(10, 0), tzinfo=hotel.timezone).astimezone(dt.timezone.utc)]
    pms = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: DAY)
    with pms._session() as session, session.begin():
        session.execute(text("DELETE FROM bookings"))
        session.add(BookingRow(reference="BK555111", guest_name="Marta Ruiz", contact=f"+{WA_ID}", room_type="double",
                               checkin=DAY, checkout=DAY + dt.timedelta(days=2), guests=2,
                               status=BookingStatus.CONFIRMED.value, nightly_rate=Decimal("95.00"),
                               total_price=Decimal("190.00"), currency="EUR"))
    journey = JourneyConfig.from_mapping(hotel.id, {
        "enabled": True, "whatsapp_phone_number_id": PNID,
        "steps": {"booking_confirmation": {"enabled": False}, "arrival_day": {"templates": {"es": {
            "name": "dia_de_llegada", "parameters": ["guest_name", "checkin_time"]}}}}})
    clock = [1_900_000_000.0]
    queue = build_queue(DLQSettings(database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}"), record_metrics=False,
                        clock=lambda: clock[0])
    whatsapp = WhatsAppConfig(verify_token="v", app_secret="s", access_token="t", phone_number_id=PNID,
                              graph_api_url=graph.url, send_retries=0, retry_base_seconds=0.01)
    outreach = Outreach(RasaAPI(rasa.url, "r"), whatsapp=whatsapp, gmail=GmailConfig(), queue=queue,
                        clock=lambda: now[0].timestamp())
    store = JourneyStore(f"sqlite:///{tmp_path / 'journey.sqlite3'}")
    runner = JourneyRunner(store, hotels={hotel.id: hotel}, journeys={hotel.id: journey},
                           feed=LocalBookingFeed(pms), pms_call=PMSGateway(pms, build_breaker()).call, pms=pms,
                           delivery=JourneyDelivery(outreach), clock=lambda: now[0], public_url="http://hotel.test",
                           qr_secret="s", queue=queue, lease_seconds=120)
    yield dict(graph=graph, rasa=rasa, runner=runner, store=store, queue=queue, now=now, clock=clock, hotel=hotel)
    await outreach.close()
    graph.stop()
    rasa.stop()


async def test_a_failed_send_is_resent_once_by_the_dead_letter_queue(setup):
    graph, runner, store, queue = setup["graph"], setup["runner"], setup["store"], setup["queue"]
    graph.fail_next("messages", 503, code=2, times=1)
    report = await runner.tick()
    assert (report.claimed, report.failed) == (1, 1) and graph.delivered() == []
    [row] = store.list_steps(setup["hotel"].id, [FAILED])
    assert row.step == "arrival_day" and await queue.size() == 1
    assert (await runner.tick()).claimed == 0  # the queue owns the retry, not the next tick

    worker = RetryWorker(queue, runner.handlers())
    setup["clock"][0] += 61  # the first retry is due after 60 s
    await worker.run_once()
    [sent] = graph.delivered(WA_ID)
    assert sent["type"] == "template" and sent["template"]["name"] == "dia_de_llegada"
    assert sent["template"]["components"][0]["parameters"][0]["text"] == "Marta"
    assert store.get(row.id).status == SENT and await queue.size() == 0
    setup["clock"][0] += 3600
    await worker.run_once()
    await runner.tick()
    assert len(graph.delivered(WA_ID)) == 1
    [bot] = [e for e in setup["rasa"].posted(f"{WA_ID}@{PNID}") if e["event"] == "bot"]
    assert bot["metadata"]["journey_step"] == "arrival_day" and bot["metadata"]["author"] == "journey"


async def test_a_send_interrupted_by_a_dead_process_is_not_repeated(setup):
    store, runner, now = setup["store"], setup["runner"], setup["now"]
    now[0] -= dt.timedelta(hours=1)
    assert (await runner.tick()).claimed == 0  # 09:00: planned, not due yet
    now[0] += dt.timedelta(hours=1)
    [claimed] = store.claim_due(now[0], 120)  # at 10:00 a process claimed it, then died
    assert claimed.status == SENDING
    now[0] += dt.timedelta(minutes=5)
    report = await runner.tick()
    assert report.interrupted == 1 and report.claimed == 0
    row = store.get(claimed.id)
    assert row.status == FAILED and "interrupted" in row.detail
    assert setup["graph"].delivered() == []


async def test_whatsapps_own_opt_out_is_stored(setup):
    setup["graph"].fail_next("messages", 400, code=131050, times=1)
    report = await setup["runner"].tick()
    assert report.skipped == 1
    assert setup["store"].opted_out(setup["hotel"].id, f"{WA_ID}@{PNID}")
