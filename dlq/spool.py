"""Where entries wait, in the SQL table ``dlq_spool``, when Redis does not answer
at enqueue time. The worker moves them into Redis once it answers again.

Moving is claimed per row (``taken_by``/``taken_until``), so two workers never
move the same row at the same time, and a worker that dies mid-move leaves the
row to be taken again after the lease.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from sqlalchemy import Column, DateTime, Float, String, Table, Text, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from dlq.database import METADATA, Database, to_datetime
from dlq.entry import DeadLetter

SPOOL = Table(
    "dlq_spool",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("entry", Text, nullable=False),  # DeadLetter.to_json()
    Column("spooled_at", DateTime, nullable=False, index=True),
    Column("taken_by", String(64)),
    Column("taken_until", Float),  # epoch seconds
)


class Spool:
    def __init__(self, database: Database) -> None:
        self._db = database

    async def put(self, entry: DeadLetter, at: float) -> None:
        row = dict(id=entry.id, kind=entry.kind, entry=entry.to_json(), spooled_at=to_datetime(at))
        try:
            await self._db.run(lambda connection: connection.execute(insert(SPOOL).values(**row)))
        except IntegrityError:  # already spooled (a retried call): nothing to add
            pass

    async def replace(self, entry: DeadLetter) -> bool:
        statement = update(SPOOL).where(SPOOL.c.id == entry.id).values(entry=entry.to_json())
        return await self._db.run(lambda connection: connection.execute(statement).rowcount == 1)

    async def take(self, limit: int, now: float, lease_until: float, token: str) -> List[Tuple[str, str]]:
        """Claim up to ``limit`` rows not taken by a live worker: [(id, entry JSON)], oldest first."""
        free = or_(SPOOL.c.taken_until.is_(None), SPOOL.c.taken_until < now)

        def claim(connection: Connection) -> List[Tuple[str, str]]:
            candidates = connection.execute(select(SPOOL.c.id).where(free).order_by(SPOOL.c.spooled_at).limit(limit))
            taken = []
            for (entry_id,) in candidates.all():
                statement = update(SPOOL).where(SPOOL.c.id == entry_id, free).values(taken_by=token, taken_until=lease_until)
                if connection.execute(statement).rowcount == 1:
                    taken.append(entry_id)
            if not taken:
                return []
            rows = connection.execute(select(SPOOL.c.id, SPOOL.c.entry).where(SPOOL.c.id.in_(taken)).order_by(SPOOL.c.spooled_at))
            return [(row.id, row.entry) for row in rows]

        return await self._db.run(claim)

    async def release(self, ids: Sequence[str], token: str) -> None:
        if ids:
            statement = update(SPOOL).where(SPOOL.c.id.in_(list(ids)), SPOOL.c.taken_by == token).values(taken_by=None, taken_until=None)
            await self._db.run(lambda connection: connection.execute(statement))

    async def delete(self, ids: Sequence[str], token: str) -> None:
        if ids:
            statement = delete(SPOOL).where(SPOOL.c.id.in_(list(ids)), SPOOL.c.taken_by == token)
            await self._db.run(lambda connection: connection.execute(statement))

    async def get(self, entry_id: str) -> Optional[str]:
        query = select(SPOOL.c.entry).where(SPOOL.c.id == entry_id)
        return await self._db.run(lambda connection: connection.execute(query).scalar())

    async def list(self, limit: int) -> List[str]:
        query = select(SPOOL.c.entry).order_by(SPOOL.c.spooled_at).limit(limit)
        return await self._db.run(lambda connection: list(connection.execute(query).scalars()))

    async def count(self) -> int:
        query = select(func.count()).select_from(SPOOL)
        return await self._db.run(lambda connection: connection.execute(query).scalar_one())
