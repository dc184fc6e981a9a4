"""Fixtures for the deployment tests: a private PostgreSQL database on the
machine's server (created and dropped per test) and the machine's Redis."""
from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.stack_common import fresh_postgres_database

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def postgres_database():
    """Name of a fresh, empty database, dropped after the test."""
    with fresh_postgres_database("deploy_test") as database:
        yield database.name


@pytest.fixture
def redis_client():
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    yield client
    client.close()


@pytest.fixture
def store_env(monkeypatch):
    """A clean store environment: none of the variables endpoints.yml depends on is set."""
    for name in ("TRACKER_STORE_URL", "LOCK_STORE_URL", "SANIC_WORKERS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ACTION_ENDPOINT_URL", "http://actions.test:5055/webhook")
    return monkeypatch
