"""Read-only queries over Rasa's SQL tracker store (TRACKER_STORE_URL).

Rasa 3.6's ``SQLTrackerStore`` keeps every event of every conversation in
one table, ``events`` (id, sender_id, type_name, timestamp, intent_name,
action_name, data). For a slot event ``action_name`` holds the slot's name;
``data`` is the event's JSON. This module only SELECTs: on PostgreSQL its
transactions are opened read-only, a SQLite file is opened in read-only mode.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    create_engine,
    distinct,
    func,
    inspect,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError

from staff.transcript import TranscriptEntry, entry_from_event, timestamp_to_datetime

metadata = MetaData()
events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)

# the last of these events decides whether a conversation is paused
PAUSE_STATE_EVENTS = ("pause", "resume", "restart", "session_started")
LANGUAGE_SLOT = "language"
MAX_PAGE_SIZE = 200


class TrackerStoreError(RuntimeError):
    """The tracker store URL is unusable; the message says why (never the password)."""


class ConversationNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ConversationSummary:
    sender_id: str
    channel: str
    last_activity: Optional[dt.datetime]
    last_guest_text: str
    language: Optional[str]
    paused: bool
    turns: int
    hotel_id: str = ""
    last_guest_at: Optional[dt.datetime] = None

    def as_dict(self) -> Dict[str, Any]:
        return {
            "sender_id": self.sender_id,
            "hotel": self.hotel_id or None,
            "channel": self.channel or None,
            "last_activity": self.last_activity.isoformat() if self.last_activity else None,
            "last_guest_text": self.last_guest_text,
            "language": self.language,
            "paused": self.paused,
            "turns": self.turns,
        }


@dataclass(frozen=True)
class ConversationPage:
    items: List[ConversationSummary]
    total: int
    page: int
    page_size: int
    search: str = ""

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))

    def as_dict(self) -> Dict[str, Any]:
        return {
            "conversations": [c.as_dict() for c in self.items],
            "total": self.total, "page": self.page, "pages": self.pages, "page_size": self.page_size,
            "search": self.search or None,
        }


@dataclass(frozen=True)
class Transcript:
    summary: ConversationSummary
    entries: List[TranscriptEntry]

    def as_dict(self) -> Dict[str, Any]:
        return {"conversation": self.summary.as_dict(), "entries": [e.as_dict() for e in self.entries]}


def _load_json(raw: Optional[str]) -> Dict[str, Any]:
    try:
        value = json.loads(raw or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _like_pattern(search: str) -> str:
    escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def read_only_engine(url: str) -> tuple[Engine, Optional[Path]]:
    """An engine that cannot write, and the SQLite file it reads (if SQLite)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise TrackerStoreError("TRACKER_STORE_URL is not an SQLAlchemy URL") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            raise TrackerStoreError("TRACKER_STORE_URL: a SQLite tracker store needs a file path")
        path = Path(parsed.database).resolve()
        return create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", future=True), path
    options = {"postgresql_readonly": True} if backend == "postgresql" else {}
    return create_engine(parsed, future=True, pool_pre_ping=True, execution_options=options), None


def hotel_of_event(event: Dict[str, Any]) -> str:
    """The hotel a guest message names in its metadata ("" when none)."""
    metadata = event.get("metadata") if isinstance(event.get("metadata"), dict) else {}
    hotel = metadata.get("hotel") if isinstance(metadata.get("hotel"), dict) else {}
    return str(hotel.get("id") or "")


