"""Reception's metrics, on the console's ``/metrics`` (Prometheus text format):

- ``staff_first_reply_seconds{hotel}`` (histogram): from a request (handoff,
  payment check, incident) to the first staff message to that guest;
- ``staff_open_handoffs{hotel}``: open handoff requests;
- ``staff_waiting_requests{hotel}``: open requests nobody has answered yet;
- ``staff_oldest_wait_seconds{hotel}``: how long the longest-waiting of those
  has waited (alert ``StaffGuestWaitingTooLong``, deploy/prometheus/alerts.yml).

The gauges are computed from the database at each scrape, so every console
process reports the same values.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Dict, Iterable

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

WAITING_KINDS = ("handoff", "payment_check")  # plus urgent requests of any kind: a guest waits for a person
BUCKETS = (30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400)


class WaitingCollector:
    def __init__(self, snapshot: Callable[[], Iterable[Dict[str, Any]]]) -> None:
        self.snapshot = snapshot

    def collect(self):
        open_handoffs = GaugeMetricFamily("staff_open_handoffs", "Open handoff requests", labels=["hotel"])
        waiting = GaugeMetricFamily("staff_waiting_requests", "Open staff requests without a staff reply yet", labels=["hotel"])
        oldest = GaugeMetricFamily("staff_oldest_wait_seconds", "Age of the oldest unanswered open staff request",
                                   labels=["hotel"])
        for row in self.snapshot():
            open_handoffs.add_metric([row["hotel"]], row["open_handoffs"])
            waiting.add_metric([row["hotel"]], row["waiting"])
            oldest.add_metric([row["hotel"]], row["oldest_wait_seconds"])
        yield open_handoffs
        yield waiting
        yield oldest


class StaffMetrics:
    def __init__(self, snapshot: Callable[[], Iterable[Dict[str, Any]]] = lambda: ()) -> None:
        self.registry = CollectorRegistry()
        self._first_reply = Histogram("staff_first_reply_seconds", "Time from a staff request to the first staff reply",
                                      ["hotel"], buckets=BUCKETS, registry=self.registry)
        self.registry.register(WaitingCollector(snapshot))

    def first_reply(self, hotel: str, seconds: float) -> None:
        self._first_reply.labels(hotel or "unknown").observe(max(0.0, seconds))

    def render(self) -> bytes:
        return generate_latest(self.registry)


def waiting_snapshot(requests: Iterable[Any], hotel_of: Dict[str, str], answered: Dict[int, Any], hotels: Iterable[str],
                     now: dt.datetime) -> list:
    """Per hotel: open handoffs, unanswered requests and the oldest wait (naive UTC times)."""
    rows = {h: {"hotel": h, "open_handoffs": 0, "waiting": 0, "oldest_wait_seconds": 0.0} for h in hotels}
    for r in requests:
        hotel = hotel_of.get(r.sender_id, "unknown")
        row = rows.setdefault(hotel, {"hotel": hotel, "open_handoffs": 0, "waiting": 0, "oldest_wait_seconds": 0.0})
        if r.kind == "handoff":
            row["open_handoffs"] += 1
        if r.id not in answered and r.created_at is not None and (r.urgent or r.kind in WAITING_KINDS):
            row["waiting"] += 1
            row["oldest_wait_seconds"] = max(row["oldest_wait_seconds"], (now - r.created_at).total_seconds())
    return list(rows.values())
