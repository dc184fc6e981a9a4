"""The audit log: every booking change and every staff action, who did it and when.

One table, ``audit_log``, in the assistant's database (ASSISTANT_DATABASE_URL,
next to staff_requests): when (UTC), actor (``guest`` / ``staff:<name>`` /
``system``), conversation id, channel, action, booking reference, details.
Rows are only ever added. The staff console reads it (``AuditLog.recent``) on
its /audit page and writes its own actions with ``record_audit_sync``.

Actions the assistant records (``ACTIONS``): booking_created, booking_cancelled,
late_checkout_set, payment_notice, payment_confirmed, booking_access_granted,
booking_access_failed; staff use staff_* names (e.g. staff_payment_approved,
staff_payment_rejected, staff_resumed, staff_dead_letter_retried).

A failure to write the audit row is logged and re-raised by the sync API; the
async API used inside actions logs it and lets the guest's turn go on (the
change itself already happened in the PMS, and the guest must hear about it).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Optional

from sqlalchemy import Column, DateTime, Integer, String, Text, select
from sqlalchemy.orm import declarative_base, sessionmaker

from actions.config import settings
from core.database import create_tables, project_engine

logger = logging.getLogger(__name__)
Base = declarative_base()

ACTIONS = (
    "booking_created", "booking_cancelled", "late_checkout_set", "payment_notice", "payment_confirmed",
    "booking_access_granted", "booking_access_failed",
)
MAX_DETAIL_CHARS = 2000


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class AuditRow(Base):
    __tablename__ = "audit_log"
    id = Column(Integer, primary_key=True, autoincrement=True)
    at = Column(DateTime, nullable=False, default=_utc_now, index=True)
    actor = Column(String(120), nullable=False)
    conversation_id = Column(String(255), nullable=False, default="", index=True)
    channel = Column(String(40), nullable=False, default="")
    action = Column(String(60), nullable=False, index=True)
    booking_ref = Column(String(32), nullable=False, default="", index=True)
    details = Column(Text, nullable=False, default="{}")  # JSON object


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str
    conversation_id: str
    channel: str
    action: str
    booking_ref: str
    details: Mapping[str, Any]


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(row.id, row.at, row.actor, row.conversation_id, row.channel, row.action,
                      row.booking_ref, json.loads(row.details or "{}"))


class AuditLog:
    def __init__(self, database_url: str) -> None:
        self._engine = project_engine(database_url)
        self._sessions = sessionmaker(self._engine, future=True, expire_on_commit=False)
        create_tables(Base.metadata, self._engine)

    def record(self, action: str, *, actor: str, conversation_id: str = "", channel: str = "",
               booking_ref: str = "", details: Optional[Mapping[str, Any]] = None) -> AuditEntry:
        if not action or not actor:
            raise ValueError("an audit entry needs an action and an actor")
        text = json.dumps(dict(details or {}), ensure_ascii=False, default=str)
        if len(text) > MAX_DETAIL_CHARS:
            text = json.dumps({"truncated": text[:MAX_DETAIL_CHARS]}, ensure_ascii=False)
        with self._sessions() as session, session.begin():
            row = AuditRow(actor=actor[:120], conversation_id=(conversation_id or "")[:255], channel=(channel or "")[:40],
                           action=action[:60], booking_ref=(booking_ref or "")[:32], details=text)
            session.add(row)
            session.flush()
            return _entry(row)

    def recent(self, limit: int = 200, *, booking_ref: str = "", conversation_id: str = "") -> list[AuditEntry]:
        """Newest first; optionally only one booking's or one conversation's entries."""
        query = select(AuditRow).order_by(AuditRow.id.desc()).limit(max(1, min(limit, 1000)))
        if booking_ref:
            query = query.where(AuditRow.booking_ref == booking_ref)
        if conversation_id:
            query = query.where(AuditRow.conversation_id == conversation_id)
        with self._sessions() as session:
            return [_entry(row) for row in session.execute(query).scalars()]


_log: Optional[AuditLog] = None
_lock = threading.Lock()


def audit_log() -> AuditLog:
    global _log
    with _lock:
        if _log is None:
            _log = AuditLog(settings().assistant_database_url)
        return _log


def use_audit_log(replacement: Optional[AuditLog]) -> None:
    global _log
    _log = replacement


def record_audit_sync(action: str, **fields: Any) -> AuditEntry:
    """For the staff console and workers (raises when the row cannot be written)."""
    return audit_log().record(action, **fields)


async def record_audit(action: str, tracker: Any = None, **fields: Any) -> Optional[AuditEntry]:
    """From an action: the conversation and channel come from ``tracker``; never fails the turn."""
    if tracker is not None:
        fields.setdefault("actor", "guest")
        fields.setdefault("conversation_id", tracker.sender_id)
        fields.setdefault("channel", tracker.get_latest_input_channel() or "")
    try:
        return await asyncio.to_thread(record_audit_sync, action, **fields)
    except Exception:  # the PMS change is done; the guest must still be told
        logger.exception("audit entry %s for %s not written", action, fields.get("booking_ref", ""))
        return None
