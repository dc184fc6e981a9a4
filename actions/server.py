"""Action server entry point: Rasa SDK's app plus the routes guests' clients
fetch media from (signed QR codes, room photos), ``GET /metrics`` (Prometheus)
and the worker that redoes saved requests (started and stopped with the server).

    python -m actions.server --port 5055
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import os

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sanic import Sanic, response

from actions import qr
from actions.action_metrics import instrument_webhook
from actions.config import DEV_QR_SECRET, PROJECT_ROOT, settings
from actions.pms.gateway import current_breaker
from actions.pms.metrics import observe_breaker

logger = logging.getLogger(__name__)
MAX_TOKEN_LENGTH = 2048


def create_app() -> Sanic:
    from rasa_sdk.endpoint import create_app as create_sdk_app

    app = create_sdk_app("actions")
    app.static("/static", str(PROJECT_ROOT / "static"), name="static")

    @app.get("/qr/<token:str>")
    async def qr_code(request, token: str):
        token = token.removesuffix(".png")
        if len(token) > MAX_TOKEN_LENGTH:
            return response.json({"error": "token too long"}, status=414)
        try:
            qr.verify_token(token, settings().qr_secret)
        except qr.InvalidToken as exc:
            return response.json({"error": f"invalid QR token: {exc}"}, status=404)
        return response.raw(qr.render_png(token), content_type="image/png", headers={"Cache-Control": "private, max-age=86400"})

    @app.get("/metrics")
    async def metrics(request):
        # the breaker state may have been changed by another process (shared in Redis)
        await asyncio.to_thread(observe_breaker, current_breaker())
        return response.raw(generate_latest(), content_type=CONTENT_TYPE_LATEST)

    instrument_webhook(app)

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
    args = parser.parse_args()
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = settings()
    if config.qr_secret == DEV_QR_SECRET:
        logger.warning("QR_SECRET is not set: QR codes are signed with the development secret")
    logger.info("PMS backend: %s", config.pms_backend)
    create_app().run(host=args.host, port=args.port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
