"""A journey worker process for the two-week simulation: the real runner,
store (PostgreSQL), embedded PMS (PostgreSQL), outreach to the fake Graph /
Gmail / Rasa servers; its clock is the simulation's, read from a file before
every tick. Protocol on stdin/stdout: "tick" -> one JSON report line; "quit"."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import os
import sys
from pathlib import Path


async def main() -> None:
    spec = json.loads(os.environ["JOURNEY_SIM"])
    from actions.config import HotelConfig
    from actions.pms.gateway import PMSGateway, build_breaker
    from actions.pms.local import LocalPMS
    from actions.rasa_api import RasaAPI
    from connectors.gmail.config import GmailConfig
    from connectors.outreach import Outreach
    from connectors.whatsapp.config import WhatsAppConfig
    from journey.bookings import LocalBookingFeed
    from journey.config import load_file
    from journey.delivery import JourneyDelivery
    from journey.runner import JourneyRunner
    from journey.store import JourneyStore

    clock_file = Path(spec["clock_file"])
    now = [dt.datetime.fromisoformat(clock_file.read_text().strip())]
    hotel = HotelConfig.load(Path(spec["hotel_file"]))
    journey = load_file(Path(spec["hotel_file"]))
    pms = LocalPMS(spec["database_url"], seed=False, clock=lambda: now[0].astimezone(hotel.timezone).date())
    pms_gateway = PMSGateway(pms, build_breaker())
    whatsapp = WhatsAppConfig(verify_token="v", app_secret="s", access_token=spec["graph_token"],
                              phone_number_id=spec["phone_number_id"], graph_api_url=spec["graph_url"],
                              send_retries=0, retry_base_seconds=0.01)
    gmail = GmailConfig(client_id="cid", client_secret="csecret", refresh_token="refresh", api_url=spec["gmail_url"],
                        token_url=f"{spec['gmail_url']}/token", address=spec["hotel_mail"], send_retries=0,
                        retry_base_seconds=0.01)
    outreach = Outreach(RasaAPI(spec["rasa_url"], spec["rasa_token"]), whatsapp=whatsapp, gmail=gmail,
                        sender_name=hotel.name, clock=lambda: now[0].timestamp())
    store = JourneyStore(spec["database_url"])
    runner = JourneyRunner(store, hotels={hotel.id: hotel}, journeys={hotel.id: journey},
                           feed=LocalBookingFeed(pms, hotel.default_language), pms_call=pms_gateway.call, pms=pms,
                           delivery=JourneyDelivery(outreach), clock=lambda: now[0],
                           public_url="http://hotel.test", qr_secret="sim-secret")
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while True:
        line = (await loop.run_in_executor(None, sys.stdin.readline)).strip()
        if line in ("", "quit"):
            break
        now[0] = dt.datetime.fromisoformat(clock_file.read_text().strip())
        report = await runner.tick()
        print(json.dumps(dataclasses.asdict(report)), flush=True)
    await outreach.close()
    store.dispose()


if __name__ == "__main__":
    asyncio.run(main())
