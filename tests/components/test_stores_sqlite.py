"""components/stores.py: the embedded SQLite tracker store commits without
waiting for the disk (write-ahead log, synchronous=NORMAL) and still keeps
everything saved for the next process and for read-only readers."""
from __future__ import annotations

import sqlite3

from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered

from components.stores import EnvironmentSQLTrackerStore, StoreSettings

DOMAIN = Domain.from_yaml("""
version: "3.1"
intents: [greet]
responses:
  utter_greet: [{text: "hi"}]
""")


def store(path) -> EnvironmentSQLTrackerStore:
    return EnvironmentSQLTrackerStore(domain=DOMAIN, settings=StoreSettings(tracker_store_url=f"sqlite:///{path}"))


def test_connections_are_pooled_in_wal_mode_with_normal_sync(tmp_path):
    from sqlalchemy.pool import NullPool

    first = store(tmp_path / "tracker.sqlite3")
    assert not isinstance(first.engine.pool, NullPool)  # connections stay open: the WAL is not checkpointed at every close
    with first.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    with sqlite3.connect(tmp_path / "tracker.sqlite3") as other:  # the mode stays in the file
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_what_is_saved_is_read_by_another_store_and_a_read_only_reader(tmp_path):
    path = tmp_path / "tracker.sqlite3"
    first = store(path)
    tracker = await first.get_or_create_tracker("guest")
    tracker.update(UserUttered("hola", {"name": "greet", "confidence": 0.9}))
    tracker.update(ActionExecuted("utter_greet"))
    await first.save(tracker)
    again = await store(path).retrieve("guest")
    assert [e.as_dict() for e in again.events] == [e.as_dict() for e in tracker.events]
    # the staff console opens the file read-only (staff/tracker_reader.py)
    reader = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        texts = [row[0] for row in reader.execute("SELECT data FROM events WHERE type_name = 'user'")]
    finally:
        reader.close()
    assert len(texts) == 1 and '"hola"' in texts[0]
