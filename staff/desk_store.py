"""What reception adds to a conversation, in the assistant's database
(ASSISTANT_DATABASE_URL, next to the staff requests):

- ``staff_assignments``: who works on a conversation (claim / assign);
- ``staff_notes``: internal notes, never sent to the guest;
- ``staff_request_marks``: per staff request, when staff first answered the
  guest (time to first reply) and when reception was notified (each request
  is notified once, by whichever console process claims it first).

Times are naive UTC, as in ``staff_requests``.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Dict, Iterable, List, Optional

from sqlalchemy import Column, DateTime, Integer, String, Text, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import declarative_base, sessionmaker

from core.database import create_tables, project_engine

Base = declarative_base()
MAX_NOTE_CHARS = 4000
MAX_NAME_CHARS = 120


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Assignment(Base):
    __tablename__ = "staff_assignments"
    sender_id = Column(String(255), primary_key=True)
    assignee = Column(String(MAX_NAME_CHARS), nullable=False)
    assigned_by = Column(String(MAX_NAME_CHARS), nullable=False)
    assigned_at = Column(DateTime, nullable=False, default=utc_now)


class Note(Base):
    __tablename__ = "staff_notes"
    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(255), nullable=False, index=True)
    author = Column(String(MAX_NAME_CHARS), nullable=False)
    text = Column(Text, nullable=False)
    created_at = Column(DateTime, nullable=False, default=utc_now)


class RequestMark(Base):
    __tablename__ = "staff_request_marks"
    request_id = Column(Integer, primary_key=True, autoincrement=False)
    first_reply_at = Column(DateTime, nullable=True)
    first_reply_by = Column(String(MAX_NAME_CHARS), nullable=True)
    notified_at = Column(DateTime, nullable=True)


@dataclass(frozen=True)
class NoteView:
    id: int
    author: str
    text: str
    created_at: dt.datetime


class DeskStore:
    def __init__(self, database_url: str) -> None:
        self._engine = project_engine(database_url)
        self._sessions = sessionmaker(self._engine, future=True, expire_on_commit=False)
        create_tables(Base.metadata, self._engine)

    def close(self) -> None:
        self._engine.dispose()

    # -- assignments -------------------------------------------------------------------

    def assign(self, sender_id: str, assignee: str, by: str) -> None:
        """``assignee`` works on the conversation from now on (claim: assignee == by)."""
        assignee, by = assignee.strip()[:MAX_NAME_CHARS], by.strip()[:MAX_NAME_CHARS]
        if not assignee or not by:
            raise ValueError("say who is assigned and by whom")
        with self._sessions() as session, session.begin():
            found = session.get(Assignment, sender_id)
            if found is None:
                session.add(Assignment(sender_id=sender_id, assignee=assignee, assigned_by=by, assigned_at=utc_now()))
            else:
                found.assignee, found.assigned_by, found.assigned_at = assignee, by, utc_now()

    def unassign(self, sender_id: str) -> None:
        with self._sessions() as session, session.begin():
            found = session.get(Assignment, sender_id)
            if found is not None:
                session.delete(found)

    def assignees(self, sender_ids: Iterable[str]) -> Dict[str, str]:
        ids = list(set(sender_ids))
        if not ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(select(Assignment).where(Assignment.sender_id.in_(ids))).scalars()
            return {a.sender_id: a.assignee for a in rows}

    # -- notes -----------------------------------------------------------------------------

    def add_note(self, sender_id: str, author: str, text: str) -> NoteView:
        text = (text or "").strip()
        if not text:
            raise ValueError("the note is empty")
        if len(text) > MAX_NOTE_CHARS:
            raise ValueError(f"a note holds at most {MAX_NOTE_CHARS} characters")
        with self._sessions() as session, session.begin():
            note = Note(sender_id=sender_id, author=author.strip()[:MAX_NAME_CHARS], text=text, created_at=utc_now())
            session.add(note)
            session.flush()
            return NoteView(note.id, note.author, note.text, note.created_at)

    def notes(self, sender_id: str) -> List[NoteView]:
        with self._sessions() as session:
            rows = session.execute(select(Note).where(Note.sender_id == sender_id).order_by(Note.id)).scalars()
            return [NoteView(n.id, n.author, n.text, n.created_at) for n in rows]

    # -- request marks ------------------------------------------------------------------------

    def _ensure_marks(self, session, request_ids: Iterable[int]) -> None:
        for request_id in request_ids:
            if session.get(RequestMark, request_id) is None:
                session.add(RequestMark(request_id=request_id))
        session.flush()

    def note_first_reply(self, request_ids: Iterable[int], by: str) -> List[int]:
        """Mark these requests as answered by staff now; returns those answered for the first time."""
        first: List[int] = []
        for request_id in request_ids:
            try:
                with self._sessions() as session, session.begin():
                    self._ensure_marks(session, [request_id])
                    done = session.execute(
                        update(RequestMark).where(RequestMark.request_id == request_id, RequestMark.first_reply_at.is_(None))
                        .values(first_reply_at=utc_now(), first_reply_by=by[:MAX_NAME_CHARS])
                    ).rowcount
            except IntegrityError:  # another process created the mark at the same moment
                continue
            if done:
                first.append(request_id)
        return first

    def first_replies(self, request_ids: Iterable[int]) -> Dict[int, dt.datetime]:
        ids = list(set(request_ids))
        if not ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(select(RequestMark).where(RequestMark.request_id.in_(ids),
                                                             RequestMark.first_reply_at.is_not(None))).scalars()
            return {m.request_id: m.first_reply_at for m in rows}

    def claim_notification(self, request_id: int) -> bool:
        """True for the one caller that gets to notify about this request."""
        try:
            with self._sessions() as session, session.begin():
                self._ensure_marks(session, [request_id])
                return bool(session.execute(
                    update(RequestMark).where(RequestMark.request_id == request_id, RequestMark.notified_at.is_(None))
                    .values(notified_at=utc_now())
                ).rowcount)
        except IntegrityError:
            return False

    def notified(self, request_ids: Iterable[int]) -> Dict[int, Optional[dt.datetime]]:
        ids = list(set(request_ids))
        if not ids:
            return {}
        with self._sessions() as session:
            rows = session.execute(select(RequestMark).where(RequestMark.request_id.in_(ids))).scalars()
            return {m.request_id: m.notified_at for m in rows}
