"""Requests that need a person: handoffs, incident reports, feedback, payment checks.

Stored in the assistant's own database (ASSISTANT_DATABASE_URL; SQLite by
default, PostgreSQL in production) so reception can work through them; the
conversation itself stays in Rasa's tracker store.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from pathlib import Path
from typing import Optional

from sqlalchemy import Column, DateTime, Integer, String, Text, create_engine, select
from sqlalchemy.orm import declarative_base, sessionmaker

from actions.config import settings

Base = declarative_base()
KINDS = ("handoff", "issue", "feedback", "payment_check")


class StaffRequest(Base):
    __tablename__ = "staff_requests"
    id = Column(Integer, primary_key=True, autoincrement=True)
    kind = Column(String(20), nullable=False, index=True)
    sender_id = Column(String(255), nullable=False, index=True)
    text = Column(Text, nullable=False)
    urgent = Column(Integer, nullable=False, default=0)
    status = Column(String(20), nullable=False, default="open", index=True)
    created_at = Column(DateTime, nullable=False, default=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))


class StaffRequestStore:
    def __init__(self, database_url: str) -> None:
        if database_url.startswith("sqlite:///"):
            Path(database_url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
        connect_args = {"check_same_thread": False} if database_url.startswith("sqlite") else {}
        self._engine = create_engine(database_url, future=True, pool_pre_ping=True, connect_args=connect_args)
        self._sessions = sessionmaker(self._engine, future=True, expire_on_commit=False)
        Base.metadata.create_all(self._engine)

    def add(self, kind: str, sender_id: str, text: str, urgent: bool = False) -> StaffRequest:
        if kind not in KINDS:
            raise ValueError(f"unknown staff request kind {kind!r}")
        with self._sessions() as session, session.begin():
            request = StaffRequest(kind=kind, sender_id=sender_id, text=text[:4000], urgent=int(urgent))
            session.add(request)
            session.flush()
            return request

    def open_requests(self, kind: Optional[str] = None) -> list[StaffRequest]:
        with self._sessions() as session:
            query = select(StaffRequest).where(StaffRequest.status == "open").order_by(StaffRequest.id)
            if kind:
                query = query.where(StaffRequest.kind == kind)
            return list(session.execute(query).scalars())


_store: Optional[StaffRequestStore] = None
_lock = threading.Lock()


def store() -> StaffRequestStore:
    global _store
    with _lock:
        if _store is None:
            _store = StaffRequestStore(settings().assistant_database_url)
        return _store


def use_store(replacement: Optional[StaffRequestStore]) -> None:
    global _store
    _store = replacement


async def record_staff_request(kind: str, sender_id: str, text: str, urgent: bool = False) -> StaffRequest:
    """Store a request without blocking the action server's event loop."""
    return await asyncio.to_thread(lambda: store().add(kind, sender_id, text, urgent))
