"""Issue #9's attacks, replayed end to end against one stack in production mode
(``rasa run`` with the trained model, the REST and WhatsApp channels, the real
action server; ASSISTANT_ENV=production with its secrets), each shown closed.
Test names carry the attack's number in the issue.

Trains nothing: skipped, saying why, when models/hotel.tar.gz is missing.
"""
from __future__ import annotations

import base64
import json
import sqlite3
import subprocess
import sys
import uuid
import zlib
from pathlib import Path
from typing import Any, Dict, List

import pytest
import requests

from actions import qr
from actions.pms.local import LocalPMS
from tests.stack_common import ROOT, base_env, free_port
from tests.whatsapp import payloads
from tests.whatsapp.stack import APP_SECRET, MODEL, PHONE_NUMBER_ID, Stack

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first (these tests train nothing)"),
]

ACTION_TOKEN = "security-e2e-action-server-token-0123456789"
REST_TOKEN = "security-e2e-rest-channel-token-0123456789"
PRODUCTION = dict(ASSISTANT_ENV="production", ACTION_SERVER_TOKEN=ACTION_TOKEN, REST_CHANNEL_TOKEN=REST_TOKEN,
                  DEMO_AUTO_CONFIRM_PAYMENTS="0")
QR_SECRET = "e2e-qr-secret"  # tests/stack_common.base_env


class ProductionStack(Stack):
    """The WhatsApp stack with the production settings in both processes."""

    def __init__(self, workdir: Path, redis_url: str) -> None:
        super().__init__(workdir, redis_url=redis_url, redis_prefix=f"test-sec-{uuid.uuid4().hex[:10]}", extra_env=PRODUCTION)
        self.action.env.update(PRODUCTION)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url):
    stack = ProductionStack(tmp_path_factory.mktemp("security-e2e"), redis_url).start()
    LocalPMS(f"sqlite:///{stack.workdir / 'pms.sqlite3'}")  # the action server's demo PMS, seeded now so tests can read it
    yield stack
    stack.stop()


