"""Running the journey inside a process (the action server): APScheduler's
``AsyncIOScheduler`` runs the tick every JOURNEY_TICK_SECONDS (coalesced, one
at a time per process), and a dead-letter ``RetryWorker`` resends failed steps.

    service = JourneyService.from_env(); service.start(); ...; await service.stop()

Settings: JOURNEY_TICK_SECONDS (60), JOURNEY_DATABASE_URL (default
ASSISTANT_DATABASE_URL), the hotel files' ``journey:`` sections, outreach's
and the PMS's own settings.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
from typing import Optional

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from actions import config as hotel_config
from dlq import DLQSettings, RetryWorker, build_queue
from journey.bookings import PMSBookingFeed
from journey.config import journeys
from journey.delivery import JourneyDelivery
from journey.runner import JourneyRunner
from journey.store import JourneyStore

logger = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class JourneyService:
    def __init__(self, runner: JourneyRunner, worker: Optional[RetryWorker], tick_seconds: float) -> None:
        self.runner, self.worker, self.tick_seconds = runner, worker, tick_seconds
        self.scheduler = AsyncIOScheduler(timezone=dt.timezone.utc)

    @classmethod
    def from_env(cls) -> Optional["JourneyService"]:
        """None when no hotel has its journey on."""
        configured = journeys()
        if not any(j.enabled for j in configured.values()):
            return None
        from actions.pms.gateway import gateway
        from connectors.outreach import Outreach

        settings = hotel_config.settings()
        pms_gateway = gateway()
        store = JourneyStore(os.environ.get("JOURNEY_DATABASE_URL", "").strip() or settings.assistant_database_url)
        queue = build_queue(DLQSettings.from_env())
        default_hotel = hotel_config.hotel()
        runner = JourneyRunner(
            store, hotels=hotel_config.hotels(), journeys=configured,
            feed=PMSBookingFeed(gateway, default_hotel.default_language),
            pms_call=pms_gateway.call, pms=pms_gateway.pms, delivery=JourneyDelivery(Outreach.from_env(queue=queue)),
            clock=utc_now, public_url=settings.public_url, qr_secret=settings.qr_secret, queue=queue,
            gateway_of=gateway,
        )
        worker = RetryWorker(queue, runner.handlers())
        return cls(runner, worker, float(os.environ.get("JOURNEY_TICK_SECONDS", "60")))

    async def _tick(self) -> None:
        try:
            report = await self.runner.tick()
            if report.claimed:
                logger.info("journey tick: %s", report)
        except Exception:  # the next tick tries again; the store keeps every step
            logger.exception("journey tick failed")

    def start(self) -> None:
        self.scheduler.add_job(self._tick, "interval", seconds=self.tick_seconds, coalesce=True, max_instances=1,
                               next_run_time=utc_now(), id="journey-tick")
        self.scheduler.start()
        if self.worker is not None:
            self.worker.start()

    async def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
        if self.worker is not None:
            await self.worker.stop()
