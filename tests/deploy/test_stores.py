"""endpoints.yml loaded through Rasa's own code (read_endpoints_from_path,
TrackerStore.create, LockStore.create), against the machine's PostgreSQL and
Redis: trackers really land in Postgres, locks really serialise two stores."""
from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import List

import psycopg2
import pytest
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import TrackerStore
from rasa.core.utils import read_endpoints_from_path
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from components.stores import (
    DEFAULT_TRACKER_DB,
    AtomicRedisLockStore,
    EnvironmentLockStore,
    EnvironmentSQLTrackerStore,
    RedisAddress,
    StoreConfigError,
    StoreSettings,
    masked_url,
)
from tests.deploy.conftest import PROJECT_ROOT, REDIS_URL

ENDPOINTS = PROJECT_ROOT / "endpoints.yml"


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(PROJECT_ROOT / "domain.yml"))


def a_conversation(sender_id: str, domain: Domain) -> DialogueStateTracker:
    events = [
        ActionExecuted("action_listen"),
        UserUttered("hola, quiero reservar", {"name": "book_room", "confidence": 0.98}),
        SlotSet("language", "es"),
        ActionExecuted("utter_greet"),
        BotUttered("¡Hola! ¿Para qué fechas?"),
        ActionExecuted("action_listen"),
        UserUttered("del 5 al 8 de diciembre", {"name": "inform", "confidence": 0.91}),
    ]
    return DialogueStateTracker.from_events(sender_id, events, slots=domain.slots)


def event_dicts(tracker: DialogueStateTracker) -> List[dict]:
    return [event.as_dict() for event in tracker.events]


async def test_postgres_tracker_store_saves_and_a_second_store_reads_it(store_env, postgres_database, domain):
    store_env.setenv("TRACKER_STORE_URL", f"postgresql://postgres@127.0.0.1:5432/{postgres_database}")
    endpoints = read_endpoints_from_path(ENDPOINTS)
    writer = TrackerStore.create(endpoints.tracker_store, domain=domain)
    reader = TrackerStore.create(endpoints.tracker_store, domain=domain)  # as another Rasa process would
    assert isinstance(writer, EnvironmentSQLTrackerStore)
    assert (writer.engine.dialect.name, writer.engine.dialect.driver) == ("postgresql", "psycopg2")

    sender_id = f"guest-{uuid.uuid4().hex}"
    tracker = a_conversation(sender_id, domain)
    await writer.save(tracker)
    restored = await reader.retrieve(sender_id)

    assert restored is not None
    assert event_dicts(restored) == event_dicts(tracker)
    assert restored.get_slot("language") == "es"
    connection = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=postgres_database)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT type_name FROM events WHERE sender_id = %s ORDER BY id", (sender_id,))
            rows = [row[0] for row in cursor.fetchall()]
    finally:
        connection.close()
    assert rows == [event.type_name for event in tracker.events]
    for store in (writer, reader):
        store.engine.dispose()


async def test_tracker_store_password_never_reaches_the_logs(store_env, postgres_database, domain, caplog, capfd):
    secret = f"pw-{uuid.uuid4().hex}"  # the machine's Postgres trusts local connections and ignores it
    store_env.setenv("TRACKER_STORE_URL", f"postgresql://postgres:{secret}@127.0.0.1:5432/{postgres_database}")
    caplog.set_level(logging.DEBUG)
    endpoints = read_endpoints_from_path(ENDPOINTS)
    store = TrackerStore.create(endpoints.tracker_store, domain=domain)
    await store.save(a_conversation("guest-secret", domain))
    store.engine.dispose()

    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    assert "127.0.0.1:5432" in logged  # the store did log where it connects...
    assert secret not in logged  # ...but not the password


