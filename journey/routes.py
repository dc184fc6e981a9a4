"""The action server's journey routes: ``GET /r/<token>`` counts a review-link
click and redirects to the hotel's page on that platform."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sanic import response

from actions import config as hotel_config
from journey import metrics
from journey.guest_messages import default_store
from journey.links import InvalidLink, read_token

logger = logging.getLogger(__name__)


def register(app) -> None:
    @app.get("/r/<token:str>", name="journey_review_link")
    async def review_link(request, token: str):
        try:
            hotel_id, booking_ref, platform = read_token(hotel_config.settings().qr_secret, token)
        except InvalidLink:
            return response.json({"error": "unknown link"}, status=404)
        hotel = hotel_config.hotels().get(hotel_id)
        target = hotel.review_links.get(platform) if hotel else None
        if not target:
            return response.json({"error": "unknown link"}, status=404)
        try:
            await asyncio.to_thread(default_store().record_click, hotel_id, booking_ref, platform,
                                    dt.datetime.now(dt.timezone.utc))
        except Exception:  # the guest still gets to the review page
            logger.exception("journey: review click not recorded")
        metrics.REVIEW_CLICKS.labels(hotel=hotel_id, platform=platform).inc()
        return response.redirect(target, status=302, headers={"Cache-Control": "no-store"})


def _build_service():
    from journey.service import JourneyService

    return JourneyService.from_env()


def install(app) -> None:
    """The journey in the action server: the review-link route, and the
    scheduler + retry worker started and stopped with the server (only when a
    hotel has its journey on)."""
    register(app)

    @app.after_server_start
    async def start_journey(app_, loop) -> None:
        app_.ctx.journey = None
        try:
            from journey.config import journeys

            if not any(journey.enabled for journey in journeys().values()):
                return  # the usual case in development: nothing else is imported
            app_.ctx.journey = await asyncio.to_thread(_build_service)  # heavy imports off the event loop
        except Exception:  # a bad journey setting must not take the action server down
            logger.exception("journey not started")
            return
        if app_.ctx.journey is not None:
            app_.ctx.journey.start()
            logger.info("journey started (tick every %s s)", app_.ctx.journey.tick_seconds)

    @app.before_server_stop
    async def stop_journey(app_, loop) -> None:
        service = getattr(app_.ctx, "journey", None)
        if service is not None:
            await service.stop()
