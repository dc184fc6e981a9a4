"""Several processes starting together on a fresh PostgreSQL database all get
a working staff request store (SQLAlchemy's check-then-CREATE races)."""
from __future__ import annotations

import multiprocessing
import uuid

import psycopg2
import pytest

from tests.stack_common import fresh_postgres_database


def _open_and_add(url: str, barrier, results) -> None:
    from actions.staff_requests import StaffRequestStore

    barrier.wait()
    try:
        StaffRequestStore(url).add("handoff", f"guest-{uuid.uuid4().hex[:6]}", "hola")
        results.put("ok")
    except Exception as exc:  # reported to the test, which fails on it
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.fixture
def fresh_database():
    with fresh_postgres_database("staff_schema") as database:
        yield database.url()


def test_six_processes_create_the_tables_at_once(fresh_database):
    context = multiprocessing.get_context("spawn")
    workers = 6
    barrier, results = context.Barrier(workers), context.Queue()
    processes = [context.Process(target=_open_and_add, args=(fresh_database, barrier, results)) for _ in range(workers)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    assert outcomes == ["ok"] * workers
    with psycopg2.connect(fresh_database) as connection:
        cursor = connection.cursor()
        cursor.execute("SELECT count(*) FROM staff_requests")
        assert cursor.fetchone()[0] == workers