class TrackerReader:
    def __init__(self, url: str, default_hotel: str = "") -> None:
        """``default_hotel``: the hotel of conversations whose messages name none."""
        self._engine, self._sqlite_path = read_only_engine(url)
        self.default_hotel = default_hotel

    def __repr__(self) -> str:
        return f"TrackerReader({self._engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        self._engine.dispose()

    def _has_events(self) -> bool:
        """False before Rasa has stored anything (no SQLite file, or no table yet)."""
        if self._sqlite_path is not None and not self._sqlite_path.exists():
            return False
        return inspect(self._engine).has_table("events")

    # -- conversations -----------------------------------------------------------

    def conversations(self, page: int = 1, page_size: int = 20, search: str = "",
                      hotels: Optional[Iterable[str]] = None) -> ConversationPage:
        """Conversations by most recent activity, newest first; ``search``
        matches part of the conversation id, ignoring case; ``hotels``: only
        those hotels' conversations (None: every hotel)."""
        if page < 1 or not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page must be ≥ 1 and page_size between 1 and {MAX_PAGE_SIZE}")
        search = search.strip()
        if not self._has_events():
            return ConversationPage([], 0, page, page_size, search)
        where = [events.c.sender_id.ilike(_like_pattern(search), escape="\\")] if search else []
        if hotels is not None:
            where.append(events.c.sender_id.in_(self.senders_of_hotels(set(hotels), where)))
        last_at = func.max(events.c.timestamp).label("last_at")
        activity = (
            select(
                events.c.sender_id, last_at,
                func.count(case((events.c.type_name == "user", 1))).label("turns"),
                func.max(events.c.id).label("last_id"),
            )
            .where(*where)
            .group_by(events.c.sender_id)
            .order_by(last_at.desc(), func.max(events.c.id).desc())
            .limit(page_size)
            .offset((page - 1) * page_size)
        )
        total_query = select(func.count(distinct(events.c.sender_id))).where(*where)
        with self._engine.connect() as conn:
            total = conn.execute(total_query).scalar_one()
            rows = conn.execute(activity).all()
            details = self._details(conn, [r.sender_id for r in rows])
        items = [self._summary(r.sender_id, r.last_at, r.turns, details) for r in rows]
        return ConversationPage(items, total, page, page_size, search)

    def senders_of_hotels(self, hotels: set, where: Optional[list] = None) -> List[str]:
        """Conversations whose latest guest message belongs to one of ``hotels``."""
        if not hotels:
            return []
        latest_ids = (select(func.max(events.c.id)).where(events.c.type_name == "user", *(where or []))
                      .group_by(events.c.sender_id))
        query = select(events.c.sender_id, events.c.data).where(events.c.id.in_(latest_ids))
        with self._engine.connect() as conn:
            return [row.sender_id for row in conn.execute(query)
                    if (hotel_of_event(_load_json(row.data)) or self.default_hotel) in hotels]

    def hotel_of(self, sender_id: str) -> Optional[str]:
        """The conversation's hotel, None when there is no such conversation."""
        summary = self.summaries([sender_id]).get(sender_id)
        return summary.hotel_id if summary else None

    def entries_after(self, sender_id: str, after_id: int, limit: int = 200) -> List[TranscriptEntry]:
        """Transcript lines of events stored after event ``after_id`` (live updates)."""
        if not self._has_events():
            return []
        query = (select(events.c.id, events.c.data).where(events.c.sender_id == sender_id, events.c.id > after_id)
                 .order_by(events.c.id).limit(limit))
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        entries = [entry_from_event(row.id, _load_json(row.data)) for row in rows]
        return [e for e in entries if e is not None]

    def summaries(self, sender_ids: Iterable[str]) -> Dict[str, ConversationSummary]:
        """Summaries of these conversations (those that exist), by id."""
        ids = sorted(set(sender_ids))
        if not ids or not self._has_events():
            return {}
        query = (
            select(
                events.c.sender_id, func.max(events.c.timestamp).label("last_at"),
                func.count(case((events.c.type_name == "user", 1))).label("turns"),
            )
            .where(events.c.sender_id.in_(ids))
            .group_by(events.c.sender_id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
            details = self._details(conn, ids)
        return {r.sender_id: self._summary(r.sender_id, r.last_at, r.turns, details) for r in rows}

    def _latest(self, conn, sender_ids: List[str], *conditions) -> Dict[str, Any]:
        """The latest event per conversation among those matching ``conditions``."""
        latest_ids = (
            select(func.max(events.c.id))
            .where(events.c.sender_id.in_(sender_ids), *conditions)
            .group_by(events.c.sender_id)
        )
        query = select(events.c.sender_id, events.c.type_name, events.c.data).where(events.c.id.in_(latest_ids))
        return {row.sender_id: row for row in conn.execute(query)}

    def _details(self, conn, sender_ids: List[str]) -> Dict[str, Dict[str, Any]]:
        if not sender_ids:
            return {}
        guest = self._latest(conn, sender_ids, events.c.type_name == "user")
        language = self._latest(conn, sender_ids, events.c.type_name == "slot", events.c.action_name == LANGUAGE_SLOT)
        pause_state = self._latest(conn, sender_ids, events.c.type_name.in_(PAUSE_STATE_EVENTS))
        details: Dict[str, Dict[str, Any]] = {}
        for sender_id in sender_ids:
            last_guest = _load_json(guest[sender_id].data) if sender_id in guest else {}
            language_value = _load_json(language[sender_id].data).get("value") if sender_id in language else None
            details[sender_id] = {
                "hotel_id": hotel_of_event(last_guest) or self.default_hotel,
                "last_guest_at": last_guest.get("timestamp"),
                "channel": last_guest.get("input_channel") or "",
                "last_guest_text": last_guest.get("text") or "",
                "language": str(language_value) if language_value is not None else None,
                "paused": sender_id in pause_state and pause_state[sender_id].type_name == "pause",
            }
        return details

    @staticmethod
    def _summary(sender_id: str, last_at: Any, turns: int, details: Dict[str, Dict[str, Any]]) -> ConversationSummary:
        found = details.get(sender_id, {})
        return ConversationSummary(
            sender_id=sender_id,
            channel=str(found.get("channel") or ""),
            last_activity=timestamp_to_datetime(last_at),
            last_guest_text=str(found.get("last_guest_text") or ""),
            language=found.get("language"),
            paused=bool(found.get("paused")),
            turns=int(turns or 0),
            hotel_id=str(found.get("hotel_id") or ""),
            last_guest_at=timestamp_to_datetime(found.get("last_guest_at")),
        )

    # -- one conversation ------------------------------------------------------------

    def transcript(self, sender_id: str) -> Transcript:
        """Every session of the conversation, oldest first."""
        summary = self.summaries([sender_id]).get(sender_id)
        if summary is None:
            raise ConversationNotFound(f"no conversation {sender_id!r} in the tracker store")
        query = select(events.c.id, events.c.data).where(events.c.sender_id == sender_id).order_by(events.c.id)
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        entries = [entry_from_event(row.id, _load_json(row.data)) for row in rows]
        return Transcript(summary, [e for e in entries if e is not None])
