"""The SQL database of the dead-letter queue (permanent failures and the spool):
one SQLAlchemy engine, tables created on first use, blocking calls run in a
thread so the event loop never waits on the database."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Callable, Optional, TypeVar

from sqlalchemy import MetaData
from sqlalchemy.engine import Connection

from core.database import create_tables, project_engine

METADATA = MetaData()
SCHEMA_ATTEMPTS = 3
Result = TypeVar("Result")


def to_datetime(epoch: Optional[float]) -> Optional[dt.datetime]:
    """Epoch seconds -> naive UTC datetime (how the assistant's tables store time)."""
    if epoch is None:
        return None
    return dt.datetime.fromtimestamp(epoch, dt.timezone.utc).replace(tzinfo=None)


def to_epoch(moment: Optional[dt.datetime]) -> Optional[float]:
    if moment is None:
        return None
    return moment.replace(tzinfo=dt.timezone.utc).timestamp()


class Database:
    def __init__(self, url: str) -> None:
        self.engine = project_engine(url, sqlite_timeout=30)
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                create_tables(METADATA, self.engine, SCHEMA_ATTEMPTS)
                self._schema_ready = True

    def transaction(self, work: Callable[[Connection], Result]) -> Result:
        """Run ``work`` in one transaction (blocking)."""
        self._ensure_schema()
        with self.engine.begin() as connection:
            return work(connection)

    async def run(self, work: Callable[[Connection], Result]) -> Result:
        """Run ``work`` in one transaction in a worker thread."""
        return await asyncio.to_thread(self.transaction, work)

    def dispose(self) -> None:
        self.engine.dispose()
