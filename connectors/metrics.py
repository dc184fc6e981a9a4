"""``GET /webhooks/metrics/``: the Rasa process's Prometheus metrics.

credentials.yml::

    connectors.metrics.MetricsInput:

A tiny input channel whose only route serves prometheus_client's default
registry in the text exposition format: the channels' ``channel_*`` metrics
(connectors/channel_metrics.py), the ``dlq_*`` metrics of the process's
dead-letter worker, and the client's process/platform collectors. It never
receives guest messages. Put it behind the same network rules as Rasa's API:
it tells counts, never message content.
"""
from __future__ import annotations

from typing import Any, Awaitable, Callable, Dict, Optional, Text

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint
from sanic.request import Request
from sanic.response import HTTPResponse

import connectors.channel_metrics  # noqa: F401  (registers the channel_* metrics even with no channel enabled)


class MetricsInput(InputChannel):
    @classmethod
    def name(cls) -> Text:
        return "metrics"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "MetricsInput":
        if credentials:
            raise ValueError(f"connectors.metrics.MetricsInput takes no settings, got {', '.join(sorted(credentials))}")
        return cls()

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        metrics = Blueprint("metrics_endpoint", __name__)

        @metrics.route("/", methods=["GET"])
        async def scrape(request: Request) -> HTTPResponse:
            return HTTPResponse(body=generate_latest(REGISTRY), status=200, content_type=CONTENT_TYPE_LATEST)

        return metrics