async def two_contenders(first: LockStore, second: LockStore, conversation_id: str) -> List[str]:
    """The first store holds the conversation's lock for 0.3 s; the second
    asks for it meanwhile. Returns the order in which they entered and left."""
    order: List[str] = []
    first_inside = asyncio.Event()

    async def hold() -> None:
        async with first.lock(conversation_id, wait_time_in_seconds=0.01):
            order.append("first in")
            first_inside.set()
            await asyncio.sleep(0.3)
            order.append("first out")

    async def wait_for_it() -> None:
        await first_inside.wait()
        async with second.lock(conversation_id, wait_time_in_seconds=0.01):
            order.append("second in")

    await asyncio.wait_for(asyncio.gather(hold(), wait_for_it()), timeout=10)
    return order


async def test_redis_lock_store_serialises_a_conversation_across_two_stores(store_env, redis_client):
    store_env.setenv("LOCK_STORE_URL", REDIS_URL)
    endpoints = read_endpoints_from_path(ENDPOINTS)
    one, other = LockStore.create(endpoints.lock_store), LockStore.create(endpoints.lock_store)
    assert isinstance(one, EnvironmentLockStore) and isinstance(one.backend, AtomicRedisLockStore)
    assert isinstance(one.backend, RedisLockStore)  # same keys and format as Rasa's
    conversation_id = f"deploy-{uuid.uuid4().hex}"
    lock_key = one.backend.key_prefix + conversation_id

    order = await two_contenders(one, other, conversation_id)

    assert order == ["first in", "first out", "second in"]
    assert not redis_client.exists(lock_key)  # released and cleaned up


async def test_redis_lock_is_visible_in_redis_while_held(store_env, redis_client):
    store_env.setenv("LOCK_STORE_URL", REDIS_URL)
    store = LockStore.create(read_endpoints_from_path(ENDPOINTS).lock_store)
    conversation_id = f"deploy-{uuid.uuid4().hex}"
    async with store.lock(conversation_id):
        assert redis_client.exists(store.backend.key_prefix + conversation_id)
    assert not redis_client.exists(store.backend.key_prefix + conversation_id)


def test_tickets_stay_distinct_and_locks_are_cleaned_up_when_four_stores_race(store_env, redis_client):
    """Rasa's own RedisLockStore reads, changes and writes a lock in separate
    commands, so racing processes can get the same ticket (RasaHQ/rasa#9213);
    AtomicRedisLockStore does each change in one transaction."""
    store_env.setenv("LOCK_STORE_URL", REDIS_URL)
    endpoints = read_endpoints_from_path(ENDPOINTS)
    stores = [LockStore.create(endpoints.lock_store) for _ in range(4)]  # as four Rasa processes would
    assert all(isinstance(store.backend, AtomicRedisLockStore) for store in stores)
    conversation_id = f"deploy-{uuid.uuid4().hex}"
    workers, per_worker = 8, 10
    start_together = threading.Barrier(workers)

    def take_tickets(store: LockStore) -> List[int]:
        start_together.wait()
        return [store.issue_ticket(conversation_id) for _ in range(per_worker)]

    with ThreadPoolExecutor(workers) as pool:
        tickets = [ticket for batch in pool.map(take_tickets, stores * 2) for ticket in batch]

    assert sorted(tickets) == list(range(workers * per_worker))
    assert len(stores[0].get_lock(conversation_id).tickets) == workers * per_worker

    def clean_up(batch: List[int]) -> None:
        start_together.wait()
        for ticket in batch:
            stores[ticket % len(stores)].cleanup(conversation_id, ticket)

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(clean_up, [tickets[i::workers] for i in range(workers)]))

    assert not redis_client.exists(stores[0].backend.key_prefix + conversation_id)


async def test_in_memory_lock_stores_do_not_see_each_other(store_env):
    """Why production needs LOCK_STORE_URL: two processes with their own
    in-memory lock store let the same conversation's turns overlap."""
    endpoints = read_endpoints_from_path(ENDPOINTS)
    one, other = LockStore.create(endpoints.lock_store), LockStore.create(endpoints.lock_store)
    assert isinstance(one.backend, InMemoryLockStore)

    order = await two_contenders(one, other, f"deploy-{uuid.uuid4().hex}")

    assert order == ["first in", "second in", "first out"]