def say(stack, sender: str, text: str, token: str = REST_TOKEN, **extra: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.post(stack.rest_url, json={"sender": sender, "message": text, **extra}, headers=headers, timeout=120)


def reply(stack, sender: str, text: str) -> str:
    answer = say(stack, sender, text)
    assert answer.status_code == 200, answer.text
    return "\n".join(m.get("text") or "" for m in answer.json())


def db(stack, name: str) -> sqlite3.Connection:
    return sqlite3.connect(stack.workdir / name)


def booking_row(stack, reference: str) -> tuple:
    with db(stack, "pms.sqlite3") as conn:
        return conn.execute("SELECT status, checkin, guest_name, contact FROM bookings WHERE reference=?", (reference,)).fetchone()


def new_sender() -> str:
    return f"attacker-{uuid.uuid4().hex[:10]}"


def webhook(stack, token: str | None = ACTION_TOKEN, body: Any = None, **headers: str) -> requests.Response:
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = body if isinstance(body, bytes) else json.dumps(body or {}).encode()
    return requests.post(f"{stack.action_url}/webhook", data=data, headers=headers, timeout=60)


def action_call(action: str, slots: Dict[str, Any], sender: str = "forged") -> Dict[str, Any]:
    return {"next_action": action, "sender_id": sender, "version": "3.6.21", "domain": {},
            "tracker": {"sender_id": sender, "slots": slots, "latest_message": {"text": "", "intent": {}, "entities": []},
                        "events": [], "paused": False, "followup_action": None, "active_loop": {},
                        "latest_action_name": "action_listen"}}


# -- 1. the reference is the only credential ------------------------------------------


def test_1_a_reference_alone_shows_nothing_pays_nothing_cancels_nothing(stack):
    attacker = new_sender()
    status, checkin, _, _ = booking_row(stack, "BK100002")
    answer = reply(stack, attacker, "status of booking BK100002")
    assert "surname on the booking" in answer
    for secret in ("John", "Smith", "suite", "Suite", "540", checkin):
        assert secret not in answer
    assert "check-in date" in reply(stack, attacker, "Smith")
    assert "don't match" in reply(stack, attacker, "december 25")
    # an unknown reference reads exactly the same
    other = new_sender()
    assert reply(stack, other, "status of booking BK999999") == answer.replace("BK100002", "BK999999")

    payer = new_sender()
    paid = say(stack, payer, "I already paid for booking BK100002").json()
    assert not any(m.get("image") for m in paid) and booking_row(stack, "BK100002")[0] == status == "pending_payment"
    canceller = new_sender()
    reply(stack, canceller, "cancel booking BK100002")
    reply(stack, canceller, "yes")
    assert booking_row(stack, "BK100002")[0] == "pending_payment"


def test_1_the_guest_who_knows_surname_and_checkin_gets_in(stack):
    guest = new_sender()
    _, checkin, _, _ = booking_row(stack, "BK100002")
    reply(stack, guest, "status of booking BK100002")
    reply(stack, guest, "Smith")
    answer = reply(stack, guest, checkin)
    assert "BK100002" in answer and "John Smith" in answer
    assert "John Smith" in reply(stack, guest, "what's the status of my booking BK100002?")  # not asked again


def test_1_walking_references_is_locked_and_reception_alerted(stack):
    walker = new_sender()
    for n in range(5):
        reply(stack, walker, f"status of booking BK10{n:04d}")
        reply(stack, walker, "Smith")
        reply(stack, walker, "december 25")
    assert "Too many attempts" in reply(stack, walker, "status of booking BK100002")
    with db(stack, "assistant.sqlite3") as conn:
        alerts = conn.execute("SELECT text FROM staff_requests WHERE sender_id=? AND kind='issue'", (walker,)).fetchall()
    assert len(alerts) == 1 and "reference walking" in alerts[0][0]


# -- 2. impersonation across channels -----------------------------------------------------


def test_2_rest_cannot_take_a_whatsapp_or_email_id(stack):
    for forged in (f"34600111222@{PHONE_NUMBER_ID}", "lucia@example.com", "+34600111222", "x" * 65):
        answer = say(stack, forged, "status of booking BK100002")
        assert answer.status_code == 400, (forged, answer.status_code)
    sender = new_sender()
    reply_json = say(stack, sender, "hola", input_channel="whatsapp")
    assert reply_json.status_code == 200
    assert stack.user_events(sender)[-1]["input_channel"] == "rest"  # the client cannot name the channel


def test_2_rest_needs_its_token_outside_development(stack):
    assert say(stack, new_sender(), "hola", token="").status_code == 401
    assert say(stack, new_sender(), "hola", token="wrong-" + REST_TOKEN).status_code == 401


def test_2_the_bookings_own_whatsapp_number_is_that_guest(stack):
    wa_id = f"34{uuid.uuid4().int % 10**9:09d}"
    with db(stack, "pms.sqlite3") as conn:
        conn.execute("UPDATE bookings SET contact=? WHERE reference='BK100001'", (f"+{wa_id}",))
    message = payloads.text(wa_id, "status of my booking BK100001")
    body = payloads.encode(payloads.webhook([message], PHONE_NUMBER_ID, names={wa_id: "Lucía"}))
    assert requests.post(stack.webhook_url, data=body, headers=payloads.signed_headers(body, APP_SECRET), timeout=10).ok
    conversation = f"{wa_id}@{PHONE_NUMBER_ID}"
    import time

    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any("Lucía Fernández" in (m.get("text") or {}).get("body", "")
                                                   for m in stack.graph.messages(wa_id)):
        time.sleep(0.3)
    sent = [(m.get("text") or {}).get("body", "") for m in stack.graph.messages(wa_id)]
    assert any("Lucía Fernández" in text for text in sent), sent
    assert not any("apellido" in text or "surname" in text for text in sent)
    assert stack.tracker(conversation)["sender_id"] == conversation


# -- 3. the action server is public and unauthenticated ----------------------------------


def test_3_webhook_needs_rasas_secret_and_answers_no_browser(stack):
    call = action_call("action_reservation_status", {"booking_ref": "BK100002"})
    assert webhook(stack, token=None, body=call).status_code == 401
    assert webhook(stack, token="guess", body=call).status_code == 401
    answer = webhook(stack, token=None, body=call, Origin="http://evil.example")
    assert not any(h.lower().startswith("access-control-") for h in answer.headers)
    bomb = zlib.compress(b" " * (64 * 1024 * 1024), 9)  # 64 KB that inflate to 64 MB
    assert webhook(stack, body=bomb, **{"Content-Encoding": "deflate"}).status_code == 413
    for path in ("/static/../actions/config.py", "/static/%2e%2e/actions/config.py"):
        answer = requests.get(f"{stack.action_url}{path}", timeout=10)
        assert answer.status_code >= 400 and "DEV_QR_SECRET" not in answer.text  # no file outside static/


def test_3_pms_writes_recheck_their_input_whatever_the_caller(stack):
    with db(stack, "pms.sqlite3") as conn:
        before = conn.execute("SELECT COUNT(*) FROM bookings").fetchone()[0]
    bad_stays = [
        {"checkin": "2026-12-10", "checkout": "2026-12-05", "guests": 2},   # checkout before check-in
        {"checkin": "2020-01-01", "checkout": "2020-01-05", "guests": 2},   # the past
        {"checkin": "2099-01-01", "checkout": "2099-01-05", "guests": 2},   # beyond the horizon
        {"checkin": "2026-12-20", "checkout": "2027-03-20", "guests": 2},   # 90 nights
        {"checkin": "2026-12-20", "checkout": "2026-12-22", "guests": -5},
    ]
    for stay in bad_stays:
        slots = {**stay, "room_type": "double", "guest_name": "Ana López"}
        answer = webhook(stack, body=action_call("action_create_booking", slots))
        assert answer.status_code == 200 and "utter_booking_created" not in answer.text, (stay, answer.text)
    html_name = {"checkin": "2026-12-20", "checkout": "2026-12-22", "guests": 2, "room_type": "double",
                 "guest_name": "<script>alert(1)</script>"}
    assert "utter_booking_created" not in webhook(stack, body=action_call("action_create_booking", html_name)).text
    with db(stack, "pms.sqlite3") as conn:
        assert conn.execute("SELECT COUNT(*) FROM bookings").fetchone()[0] == before


def test_3_availability_to_year_9999_is_refused_before_any_loop(stack):
    slots = {"checkin": "2026-12-20", "checkout": "9999-12-31", "guests": 2}
    answer = webhook(stack, body=action_call("action_check_availability", slots))
    assert answer.status_code == 200
    assert [r["response"] for r in answer.json()["responses"]] == ["utter_date_not_understood"]


def test_3_the_forged_cancel_is_refused_even_with_rasas_secret(stack):
    """A hand-written tracker with pending_confirmation gets nothing: the conversation never saw the booking."""
    slots = {"booking_ref": "BK100002", "pending_confirmation": "cancellation"}
    answer = webhook(stack, body=action_call("action_cancel_reservation", slots))
    assert [r["response"] for r in answer.json()["responses"]] == ["utter_booking_access_denied"]
    assert booking_row(stack, "BK100002")[0] != "cancelled"


# -- 4. unbounded guest text ---------------------------------------------------------------


def test_4_a_50_kb_message_is_not_parsed_and_the_guest_is_told(stack):
    sender = new_sender()
    answer = reply(stack, sender, "room " * 10_000)
    assert "too long" in answer or "demasiado largo" in answer
    assert stack.user_events(sender) == []  # never reached the NLU or the tracker
    assert "Hi" in reply(stack, sender, "hi there") or "Hola" in reply(stack, sender, "hola")


def test_4_rasa_refuses_huge_bodies(stack):
    body = json.dumps({"sender": new_sender(), "message": "x" * 9_000_000})  # over the 8 MiB RASA_MAX_BODY_BYTES
    answer = requests.post(stack.rest_url, data=body, headers={"Authorization": f"Bearer {REST_TOKEN}"}, timeout=60)
    assert answer.status_code == 413


# -- 5. guests can send internal intents ------------------------------------------------------


def test_5_external_and_intent_payloads_from_guest_text_are_plain_text(stack):
    sender = new_sender()
    forged = '/EXTERNAL_saved_request{"outcome":"done","saved_request":"pms.cancel_booking","booking_ref":"BK100001"}'
    answer = reply(stack, sender, forged)
    assert "cancelled" not in answer.lower() and "cancelada" not in answer.lower()
    [event] = stack.user_events(sender)
    assert event["parse_data"]["intent"]["name"] != "EXTERNAL_saved_request"
    assert booking_row(stack, "BK100001")[0] == "confirmed"
    other = new_sender()
    reply(stack, other, '/inform{"guest_name":"Mallory","booking_ref":"BK100002"}')
    entities = stack.user_events(other)[-1]["parse_data"]["entities"]
    assert not any(e.get("extractor") == "RegexMessageHandler" for e in entities)  # nothing taken from the payload


def test_5_offered_buttons_keep_working(stack):
    sender = new_sender()
    reply(stack, sender, "I want to book a room")
    reply(stack, sender, "from december 20 to december 23")
    answer = say(stack, sender, "2 people").json()
    buttons = [b for m in answer for b in m.get("buttons") or []]
    assert buttons, answer
    double = next(b for b in buttons if "double" in b["payload"])
    assert "name" in reply(stack, sender, double["payload"]).lower()  # the form moved on: the payload was honoured


# -- 6. safety messages miss -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["there is a fire in my room", "someone is having a heart attack in the lobby",
                                  "se está quemando la cocina"])
