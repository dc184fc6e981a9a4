"""The journey's database: one row per (hotel, booking, step) — the
exactly-once key — plus opt-outs and review-link clicks.

The unique key makes "send this step" happen once however many processes
reconcile the same booking: inserts are ``ON CONFLICT DO NOTHING`` and a send
starts with an atomic claim (``UPDATE ... WHERE status = 'pending'``; on
PostgreSQL the row lock makes the second claimer re-read the row and find it
taken). A claim has a lease; a process that died while sending leaves the row
``sending`` and it becomes ``failed`` / ``interrupted`` after the lease, never
sent again automatically (it may have gone out: at most once beats twice).

SQLite by default (``ASSISTANT_DATABASE_URL``), PostgreSQL in production.
"""
from __future__ import annotations

import datetime as dt
import secrets
import threading
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite

from core.database import create_tables, project_engine
from journey.plan import PlannedStep

PENDING, SENDING, SENT, FAILED, SKIPPED, CANCELLED = "pending", "sending", "sent", "failed", "skipped", "cancelled"
STATUSES = (PENDING, SENDING, SENT, FAILED, SKIPPED, CANCELLED)
FINAL = (SENT, SKIPPED, CANCELLED)
NO_CONTACT = "no contact to write to"
metadata = MetaData()

steps_table = Table(
    "journey_steps", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hotel_id", String(64), nullable=False),
    Column("booking_ref", String(32), nullable=False),
    Column("step", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("due_at", DateTime, nullable=False),  # UTC
    Column("expires_at", DateTime, nullable=False),  # UTC
    Column("conversation_id", String(255), nullable=False, default=""),
    Column("channel", String(16), nullable=False, default=""),
    Column("language", String(8), nullable=False, default=""),
    Column("party", String(16), nullable=False, default=""),
    Column("claim", String(32), nullable=False, default=""),
    Column("lease_until", DateTime, nullable=True),
    Column("attempts", Integer, nullable=False, default=0),
    Column("delivery", String(16), nullable=False, default=""),  # text | template | email
    Column("detail", Text, nullable=False, default=""),  # why skipped/failed/cancelled
    Column("created_at", DateTime, nullable=False),
    Column("sent_at", DateTime, nullable=True),
    Column("replied_at", DateTime, nullable=True),
    UniqueConstraint("hotel_id", "booking_ref", "step", name="uq_journey_step"),
    Index("ix_journey_due", "status", "due_at"),
    Index("ix_journey_conversation", "conversation_id"),
)

optouts_table = Table(
    "journey_optouts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hotel_id", String(64), nullable=False),
    Column("guest", String(255), nullable=False),  # conversation id (WhatsApp wa_id@number, e-mail address)
    Column("source", String(32), nullable=False),  # keyword | whatsapp | staff
    Column("text", String(200), nullable=False, default=""),
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("hotel_id", "guest", name="uq_journey_optout"),
)

clicks_table = Table(
    "journey_review_clicks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("hotel_id", String(64), nullable=False),
    Column("booking_ref", String(32), nullable=False),
    Column("platform", String(32), nullable=False),
    Column("clicked_at", DateTime, nullable=False),
)


def naive_utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError("journey times must be timezone-aware")
    return moment.astimezone(dt.timezone.utc).replace(tzinfo=None)


def aware(moment: Optional[dt.datetime]) -> Optional[dt.datetime]:
    return None if moment is None else moment.replace(tzinfo=dt.timezone.utc)


@dataclass(frozen=True)
class StepRow:
    id: int
    hotel_id: str
    booking_ref: str
    step: str
    status: str
    due_at: dt.datetime
    expires_at: dt.datetime
    conversation_id: str
    channel: str
    language: str
    party: str
    claim: str
    attempts: int
    delivery: str
    detail: str
    created_at: dt.datetime
    sent_at: Optional[dt.datetime]

    @classmethod
    def of(cls, row) -> "StepRow":
        m = row._mapping
        return cls(
            id=m["id"], hotel_id=m["hotel_id"], booking_ref=m["booking_ref"], step=m["step"], status=m["status"],
            due_at=aware(m["due_at"]), expires_at=aware(m["expires_at"]), conversation_id=m["conversation_id"],
            channel=m["channel"], language=m["language"], party=m["party"], claim=m["claim"],
            attempts=m["attempts"], delivery=m["delivery"], detail=m["detail"], created_at=aware(m["created_at"]),
            sent_at=aware(m["sent_at"]),
        )


