"""Entries that will not be retried any more, in the SQL table
``dlq_permanent_failures`` (PostgreSQL in production, SQLite embedded), for
staff to read and, if they choose, put back into the queue."""
from __future__ import annotations

from typing import Any, List, Optional

from sqlalchemy import JSON, Column, DateTime, Integer, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from dlq.database import METADATA, Database, to_datetime, to_epoch
from dlq.entry import PERMANENT, DeadLetter

PERMANENT_FAILURES = Table(
    "dlq_permanent_failures",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False, index=True),
    Column("conversation_id", String(255), index=True),
    Column("reason", String(40), nullable=False),
    Column("payload", JSON, nullable=False),
    Column("error", Text, nullable=False),
    Column("retry_count", Integer, nullable=False),
    Column("max_retries", Integer, nullable=False),
    Column("first_failed_at", DateTime, nullable=False),
    Column("last_retry_at", DateTime),
    Column("failed_at", DateTime, nullable=False, index=True),  # when it became permanent
    Column("requeued_at", DateTime),  # staff put it back into the queue
)


def _row_to_entry(row: Any) -> DeadLetter:
    failed_at = to_epoch(row.failed_at)
    return DeadLetter(
        id=row.id,
        kind=row.kind,
        payload=row.payload,
        error=row.error,
        reason=row.reason,
        conversation_id=row.conversation_id,
        attempts=row.retry_count,
        max_retries=row.max_retries,
        first_failed_at=to_epoch(row.first_failed_at),
        last_retry_at=to_epoch(row.last_retry_at),
        next_retry_at=failed_at,
        status=PERMANENT,
    )


class PermanentStore:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def record(self, entry: DeadLetter, failed_at: float) -> None:
        """Insert the entry, or overwrite its row (an entry requeued by staff that failed again)."""
        values = dict(
            kind=entry.kind,
            conversation_id=entry.conversation_id,
            reason=entry.reason,
            payload=entry.payload,
            error=entry.error,
            retry_count=entry.attempts,
            max_retries=entry.max_retries,
            first_failed_at=to_datetime(entry.first_failed_at),
            last_retry_at=to_datetime(entry.last_retry_at),
            failed_at=to_datetime(failed_at),
            requeued_at=None,
        )

        def upsert(connection: Connection) -> None:
            table = PERMANENT_FAILURES
            if connection.execute(update(table).where(table.c.id == entry.id).values(**values)).rowcount == 0:
                connection.execute(insert(table).values(id=entry.id, **values))

        try:
            await self._db.run(upsert)
        except IntegrityError:  # another process inserted it between our update and insert
            await self._db.run(upsert)

    async def get(self, entry_id: str) -> Optional[DeadLetter]:
        """The permanent failure ``entry_id``, unless staff have requeued it."""
        table = PERMANENT_FAILURES
        query = select(table).where(table.c.id == entry_id, table.c.requeued_at.is_(None))
        row = await self._db.run(lambda connection: connection.execute(query).first())
        return _row_to_entry(row) if row is not None else None

    async def list(self, limit: int = 100) -> List[DeadLetter]:
        """Permanent failures not requeued, newest first."""
        table = PERMANENT_FAILURES
        query = select(table).where(table.c.requeued_at.is_(None)).order_by(table.c.failed_at.desc()).limit(limit)
        rows = await self._db.run(lambda connection: connection.execute(query).all())
        return [_row_to_entry(row) for row in rows]

    def dispose(self) -> None:
        self._db.dispose()

    async def mark_requeued(self, entry_id: str, at: float) -> bool:
        """Mark the row requeued; False if it was already (two staff members clicking at once)."""
        table = PERMANENT_FAILURES
        statement = (
            update(table)
            .where(table.c.id == entry_id, table.c.requeued_at.is_(None))
            .values(requeued_at=to_datetime(at))
        )
        return await self._db.run(lambda connection: connection.execute(statement).rowcount == 1)