def test_6_urgent_words_reach_staff_and_pause_whatever_the_intent(stack, text):
    sender = new_sender()
    answer = reply(stack, sender, text)
    assert "🚨" in answer
    assert stack.tracker(sender)["paused"] is True
    with db(stack, "assistant.sqlite3") as conn:
        assert conn.execute("SELECT urgent FROM staff_requests WHERE sender_id=?", (sender,)).fetchall() == [(1,)]


# -- 7. QR codes ---------------------------------------------------------------------------------


def forged_token(reference: str, checkin: str, checkout: str, room: str = "suite") -> str:
    claims = {"ref": reference, "in": checkin, "out": checkout, "room": room}
    payload = base64.urlsafe_b64encode(json.dumps(claims, separators=(",", ":")).encode()).rstrip(b"=").decode()
    return f"{payload}.{qr._signature(payload, QR_SECRET)}"


def test_7_qr_codes_follow_the_booking_and_expire(stack):
    owner = new_sender()
    with db(stack, "pms.sqlite3") as conn:
        conn.execute("UPDATE bookings SET contact=?, status='confirmed' WHERE reference='BK100002'", (owner,))
        checkin, checkout = conn.execute("SELECT checkin, checkout FROM bookings WHERE reference='BK100002'").fetchone()
    paid = say(stack, owner, "I already paid for booking BK100002").json()
    image = next(m["image"] for m in paid if m.get("image"))
    token = image.rsplit("/", 1)[1].removesuffix(".png")
    assert requests.get(image, timeout=10).status_code == 200
    assert "VALID" in requests.get(f"{stack.action_url}/verify/{token}", timeout=10).text
    with db(stack, "pms.sqlite3") as conn:
        conn.execute("UPDATE bookings SET status='cancelled' WHERE reference='BK100002'")
    assert requests.get(image, timeout=10).status_code == 404
    page = requests.get(f"{stack.action_url}/verify/{token}", timeout=10).text
    assert "INVALID" in page and "cancelled" in page
    stale = forged_token("BK100002", "2025-01-01", "2025-01-03")
    assert "expired" in requests.get(f"{stack.action_url}/verify/{stale}", timeout=10).text


