"""Who may see and change a booking: a booking reference is not a key.

A conversation may use a booking when
1. it made it (the booking's contact is this conversation's id), or
2. its channel identity is the booking's contact: a WhatsApp conversation
   ``<phone>@<number id>`` whose phone has the contact's digits, a Gmail
   conversation whose address is the contact's e-mail, or
3. it passed the second factor for that booking in this conversation: the
   surname on the booking and its check-in date (``verify``); the grant is
   stored (``booking_access_grants``) so the conversation is not asked again.

Anyone else learns nothing about the booking, not even whether it exists:
unknown references go through the same questions and get the same "those
details don't match". Failed verifications are stored
(``booking_access_failures``) and limited per sender (``SENDER_LIMIT`` in
``SENDER_WINDOW``) and for the whole hotel (``GLOBAL_LIMIT`` in
``GLOBAL_WINDOW``: someone walking references from many sender ids); the
sender or global limit reached raises one staff request (kind ``issue``).
Both tables live in the assistant's database, so every action-server process
shares them.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import re
import threading
from typing import Optional

from sqlalchemy import Column, DateTime, Integer, String, func, select
from sqlalchemy.orm import declarative_base, sessionmaker

from actions.config import settings
from actions.pms.base import Booking
from actions.text import normalise
from core.database import create_tables, project_engine

logger = logging.getLogger(__name__)
Base = declarative_base()

SENDER_LIMIT, SENDER_WINDOW = 5, dt.timedelta(hours=1)
GLOBAL_LIMIT, GLOBAL_WINDOW = 30, dt.timedelta(minutes=10)
MIN_PHONE_DIGITS = 8
# words around a surname in an answer ("mi apellido es García", "it's Smith")
FILLER_WORDS = frozenset("de del la las los y el mi apellido es son soy me llamo my surname is it its it's the name".split())
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Grant(Base):
    __tablename__ = "booking_access_grants"
    id = Column(Integer, primary_key=True, autoincrement=True)
    conversation_id = Column(String(255), nullable=False, index=True)
    reference = Column(String(32), nullable=False, index=True)
    granted_at = Column(DateTime, nullable=False, default=_utc_now)


class Failure(Base):
    __tablename__ = "booking_access_failures"
    id = Column(Integer, primary_key=True, autoincrement=True)
    sender_id = Column(String(255), nullable=False, index=True)
    reference = Column(String(32), nullable=False, default="")
    at = Column(DateTime, nullable=False, default=_utc_now, index=True)


class Verification(str, enum.Enum):
    GRANTED = "granted"
    FAILED = "failed"
    LOCKED = "locked"  # too many failures: not even checked


# -- identity --------------------------------------------------------------------


def _phone_digits(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return digits[2:] if digits.startswith("00") else digits


def channel_identity(conversation_id: str) -> tuple[str, str]:
    """('phone', digits) for WhatsApp ids, ('email', address) for e-mail ids, else ('id', conversation_id)."""
    local, at, domain = conversation_id.partition("@")
    if at and local.isdigit() and domain.isdigit():
        return "phone", local
    if _EMAIL.match(conversation_id):
        return "email", conversation_id.strip().lower()
    return "id", conversation_id


def is_contact(booking: Booking, conversation_id: str) -> bool:
    """True when ``conversation_id`` is the guest the booking's contact names."""
    contact = (booking.contact or "").strip()
    if not contact or not conversation_id:
        return False
    if contact == conversation_id:
        return True
    kind, value = channel_identity(conversation_id)
    if kind == "phone":
        contact_kind, contact_value = channel_identity(contact)
        digits = contact_value if contact_kind == "phone" else _phone_digits(contact)
        return len(digits) >= MIN_PHONE_DIGITS and digits == value
    if kind == "email":
        return contact.lower() == value
    return False


# -- second factor ---------------------------------------------------------------


def surname_matches(booking: Booking, answer: str) -> bool:
    """The answer names the booking's surname(s) (words of the name after the first one), maybe with the first name."""
    name_words = normalise(booking.guest_name).replace("-", " ").split()
    answer_words = [w for w in normalise(answer).replace("-", " ").split() if w not in FILLER_WORDS]
    surnames = set(name_words[1:]) - {"de", "del", "la", "y"}
    return bool(set(answer_words) & surnames) and set(answer_words) <= set(name_words)  # the full name too


def checkin_matches(booking: Booking, answer: str, today: dt.date) -> bool:
    from actions.dates import possible_dates

    given = possible_dates(answer[:100], today)  # an in-house guest's check-in is in the past
    if not given:  # "2026-12-05" style answers
        try:
            given = {dt.date.fromisoformat(answer.strip()[:10])}
        except ValueError:
            return False
    return booking.checkin in given