@dataclass(frozen=True)
class Target:
    """Who a booking's steps go to."""

    conversation_id: str
    channel: str  # whatsapp | email | chat
    language: str
    party: str


class JourneyStore:
    def __init__(self, database_url: str) -> None:
        self.engine = project_engine(database_url, sqlite_timeout=30)
        self._insert = postgresql.insert if self.engine.dialect.name == "postgresql" else sqlite.insert
        if self.engine.dialect.name not in ("postgresql", "sqlite"):
            raise ValueError(f"the journey store runs on PostgreSQL or SQLite, not {self.engine.dialect.name}")
        self._lock = threading.Lock()  # SQLite: one writer per process at a time
        create_tables(metadata, self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- reconcile -------------------------------------------------------------------
    def rows_for(self, hotel_id: str, references: Iterable[str]) -> Dict[Tuple[str, str], StepRow]:
        references = list(references)
        found: Dict[Tuple[str, str], StepRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(references), 500):
                chunk = references[start:start + 500]
                for row in conn.execute(select(steps_table).where(
                    steps_table.c.hotel_id == hotel_id, steps_table.c.booking_ref.in_(chunk)
                )):
                    step = StepRow.of(row)
                    found[(step.booking_ref, step.step)] = step
        return found

    def add_steps(self, hotel_id: str, booking_ref: str, planned: Sequence[PlannedStep], target: Target, now: dt.datetime) -> int:
        """Insert the steps not yet recorded (a step that can no longer go out is
        recorded as skipped). Concurrent inserts of the same key: one wins."""
        if not planned:
            return 0
        values = []
        for step in planned:
            late = now >= step.expires
            detail = "too late when the booking was seen" if late else ("" if target.conversation_id else NO_CONTACT)
            values.append(dict(
                hotel_id=hotel_id, booking_ref=booking_ref, step=step.step,
                status=SKIPPED if detail else PENDING, detail=detail,
                due_at=naive_utc(step.due), expires_at=naive_utc(step.expires), conversation_id=target.conversation_id,
                channel=target.channel, language=target.language, party=target.party, claim="", attempts=0,
                delivery="", created_at=naive_utc(now),
            ))
        statement = self._insert(steps_table).values(values).on_conflict_do_nothing(
            index_elements=["hotel_id", "booking_ref", "step"]
        )
        with self._lock, self.engine.begin() as conn:
            return conn.execute(statement).rowcount or 0

    def move_pending(self, row_id: int, planned: PlannedStep, target: Target) -> bool:
        """A changed booking: its pending step gets the new time and recipient."""
        with self._lock, self.engine.begin() as conn:
            return bool(conn.execute(update(steps_table).where(
                steps_table.c.id == row_id, steps_table.c.status == PENDING
            ).values(
                due_at=naive_utc(planned.due), expires_at=naive_utc(planned.expires),
                conversation_id=target.conversation_id, channel=target.channel,
                language=target.language, party=target.party,
            )).rowcount)

    def revive(self, row_id: int, planned: PlannedStep, target: Target) -> bool:
        """A step skipped for want of a contact goes back to pending once the PMS has one."""
        with self._lock, self.engine.begin() as conn:
            return bool(conn.execute(update(steps_table).where(
                steps_table.c.id == row_id, steps_table.c.status == SKIPPED, steps_table.c.detail == NO_CONTACT
            ).values(
                status=PENDING, detail="", due_at=naive_utc(planned.due), expires_at=naive_utc(planned.expires),
                conversation_id=target.conversation_id, channel=target.channel,
                language=target.language, party=target.party,
            )).rowcount)

    def close_pending(self, hotel_id: str, booking_ref: str, status: str, detail: str,
                      steps: Optional[Sequence[str]] = None) -> int:
        """Pending (and failed, not yet retried) steps of a booking that will not go out."""
        conditions = [steps_table.c.hotel_id == hotel_id, steps_table.c.booking_ref == booking_ref,
                      steps_table.c.status.in_((PENDING, FAILED))]
        if steps is not None:
            conditions.append(steps_table.c.step.in_(list(steps)))
        with self._lock, self.engine.begin() as conn:
            return conn.execute(update(steps_table).where(and_(*conditions)).values(
                status=status, detail=detail[:500], claim="", lease_until=None)).rowcount or 0

    def expire_pending(self, now: dt.datetime) -> int:
        """Steps whose moment passed without being sent (the system was down)."""
        with self._lock, self.engine.begin() as conn:
            return conn.execute(update(steps_table).where(
                steps_table.c.status.in_((PENDING, FAILED)), steps_table.c.expires_at <= naive_utc(now)
            ).values(status=SKIPPED, detail="expired before it could be sent", claim="", lease_until=None)).rowcount or 0

    def interrupt_stale(self, now: dt.datetime) -> int:
        """Claims whose process died mid-send: failed, not resent (the message may have gone out)."""
        with self._lock, self.engine.begin() as conn:
            return conn.execute(update(steps_table).where(
                steps_table.c.status == SENDING, steps_table.c.lease_until <= naive_utc(now)
            ).values(status=FAILED, detail="interrupted: the sending process stopped; check before retrying",
                     claim="", lease_until=None)).rowcount or 0

    # -- sending ---------------------------------------------------------------------
    def claim_due(self, now: dt.datetime, lease_seconds: float, limit: int = 50) -> List[StepRow]:
        """Atomically take up to ``limit`` due pending steps for this process."""
        token = secrets.token_hex(8)
        moment = naive_utc(now)
        due = select(steps_table.c.id).where(
            steps_table.c.status == PENDING, steps_table.c.due_at <= moment, steps_table.c.expires_at > moment
        ).order_by(steps_table.c.due_at).limit(limit)
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(steps_table).where(
                steps_table.c.id.in_(due.scalar_subquery()), steps_table.c.status == PENDING
            ).values(status=SENDING, claim=token, attempts=steps_table.c.attempts + 1,
                     lease_until=moment + dt.timedelta(seconds=lease_seconds)))
            rows = conn.execute(select(steps_table).where(steps_table.c.claim == token)).all()
        return [StepRow.of(row) for row in rows]

    def claim_failed(self, row_id: int, now: dt.datetime, lease_seconds: float) -> Optional[StepRow]:
        """The dead-letter retry of a failed send takes the row (None: not failed any more)."""
        token = secrets.token_hex(8)
        moment = naive_utc(now)
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(steps_table).where(
                steps_table.c.id == row_id, steps_table.c.status == FAILED, steps_table.c.expires_at > moment
            ).values(status=SENDING, claim=token, attempts=steps_table.c.attempts + 1,
                     lease_until=moment + dt.timedelta(seconds=lease_seconds)))
            row = conn.execute(select(steps_table).where(steps_table.c.claim == token)).first()
        return None if row is None else StepRow.of(row)

    def finish(self, row: StepRow, status: str, now: dt.datetime, *, delivery: str = "", detail: str = "") -> bool:
        """Record the outcome of a claimed step (only the claim's holder can)."""
        values = dict(status=status, detail=detail[:500], claim="", lease_until=None)
        if status == SENT:
            values.update(sent_at=naive_utc(now), delivery=delivery)
        with self._lock, self.engine.begin() as conn:
            return bool(conn.execute(update(steps_table).where(
                steps_table.c.id == row.id, steps_table.c.claim == row.claim, steps_table.c.status == SENDING
            ).values(**values)).rowcount)

    def get(self, row_id: int) -> Optional[StepRow]:
        with self.engine.connect() as conn:
            row = conn.execute(select(steps_table).where(steps_table.c.id == row_id)).first()
        return None if row is None else StepRow.of(row)

    def has_written_to(self, hotel_id: str, conversation_id: str) -> bool:
        """Whether this guest already got a proactive message (the first one says how to stop them)."""
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(steps_table).where(
                steps_table.c.hotel_id == hotel_id, steps_table.c.conversation_id == conversation_id,
                steps_table.c.status == SENT)).scalar_one() > 0

    def mark_replied(self, conversation_id: str, now: dt.datetime, within: dt.timedelta) -> int:
        """The guest answered: the steps sent to them shortly before count as replied."""
        moment = naive_utc(now)
        with self._lock, self.engine.begin() as conn:
            return conn.execute(update(steps_table).where(
                steps_table.c.conversation_id == conversation_id, steps_table.c.status == SENT,
                steps_table.c.replied_at.is_(None), steps_table.c.sent_at >= moment - within,
            ).values(replied_at=moment)).rowcount or 0

    # -- opt-outs --------------------------------------------------------------------
    def opt_out(self, hotel_id: str, guest: str, source: str, text: str, now: dt.datetime) -> bool:
        """Record the opt-out (True if new) and close the guest's pending steps."""
        statement = self._insert(optouts_table).values(
            hotel_id=hotel_id, guest=guest, source=source, text=text[:200], created_at=naive_utc(now)
        ).on_conflict_do_nothing(index_elements=["hotel_id", "guest"])
        with self._lock, self.engine.begin() as conn:
            added = bool(conn.execute(statement).rowcount)
            conn.execute(update(steps_table).where(
                steps_table.c.hotel_id == hotel_id, steps_table.c.conversation_id == guest,
                steps_table.c.status.in_((PENDING, FAILED)),
            ).values(status=SKIPPED, detail="the guest opted out", claim="", lease_until=None))
        return added

    def opted_out(self, hotel_id: str, guest: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(optouts_table).where(
                optouts_table.c.hotel_id == hotel_id, optouts_table.c.guest == guest)).scalar_one() > 0

    def opted_out_guests(self, hotel_id: str) -> set:
        with self.engine.connect() as conn:
            return set(conn.execute(select(optouts_table.c.guest).where(optouts_table.c.hotel_id == hotel_id)).scalars())

    # -- clicks and the console --------------------------------------------------------
    def record_click(self, hotel_id: str, booking_ref: str, platform: str, now: dt.datetime) -> None:
        with self._lock, self.engine.begin() as conn:
            conn.execute(clicks_table.insert().values(
                hotel_id=hotel_id, booking_ref=booking_ref, platform=platform, clicked_at=naive_utc(now)))

    def counts(self, hotel_id: Optional[str] = None) -> Dict[str, Dict[str, int]]:
        """hotel -> {status: n, 'replied': n, 'opted_out': n, 'review_clicks': n}."""
        result: Dict[str, Dict[str, int]] = {}
        with self.engine.connect() as conn:
            query = select(steps_table.c.hotel_id, steps_table.c.status, func.count()).group_by(
                steps_table.c.hotel_id, steps_table.c.status)
            replied = select(steps_table.c.hotel_id, func.count()).where(
                steps_table.c.replied_at.is_not(None)).group_by(steps_table.c.hotel_id)
            optouts = select(optouts_table.c.hotel_id, func.count()).group_by(optouts_table.c.hotel_id)
            clicks = select(clicks_table.c.hotel_id, func.count()).group_by(clicks_table.c.hotel_id)
            for hotel, status, count in conn.execute(query):
                result.setdefault(hotel, {})[status] = count
            for key, statement in (("replied", replied), ("opted_out", optouts), ("review_clicks", clicks)):
                for hotel, count in conn.execute(statement):
                    result.setdefault(hotel, {})[key] = count
        return {h: c for h, c in result.items() if hotel_id is None or h == hotel_id}

    def list_steps(self, hotel_id: Optional[str], statuses: Sequence[str], limit: int = 200) -> List[StepRow]:
        conditions = [steps_table.c.status.in_(list(statuses))]
        if hotel_id is not None:
            conditions.append(steps_table.c.hotel_id == hotel_id)
        with self.engine.connect() as conn:
            rows = conn.execute(select(steps_table).where(*conditions).order_by(
                steps_table.c.due_at.desc()).limit(limit)).all()
        return [StepRow.of(row) for row in rows]

    def list_optouts(self, hotel_id: Optional[str], limit: int = 200) -> List[dict]:
        query = select(optouts_table).order_by(optouts_table.c.created_at.desc()).limit(limit)
        if hotel_id is not None:
            query = query.where(optouts_table.c.hotel_id == hotel_id)
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