def test_7_no_development_qr_secret_in_production(tmp_path):
    env = dict(base_env(tmp_path, "http://127.0.0.1"), **PRODUCTION)
    env.pop("QR_SECRET")
    port = free_port()
    done = subprocess.run([sys.executable, "-m", "actions.server", "--port", str(port), "--host", "127.0.0.1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "QR_SECRET must be set" in done.stderr


def test_7_a_guests_i_paid_is_a_notice_for_reception(stack):
    guest = new_sender()
    with db(stack, "pms.sqlite3") as conn:
        conn.execute("UPDATE bookings SET contact=?, status='pending_payment' WHERE reference='BK100002'", (guest,))
    answer = say(stack, guest, "I already paid for booking BK100002").json()
    assert not any(m.get("image") for m in answer)
    assert "reception" in "\n".join(m.get("text") or "" for m in answer)
    assert booking_row(stack, "BK100002")[0] == "pending_payment"
    with db(stack, "assistant.sqlite3") as conn:
        rows = conn.execute("SELECT kind, booking_ref FROM staff_requests WHERE sender_id=?", (guest,)).fetchall()
    assert rows == [("payment_check", "BK100002")]


# -- 8. staff-request spam ----------------------------------------------------------------------------


def test_8_twenty_senders_crying_fire_make_a_bounded_number_of_requests(stack):
    from actions.request_limits import GLOBAL_MAX

    senders = [new_sender() for _ in range(GLOBAL_MAX + 5)]
    replies: List[str] = [reply(stack, sender, "fire!") for sender in senders]
    assert all("🚨" in answer for answer in replies)  # every guest is still told and paused
    with db(stack, "assistant.sqlite3") as conn:
        placeholders = ",".join("?" * len(senders))
        per_guest = conn.execute(f"SELECT COUNT(*) FROM staff_requests WHERE sender_id IN ({placeholders})", senders).fetchone()[0]
        flood = conn.execute("SELECT COUNT(*) FROM staff_requests WHERE sender_id='system:request-flood'").fetchone()[0]
    assert per_guest <= GLOBAL_MAX and flood >= 1  # one summary per minute of flood
