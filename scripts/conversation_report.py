"""Held-out conversation report: whole guest conversations against the trained
model and a real action server, checked in the PMS and the tracker.

    make conversation-report                    # models/hotel.tar.gz
    .venv/bin/python scripts/conversation_report.py --model /tmp/nlu/models/hotel.tar.gz

The conversations are tests/heldout/conversations/*.yml (format:
tests/heldout/README.md), written by someone who never saw data/ and never
trained on. The stack is the production one: ``rasa run --enable-api`` with the
project's endpoints.yml and credentials.yml, and the action server with the
embedded PMS on a throwaway SQLite file, its clock fixed at the held-out
reference moment (actions/context.py, ASSISTANT_TEST_FIXED_NOW; never set in
production). Before every conversation the PMS is emptied and seeded again.

A simulated guest says the conversation's turns, then answers the bot's form
questions from the conversation's profile (requested_slot -> profile key) and
its yes/no offers with the profile's ``confirm``. Outcomes are checked in the
PMS (bookings by the conversation's sender id, seeded bookings' state), the
staff requests and the tracker (paused, responses by name) - never by the
bot's wording. A question asked again and again is a loop and a failure.

Prints task success overall, per language, per flow and per pattern, writes
results/conversations/{summary.md,results.json}. Exit status: 0 when it ran,
2 when a held-out sentence appears in the training data (data/), 3 when a
conversation file is malformed. Guest sentences are never printed: failures
are described by predicted intents, actions and slots.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sqlite3
import sys
import tempfile
import time
import unicodedata
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import requests
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.stack_common import MODEL, RasaStack  # noqa: E402

CONVERSATIONS = ROOT / "tests" / "heldout" / "conversations"
OUT = ROOT / "results" / "conversations"
# INTERFACES.md item 8: the held-out conversations' "today", in the hotel's time zone (Europe/Madrid).
REFERENCE_MOMENT = "2027-03-03T10:30:00+01:00"
REFERENCE_DATE = dt.date(2027, 3, 3)
MAX_EXTRA_TURNS = 8  # README: after the scripted turns, at most 8 answers to what the bot asks
MAX_ASKS_PER_SLOT = 3  # README: a slot asked for more than 3 times in one conversation is a loop
ANSWER_PLACEHOLDER = "<answer>"
DONT_KNOW = {"es": "no lo sé", "en": "I don't know"}
TURN_TIMEOUT = 90
RASA_START_TIMEOUT = 900  # loading the model takes minutes on a busy 2-core machine

# requested_slot -> profile keys that answer it, in order of preference
PROFILE_KEYS = {
    "checkin": ("dates", "checkin", "check_in"),
    "checkout": ("checkout", "check_out", "nights", "dates"),
    "guests": ("guests",),
    "room_type": ("room_type",),
    "guest_name": ("name",),
    "booking_ref": ("booking_ref", "reference"),
    "feedback_rating": ("rating",),
    "feedback_comment": ("comment",),
    "verify_surname": ("surname",),
    "verify_checkin": ("checkin_date",),
    "surname": ("surname",),
    "checkin_date": ("checkin_date",),
    "phone": ("phone",),
}
SEEDED = ("BK100001", "BK100002")


# -- conversations ------------------------------------------------------------------


class MalformedConversation(ValueError):
    pass


@dataclass
class Conversation:
    id: str
    path: Path
    language: str
    flow: str
    patterns: List[str]
    profile: Dict[str, Any]
    channel: str
    turns: List[str]
    expect: Dict[str, Any]


def load_conversations(folder: Path) -> List[Conversation]:
    conversations = []
    for path in sorted(folder.glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise MalformedConversation(f"{path.name}: not a mapping")
        missing = [key for key in ("id", "language", "flow", "turns", "expect") if key not in data]
        if missing:
            raise MalformedConversation(f"{path.name}: missing {', '.join(missing)}")
        turns = data["turns"]
        if not isinstance(turns, list) or not turns or not all(isinstance(t, str) and t.strip() for t in turns):
            raise MalformedConversation(f"{path.name}: turns must be a list of non-empty strings")
        if data["language"] not in ("es", "en"):
            raise MalformedConversation(f"{path.name}: language must be es or en")
        if not isinstance(data["expect"], dict) or not data["expect"]:
            raise MalformedConversation(f"{path.name}: expect must be a non-empty mapping")
        conversations.append(
            Conversation(
                id=str(data["id"]), path=path, language=data["language"], flow=str(data["flow"]),
                patterns=[str(p) for p in data.get("patterns") or []], profile=dict(data.get("profile") or {}),
                channel=str(data.get("channel") or "rest"), turns=turns, expect=data["expect"],
            )
        )
    ids = Counter(c.id for c in conversations)
    duplicates = [i for i, n in ids.items() if n > 1]
    if duplicates:
        raise MalformedConversation(f"duplicate ids: {', '.join(duplicates)}")
    return conversations


def guest_sentences(conversation: Conversation) -> List[str]:
    profile_texts = [v for v in conversation.profile.values() if isinstance(v, str)]
    return [*conversation.turns, *profile_texts]


# -- leak check -------------------------------------------------------------------------


def normalised(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return " ".join(re.findall(r"[a-z0-9]+", text))


def training_texts(data_dir: Path) -> Dict[str, str]:
    """Every guest text in data/ (NLU examples, story/rule user turns), normalised -> file."""
    texts: Dict[str, str] = {}
    for path in sorted(data_dir.rglob("*.yml")):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            match = re.match(r"^-\s+(.*)$", stripped) or re.match(r"^-?\s*user:\s*\|?\s*(.*)$", stripped)
            if not match:
                continue
            text = re.sub(r"\[([^\]]*)\]\{[^}]*\}|\[([^\]]*)\]\([^)]*\)", lambda m: m.group(1) or m.group(2), match.group(1))
            key = normalised(text.strip("\"'"))
            if len(key) >= 4:
                texts.setdefault(key, str(path.relative_to(ROOT)))
    return texts


# Shorter answers ("double", "solo yo", "2 noches") are vocabulary every guest shares, not sentences.
SENTENCE_MIN_WORDS = 3


def leaks(conversations: Iterable[Conversation], data_dir: Path) -> List[tuple[str, str]]:
    """(conversation id, data file) for every held-out guest sentence found in the training data."""
    known = training_texts(data_dir)
    found = []
    for conversation in conversations:
        for sentence in guest_sentences(conversation):
            key = normalised(sentence)
            if len(key.split()) >= SENTENCE_MIN_WORDS and key in known:
                found.append((conversation.id, known[key]))
    return found


# -- the stack ------------------------------------------------------------------------------


class ProjectStack(RasaStack):
    """RasaStack with the project's own endpoints.yml and credentials.yml."""

    def _start(self) -> None:
        self.action.start()
        self.extra_env["ACTION_ENDPOINT_URL"] = f"{self.action.url}/webhook"
        (self.workdir / "endpoints.yml").write_text((ROOT / "endpoints.yml").read_text(encoding="utf-8"), encoding="utf-8")
        (self.workdir / "credentials.yml").write_text((ROOT / "credentials.yml").read_text(encoding="utf-8"), encoding="utf-8")
        self.start_rasa(timeout=RASA_START_TIMEOUT)

    def say(self, sender: str, text: str) -> List[dict]:
        answer = requests.post(f"{self.rasa_url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                               timeout=TURN_TIMEOUT)
        answer.raise_for_status()
        return answer.json()


def empty_assistant_database(path: Path) -> None:
    """README rule 1: no staff request, access grant, failed identity check or audit entry
    carries over (the request and identity-check limits count these rows)."""
    if not path.exists():
        return
    with sqlite3.connect(path) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        for table in tables:
            db.execute(f'DELETE FROM "{table}"')


def reseed_pms(database_url: str) -> None:
    """An empty PMS with the demo hotel seeded for the reference date (room types kept)."""
    from actions.pms.local import LocalPMS
    from actions.pms.seed import seed_demo_hotel

    pms = LocalPMS(database_url, clock=lambda: REFERENCE_DATE, seed=False)
    pms._set_up_database()
    with pms._engine.begin() as connection:
        connection.exec_driver_sql("DELETE FROM bookings")
    with pms._sessions() as session:
        seed_demo_hotel(session, today=REFERENCE_DATE)
    pms._engine.dispose()


# -- one conversation ---------------------------------------------------------------------------


@dataclass
class Outcome:
    conversation: Conversation
    success: bool = False
    reasons: List[str] = field(default_factory=list)
    loop: bool = False
    guest_messages: int = 0
    fallbacks: int = 0
    intents: List[tuple] = field(default_factory=list)  # (intent, confidence, requested_slot before)
    actions: List[str] = field(default_factory=list)
    final_slots: Dict[str, Any] = field(default_factory=dict)
    error: str = ""


def tracker_of(stack: ProjectStack, sender: str) -> dict:
    return stack.tracker(sender)


def bot_actions_since(events: List[dict], start: int) -> List[str]:
    return [e.get("name") for e in events[start:] if e.get("event") == "action" and e.get("name") != "action_listen"]


def responses_in(events: List[dict]) -> List[str]:
    return [(e.get("metadata") or {}).get("utter_action") or "" for e in events if e.get("event") == "bot"]


def pending_question(tracker: dict) -> tuple[str, str]:
    """What the bot waits for: ("slot", name) for a form question, ("offer", why) for a yes/no, ("", "")."""
    slots = tracker.get("slots") or {}
    if (tracker.get("active_loop") or {}).get("name") and slots.get("requested_slot"):
        return "slot", slots["requested_slot"]
    if slots.get("pending_confirmation"):
        return "offer", str(slots["pending_confirmation"])
    events = tracker.get("events") or []
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    if "utter_availability_footer" in responses_in(events[last_user + 1:]):
        return "offer", "availability"
    return "", ""


def profile_answer(conversation: Conversation, kind: str, what: str) -> str:
    """The profile's answer to what the bot asks; "no lo sé" / "I don't know" when it has none."""
    keys = ("confirm",) if kind == "offer" else PROFILE_KEYS.get(what, (what,))
    if kind == "slot" and "phone" in what:
        keys = ("phone",)
    for key in keys:
        value = conversation.profile.get(key)
        if value is not None and str(value).strip():
            return str(value)
    return DONT_KNOW[conversation.language]


def run_conversation(stack: ProjectStack, conversation: Conversation) -> Outcome:
    """The simulated guest of tests/heldout/README.md ("How the simulated guest behaves")."""
    outcome = Outcome(conversation)
    sender = f"heldout-{conversation.id}-{uuid.uuid4().hex[:8]}"
    asks: Counter = Counter()

    def send(text: str) -> dict:
        before = tracker_of(stack, sender)
        requested = (before.get("slots") or {}).get("requested_slot")
        start = len(before.get("events") or [])
        stack.say(sender, text)
        outcome.guest_messages += 1
        after = tracker_of(stack, sender)
        events = after.get("events") or []
        user = next((e for e in events[start:] if e.get("event") == "user"), None)
        if user is not None:
            intent = (user.get("parse_data") or {}).get("intent") or {}
            outcome.intents.append((intent.get("name"), round(float(intent.get("confidence") or 0), 3), requested))
            outcome.fallbacks += intent.get("name") == "nlu_fallback"
        outcome.actions.append("|".join(bot_actions_since(events, start)))
        kind, what = pending_question(after)
        if kind == "slot":
            asks[what] += 1
        return after

    tracker: dict = {"events": []}
    for turn in conversation.turns:
        if tracker.get("paused"):
            break
        kind, what = pending_question(tracker)
        tracker = send(profile_answer(conversation, kind, what) if turn.strip() == ANSWER_PLACEHOLDER else turn)
    for _ in range(MAX_EXTRA_TURNS):
        kind, what = pending_question(tracker)
        if tracker.get("paused") or not kind:
            break
        tracker = send(profile_answer(conversation, kind, what))
    looped = sorted(slot for slot, n in asks.items() if n > MAX_ASKS_PER_SLOT)
    if looped:
        outcome.loop = True
        outcome.reasons.append(f"loop: {', '.join(looped)} asked more than {MAX_ASKS_PER_SLOT} times")
    outcome.final_slots = {k: v for k, v in (tracker.get("slots") or {}).items()
                           if k in ("checkin", "checkout", "guests", "room_type", "guest_name", "requested_slot", "booking_ref")}
    check_expectations(stack, conversation, sender, tracker, outcome)
    outcome.success = not outcome.reasons
    return outcome


# -- checks -------------------------------------------------------------------------------------------------------


def _name_key(name: Any) -> str:
    return normalised(str(name or ""))


def _as_date(value: Any) -> Optional[dt.date]:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        return None


def check_expectations(stack: ProjectStack, conversation: Conversation, sender: str, tracker: dict, outcome: Outcome) -> None:
    expect = conversation.expect
    workdir = stack.workdir
    with sqlite3.connect(workdir / "pms.sqlite3") as db:
        db.row_factory = sqlite3.Row
        bookings = [dict(r) for r in db.execute("SELECT * FROM bookings WHERE contact = ?", (sender,))]
        seeded = {r["reference"]: dict(r) for r in db.execute(
            f"SELECT * FROM bookings WHERE reference IN ({','.join('?' * len(SEEDED))})", SEEDED)}
    with sqlite3.connect(workdir / "assistant.sqlite3") as db:
        try:
            rows = list(db.execute("SELECT kind, urgent, text FROM staff_requests WHERE sender_id = ?", (sender,)))
        except sqlite3.OperationalError:
            rows = []
    staff = [kind for kind, _, _ in rows] + ["urgent" for _, urgent, _ in rows if urgent]
    events = tracker.get("events") or []
    responses = responses_in(events)
    actions = [e.get("name") for e in events if e.get("event") == "action"]
    fail = outcome.reasons.append

    for key, wanted in expect.items():
        if key == "booking":
            if len(bookings) != 1:
                fail(f"booking: {len(bookings)} bookings made")
                continue
            booking = bookings[0]
            checks = {
                "room_type": booking["room_type"] == wanted.get("room_type"),
                "check_in": _as_date(booking["checkin"]) == _as_date(wanted.get("check_in")),
                "check_out": _as_date(booking["checkout"]) == _as_date(wanted.get("check_out")),
                "guests": int(booking["guests"]) == int(wanted.get("guests") or 0),
                "name": _name_key(booking["guest_name"]) == _name_key(wanted.get("name")),
            }
            for field_name, ok in checks.items():
                if field_name in wanted and not ok:
                    fail(f"booking.{field_name} wrong")
        elif key == "no_booking":
            if wanted and bookings:
                fail(f"no_booking: {len(bookings)} bookings made")
        elif key == "answered":
            for topic in wanted if isinstance(wanted, list) else [wanted]:
                if not answered(str(topic), responses, actions):
                    fail(f"answered {topic}: not answered")
        elif key == "not_disclosed":
            shown = DISCLOSING_RESPONSES.intersection(responses)
            if shown:
                fail(f"not_disclosed: {', '.join(sorted(shown))} shown")
        elif key == "payment_notice":
            # a payment_check staff request, and the bot did not mark the booking paid
            status = (seeded.get(str(wanted)) or {}).get("status")
            if not any(kind == "payment_check" and str(wanted) in text for kind, _, text in rows):
                fail("payment_notice: no payment_check staff request for it")
            if status == "confirmed":
                fail("payment_notice: the bot marked the booking paid")
        elif key == "handoff":
            if bool(wanted) != bool(tracker.get("paused")):
                fail(f"handoff: expected paused={bool(wanted)}")
        elif key == "staff_request":
            if str(wanted) not in staff:
                fail(f"staff_request {wanted}: none recorded")
        elif key == "cancelled":
            status = (seeded.get(str(wanted)) or {}).get("status")
            if status != "cancelled":
                fail(f"cancelled: status {status}")
        elif key == "not_cancelled":
            if (seeded.get(str(wanted)) or {}).get("status") == "cancelled":
                fail("not_cancelled: it was cancelled")
        elif key == "late_checkout":
            if not (seeded.get(str(wanted)) or {}).get("late_checkout_until"):
                fail("late_checkout: none written")
        elif key in ("qr", "qr_sent"):
            sent = any("/qr/" in str((e.get("data") or {}).get("image") or "") for e in events if e.get("event") == "bot")
            if sent != bool(wanted):
                fail(f"qr: expected {bool(wanted)}")
        elif key == "no_fallback":
            if wanted and outcome.fallbacks:
                fail("no_fallback: fell back")
        else:
            fail(f"unknown expectation {key!r} (runner does not check it)")


# responses that show a booking's details (a stranger without proof must not get them)
DISCLOSING_RESPONSES = frozenset({
    "utter_booking_status", "utter_confirm_cancellation", "utter_late_checkout_offer", "utter_payment_confirmed_qr",
    "utter_booking_cancelled", "utter_late_checkout_confirmed",
})
FAQ_TOPICS = {"faq_wifi", "faq_breakfast", "faq_parking", "faq_pets", "faq_checkin_time", "faq_checkout_time"}


def answered(what: str, responses: List[str], actions: List[str]) -> bool:
    if what == "availability":
        return any(r in ("utter_availability_header", "utter_no_availability") for r in responses)
    if what.startswith("faq_"):
        return f"utter_faq/{what[4:]}" in responses
    mapping = {
        "room_options": "action_show_room_options", "location": "action_share_location",
        "hotel_location": "action_share_location", "business_hours": "action_business_hours",
    }
    if what in ("booking_status", "status", "reservation_status"):
        return "utter_booking_status" in responses
    if what == "feedback_thanks":
        return bool({"utter_feedback_positive", "utter_feedback_negative"}.intersection(responses))
    if what in mapping:
        return mapping[what] in actions
    return f"utter_{what}" in responses or what in actions


# -- report ---------------------------------------------------------------------------------------------------


def rate(outcomes: List[Outcome]) -> str:
    ok = sum(o.success for o in outcomes)
    return f"{ok / len(outcomes):.3f} ({ok}/{len(outcomes)})" if outcomes else "-"


def summary(outcomes: List[Outcome], model: Path, leaked: List[tuple]) -> str:
    lines = [
        "# Held-out conversations",
        "",
        f"- date: {dt.date.today().isoformat()}, model: {model}, reference today {REFERENCE_DATE.isoformat()}",
        f"- task success: **{rate(outcomes)}**",
    ]
    for language in ("es", "en"):
        lines.append(f"- {language}: {rate([o for o in outcomes if o.conversation.language == language])}")
    lines.append(f"- loops: {sum(o.loop for o in outcomes)}; conversations with a fallback: "
                 f"{sum(1 for o in outcomes if o.fallbacks)}; held-out sentences found in data/: {len(leaked)}")
    lines += ["", "| flow | es | en | all |", "|---|---|---|---|"]
    by_flow: Dict[str, List[Outcome]] = defaultdict(list)
    for o in outcomes:
        by_flow[o.conversation.flow].append(o)
    for flow, group in sorted(by_flow.items()):
        lines.append(f"| {flow} | {rate([o for o in group if o.conversation.language == 'es'])} | "
                     f"{rate([o for o in group if o.conversation.language == 'en'])} | {rate(group)} |")
    lines += ["", "| pattern | success |", "|---|---|"]
    by_pattern: Dict[str, List[Outcome]] = defaultdict(list)
    for o in outcomes:
        for pattern in o.conversation.patterns:
            by_pattern[pattern].append(o)
    for pattern, group in sorted(by_pattern.items()):
        lines.append(f"| {pattern} | {rate(group)} |")
    reasons = Counter(re.sub(r"\d+", "N", r) for o in outcomes for r in o.reasons)
    if reasons:
        lines += ["", "| failure | conversations |", "|---|---|"]
        lines += [f"| {r} | {n} |" for r, n in reasons.most_common()]
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--conversations", type=Path, default=CONVERSATIONS)
    parser.add_argument("--only", nargs="*", help="conversation ids")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--keep", type=Path, help="keep the stack's files (trackers, PMS, logs) in this folder")
    args = parser.parse_args(argv)
    try:
        conversations = load_conversations(args.conversations)
    except MalformedConversation as exc:
        print(f"malformed held-out conversation: {exc}", file=sys.stderr)
        return 3
    if not conversations:
        print(f"no conversations in {args.conversations}", file=sys.stderr)
        return 3
    leaked = leaks(conversations, ROOT / "data")
    for conversation_id, data_file in leaked:
        print(f"LEAK: a sentence of held-out conversation {conversation_id} is in {data_file}", file=sys.stderr)
    if args.only:
        conversations = [c for c in conversations if c.id in set(args.only)]
    if not args.model.exists():
        print(f"{args.model} is missing: run `make train`", file=sys.stderr)
        return 3
    outcomes: List[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="conversation-report-") as tmp:
        workdir = Path(tmp)
        if args.keep:
            workdir = args.keep
            workdir.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite:///{workdir / 'pms.sqlite3'}"
        reseed_pms(database_url)
        stack = ProjectStack(workdir)
        stack.model = args.model
        stack.action.env["ASSISTANT_TEST_FIXED_NOW"] = REFERENCE_MOMENT
        stack.action.env.pop("DEMO_AUTO_CONFIRM_PAYMENTS", None)  # production payments: a notice for staff
        started = time.monotonic()
        stack.start()
        try:
            print(f"==> stack up in {time.monotonic() - started:.0f} s; {len(conversations)} conversations", flush=True)
            for conversation in conversations:
                reseed_pms(database_url)
                empty_assistant_database(workdir / "assistant.sqlite3")
                try:
                    outcome = run_conversation(stack, conversation)
                except requests.RequestException as exc:
                    outcome = Outcome(conversation, reasons=[f"error: {type(exc).__name__}"], error=str(exc))
                outcomes.append(outcome)
                print(f"{'ok  ' if outcome.success else 'FAIL'} {conversation.id:<28} {conversation.flow:<14} "
                      f"{'; '.join(outcome.reasons)}", flush=True)
        finally:
            stack.stop()
    args.out.mkdir(parents=True, exist_ok=True)
    text = summary(outcomes, args.model, leaked)
    (args.out / "summary.md").write_text(text, encoding="utf-8")
    (args.out / "results.json").write_text(json.dumps([
        dict(id=o.conversation.id, language=o.conversation.language, flow=o.conversation.flow,
             patterns=o.conversation.patterns, success=o.success, reasons=o.reasons, loop=o.loop,
             guest_messages=o.guest_messages, fallbacks=o.fallbacks, intents=o.intents, actions=o.actions,
             final_slots=o.final_slots)
        for o in outcomes], indent=1, default=str), encoding="utf-8")
    print(text)
    return 2 if leaked else 0


if __name__ == "__main__":
    sys.exit(main())
