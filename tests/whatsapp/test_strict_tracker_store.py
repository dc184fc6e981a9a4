"""connectors/strict_tracker_store.py on Rasa's own FailSafeTrackerStore and
SQLTrackerStore, with a real PostgreSQL database that a TCP proxy cuts off."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from rasa.core.tracker_store import FailSafeTrackerStore, InMemoryTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from connectors import strict_tracker_store
from connectors.strict_tracker_store import TrackerStoreSeamMissing, TrackerStoreUnavailable
from tests.stack_common import PostgresDatabase, TcpProxy


@pytest.fixture
def postgres():
    database = PostgresDatabase().create()
    proxy = TcpProxy(database.port).start()
    yield database, proxy
    proxy.stop()
    database.drop()


def fail_safe_store(database, proxy) -> FailSafeTrackerStore:
    sql = SQLTrackerStore(Domain.empty(), dialect="postgresql", host="127.0.0.1", port=proxy.port, db=database.name,
                          username="postgres")
    # Rasa's own class as shipped: connectors/safeguards.py (installed process-wide by an
    # earlier test building the project's tracker store) makes every new one strict
    store = FailSafeTrackerStore.__new__(FailSafeTrackerStore)
    getattr(FailSafeTrackerStore.__init__, "__wrapped__", FailSafeTrackerStore.__init__)(store, sql)
    return store


async def test_without_it_rasa_answers_a_stranger_and_keeps_the_turn_in_memory(postgres):
    store = fail_safe_store(*postgres)
    postgres[1].cut()
    assert await store.retrieve("guest-1") is None  # Rasa's silent fallback: the conversation looks new


async def test_with_it_a_dead_tracker_store_fails_the_turn(postgres):
    database, proxy = postgres
    store = fail_safe_store(database, proxy)
    tracker = DialogueStateTracker.from_events("guest-2", [UserUttered("hola")])
    await store.save(tracker)
    agent = SimpleNamespace(tracker_store=store)
    assert strict_tracker_store.install(agent) and strict_tracker_store.install(agent)  # twice is harmless
    proxy.cut()
    with pytest.raises(TrackerStoreUnavailable, match="OperationalError"):
        await store.retrieve("guest-2")
    with pytest.raises(TrackerStoreUnavailable):
        await store.save(tracker)
    assert await store.fallback_tracker_store.retrieve("guest-2") is None  # nothing hidden in memory
    proxy.restore()
    for _ in range(3):  # the pool may hand out one dead connection first
        try:
            found = await store.retrieve("guest-2")
            break
        except TrackerStoreUnavailable:
            continue
    assert [e.text for e in found.events if isinstance(e, UserUttered)] == ["hola"]


def test_no_agent_yet_is_not_an_error_and_a_foreign_store_fails_loudly():
    assert strict_tracker_store.install(None) is False
    with pytest.raises(TrackerStoreSeamMissing, match="InMemoryTrackerStore"):
        strict_tracker_store.install(SimpleNamespace(tracker_store=InMemoryTrackerStore(Domain.empty())))
