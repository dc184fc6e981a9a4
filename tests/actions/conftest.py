"""Every action test runs against its own embedded PMS, staff store and
in-process dead-letter queue (the root conftest wires the first two when a test
uses ``pms``), never the var/ databases."""
from __future__ import annotations

import pytest
import yaml

from actions.config import PROJECT_ROOT
from actions.saved_requests import use_queue
from dlq import DLQSettings, build_queue


@pytest.fixture
def saved_queue(tmp_path):
    """The queue saved requests go to: in memory, permanent failures in a temp SQLite file."""
    queue = build_queue(DLQSettings(database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}"), record_metrics=False)
    use_queue(queue)
    yield queue
    use_queue(None)


@pytest.fixture(autouse=True)
def _isolated_backends(pms, staff_store, now, action_backends, saved_queue):
    yield


@pytest.fixture(scope="session")
def domain() -> dict:
    """The bot's real domain, for running form validation actions end to end."""
    with open(PROJECT_ROOT / "domain.yml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)
