"""The held-out conversation files are well formed and agree with the demo hotel.

Guards edits to tests/heldout/conversations (format of README.md there): a
typo in an expectation would silently turn a failing conversation into a
passing one, or the other way round. Reads only the held-out files, the seed
room capacities and hotel.yml: never data/.
"""
from __future__ import annotations

import collections
import datetime as dt
import pathlib
import re

import pytest
import yaml

from actions.pms.seed import ROOM_TYPES

HERE = pathlib.Path(__file__).parent
FILES = sorted((HERE / "conversations").glob("*.yml"))
TODAY = dt.date(2027, 3, 3)
FLOWS = {
    "availability", "booking", "status", "cancel", "late_checkout", "payment", "rooms", "hours",
    "location", "faq", "issue", "urgent", "feedback", "handoff", "out_of_scope", "mixed",
}
TOP_KEYS = {"id", "language", "flow", "patterns", "profile", "channel", "turns", "expect"}
PROFILE_KEYS = {
    "name", "dates", "checkout", "guests", "room_type", "booking_ref", "surname", "checkin_date",
    "phone", "confirm", "rating", "comment",
}
EXPECT_KEYS = {
    "booking", "no_booking", "cancelled", "not_cancelled", "late_checkout", "payment_notice",
    "qr_sent", "handoff", "staff_request", "answered", "not_disclosed",
}
ANSWERS = {
    "availability", "room_options", "business_hours", "location", "faq_wifi", "faq_breakfast",
    "faq_parking", "faq_pets", "faq_checkin_time", "faq_checkout_time", "booking_status",
    "feedback_thanks",
}
STAFF_KINDS = {"urgent", "issue", "feedback", "handoff"}
DEMO_REFS = {"BK100001", "BK100002"}
CAPACITY = {room["code"]: room["max_guests"] for room in ROOM_TYPES}
HOTEL = yaml.safe_load((HERE.parent.parent / "hotel.yml").read_text())
MAX_NIGHTS = HOTEL["policies"]["max_nights"]
HORIZON = dt.timedelta(days=HOTEL["policies"]["booking_horizon_days"])


def load(path: pathlib.Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


CONVERSATIONS = {path.stem: load(path) for path in FILES}


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_conversation_is_well_formed(name):
    conv = CONVERSATIONS[name]
    assert set(conv) <= TOP_KEYS and {"id", "language", "flow", "turns", "expect"} <= set(conv)
    assert conv["id"] == name
    assert conv["language"] in {"es", "en"} and conv["flow"] in FLOWS
    assert re.fullmatch(rf"{conv['language']}_{conv['flow']}_\d\d", name)
    assert conv.get("channel", "rest") in {"rest", "whatsapp", "gmail"}
    assert isinstance(conv.get("patterns", []), list)
    profile = conv.get("profile") or {}
    assert set(profile) <= PROFILE_KEYS
    assert all(isinstance(v, str) and v.strip() for v in profile.values())
    turns = conv["turns"]
    assert turns and all(isinstance(t, str) and t.strip() for t in turns)
    assert turns[0] != "<answer>", "the guest writes first"
    expect = conv["expect"]
    assert expect and set(expect) <= EXPECT_KEYS


@pytest.mark.parametrize("name", sorted(CONVERSATIONS))
def test_expectation_is_possible_in_the_demo_hotel(name):
    conv = CONVERSATIONS[name]
    expect = conv["expect"]
    profile = conv.get("profile") or {}
    booking = expect.get("booking")
    if booking:
        assert set(booking) == {"room_type", "check_in", "check_out", "guests", "name"}
        assert "no_booking" not in expect
        check_in, check_out = booking["check_in"], booking["check_out"]
        assert isinstance(check_in, dt.date) and isinstance(check_out, dt.date)
        assert TODAY <= check_in <= TODAY + HORIZON
        assert 1 <= (check_out - check_in).days <= MAX_NIGHTS
        assert 1 <= booking["guests"] <= CAPACITY[booking["room_type"]]
        assert booking["name"].strip()
    for key in ("cancelled", "not_cancelled", "late_checkout", "payment_notice", "not_disclosed"):
        if key in expect:
            assert expect[key] in DEMO_REFS
    assert not ("cancelled" in expect and "not_cancelled" in expect)
    if "late_checkout" in expect:
        assert expect["late_checkout"] == "BK100001", "only the in-house booking has a checkout to extend"
    if "payment_notice" in expect:
        assert expect["payment_notice"] == "BK100002", "only the pending booking awaits payment"
    if "staff_request" in expect:
        assert expect["staff_request"] in STAFF_KINDS
    for answer in as_list(expect.get("answered", [])):
        assert answer in ANSWERS
    refs_touched = {expect[k] for k in ("cancelled", "not_cancelled", "late_checkout", "payment_notice",
                                        "not_disclosed") if k in expect}
    if refs_touched or "qr_sent" in expect or "booking_status" in as_list(expect.get("answered", [])):
        assert {"surname", "checkin_date"} <= set(profile), "existing bookings need identity proof answers"
    if "not_disclosed" in expect:
        assert profile.get("surname", "").lower() not in {"smith", "fernandez", "fernández"}


def test_no_sentence_is_reused():
    seen: dict[str, str] = {}
    for name, conv in CONVERSATIONS.items():
        for turn in conv["turns"]:
            if turn == "<answer>":
                continue
            key = " ".join(turn.lower().split())
            assert key not in seen, f"{name} repeats a turn of {seen.get(key)}"
            seen[key] = name


def test_no_held_out_sentence_is_in_the_training_data():
    """The check conversation-report makes, run in every make test: data/ is edited far more often
    than that report is run (three held-out date answers once reached data/ unnoticed)."""
    from scripts.conversation_report import ROOT, leaks, load_conversations

    assert leaks(load_conversations(HERE / "conversations"), ROOT / "data") == []


def test_set_covers_every_flow_in_both_languages_about_evenly():
    counts = collections.Counter((c["language"], c["flow"]) for c in CONVERSATIONS.values())
    languages = collections.Counter(c["language"] for c in CONVERSATIONS.values())
    assert sum(languages.values()) >= 80
    assert abs(languages["es"] - languages["en"]) <= 0.1 * sum(languages.values())
    assert all(counts[(lang, flow)] >= 1 for lang in ("es", "en") for flow in FLOWS)
    party_of_three = [c for c in CONVERSATIONS.values() if c["expect"].get("booking", {}).get("guests") == 3]
    assert party_of_three and all(c["expect"]["booking"]["room_type"] in {"family", "suite"} for c in party_of_three)
    patterns = collections.Counter(p for c in CONVERSATIONS.values() for p in c.get("patterns", []))
    channels = collections.Counter(c.get("channel", "rest") for c in CONVERSATIONS.values())
    print(f"\n{dict(languages)} channels={dict(channels)}")
    for flow in sorted(FLOWS):
        print(f"  {flow:14} es={counts[('es', flow)]:2} en={counts[('en', flow)]:2}")
    print("  patterns:", ", ".join(f"{p}={n}" for p, n in patterns.most_common()))
