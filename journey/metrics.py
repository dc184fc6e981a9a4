"""Prometheus metrics of the journey (served by the action server's /metrics)."""
from prometheus_client import Counter

MESSAGES = Counter("journey_messages_total", "Journey steps by outcome (sent, failed, skipped, cancelled)",
                   ["hotel", "step", "outcome"])
REPLIES = Counter("journey_replies_total", "Guest messages answering a journey message", ["hotel"])
OPT_OUTS = Counter("journey_opt_outs_total", "Guests who stopped proactive messages", ["hotel", "source"])
REVIEW_CLICKS = Counter("journey_review_clicks_total", "Review links followed", ["hotel", "platform"])
