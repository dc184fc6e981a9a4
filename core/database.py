"""How every store of the project opens its database and creates its tables.

The assistant's own tables (staff requests, audit log, booking access, desk
notes, the journey's schedule, dead letters) and the embedded PMS take a
SQLAlchemy URL: SQLite in development, PostgreSQL in production. Each needs
the same two things, kept here so a fix reaches all of them:

- ``project_engine``: SQLite's folder created, the connection shareable
  across the threads Sanic and ``asyncio.to_thread`` use, ``pool_pre_ping``
  so a restarted PostgreSQL is noticed;
- ``create_tables``: several processes starting on a fresh database race
  between SQLAlchemy's existence check and its CREATE; the loser sees
  "already exists" and checking again finds the table. A real problem raises
  again after the last attempt.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

TABLE_ATTEMPTS = 5


def project_engine(url: str, *, sqlite_timeout: Optional[float] = None) -> Engine:
    """An engine for one of the project's databases. ``sqlite_timeout``: seconds a
    SQLite writer waits for another process's lock (sqlite3's default is 5)."""
    connect_args: dict = {}
    if url.startswith("sqlite"):
        connect_args["check_same_thread"] = False
        if sqlite_timeout is not None:
            connect_args["timeout"] = sqlite_timeout
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return create_engine(url, future=True, pool_pre_ping=True, connect_args=connect_args)


def create_tables(metadata: MetaData, engine: Engine, attempts: int = TABLE_ATTEMPTS) -> None:
    """CREATE TABLE for what is missing, safe when several processes do it at once."""
    for attempt in range(attempts):
        try:
            metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.1 * (attempt + 1))
