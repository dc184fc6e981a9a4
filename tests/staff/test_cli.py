"""``python -m staff``: table and JSON output, exit codes, resume through the
fake Rasa API, dead letters on the machine's Redis, hash-password."""
from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rasa.shared.core.events import UserUttered

from dlq import DLQSettings, build_queue
from staff.cli import main
from staff.passwords import DEFAULT_ITERATIONS, verify_password
from tests.staff import scenario
from tests.staff.scenario import GMAIL, WHATSAPP, XSS, at

ROOT = Path(__file__).resolve().parents[2]


def run(*argv: str, stdin: str = ""):
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def console_env(staff_env, tracker_store):
    return staff_env


def test_conversations_table_newest_first(console_env):
    code, out, _ = run("conversations")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["LAST", "ACTIVITY", "CONVERSATION", "CHANNEL", "LANG", "STATE", "TURNS", "LAST", "GUEST", "MESSAGE"]
    order = [next(c for c in scenario.BY_RECENCY if c in line) for line in lines[1:4]]
    assert order == scenario.BY_RECENCY
    whatsapp = next(line for line in lines if WHATSAPP in line)
    # 08:01 UTC is 09:01 in Madrid (STAFF_TIMEZONE)
    assert whatsapp.split()[:7] == ["2026-11-23", "09:01", WHATSAPP, "whatsapp", "es", "PAUSED", "2"]
    assert lines[-1] == "page 1 of 1 (3 conversations)"


def test_conversations_json_search_and_pages(console_env):
    code, out, _ = run("conversations", "--json", "--page-size", "1", "--page", "2")
    data = json.loads(out)
    assert code == 0 and [c["sender_id"] for c in data["conversations"]] == [XSS]
    assert (data["total"], data["pages"]) == (3, 3)
    code, out, _ = run("--json", "conversations", "--search", "GMAIL")
    assert json.loads(out)["total"] == 0
    code, out, _ = run("conversations", "--search", "example")
    assert GMAIL in out and WHATSAPP not in out


def test_transcript(console_env):
    code, out, _ = run("transcript", WHATSAPP)
    assert code == 0
    lines = out.splitlines()
    assert "PAUSED (staff)" in lines[0] and "2 guest messages" in lines[0]
    assert "2026-11-23 09:00  guest      hola [greet 0.97]" in lines
    assert any(line.endswith("bot        ¡Hola! ¿En qué puedo ayudarte? [Reservar | Hablar con recepción]") for line in lines)
    assert lines[-1].endswith("paused     Handed to staff: the bot is paused")
    code, out, _ = run("transcript", GMAIL, "--json")
    entries = json.loads(out)["entries"]
    assert [e["images"] for e in entries if e["kind"] == "bot"] == [[scenario.PHOTO_URL]]


def test_unknown_conversation_exits_3(console_env):
    code, out, err = run("transcript", "nobody")
    assert (code, out) == (3, "") and "nobody" in err


async def _add_guest_text(store, text):
    await scenario.save(store, "rest-terminal", [UserUttered(text, input_channel="rest", timestamp=at(90))])


def test_guest_text_cannot_drive_the_terminal(console_env, tracker_store):
    asyncio.run(_add_guest_text(tracker_store, "\x1b[2J\x1b[31mhacked\rover\u202eevil"))
    for argv in (("conversations",), ("transcript", "rest-terminal")):
        code, out, _ = run(*argv)
        assert code == 0 and "hacked" in out
        assert "\x1b" not in out and "\r" not in out and "\u202e" not in out


def test_handoffs_and_resume(console_env, requests_store, fake_rasa):
    handoff = requests_store.add("handoff", WHATSAPP, scenario.HANDOFF_TEXT)
    requests_store.add("issue", GMAIL, "the shower leaks", urgent=True)
    code, out, _ = run("handoffs")
    assert code == 0
    rows = out.splitlines()[1:]
    assert rows[0].split()[:2] == [f"#{handoff.id}", "handoff"] and "PAUSED" in rows[0] and WHATSAPP in rows[0]
    assert "yes" in rows[1].split() and "bot" in rows[1].split()

    code, out, _ = run("resume", str(handoff.id), "--by", "night-desk")
    assert code == 0 and f"#{handoff.id}" in out and WHATSAPP in out
    assert fake_rasa.resumed() == [WHATSAPP]
    assert requests_store.get(handoff.id).resolved_by == "night-desk"
    code, _, err = run("resume", str(handoff.id))
    assert code == 1 and "already resolved" in err
    assert run("resume", "9999")[0] == 3


