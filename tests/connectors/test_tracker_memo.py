"""components/stores.py: the tracker a turn saved is handed back to the next turn
instead of being read and replayed from the database, only while the database
holds exactly what was saved."""
from __future__ import annotations

import pytest
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.stores import EnvironmentSQLTrackerStore, StoreSettings

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet]
slots:
  language: {type: text, mappings: [{type: custom}]}
responses:
  utter_greet: [{text: "hi"}]
""")


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path / 'tracker.sqlite3'}"


def store(url, domain=DOMAIN) -> EnvironmentSQLTrackerStore:
    return EnvironmentSQLTrackerStore(domain=domain, settings=StoreSettings(tracker_store_url=url))


def turn(tracker: DialogueStateTracker, text: str) -> None:
    tracker.update(UserUttered(text, {"name": "greet", "confidence": 0.97}))
    tracker.update(SlotSet("language", "es"))
    tracker.update(ActionExecuted("utter_greet"))
    tracker.update(ActionExecuted("action_listen"))


def dicts(tracker) -> list:
    return [event.as_dict() for event in tracker.events]


async def test_the_saved_tracker_comes_back_once_and_the_database_agrees(url):
    first = store(url)
    tracker = await first.get_or_create_tracker("guest")
    turn(tracker, "hola")
    await first.save(tracker)
    assert await first.retrieve("guest") is tracker  # not read back from the database
    from_database = await first.retrieve("guest")  # handed back once: now read from the database
    assert from_database is not tracker and dicts(from_database) == dicts(tracker)
    assert dicts(await store(url).retrieve("guest")) == dicts(tracker)  # another process reads the same


async def test_events_another_process_added_are_seen(url):
    mine, other = store(url), store(url)
    tracker = await mine.get_or_create_tracker("guest")
    turn(tracker, "hola")
    await mine.save(tracker)
    theirs = await other.retrieve("guest")
    turn(theirs, "otra vez")
    await other.save(theirs)
    seen = await mine.retrieve("guest")
    assert seen is not tracker and dicts(seen) == dicts(theirs)


async def test_a_tracker_changed_after_saving_is_not_handed_back(url):
    first = store(url)
    tracker = await first.get_or_create_tracker("guest")
    turn(tracker, "hola")
    await first.save(tracker)
    saved = dicts(tracker)
    turn(tracker, "a turn that failed before it was saved")
    again = await first.retrieve("guest")
    assert again is not tracker and dicts(again) == saved


async def test_only_the_latest_session_as_rasa_reads_it(url):
    first = store(url)
    tracker = await first.get_or_create_tracker("guest")
    turn(tracker, "hola")
    await first.save(tracker)
    tracker = await first.retrieve("guest")
    tracker.update(ActionExecuted("action_session_start"))
    tracker.update(SessionStarted())
    tracker.update(ActionExecuted("action_listen"))
    turn(tracker, "buenos días")
    await first.save(tracker)  # holds two sessions: the database gives the latest only
    latest = await first.retrieve("guest")
    assert latest is not tracker
    assert dicts(latest) == dicts(await store(url).retrieve("guest"))
    assert isinstance(latest.events[0], SessionStarted)
    turn(latest, "gracias")
    await first.save(latest)
    assert await first.retrieve("guest") is latest  # one session again: handed back


async def test_a_new_model_means_a_read_from_the_database(url):
    first = store(url)
    tracker = await first.get_or_create_tracker("guest")
    turn(tracker, "hola")
    await first.save(tracker)
    first.domain = Domain.from_dict(DOMAIN.as_dict())  # what Rasa does when it loads another model
    assert await first.retrieve("guest") is not tracker


async def test_the_sql_work_runs_in_the_store_thread_not_on_the_loop(url):
    import threading

    first = store(url)
    threads = []
    make_session = first.sessionmaker

    def recording_sessionmaker():
        threads.append(threading.current_thread().name)
        return make_session()

    first.sessionmaker = recording_sessionmaker
    tracker = await first.get_or_create_tracker("guest")
    turn(tracker, "hola")
    await first.save(tracker)
    await first.retrieve("guest")
    await first.retrieve_full_tracker("guest")
    assert threads and set(threads) == {"tracker-store_0"}
