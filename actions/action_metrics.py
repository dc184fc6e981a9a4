"""``action_latency_seconds{action}``: how long the action server takes per
action, measured around Rasa SDK's ``/webhook`` route by two Sanic middlewares
(the SDK's executor is not reachable from outside ``create_app``)."""
from __future__ import annotations

import json
import time
import zlib
from typing import Optional

from prometheus_client import Histogram
from sanic import Sanic
from sanic.request import Request

ACTION_LATENCY = Histogram(
    "action_latency_seconds",
    "Time the action server took to run an action (the /webhook call), by action",
    ["action"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WEBHOOK = "/webhook"


def action_name(request: Request) -> Optional[str]:
    """``next_action`` of a webhook call (Rasa may deflate the body); None if unreadable."""
    try:
        body = request.body
        if request.headers.get("Content-Encoding") == "deflate":
            body = zlib.decompress(body)
        name = json.loads(body).get("next_action")
    except (ValueError, AttributeError, zlib.error):
        return None
    return name if isinstance(name, str) and name else None


def instrument_webhook(app: Sanic) -> None:
    @app.on_request
    async def start_timer(request: Request) -> None:
        if request.path == WEBHOOK and request.method == "POST":
            request.ctx.action_started = time.perf_counter()

    @app.on_response
    async def observe_action(request: Request, response) -> None:
        started = getattr(request.ctx, "action_started", None)
        if started is None:
            return
        # not the guest-controlled name of an action that does not exist: bounded labels
        name = "not_found" if response.status == 404 else action_name(request) or "unknown"
        ACTION_LATENCY.labels(action=name).observe(time.perf_counter() - started)