async def test_without_environment_sqlite_tracker_store_and_in_memory_lock_store(store_env, domain):
    endpoints = read_endpoints_from_path(ENDPOINTS)

    store = TrackerStore.create(endpoints.tracker_store, domain=domain)
    lock_store = LockStore.create(endpoints.lock_store)

    assert isinstance(store, EnvironmentSQLTrackerStore)
    assert store.engine.dialect.name == "sqlite"
    assert store.engine.url.database == str(DEFAULT_TRACKER_DB)
    assert isinstance(lock_store.backend, InMemoryLockStore)
    assert endpoints.action.url == "http://actions.test:5055/webhook"
    store.engine.dispose()


async def test_sqlite_url_round_trip(store_env, tmp_path, domain):
    store_env.setenv("TRACKER_STORE_URL", f"sqlite:///{tmp_path / 'new-folder' / 'tracker.sqlite3'}")
    endpoints = read_endpoints_from_path(ENDPOINTS)
    store = TrackerStore.create(endpoints.tracker_store, domain=domain)
    tracker = a_conversation("guest-sqlite", domain)
    await store.save(tracker)
    restored = await TrackerStore.create(endpoints.tracker_store, domain=domain).retrieve("guest-sqlite")
    assert event_dicts(restored) == event_dicts(tracker)
    assert (tmp_path / "new-folder" / "tracker.sqlite3").exists()  # its folder was created


def test_endpoints_without_action_endpoint_url_fail_with_the_variable_name(store_env):
    store_env.delenv("ACTION_ENDPOINT_URL")
    with pytest.raises(Exception, match="ACTION_ENDPOINT_URL"):
        read_endpoints_from_path(ENDPOINTS)


def test_lock_store_url_is_parsed_into_redis_arguments():
    address = RedisAddress.from_url("rediss://lock:p%40ss@redis.internal:6380/2")
    assert address == RedisAddress(
        host="redis.internal", port=6380, db=2, username="lock", password="p@ss", use_ssl=True
    )
    assert "p@ss" not in repr(address)
    assert RedisAddress.from_url("redis://redis") == RedisAddress(host="redis")


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("LOCK_STORE_URL", "http://:hunter2@redis:6379/1", "redis://"),
        ("LOCK_STORE_URL", "redis://:hunter2@redis:6379/locks", "must be a number"),
        ("LOCK_STORE_URL", "redis://:hunter2@redis:notaport/1", "invalid host or port"),
        ("TRACKER_STORE_URL", "postgres://rasa:hunter2@db/rasa", "postgresql://"),
        ("TRACKER_STORE_URL", "not a url hunter2", "not an SQLAlchemy URL"),
        ("TRACKER_STORE_URL", "oracle2://rasa:hunter2@db/rasa", "unknown database dialect"),
        ("SANIC_WORKERS", "two", "positive number"),
        ("SANIC_WORKERS", "4", "needs a shared lock store"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message_and_no_password(store_env, variable, value, message):
    store_env.setenv(variable, value)
    with pytest.raises(StoreConfigError, match=message) as error:
        StoreSettings.from_env()
    assert "hunter2" not in str(error.value)


def test_several_workers_with_a_shared_lock_store_are_accepted(store_env):
    store_env.setenv("SANIC_WORKERS", "4")
    store_env.setenv("LOCK_STORE_URL", "redis://redis:6379/1")
    settings = StoreSettings.from_env()
    assert settings.sanic_workers == 4 and settings.lock_store == RedisAddress(host="redis", db=1)


def test_tracker_store_refuses_a_url_in_endpoints_yml(store_env, domain):
    with pytest.raises(StoreConfigError, match="TRACKER_STORE_URL"):
        EnvironmentSQLTrackerStore(domain=domain, host="postgresql://elsewhere/rasa")


def test_masked_url_hides_only_the_password():
    assert masked_url("postgresql://rasa:s3cr%40t@db:5432/rasa") == "postgresql://rasa:***@db:5432/rasa"
    assert masked_url("redis://:s3cret@redis:6379/1") == "redis://:***@redis:6379/1"
    assert masked_url("sqlite:////srv/var/tracker.sqlite3") == "sqlite:////srv/var/tracker.sqlite3"