# -- storage ---------------------------------------------------------------------


class AccessStore:
    def __init__(self, database_url: str) -> None:
        self._engine = project_engine(database_url)
        self._sessions = sessionmaker(self._engine, future=True, expire_on_commit=False)
        create_tables(Base.metadata, self._engine)

    def granted(self, conversation_id: str, reference: str) -> bool:
        with self._sessions() as session:
            query = select(Grant.id).where(Grant.conversation_id == conversation_id, Grant.reference == reference)
            return session.execute(query.limit(1)).first() is not None

    def grant(self, conversation_id: str, reference: str) -> None:
        with self._sessions() as session, session.begin():
            session.add(Grant(conversation_id=conversation_id[:255], reference=reference[:32]))

    def failures(self, *, sender_id: str = "", since: dt.datetime) -> int:
        with self._sessions() as session:
            query = select(func.count(Failure.id)).where(Failure.at >= since)
            if sender_id:
                query = query.where(Failure.sender_id == sender_id)
            return int(session.execute(query).scalar_one())

    def fail(self, sender_id: str, reference: str) -> None:
        with self._sessions() as session, session.begin():
            session.add(Failure(sender_id=sender_id[:255], reference=(reference or "")[:32]))


_store: Optional[AccessStore] = None
_lock = threading.Lock()


def store() -> AccessStore:
    global _store
    with _lock:
        if _store is None:
            _store = AccessStore(settings().assistant_database_url)
        return _store


def current_store() -> Optional[AccessStore]:
    """The store in use, None before first use (tests check they installed theirs)."""
    return _store


def use_store(replacement: Optional[AccessStore]) -> None:
    global _store
    _store = replacement


# -- decisions (what the actions call) --------------------------------------------


async def may_use(booking: Booking, conversation_id: str) -> bool:
    """May this conversation see and change ``booking``?"""
    if is_contact(booking, conversation_id):
        return True
    return await asyncio.to_thread(store().granted, conversation_id, booking.reference)


async def granted(conversation_id: str, reference: str) -> bool:
    return await asyncio.to_thread(store().granted, conversation_id, reference)


async def remember(conversation_id: str, reference: str) -> None:
    """Record that this conversation may use the booking (it made it, is its contact, or verified)."""
    def write() -> None:
        if not store().granted(conversation_id, reference):
            store().grant(conversation_id, reference)

    await asyncio.to_thread(write)


def _locked(sender_id: str, now: dt.datetime) -> bool:
    db = store()
    return (db.failures(sender_id=sender_id, since=now - SENDER_WINDOW) >= SENDER_LIMIT
            or db.failures(since=now - GLOBAL_WINDOW) >= GLOBAL_LIMIT)


async def locked(sender_id: str) -> bool:
    """Too many failed verifications from this sender, or from everyone lately."""
    return await asyncio.to_thread(_locked, sender_id, _utc_now())


async def verify(booking: Optional[Booking], reference: str, surname: str, checkin: str,
                 conversation_id: str, today: dt.date) -> Verification:
    """Check the second factor; ``booking`` None (unknown reference) always fails the same way."""
    if await locked(conversation_id):
        return Verification.LOCKED
    if booking is not None and surname_matches(booking, surname) and checkin_matches(booking, checkin, today):
        await asyncio.to_thread(store().grant, conversation_id, booking.reference)
        return Verification.GRANTED
    await asyncio.to_thread(store().fail, conversation_id, reference)
    await _alert_when_limit_reached(conversation_id)
    return Verification.FAILED


async def _alert_when_limit_reached(sender_id: str) -> None:
    from actions.staff_requests import record_staff_request

    now = _utc_now()
    db = store()
    mine = await asyncio.to_thread(db.failures, sender_id=sender_id, since=now - SENDER_WINDOW)
    everyone = await asyncio.to_thread(db.failures, since=now - GLOBAL_WINDOW)
    if mine == SENDER_LIMIT or everyone == GLOBAL_LIMIT:
        scope = "this sender" if mine == SENDER_LIMIT else "all senders"
        logger.warning("booking verification limit reached for %s (%d / %d failures)", scope, mine, everyone)
        await record_staff_request(
            "issue", sender_id,
            f"Possible booking-reference walking: {mine} failed booking verifications from this conversation in "
            f"{SENDER_WINDOW}, {everyone} from everyone in {GLOBAL_WINDOW}; look-ups locked for {scope}.",
            urgent=False,
        )
