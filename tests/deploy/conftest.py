"""Fixtures for the deployment tests: a private PostgreSQL database on the
machine's server (created and dropped per test) and the machine's Redis."""
from __future__ import annotations

import uuid
from pathlib import Path

import psycopg2
import pytest
import redis

PROJECT_ROOT = Path(__file__).resolve().parents[2]
POSTGRES_ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def _admin_execute(sql: str) -> None:
    connection = psycopg2.connect(POSTGRES_ADMIN_DSN)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql)
    finally:
        connection.close()


@pytest.fixture
def postgres_database():
    """Name of a fresh, empty database, dropped after the test."""
    name = f"deploy_test_{uuid.uuid4().hex[:12]}"
    _admin_execute(f'CREATE DATABASE "{name}"')
    yield name
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


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
