"""The journey's steps go to the booking's own hotel's PMS: a QloApps hotel's
booking checked in the first hotel's embedded PMS would be 'not found' and its
step cancelled."""
from __future__ import annotations

import datetime as dt

from actions.config import HotelConfig
from actions.pms.base import BookingRequest
from actions.pms.gateway import PMSGateway, build_breaker
from actions.pms.local import LocalPMS
from actions.pms.qloapps import QloAppsPMS
from actions.rasa_api import RasaAPI
from connectors.gmail.config import GmailConfig
from connectors.outreach import Outreach
from connectors.whatsapp.config import WhatsAppConfig
from journey.bookings import PMSBookingFeed
from journey.config import JourneyConfig
from journey.delivery import JourneyDelivery
from journey.runner import JourneyRunner
from journey.store import SENT, JourneyStore
from tests.fakes.graph_server import GraphServer
from tests.fakes.qloapps_server import FakeQloApps
from tests.stack_common import ROOT
from tests.staff.fake_rasa_api import FakeRasaAPI

API_KEY = "QLOKEY7H2M9X4P1Z8W5V3N6B0C2D4F6G"
PNID, WA_ID = "1234567890", "34600555111"
DAY = dt.date(2027, 3, 3)


async def test_a_step_of_a_qloapps_hotels_booking_is_checked_in_that_pms(tmp_path):
    graph, rasa = GraphServer(token="t").start(), FakeRasaAPI(token="r").start()
    shop = FakeQloApps(api_key=API_KEY).seed_demo().start()
    hotel = HotelConfig.load(ROOT / "hotel.yml")
    now = dt.datetime.combine(DAY, dt.time(10, 0), tzinfo=hotel.timezone).astimezone(dt.timezone.utc)
    qlo = QloAppsPMS(shop.base_url, API_KEY, 1, room_type_map={"double": 12}, timeout=2.0, clock=lambda: DAY)
    first_hotels = LocalPMS(f"sqlite:///{tmp_path / 'pms.sqlite3'}", clock=lambda: DAY)
    outreach = Outreach(RasaAPI(rasa.url, "r"), clock=lambda: now.timestamp(), gmail=GmailConfig(),
                        whatsapp=WhatsAppConfig(verify_token="v", app_secret="s", access_token="t",
                                                phone_number_id=PNID, graph_api_url=graph.url, send_retries=0))
    try:
        booking = qlo.create_booking(BookingRequest("Marta Ruiz", "double", DAY, DAY + dt.timedelta(days=2), 2,
                                                    f"{WA_ID}@{PNID}", phone=f"+{WA_ID}", request_id="r-1"))
        journey = JourneyConfig.from_mapping(hotel.id, {
            "enabled": True, "whatsapp_phone_number_id": PNID,
            "steps": {"booking_confirmation": {"enabled": False}, "arrival_day": {"templates": {"es": {
                "name": "dia_de_llegada", "parameters": ["guest_name", "checkin_time"]}}}}})
        qlo_gateway = PMSGateway(qlo, build_breaker())
        store = JourneyStore(f"sqlite:///{tmp_path / 'journey.sqlite3'}")
        runner = JourneyRunner(store, hotels={hotel.id: hotel}, journeys={hotel.id: journey},
                               feed=PMSBookingFeed(lambda _hotel: qlo_gateway),
                               pms_call=PMSGateway(first_hotels, build_breaker()).call, pms=first_hotels,
                               delivery=JourneyDelivery(outreach), clock=lambda: now, public_url="http://hotel.test",
                               qr_secret="s", gateway_of=lambda _hotel: qlo_gateway)
        report = await runner.tick()
        rows = store.rows_for(hotel.id, [booking.reference])
    finally:
        await outreach.close()
        qlo.close()
        for server in (graph, rasa, shop):
            server.stop()
    assert report.sent == 1 and report.cancelled == 0, {k: (r.status, r.detail) for k, r in rows.items()}
    assert rows[(booking.reference, "arrival_day")].status == SENT
    [sent] = graph.delivered(WA_ID)
    assert sent["template"]["name"] == "dia_de_llegada"
    assert sent["template"]["components"][0]["parameters"][0]["text"] == "Marta"
