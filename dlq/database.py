"""The SQL database of the dead-letter queue (permanent failures and the spool):
one SQLAlchemy engine, tables created on first use, blocking calls run in a
thread so the event loop never waits on the database."""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from pathlib import Path
from typing import Callable, Optional, TypeVar

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

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
        connect_args = {}
        if url.startswith("sqlite"):
            connect_args = {"check_same_thread": False, "timeout": 30}
            if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
                Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, future=True, pool_pre_ping=True, connect_args=connect_args)
        self._schema_ready = False
        self._schema_lock = threading.Lock()

    def _ensure_schema(self) -> None:
        if self._schema_ready:
            return
        with self._schema_lock:
            if not self._schema_ready:
                for attempt in range(SCHEMA_ATTEMPTS):
                    try:
                        METADATA.create_all(self.engine)
                        break
                    except DBAPIError:
                        # another process created a table between our check and our CREATE
                        # ("already exists"); checking again finds it. A real problem raises again.
                        if attempt == SCHEMA_ATTEMPTS - 1:
                            raise
                        time.sleep(0.1)
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
