"""Several processes starting at once on an empty database all get the tables:
the one that loses the CREATE TABLE race does not fail."""
import threading

import pytest
from sqlalchemy import inspect

from dlq.database import Database
from tests.stack_common import fresh_postgres_database


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    with fresh_postgres_database("dlq_fresh") as database:
        yield database.url()


def test_concurrent_first_use_creates_the_tables_once(empty_database_url):
    databases = [Database(empty_database_url) for _ in range(6)]  # one engine each, like separate processes
    start, errors = threading.Barrier(len(databases)), []

    def first_use(database):
        start.wait()
        try:
            database.transaction(lambda connection: None)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(database,)) for database in databases]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {"dlq_permanent_failures", "dlq_spool"} <= set(inspect(databases[0].engine).get_table_names())
    for database in databases:
        database.dispose()
