"""Requests that need a person: handoffs, incident reports, feedback, payment checks.

Stored in the assistant's own database (ASSISTANT_DATABASE_URL; SQLite by
default, PostgreSQL in production) so reception can work through them; the
conversation itself stays in Rasa's tracker store.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Optional

from sqlalchemy import Column, DateTime, Integer, String, Text, func, inspect, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import OperationalError, ProgrammingError
from sqlalchemy.orm import declarative_base, sessionmaker

from actions.config import settings
from core.database import create_tables, project_engine

Base = declarative_base()
KINDS = ("handoff", "issue", "feedback", "payment_check", "saved_request")
# columns added after the first release: (name, SQL type) added to older tables on start
LATER_COLUMNS = (("resolved_at", "TIMESTAMP"), ("resolved_by", "VARCHAR(255)"),
                 ("booking_ref", "VARCHAR(32)"), ("media_ref", "VARCHAR(512)"))


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class StaffRequest(Base):
    __tablename__ = "staff_requests"
    id = Column(Integer, primary_key=True, autoincrement=True)
    kind = Column(String(20), nullable=False, index=True)
    sender_id = Column(String(255), nullable=False, index=True)
    text = Column(Text, nullable=False)
    urgent = Column(Integer, nullable=False, default=0)
    status = Column(String(20), nullable=False, default="open", index=True)
    created_at = Column(DateTime, nullable=False, default=_utc_now)
    resolved_at = Column(DateTime, nullable=True)
    resolved_by = Column(String(255), nullable=True)
    # payment checks (INTERFACES item 4): the booking and the receipt the guest sent
    booking_ref = Column(String(32), nullable=True)
    media_ref = Column(String(512), nullable=True)  # e.g. whatsapp:<media id>; None for a text notice


class StaffRequestStore:
    def __init__(self, database_url: str) -> None:
        self._engine = project_engine(database_url)
        self._sessions = sessionmaker(self._engine, future=True, expire_on_commit=False)
        create_tables(Base.metadata, self._engine)
        self._add_later_columns()

    def _add_later_columns(self) -> None:
        """A table created by an older release gets the newer (nullable) columns."""
        present = {c["name"] for c in inspect(self._engine).get_columns(StaffRequest.__tablename__)}
        for name, sql_type in LATER_COLUMNS:
            if name in present:
                continue
            try:
                with self._engine.begin() as conn:
                    conn.execute(sql_text(f"ALTER TABLE {StaffRequest.__tablename__} ADD COLUMN {name} {sql_type} NULL"))
            except (OperationalError, ProgrammingError):
                # another process added it first
                if name not in {c["name"] for c in inspect(self._engine).get_columns(StaffRequest.__tablename__)}:
                    raise

    def add(self, kind: str, sender_id: str, text: str, urgent: bool = False,
            booking_ref: Optional[str] = None, media_ref: Optional[str] = None) -> StaffRequest:
        if kind not in KINDS:
            raise ValueError(f"unknown staff request kind {kind!r}")
        with self._sessions() as session, session.begin():
            request = StaffRequest(kind=kind, sender_id=sender_id, text=text[:4000], urgent=int(urgent),
                                   booking_ref=booking_ref, media_ref=(media_ref or None) and media_ref[:512])
            session.add(request)
            session.flush()
            return request

    def count_since(self, since: dt.datetime, sender_id: Optional[str] = None) -> int:
        """Requests created since ``since`` (naive UTC), all or one sender's (actions/request_limits.py)."""
        query = select(func.count(StaffRequest.id)).where(StaffRequest.created_at >= since)
        if sender_id is not None:
            query = query.where(StaffRequest.sender_id == sender_id)
        with self._sessions() as session:
            return int(session.execute(query).scalar_one())

    def open_requests(self, kind: Optional[str] = None) -> list[StaffRequest]:
        with self._sessions() as session:
            query = select(StaffRequest).where(StaffRequest.status == "open").order_by(StaffRequest.id)
            if kind:
                query = query.where(StaffRequest.kind == kind)
            return list(session.execute(query).scalars())

    def get(self, request_id: int) -> Optional[StaffRequest]:
        with self._sessions() as session:
            return session.get(StaffRequest, request_id)

    def resolve(self, request_id: int, by: str) -> StaffRequest:
        """Close an open request, noting who and when; a request already
        resolved is returned unchanged. Raises LookupError for an unknown id."""
        if not by.strip():
            raise ValueError("say who resolved the request")
        with self._sessions() as session, session.begin():
            session.execute(
                update(StaffRequest)
                .where(StaffRequest.id == request_id, StaffRequest.status == "open")
                .values(status="resolved", resolved_at=_utc_now(), resolved_by=by.strip()[:255])
            )
            request = session.get(StaffRequest, request_id)
            if request is None:
                raise LookupError(f"no staff request #{request_id}")
            return request


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


async def record_staff_request(kind: str, sender_id: str, text: str, urgent: bool = False,
                               booking_ref: Optional[str] = None, media_ref: Optional[str] = None) -> StaffRequest:
    """Store a request without blocking the action server's event loop."""
    return await asyncio.to_thread(lambda: store().add(kind, sender_id, text, urgent, booking_ref, media_ref))
