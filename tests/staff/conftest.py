"""Fixtures of the staff console tests: tracker stores filled by Rasa's own
SQLTrackerStore on SQLite and on the machine's PostgreSQL (a database of the
test's own, dropped after), the machine's Redis under a key prefix of the
test's own (deleted after), a fake Rasa HTTP API, and the STAFF_* settings."""
from __future__ import annotations

import uuid
from typing import Dict

import psycopg2
import pytest
import redis

from actions.staff_requests import StaffRequestStore
from staff.config import StaffConfig
from staff.passwords import hash_password
from tests.stack_common import fresh_postgres_database
from tests.staff import scenario
from tests.staff.fake_rasa_api import FakeRasaAPI

REDIS_URL = "redis://127.0.0.1:6379/0"
RASA_TOKEN = "staff-test-rasa-token-never-logged"
SESSION_SECRET = "staff-test-session-secret-0123456789abcdef"
USER, PASSWORD = "alice", "correct horse battery staple"
OTHER_USER, OTHER_PASSWORD = "bob", "another long passphrase"
TEST_ITERATIONS = 2_000  # real PBKDF2, fewer rounds: the tests sign in often


@pytest.fixture(scope="session")
def domain():
    return scenario.load_domain()


@pytest.fixture(scope="session")
def postgres_database():
    """A PostgreSQL database of this test session's own, dropped at the end."""
    with fresh_postgres_database("staff_test") as database:
        yield database.url()


@pytest.fixture
def postgres_url(postgres_database):
    """The session's database, emptied after each test (quicker than a database per test)."""
    yield postgres_database
    connection = psycopg2.connect(postgres_database, connect_timeout=5)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def tracker_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'tracker.sqlite3'}"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def tracker_store(tracker_url, domain):
    """Rasa's SQLTrackerStore on ``tracker_url``, holding the scenario's conversations."""
    store = await scenario.fill(tracker_url, domain)
    yield store
    store.engine.dispose()


@pytest.fixture
def redis_prefix():
    """A DLQ key prefix of this test's own on the machine's Redis; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.exceptions.RedisError as exc:
        pytest.fail(f"the staff tests need Redis at {REDIS_URL}: {exc}")
    prefix = f"stafftest:{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
def fake_rasa():
    server = FakeRasaAPI(token=RASA_TOKEN).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def password_hashes() -> Dict[str, str]:
    return {USER: hash_password(PASSWORD, TEST_ITERATIONS), OTHER_USER: hash_password(OTHER_PASSWORD, TEST_ITERATIONS)}


@pytest.fixture
def assistant_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'assistant.sqlite3'}"


@pytest.fixture
def requests_store(assistant_url) -> StaffRequestStore:
    return StaffRequestStore(assistant_url)


@pytest.fixture
def staff_env(monkeypatch, tracker_url, assistant_url, fake_rasa, password_hashes, redis_prefix, tmp_path) -> Dict[str, str]:
    """Every setting the console reads, set in this process's environment (and returned for subprocesses)."""
    env = {
        "TRACKER_STORE_URL": tracker_url,
        "ASSISTANT_DATABASE_URL": assistant_url,
        "RASA_URL": fake_rasa.url,
        "RASA_TOKEN": RASA_TOKEN,
        "STAFF_USERS": ",".join(f"{name}:{encoded}" for name, encoded in password_hashes.items()),
        "STAFF_SESSION_SECRET": SESSION_SECRET,
        "STAFF_TIMEZONE": "Europe/Madrid",
        "STAFF_LOGIN_MAX_FAILURES": "3",
        "DLQ_REDIS_URL": REDIS_URL,
        "DLQ_PREFIX": redis_prefix,
        "DLQ_DATABASE_URL": f"sqlite:///{tmp_path / 'dlq.sqlite3'}",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def staff_config(staff_env) -> StaffConfig:
    return StaffConfig.from_env()
