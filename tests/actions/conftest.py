"""Every action test runs against its own embedded PMS and staff store (the
root conftest wires them when a test uses ``pms``), never the var/ databases."""
from __future__ import annotations

import pytest
import yaml

from actions.config import PROJECT_ROOT


@pytest.fixture(autouse=True)
def _isolated_backends(pms, staff_store, now, action_backends):
    yield


@pytest.fixture(scope="session")
def domain() -> dict:
    """The bot's real domain, for running form validation actions end to end."""
    with open(PROJECT_ROOT / "domain.yml", encoding="utf-8") as fh:
        return yaml.safe_load(fh)
