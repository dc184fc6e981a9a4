"""Action server entry point: Rasa SDK's app plus the routes guests' clients
fetch media from (signed QR codes, room photos), ``GET /metrics`` (Prometheus)
and the worker that redoes saved requests (started and stopped with the server).

    python -m actions.server --port 5055
"""
from __future__ import annotations

import argparse
import asyncio
import html
import logging
import os
import zlib

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sanic import Sanic, response

from actions import config, qr
from actions.action_metrics import instrument_webhook
from actions.config import DEV_QR_SECRET, PROJECT_ROOT, settings
from actions.pms.gateway import current_breaker
from actions.pms.metrics import observe_breaker
from actions.webhook_auth import action_server_token, is_authorized, is_development
from core.settings import ConfigError

logger = logging.getLogger(__name__)
MAX_TOKEN_LENGTH = 2048
# A tracker of a long conversation is a few hundred KB; Rasa deflates it.
MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_INFLATED_BYTES = 16 * 1024 * 1024


def inflated_size_ok(body: bytes, limit: int = MAX_INFLATED_BYTES) -> bool:
    """True when a deflate body inflates to at most ``limit`` bytes, found out without inflating more."""
    inflater = zlib.decompressobj()
    try:
        inflated = len(inflater.decompress(body, limit + 1))
    except zlib.error:
        return True  # not our problem to report: the SDK answers the malformed body with an error
    return inflated <= limit and not inflater.unconsumed_tail


def guard_webhook(app: Sanic, token: str) -> None:
    """Only Rasa may run actions: ``POST /webhook`` needs the shared secret
    (actions/webhook_auth.py), its deflated body may not inflate past
    MAX_INFLATED_BYTES, and it answers no browser (no CORS headers, no preflight)."""

    @app.on_request
    async def require_rasa(request):
        if request.path.rstrip("/") != "/webhook":
            return None
        if request.method != "POST":
            return response.json({"error": "method not allowed"}, status=405)
        if not is_authorized(request.headers.get("Authorization"), token):
            logger.warning("refused an action call without the action-server token")
            return response.json({"error": "unauthorized"}, status=401)
        if request.headers.get("Content-Encoding") == "deflate" and not inflated_size_ok(request.body):
            return response.json({"error": "body too large once inflated"}, status=413)
        return None

    @app.on_response
    async def no_cors_on_webhook(request, reply):
        if request.path.rstrip("/") == "/webhook":
            for header in [h for h in reply.headers if h.lower().startswith("access-control-")]:
                del reply.headers[header]


async def _check_code(token: str):
    """(claims, problem, HTTP status): problem is "" for a code valid right now."""
    from actions.context import hotel_today
    from actions.pms.base import BookingNotFound, PMSUnavailable
    from actions.pms.gateway import gateway

    if len(token) > MAX_TOKEN_LENGTH:
        return {}, "token too long", 414
    try:
        claims = qr.verify_token(token, settings().qr_secret, today=hotel_today(config.hotel()))
        booking = await gateway().call(gateway().pms.get_booking, str(claims.get("ref", "")))
        qr.check_against_booking(claims, booking)
    except qr.InvalidToken as exc:
        return {}, str(exc), 404
    except BookingNotFound:
        return {}, "no such booking", 404
    except PMSUnavailable:
        return {}, "the booking system is not answering; try again in a minute", 503
    return claims, "", 200


def _verify_page(claims: dict, problem: str) -> str:
    if problem:
        body = f"<h1 style='color:#b00'>INVALID</h1><p>{html.escape(problem)}</p>"
    else:
        body = ("<h1 style='color:#070'>VALID</h1>"
                f"<p>Booking <b>{html.escape(str(claims['ref']))}</b>, {html.escape(str(claims['room']))}, "
                f"{html.escape(str(claims['in']))} to {html.escape(str(claims['out']))}: paid.</p>")
    return f"<!doctype html><meta charset=utf-8><title>Check-in code</title>{body}"


def add_media_routes(app: Sanic) -> None:
    """What guests' and reception's browsers fetch: room photos, QR images, the scan page."""
    app.static("/static", str(PROJECT_ROOT / "static"), name="static")

    @app.get("/qr/<token:str>")
    async def qr_code(request, token: str):
        """The guest's QR image: only for a valid, unexpired code of a booking still paid and unchanged."""
        claims, problem, status = await _check_code(token.removesuffix(".png"))
        if problem:
            return response.json({"error": f"invalid QR code: {problem}"}, status=status)
        return response.raw(qr.render_png(token.removesuffix(".png")), content_type="image/png",
                            headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/verify/<token:str>")
    async def verify_code(request, token: str):
        """Reception's scan page: is this check-in code valid right now?"""
        claims, problem, status = await _check_code(token.removesuffix(".png"))
        return response.html(_verify_page(claims, problem), status=200 if not problem else status,
                             headers={"Cache-Control": "no-store"})


def create_media_app() -> Sanic:
    """The public face (``--media-only``): photos, QR codes and the verify page, nothing
    else (no /webhook, no /metrics): the one port docker-compose publishes."""
    if settings().qr_secret == DEV_QR_SECRET and not is_development():
        raise ConfigError("QR_SECRET must be set when ASSISTANT_ENV=production (it signs check-in codes)")
    app = Sanic("guest_media", configure_logging=False)
    app.config.REQUEST_MAX_SIZE = 64 * 1024

    @app.get("/health")
    async def health(request):
        return response.json({"status": "ok"})

    add_media_routes(app)
    return app


def create_app() -> Sanic:
    from rasa_sdk.endpoint import create_app as create_sdk_app

    token = action_server_token()  # production without ACTION_SERVER_TOKEN stops here
    if settings().qr_secret == DEV_QR_SECRET and not is_development():
        raise ConfigError("QR_SECRET must be set when ASSISTANT_ENV=production (it signs check-in codes)")
    app = create_sdk_app("actions", cors_origins=None)
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    guard_webhook(app, token)
    add_media_routes(app)

    @app.get("/metrics")
    async def metrics(request):
        # the breaker state may have been changed by another process (shared in Redis)
        await asyncio.to_thread(observe_breaker, current_breaker())
        return response.raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    instrument_webhook(app)
    from journey.routes import install as install_journey  # review links, journey scheduler (docs/journey.md)

    install_journey(app)

    @app.after_server_start
    async def start_saved_request_worker(app, loop) -> None:
        from actions.saved_request_worker import build_worker

        app.ctx.saved_request_worker = build_worker(settings())
        app.ctx.saved_request_worker.start()
        logger.info("saved-request worker started")

    @app.before_server_stop
    async def stop_saved_request_worker(app, loop) -> None:
        worker = getattr(app.ctx, "saved_request_worker", None)
        if worker is not None:
            await worker.stop()

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_SERVER_PORT", "5055")))
    parser.add_argument("--host", default=os.environ.get("ACTION_SERVER_HOST", "0.0.0.0"))
    parser.add_argument("--media-only", action="store_true", help="serve only /static, /qr and /verify (the public port)")
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = settings()
    if config.qr_secret == DEV_QR_SECRET:
        logger.warning("QR_SECRET is not set: QR codes are signed with the development secret")
    logger.info("PMS backend: %s", config.pms_backend)
    app = create_media_app() if args.media_only else create_app()
    app.run(host=args.host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
