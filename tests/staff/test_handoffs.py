"""Staff requests: resolving them (and the columns added to older tables),
and the handoff desk: open requests with their conversations, resume through
the (fake) Rasa HTTP API, resolve without touching the bot."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, inspect, text

from actions.rasa_api import RasaAPI, RasaAPIError
from actions.staff_requests import StaffRequestStore
from staff.handoffs import HandoffDesk, RequestAlreadyResolved, RequestNotFound
from staff.tracker_reader import TrackerReader
from tests.staff.conftest import RASA_TOKEN
from tests.staff.scenario import GMAIL, HANDOFF_TEXT, WHATSAPP

OLD_SCHEMA = """CREATE TABLE staff_requests (
    id INTEGER PRIMARY KEY, kind VARCHAR(20) NOT NULL, sender_id VARCHAR(255) NOT NULL, text TEXT NOT NULL,
    urgent INTEGER NOT NULL, status VARCHAR(20) NOT NULL, created_at TIMESTAMP NOT NULL)"""


# -- StaffRequestStore.resolve ---------------------------------------------------------


def test_resolve_records_who_and_when(requests_store):
    request = requests_store.add("handoff", "guest-1", "a person please")
    before = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    resolved = requests_store.resolve(request.id, "alice")
    assert (resolved.status, resolved.resolved_by) == ("resolved", "alice")
    assert before - dt.timedelta(seconds=1) <= resolved.resolved_at <= before + dt.timedelta(seconds=5)
    assert requests_store.open_requests() == []
    again = requests_store.resolve(request.id, "bob")  # already resolved: unchanged
    assert (again.resolved_by, again.resolved_at) == ("alice", resolved.resolved_at)


def test_resolve_unknown_or_anonymous(requests_store):
    with pytest.raises(LookupError):
        requests_store.resolve(999, "alice")
    request = requests_store.add("issue", "guest-1", "leak")
    with pytest.raises(ValueError):
        requests_store.resolve(request.id, "  ")
    assert requests_store.get(request.id).status == "open"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_older_table_gets_the_new_columns(backend, tmp_path, request):
    url = f"sqlite:///{tmp_path / 'old.sqlite3'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    engine = create_engine(url, future=True)
    with engine.begin() as conn:
        conn.execute(text(OLD_SCHEMA.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY") if backend == "postgresql" else OLD_SCHEMA))
        conn.execute(text("INSERT INTO staff_requests (kind, sender_id, text, urgent, status, created_at) "
                          "VALUES ('handoff', 'old-guest', 'hello', 0, 'open', '2026-11-01 10:00:00')"))
    store = StaffRequestStore(url)
    columns = {c["name"] for c in inspect(engine).get_columns("staff_requests")}
    assert {"resolved_at", "resolved_by"} <= columns
    [old] = store.open_requests()
    assert (old.sender_id, old.resolved_by) == ("old-guest", None)
    assert store.resolve(old.id, "alice").resolved_by == "alice"
    StaffRequestStore(url)  # a second start finds the columns there
    engine.dispose()


# -- HandoffDesk ----------------------------------------------------------------------------


@pytest.fixture
def desk(requests_store, tracker_store, tracker_url, fake_rasa):
    reader = TrackerReader(tracker_url)
    yield HandoffDesk(requests_store, reader, RasaAPI(fake_rasa.url, RASA_TOKEN))
    reader.close()


def test_open_requests_come_with_their_conversation(desk, requests_store):
    handoff = requests_store.add("handoff", WHATSAPP, HANDOFF_TEXT)
    feedback = requests_store.add("feedback", GMAIL, "lovely stay")
    stranger = requests_store.add("issue", "not-in-tracker", "?", urgent=True)
    found = {r.id: r for r in desk.open_requests()}
    assert list(found) == [handoff.id, feedback.id, stranger.id]
    assert found[handoff.id].paused and found[handoff.id].conversation.channel == "whatsapp"
    assert not found[feedback.id].paused and found[feedback.id].conversation.language == "en"
    assert found[stranger.id].conversation is None and found[stranger.id].urgent


async def test_resume_calls_rasa_and_resolves_the_conversations_handoffs(desk, requests_store, fake_rasa):
    first = requests_store.add("handoff", WHATSAPP, HANDOFF_TEXT)
    second = requests_store.add("handoff", WHATSAPP, "hello??")
    incident = requests_store.add("issue", WHATSAPP, "the shower leaks")
    other_guest = requests_store.add("handoff", GMAIL, "a person")

    done = await desk.resume(first.id, "alice")

    assert done.resolved_ids == [first.id, second.id]
    [call] = fake_rasa.calls
    assert call.conversation_id == WHATSAPP and call.events == [{"event": "resume"}]
    assert call.query["token"] == [RASA_TOKEN]
    still_open = {r.id for r in requests_store.open_requests()}
    assert still_open == {incident.id, other_guest.id}  # resuming the bot does not fix the shower
    assert requests_store.get(second.id).resolved_by == "alice"


async def test_rasa_refusing_leaves_the_request_open(desk, requests_store, fake_rasa):
    request = requests_store.add("handoff", WHATSAPP, HANDOFF_TEXT)
    fake_rasa.fail_next(500)
    with pytest.raises(RasaAPIError) as raised:
        await desk.resume(request.id, "alice")
    assert raised.value.status == 500
    assert requests_store.get(request.id).status == "open"


async def test_wrong_token_is_an_error_and_not_logged(requests_store, tracker_store, tracker_url, fake_rasa):
    request = requests_store.add("handoff", WHATSAPP, HANDOFF_TEXT)
    desk = HandoffDesk(requests_store, TrackerReader(tracker_url), RasaAPI(fake_rasa.url, "wrong-token-value"))
    with pytest.raises(RasaAPIError) as raised:
        await desk.resume(request.id, "alice")
    assert raised.value.status == 401 and "wrong-token-value" not in str(raised.value)
    assert fake_rasa.rejected and requests_store.get(request.id).status == "open"


async def test_resume_unknown_or_resolved(desk, requests_store, fake_rasa):
    with pytest.raises(RequestNotFound):
        await desk.resume(404, "alice")
    request = requests_store.add("handoff", WHATSAPP, HANDOFF_TEXT)
    desk.resolve(request.id, "bob")
    with pytest.raises(RequestAlreadyResolved, match="bob"):
        await desk.resume(request.id, "alice")
    assert fake_rasa.calls == []


def test_resolve_leaves_the_bot_alone(desk, requests_store, fake_rasa):
    request = requests_store.add("feedback", GMAIL, "lovely stay")
    done = desk.resolve(request.id, "alice")
    assert (done.resumed, done.resolved_ids) == (False, [request.id])
    assert requests_store.get(request.id).status == "resolved" and fake_rasa.calls == []
