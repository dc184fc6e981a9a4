"""Prometheus metrics of the guest channels (names fixed in
docs/production-contract.md), in the Rasa process's default registry; served
by ``connectors.metrics.MetricsInput`` at ``GET /webhooks/metrics/``.

- ``channel_messages_total{channel,outcome}``: guest messages by what became
  of them: ``processed`` (Rasa's turn finished), ``duplicate`` (a redelivery,
  answered once already), ``failed`` (the turn raised; the message waits in the
  dead-letter queue for a retry), ``ignored`` (never for Rasa: an unknown hotel
  number, a reaction, automatic mail, our own mail), ``rejected`` (malformed:
  kept for staff in the dead-letter queue, never answered automatically).
- ``channel_turn_latency_seconds{channel}``: how long Rasa's turn took.
- ``channel_turn_messages{channel}``: messages sent to the guest for one of
  their messages (each one is billed; texts of a turn are merged).
- ``channel_sends_total{channel,result}``: messages to guests: ``sent``,
  ``failed`` (after the API client's own retries; it went to the dead-letter
  queue) and ``resent`` (sent later by the dead-letter worker).
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Iterator

from prometheus_client import Counter, Histogram

OUTCOMES = ("processed", "duplicate", "failed", "ignored", "rejected")
SEND_RESULTS = ("sent", "failed", "resent")

MESSAGES = Counter("channel_messages", "Guest messages received, by channel and outcome", ["channel", "outcome"])
TURN_LATENCY = Histogram(
    "channel_turn_latency_seconds",
    "Duration of Rasa's turn for one guest message",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
TURN_MESSAGES = Histogram(
    "channel_turn_messages",
    "Messages sent to the guest for one guest message",
    ["channel"],
    buckets=(0, 1, 2, 3, 4, 6, 10),
)
SENDS = Counter("channel_sends", "Messages to guests, by channel and result", ["channel", "result"])


def message(channel: str, outcome: str) -> None:
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown message outcome {outcome!r}")
    MESSAGES.labels(channel=channel, outcome=outcome).inc()


def send(channel: str, result: str) -> None:
    if result not in SEND_RESULTS:
        raise ValueError(f"unknown send result {result!r}")
    SENDS.labels(channel=channel, result=result).inc()


def turn_messages(channel: str, count: int) -> None:
    TURN_MESSAGES.labels(channel=channel).observe(count)


@contextmanager
def turn(channel: str) -> Iterator[None]:
    """Times Rasa's turn; counts it ``processed``, or ``failed`` when it raises."""
    started = time.perf_counter()
    try:
        yield
    except BaseException:
        message(channel, "failed")
        raise
    finally:
        TURN_LATENCY.labels(channel=channel).observe(time.perf_counter() - started)
    message(channel, "processed")
