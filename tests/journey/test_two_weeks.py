"""Two weeks of a hotel's journey, simulated hour by hour with a shared clock,
over 50 bookings (made before and during the fortnight, changed, cancelled,
guests opting out), with TWO real worker processes ticking at the same
moment against one PostgreSQL database (journey store and embedded PMS).
Messages go through connectors/outreach to the fake Graph and Gmail servers
and are recorded in the fake Rasa API.

The expectation is computed here from the rules in docs/journey.md (not with
journey.plan): every step exactly once, at its local time (the fortnight
crosses the switch to summer time on 2027-03-28), none in the quiet hours,
none after a cancellation or an opt-out, WhatsApp templates to guests who
never wrote or wrote more than 24 h ago, free text inside the window, e-mail
to e-mail guests.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import random
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import text, update

from actions.pms.base import BookingStatus
from actions.pms.local import BookingRow, LocalPMS
from journey.guest_messages import handle_guest_message
from journey.store import SENT, JourneyStore
from tests.fakes.gmail_server import GmailServer
from tests.fakes.graph_server import GraphServer
from tests.stack_common import fresh_postgres_database
from tests.staff.fake_rasa_api import FakeRasaAPI

ROOT = Path(__file__).resolve().parents[2]
MADRID = ZoneInfo("Europe/Madrid")
START = dt.datetime(2027, 3, 20, 0, 0, tzinfo=MADRID).astimezone(dt.timezone.utc)
HOURS = 14 * 24
PNID, TOKEN, RASA_TOKEN, HOTEL_MAIL = "1234567890", "graph-token", "sim-rasa-token", "reception@hotel.example"
STEP_TIMES = {"pre_arrival": ("checkin", -2, 10), "arrival_day": ("checkin", 0, 10),
              "checkout_morning": ("checkout", 0, 9), "review_request": ("checkout", 1, 11)}
TEMPLATES = {"booking_confirmation": {"es": "reserva_confirmada", "en": "booking_confirmed"},
             "pre_arrival": {"es": "antes_de_llegar", "en": "before_arrival"},
             "arrival_day": {"es": "dia_de_llegada", "en": "arrival_day"},
             "checkout_morning": {"es": "late_checkout_oferta", "en": "late_checkout_offer"},
             "review_request": {"es": "opinion_estancia", "en": "stay_review"}}


def at_local(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=MADRID).astimezone(dt.timezone.utc)


def tick_time(k: int) -> dt.datetime:
    return START + dt.timedelta(hours=k)


def first_tick_at_or_after(moment: dt.datetime) -> int:
    k = max(0, -(-int((moment - START).total_seconds()) // 3600))
    return k


def user_event(text_: str, at: dt.datetime) -> dict:
    return {"event": "user", "text": text_, "input_channel": "whatsapp", "timestamp": at.timestamp(),
            "metadata": {"hotel": {"id": "demo"}}, "parse_data": {"intent": {"name": "greet", "confidence": 0.9}}}


class Scenario:
    """50 bookings and what happens to them, drawn from a fixed seed."""

    def __init__(self) -> None:
        rng = random.Random(20270320)
        self.bookings = []
        for i in range(50):
            created = 0 if i < 20 else rng.randrange(1, 8 * 24)
            created_day = tick_time(created).astimezone(MADRID).date()
            checkin = max(created_day + dt.timedelta(days=rng.randrange(0, 5)), START.astimezone(MADRID).date())
            if 20 <= i < 28:  # changed later: arrive at least four days after booking
                checkin = created_day + dt.timedelta(days=4 + rng.randrange(0, 2))
            if 30 <= i < 36:  # cancelled later: arrive at least two days after booking
                checkin = created_day + dt.timedelta(days=2 + rng.randrange(0, 3))
            nights = rng.randrange(1, 4)
            kind = ("phone_es", "phone_en", "email", "chat", "email")[i % 5]
            if i in (14, 29):
                kind = "none"
            reference = f"BK{700000 + i}"
            contact = {"phone_es": f"+34 6{i:08d}", "phone_en": f"+44 7{i:09d}", "email": f"guest{i}@example.com",
                       "chat": f"3461{i:07d}@{PNID}", "none": ""}[kind]
            guests = rng.choice([1, 2, 2, 3, 4, 6])
            self.bookings.append(dict(
                i=i, reference=reference, created=created, checkin=checkin, checkout=checkin + dt.timedelta(days=nights),
                kind=kind, contact=contact, guests=guests, room_type="family" if guests in (3, 4) else "double",
                change=None, cancel=None, opt_out=None, chat_messages=[],
            ))
        for b in self.bookings[20:28]:  # moved one or two days later, the day after booking
            b["change"] = (b["created"] + 20, rng.choice([1, 2]))
        for b in self.bookings[30:36]:  # cancelled somewhere between booking and departure
            end = first_tick_at_or_after(at_local(b["checkout"], 0))
            b["cancel"] = rng.randrange(b["created"] + 1, max(b["created"] + 2, end))
        for b in (x for x in self.bookings[36:44] if x["kind"] != "none"):  # the guest answers "baja"
            b["opt_out"] = rng.randrange(b["created"] + 1, b["created"] + 6 * 24)
        for b in self.bookings:
            if b["kind"] == "chat":  # booked in the chat; some write again on arrival morning
                b["chat_messages"].append(b["created"])
                if b["i"] % 10 == 3:
                    b["chat_messages"].append(first_tick_at_or_after(at_local(b["checkin"], 8)))

    def conversation(self, b) -> str:
        if b["kind"] in ("phone_es", "phone_en"):
            return "".join(ch for ch in b["contact"] if ch.isdigit()) + f"@{PNID}"
        return b["contact"].lower()

    def language(self, b) -> str:
        return "en" if b["kind"] == "phone_en" else "es"

    def expected(self) -> dict:
        """(reference, step) -> (tick, channel, mode)."""
        result = {}
        for b in self.bookings:
            if b["kind"] == "none":
                continue
            checkin, checkout = b["checkin"], b["checkout"]
            if b["change"]:
                checkin += dt.timedelta(days=b["change"][1])
                checkout += dt.timedelta(days=b["change"][1])
            moments = {}
            if b["kind"] != "chat":
                seen = tick_time(b["created"]).astimezone(MADRID)
                due = seen if 9 <= seen.hour < 21 else (
                    at_local(seen.date() + dt.timedelta(days=1 if seen.hour >= 21 else 0), 9))
                moments["booking_confirmation"] = (due, at_local(checkin, 0))
            for step, (anchor, days, hour) in STEP_TIMES.items():
                day = (checkin if anchor == "checkin" else checkout) + dt.timedelta(days=days)
                expires = at_local(day + dt.timedelta(days=2 if step == "review_request" else 0), 21)
                if step == "checkout_morning":
                    expires = at_local(checkout, 12)
                moments[step] = (at_local(day, hour), expires)
            for step, (due, expires) in moments.items():
                k = max(first_tick_at_or_after(due), b["created"])
                if k >= HOURS or tick_time(k) >= expires:
                    continue
                if b["cancel"] is not None and b["cancel"] <= k:
                    continue
                if b["opt_out"] is not None and b["opt_out"] <= k:
                    continue
                if b["kind"] == "email":
                    channel, mode = "gmail", "email"
                else:
                    wrote = [m for m in b["chat_messages"] if m <= k]
                    inside = bool(wrote) and (k - max(wrote)) < 24
                    channel, mode = "whatsapp", ("text" if inside else "template")
                result[(b["reference"], step)] = (k, channel, mode)
        return result


@pytest.fixture
def fakes():
    graph = GraphServer(token=TOKEN).start()
    gmail = GmailServer("cid", "csecret", "refresh", address=HOTEL_MAIL).start()
    rasa = FakeRasaAPI(token=RASA_TOKEN).start()
    yield graph, gmail, rasa
    for server in (graph, gmail, rasa):
        server.stop()


def hotel_file(tmp_path: Path) -> Path:
    raw = yaml.safe_load((ROOT / "hotel.yml").read_text(encoding="utf-8"))
    raw["journey"]["enabled"] = True
    raw["journey"]["whatsapp_phone_number_id"] = PNID
    raw["journey"]["wifi"] = {"name": "MiradorGuests", "password": "olas-2027"}
    path = tmp_path / "hotel.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def insert_booking(pms: LocalPMS, b: dict) -> None:
    nights = (b["checkout"] - b["checkin"]).days
    with pms._session() as session, session.begin():
        session.add(BookingRow(
            reference=b["reference"], guest_name=f"Guest{b['i']} Test", contact=b["contact"], room_type=b["room_type"],
            checkin=b["checkin"], checkout=b["checkout"], guests=b["guests"],
            status=BookingStatus.CONFIRMED.value if b["i"] % 2 else BookingStatus.PENDING_PAYMENT.value,
            nightly_rate=Decimal("95.00"), total_price=Decimal("95.00") * nights, currency="EUR",
            request_id=f"chat-{b['i']}" if b["kind"] == "chat" else None,
        ))


def move_booking(pms: LocalPMS, reference: str, days: int) -> None:
    with pms._session() as session, session.begin():
        session.execute(update(BookingRow).where(BookingRow.reference == reference).values(
            checkin=BookingRow.checkin + dt.timedelta(days=days), checkout=BookingRow.checkout + dt.timedelta(days=days)))


def test_two_weeks_fifty_bookings_two_workers_every_step_once_at_its_local_time(tmp_path, fakes):
    graph, gmail, rasa = fakes
    scenario = Scenario()
    clock_file = tmp_path / "clock.txt"
    now = [START]
    with fresh_postgres_database("journey_sim") as database:
        url = database.url()
        pms = LocalPMS(url, clock=lambda: now[0].astimezone(MADRID).date())
        with pms._session() as session, session.begin():  # the demo seed's room types, room for everyone
            session.execute(text("DELETE FROM bookings"))
            session.execute(text("UPDATE room_types SET inventory = 200"))
        store = JourneyStore(url)
        spec = dict(database_url=url, hotel_file=str(hotel_file(tmp_path)), clock_file=str(clock_file),
                    graph_url=graph.url, graph_token=TOKEN, phone_number_id=PNID, gmail_url=gmail.url,
                    hotel_mail=HOTEL_MAIL, rasa_url=rasa.url, rasa_token=RASA_TOKEN)
        clock_file.write_text(START.isoformat())
        env = dict(os.environ, JOURNEY_SIM=json.dumps(spec), PYTHONPATH=str(ROOT), ASSISTANT_DATABASE_URL=url)
        workers = [subprocess.Popen([sys.executable, "-m", "tests.journey.worker_process"], cwd=ROOT, env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        sent_at = {}  # (reference, step) -> [(tick, bot event)]
        seen_calls = 0
        try:
            for worker in workers:
                assert worker.stdout.readline().strip() == "ready"
            for k in range(HOURS):
                now[0] = tick_time(k)
                for b in scenario.bookings:  # what happens in the PMS and the chats before this tick
                    if b["created"] == k:
                        insert_booking(pms, b)
                    if b["change"] and b["change"][0] == k:
                        move_booking(pms, b["reference"], b["change"][1])
                    if b["cancel"] == k:
                        pms.cancel_booking(b["reference"])
                    if k in b["chat_messages"]:
                        rasa.seed(scenario.conversation(b), [user_event("hola", now[0] - dt.timedelta(minutes=5))])
                    if b["opt_out"] == k:
                        assert handle_guest_message(store, "demo", scenario.conversation(b), "BAJA", now[0]) == "opted_out"
                clock_file.write_text(now[0].isoformat())
                for worker in workers:  # both at the same moment
                    worker.stdin.write("tick\n")
                    worker.stdin.flush()
                for worker in workers:
                    json.loads(worker.stdout.readline())
                calls = rasa.calls[seen_calls:]
                seen_calls += len(calls)
                for call in calls:
                    for event in call.events:
                        if event.get("event") == "bot" and (event.get("metadata") or {}).get("journey_step"):
                            meta = event["metadata"]
                            sent_at.setdefault((meta["booking_ref"], meta["journey_step"]), []).append((k, event, call))
        finally:
            for worker in workers:
                try:
                    worker.stdin.write("quit\n")
                    worker.stdin.flush()
                    worker.wait(20)
                except Exception:
                    worker.kill()
        expected = scenario.expected()
        by_ref = {b["reference"]: b for b in scenario.bookings}

        twice = {key: [k for k, _, _ in sends] for key, sends in sent_at.items() if len(sends) > 1}
        assert not twice, f"sent more than once: {twice}"
        actual = {}
        for (reference, step), [(k, event, call)] in sent_at.items():
            meta = event["metadata"]
            mode = "email" if meta["channel"] == "gmail" else ("template" if meta["as_template"] else "text")
            actual[(reference, step)] = (k, meta["channel"], mode)
            assert call.conversation_id == scenario.conversation(by_ref[reference])
            local = tick_time(k).astimezone(MADRID)
            assert 9 <= local.hour < 21, f"{reference} {step} at night: {local}"
        assert set(actual) == set(expected), (
            f"missing: {sorted(set(expected) - set(actual))}; unexpected: {sorted(set(actual) - set(expected))}")
        wrong = {key: (actual[key], expected[key]) for key in expected if actual[key] != expected[key]}
        assert not wrong, f"(actual, expected) differ: {wrong}"

        # what the channels received matches, one message per send
        whatsapp = [key for key, (_, channel, _) in actual.items() if channel == "whatsapp"]
        assert len(graph.delivered()) == len(whatsapp)
        for (reference, step), (_k, channel, mode) in actual.items():
            b = by_ref[reference]
            if channel == "gmail":
                continue
            wa_id = scenario.conversation(b).split("@")[0]
            types = [m["type"] for m in graph.delivered(wa_id)]
            if mode == "template":
                names = [m["template"]["name"] for m in graph.delivered(wa_id) if m["type"] == "template"]
                assert TEMPLATES[step][scenario.language(b)] in names
            else:
                assert "text" in types
        emails = [key for key, (_, channel, _) in actual.items() if channel == "gmail"]
        assert len(gmail.sent) == len(emails)
        for b in scenario.bookings:
            if b["kind"] == "email":
                assert len(gmail.sent_to(b["contact"])) == sum(1 for key in emails if key[0] == b["reference"])

        # what the messages say: QR code only when paid, Wi-Fi, the late-checkout price,
        # the review wording of the party (odd bookings are paid; see insert_booking)
        party_words = {"solo": ("alojarte con nosotros, Guest", "staying with us, Guest"),
                       "couple": ("escapada", "getaway"), "family": ("familia", "family"), "group": ("grupo", "group")}
        for (reference, step), [(_, event, _)] in sent_at.items():
            b, body = by_ref[reference], event["text"]
            english = scenario.language(b) == "en"
            if step == "arrival_day":
                assert ("/qr/" in body) == bool(b["i"] % 2), (reference, body)
                assert "MiradorGuests" in body and "olas-2027" in body
            elif step == "checkout_morning":
                assert "47.50 EUR" in body and reference in body
            elif step == "review_request":
                party = "solo" if b["guests"] == 1 else ("family" if b["room_type"] == "family" else
                                                        ("couple" if b["guests"] == 2 else "group"))
                assert party_words[party][english] in body, (reference, party, body)
                assert "http://hotel.test/r/" in body

        # the scenario exercised what it claims to
        steps_sent = {step for _, step in actual}
        assert steps_sent == {"booking_confirmation", "pre_arrival", "arrival_day", "checkout_morning", "review_request"}
        assert {mode for _, _, mode in actual.values()} == {"text", "template", "email"}
        assert any(b["cancel"] is not None and (b["reference"], "review_request") not in actual for b in scenario.bookings)
        assert any(b["opt_out"] is not None for b in scenario.bookings)
        assert any(local.month == 4 for local in (tick_time(k).astimezone(MADRID) for k, _, _ in actual.values()))
        with store.engine.connect() as conn:
            sent_rows = conn.execute(text("SELECT count(*) FROM journey_steps WHERE status = :s"), {"s": SENT}).scalar_one()
        assert sent_rows == len(actual)
        with store.engine.connect() as conn:  # each checkout offer let that conversation confirm it
            grants = conn.execute(text("SELECT count(*) FROM booking_access_grants")).scalar_one()
        assert grants == sum(1 for _, step in actual if step == "checkout_morning")
        # the first message to each guest says how to stop them (two steps in the same
        # hour may both say it, one of them surely does); later ones do not
        first_tick = {}
        for (reference, _), [(k, _, _)] in sent_at.items():
            first_tick[reference] = min(k, first_tick.get(reference, k))
        hinted = set()
        for (reference, step), [(k, event, _)] in sent_at.items():
            hint = "BAJA" in event["text"] or "STOP" in event["text"]
            if k > first_tick[reference]:
                assert not hint, (reference, step, event["text"])
            elif hint:
                hinted.add(reference)
        assert hinted == set(first_tick)
        store.dispose()
        pms._engine.dispose()
