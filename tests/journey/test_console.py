"""The staff console's journey page: counts per hotel, failed/scheduled steps
and opted-out guests, guest-controlled text escaped."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sanic import Sanic, response

from journey.plan import PlannedStep
from journey.store import JourneyStore, Target
from staff.journey_page import register

NOW = dt.datetime(2027, 3, 1, 10, tzinfo=dt.timezone.utc)


async def test_journey_page_lists_scheduled_sent_failed_and_opted_out_per_hotel(tmp_path):
    store = JourneyStore(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    soon = PlannedStep("pre_arrival", NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=9))
    later = PlannedStep("arrival_day", NOW + dt.timedelta(days=2), NOW + dt.timedelta(days=2, hours=9))
    store.add_steps("demo", "BK1", [soon, later], Target("<b>x</b>@example.com", "gmail", "es", "solo"), NOW)
    store.add_steps("playa", "BK2", [soon], Target("346001@1", "whatsapp", "es", "couple"), NOW)
    [claimed] = store.claim_due(NOW + dt.timedelta(hours=2), 60, limit=1)
    store.finish(claimed, "sent", NOW + dt.timedelta(hours=2), delivery="email")
    store.opt_out("playa", "346001@1", "keyword", "baja", NOW + dt.timedelta(hours=3))
    store.record_click("demo", "BK1", "google", NOW + dt.timedelta(hours=4))

    app = Sanic("journey_console_test")
    captured = {}

    def page(request, title, body, here):
        captured.update(title=title, body=body, here=here)
        return response.html(body)

    register(app, lambda handler: handler, page, ZoneInfo("Europe/Madrid"), store_factory=lambda: store)
    handler = app.router.find_route_by_view_name("journey_console_test.journey").handler

    class Request:
        args = {}

    await handler(Request())
    body = captured["body"]
    assert captured["here"] == "journey" and "<b>x</b>" not in body and "&lt;b&gt;x&lt;/b&gt;" in body
    counts = store.counts()
    assert counts["demo"]["sent"] == 1 and counts["demo"]["pending"] == 1 and counts["demo"]["review_clicks"] == 1
    assert counts["playa"]["skipped"] == 1 and counts["playa"]["opted_out"] == 1
    assert "<td>demo</td><td>1</td><td>1</td>" in body and "346001@1" in body and "keyword" in body
    assert "2027-03-03 11:00" in body  # the scheduled arrival-day step, in the hotel's time


async def test_staff_see_only_their_hotels(tmp_path):
    store = JourneyStore(f"sqlite:///{tmp_path / 'j.sqlite3'}")
    soon = PlannedStep("pre_arrival", NOW + dt.timedelta(hours=1), NOW + dt.timedelta(hours=9))
    store.add_steps("demo", "BK1", [soon], Target("demo-guest@example.com", "gmail", "es", "solo"), NOW)
    store.add_steps("playa", "BK2", [soon], Target("playa-guest@example.com", "gmail", "es", "solo"), NOW)
    app = Sanic("journey_console_hotels_test")
    bodies = []
    register(app, lambda handler: handler, lambda request, title, body, here: bodies.append(body) or response.html(""),
             ZoneInfo("Europe/Madrid"), hotels_of=lambda request: frozenset({"playa"}), store_factory=lambda: store)
    handler = app.router.find_route_by_view_name("journey_console_hotels_test.journey").handler

    class Request:
        def __init__(self, args):
            self.args = args

    await handler(Request({}))
    await handler(Request({"hotel": "demo"}))
    assert "playa-guest@example.com" in bodies[0] and "demo-guest" not in bodies[0]
    assert "demo-guest" not in bodies[1] and "playa-guest" not in bodies[1]