def test_resume_with_rasa_down_exits_1_and_keeps_the_request(console_env, requests_store, fake_rasa, monkeypatch):
    handoff = requests_store.add("handoff", WHATSAPP, scenario.HANDOFF_TEXT)
    fake_rasa.fail_next(503)
    code, _, err = run("resume", str(handoff.id))
    assert code == 1 and "503" in err
    assert requests_store.get(handoff.id).status == "open"
    assert console_env["RASA_TOKEN"] not in err


def test_resolve(console_env, requests_store, fake_rasa):
    request = requests_store.add("feedback", GMAIL, "great")
    code, out, _ = run("resolve", str(request.id), "--json")
    assert code == 0 and json.loads(out)["resolved"] == [request.id]
    assert fake_rasa.calls == [] and requests_store.open_requests() == []


async def _dead_letters():
    queue = build_queue(DLQSettings.from_env(), record_metrics=False)
    try:
        waiting = await queue.enqueue("whatsapp.send", {"to": "34600111222"}, error="GraphError: 500",
                                      conversation_id=WHATSAPP, reason="send_failed")
        failed = await queue.enqueue("pms.create_booking", {"room": "suite"}, error="PMSUnavailable: circuit open",
                                     conversation_id=GMAIL, reason="pms_unavailable")
        await queue.give_up(failed.id, "PMSUnavailable: still down")
        return waiting, failed
    finally:
        await queue.close()


async def _dlq_state():
    queue = build_queue(DLQSettings.from_env(), record_metrics=False)
    try:
        return [e.id for e in await queue.list_queued(100)], [e.id for e in await queue.list_permanent(100)]
    finally:
        await queue.close()


def test_dlq_list_and_retry_moves_a_permanent_entry_back(console_env):
    waiting, failed = asyncio.run(_dead_letters())
    code, out, _ = run("dlq")
    assert code == 0
    assert "Waiting for a retry: 1" in out and "Failed for good: 1" in out
    assert out.index(waiting.id) < out.index("Failed for good") < out.index(failed.id)
    assert "PMSUnavailable: still down" in out

    code, out, _ = run("retry", failed.id)
    assert code == 0 and "queued, due now" in out
    queued, permanent = asyncio.run(_dlq_state())
    assert set(queued) == {waiting.id, failed.id} and permanent == []
    data = json.loads(run("dlq", "--json")[1])
    requeued = next(e for e in data["queued"] if e["id"] == failed.id)
    assert (requeued["attempts"], requeued["status"]) == (0, "queued")

    assert run("retry", "0" * 32)[0] == 3
    assert run("retry", "not/an id")[0] == 2


def test_hash_password_from_stdin():
    code, out, _ = run("hash-password", stdin="pa55 word\n")
    encoded = out.strip()
    assert code == 0 and encoded.startswith(f"pbkdf2_sha256.{DEFAULT_ITERATIONS}.")
    assert verify_password("pa55 word", encoded) and not verify_password("pa55 word\n", encoded)
    assert run("hash-password", stdin="\n")[0] == 2  # empty password


@pytest.mark.parametrize("tracker_url", ["postgresql"], indirect=True)
def test_module_entry_point_and_bad_configuration(console_env):
    env = {**os.environ, **console_env, "STAFF_TIMEZONE": "Nowhere/Town"}
    done = subprocess.run([sys.executable, "-m", "staff", "conversations"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "STAFF_TIMEZONE" in done.stderr
    done = subprocess.run([sys.executable, "-m", "staff", "conversations", "--json"], cwd=ROOT,
                          env={**os.environ, **console_env}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and json.loads(done.stdout)["total"] == 3
    done = subprocess.run([sys.executable, "-m", "staff", "frobnicate"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
