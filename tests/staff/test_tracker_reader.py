"""The tracker reader against tracker stores written by Rasa's own
SQLTrackerStore, on SQLite and on PostgreSQL (every test runs on both)."""
from __future__ import annotations

import datetime as dt

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ConversationResumed, Restarted, SessionStarted, UserUttered
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from staff.tracker_reader import ConversationNotFound, TrackerReader, events, read_only_engine
from tests.staff import scenario
from tests.staff.scenario import GMAIL, WHATSAPP, XSS, at


@pytest.fixture
def reader(tracker_store, tracker_url):
    reader = TrackerReader(tracker_url)
    yield reader
    reader.close()


def test_our_table_definition_is_rasas():
    ours = {c.name: type(c.type).__name__ for c in events.columns}
    rasas = {c.name: type(c.type).__name__ for c in SQLTrackerStore.SQLEvent.__table__.columns}
    assert ours == rasas and events.name == SQLTrackerStore.SQLEvent.__tablename__


def test_conversations_newest_first_with_their_facts(reader):
    page = reader.conversations()
    assert [c.sender_id for c in page.items] == scenario.BY_RECENCY
    assert (page.total, page.pages) == (3, 1)
    by_id = {c.sender_id: c for c in page.items}

    whatsapp = by_id[WHATSAPP]
    assert whatsapp.channel == "whatsapp"
    assert whatsapp.last_guest_text == scenario.HANDOFF_TEXT
    assert whatsapp.language == "es"
    assert whatsapp.paused is True
    assert whatsapp.turns == 2
    assert whatsapp.last_activity == dt.datetime.fromtimestamp(at(1.1), dt.timezone.utc)

    assert by_id[XSS].paused is False  # paused, then resumed
    assert by_id[XSS].last_guest_text == scenario.XSS_TEXT
    assert (by_id[GMAIL].channel, by_id[GMAIL].language, by_id[GMAIL].turns) == ("gmail", "en", 1)


def test_pagination(reader):
    first, second = reader.conversations(page=1, page_size=2), reader.conversations(page=2, page_size=2)
    assert [c.sender_id for c in first.items] == scenario.BY_RECENCY[:2]
    assert [c.sender_id for c in second.items] == scenario.BY_RECENCY[2:]
    assert (first.total, first.pages, second.page) == (3, 2, 2)
    assert reader.conversations(page=3, page_size=2).items == []
    with pytest.raises(ValueError):
        reader.conversations(page=0)


@pytest.mark.parametrize("search, expected", [
    ("EXAMPLE", [GMAIL]),  # part of the id, any case
    ("3460011", [WHATSAPP]),
    ("_", [XSS]),  # LIKE wildcards are literal
    ("%", []),
    ("nobody", []),
])
def test_search_by_id(reader, search, expected):
    page = reader.conversations(search=search)
    assert [c.sender_id for c in page.items] == expected
    assert page.total == len(expected)


async def test_new_message_moves_a_conversation_to_the_top_and_resume_unpauses(reader, tracker_store):
    await scenario.save(tracker_store, WHATSAPP, [
        ConversationResumed(timestamp=at(20)),
        UserUttered("gracias", intent={"name": "thank", "confidence": 0.9}, input_channel="whatsapp", timestamp=at(20.5)),
    ])
    top = reader.conversations().items[0]
    assert (top.sender_id, top.paused, top.turns, top.last_guest_text) == (WHATSAPP, False, 3, "gracias")


async def test_restart_and_new_session_unpause(reader, tracker_store):
    await scenario.save(tracker_store, WHATSAPP, [Restarted(timestamp=at(30))])
    assert reader.summaries([WHATSAPP])[WHATSAPP].paused is False


def test_transcript_reads_like_the_conversation(reader):
    transcript = reader.transcript(WHATSAPP)
    assert transcript.summary.paused
    kinds = [(e.kind, e.summary) for e in transcript.entries]
    assert kinds == [
        ("session", "New session"),
        ("guest", "hola [greet 0.97]"),
        ("slot", 'language = "es"'),
        ("bot", "¡Hola! ¿En qué puedo ayudarte? [Reservar | Hablar con recepción]"),
        ("guest", f"{scenario.HANDOFF_TEXT} [human_handoff 0.97]"),
        ("action", "action_handoff"),
        ("bot", "Te paso con recepción."),
        ("paused", "Handed to staff: the bot is paused"),
    ]
    greeting = transcript.entries[3]
    assert [(b.title, b.payload) for b in greeting.buttons] == [("Reservar", "/book_room"), ("Hablar con recepción", "/human_handoff")]
    assert transcript.entries[1].channel == "whatsapp"
    assert transcript.entries[1].at == dt.datetime.fromtimestamp(at(0.1), dt.timezone.utc)
    assert [e.event_id for e in transcript.entries] == sorted(e.event_id for e in transcript.entries)


def test_transcript_shows_images_forms_and_resume(reader):
    gmail = reader.transcript(GMAIL).entries
    assert [e.summary for e in gmail if e.kind == "form"] == ["Form availability_form started", "Form ended"]
    bot = [e for e in gmail if e.kind == "bot"][0]
    assert bot.images == (scenario.PHOTO_URL,)
    assert f"(image: {scenario.PHOTO_URL})" in bot.summary
    xss = [e.kind for e in reader.transcript(XSS).entries]
    assert xss[-2:] == ["paused", "resumed"]


async def test_transcript_spans_every_session(reader, tracker_store):
    await scenario.save(tracker_store, GMAIL, [
        SessionStarted(timestamp=at(60)),
        UserUttered("one more thing", intent={"name": "inform", "confidence": 0.5}, input_channel="gmail", timestamp=at(61)),
    ])
    texts = [e.text for e in reader.transcript(GMAIL).entries if e.kind == "guest"]
    assert texts == ["Hi, can you send me photos of the rooms?", "one more thing"]


def test_unknown_conversation(reader):
    with pytest.raises(ConversationNotFound):
        reader.transcript("nobody")
    assert reader.summaries(["nobody"]) == {}


def test_reader_cannot_write(tracker_store, tracker_url):
    engine, _ = read_only_engine(tracker_url)
    with pytest.raises(DBAPIError):
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM events"))
    engine.dispose()
    assert TrackerReader(tracker_url).conversations().total == 3


def test_no_tracker_store_yet(tmp_path):
    missing = tmp_path / "never-created.sqlite3"
    reader = TrackerReader(f"sqlite:///{missing}")
    assert reader.conversations().total == 0
    assert not missing.exists()  # reading never creates the file


def test_empty_database_without_table(postgres_url):
    assert TrackerReader(postgres_url).conversations().items == []
