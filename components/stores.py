"""Rasa's tracker store and lock store, chosen from the environment.

``endpoints.yml`` names these classes (``type: components.stores.<Class>``);
Rasa 3.6 imports and builds them, and they delegate to Rasa's own stores:

- ``EnvironmentSQLTrackerStore``: Rasa's ``SQLTrackerStore`` on
  ``TRACKER_STORE_URL`` (an SQLAlchemy URL, e.g.
  ``postgresql://rasa:pw@postgres:5432/rasa``, driver psycopg2), else the
  embedded SQLite file ``var/tracker.sqlite3``.
- ``EnvironmentLockStore``: Rasa's ``RedisLockStore`` on ``LOCK_STORE_URL``
  (``redis://[:password@]host:6379/1``, ``rediss://`` for TLS), with its
  lock updates made atomic (``AtomicRedisLockStore``), else Rasa's
  ``InMemoryLockStore`` (one Rasa process only).

``EnvironmentSQLTrackerStore`` keeps the tracker each turn saved
(``RecentTrackers``) and hands it to the conversation's next turn when the
database still holds exactly what was saved, instead of reading, decoding and
replaying the whole session again; it does its SQL work in a thread of its
own (``STORE_THREAD``), so SQLite commits do not hold the event loop that
answers webhooks; and an SQLite file is used in write-ahead-log mode
(``sqlite_engine``), so a commit does not wait for the disk (issue #15).

Rasa's own ``${VAR}`` expansion in endpoints.yml fails on unset variables, so
these classes read the environment themselves and keep the embedded defaults.
Passwords never reach the logs: URLs are logged with the password masked.
"""
from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Text, Tuple, Union
from urllib.parse import unquote, urlsplit

import redis
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockError, LockStore, RedisLockStore, TicketLock
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from core.settings import PROJECT_ROOT
from dlq.config import masked_url

logger = logging.getLogger(__name__)

DEFAULT_TRACKER_DB = PROJECT_ROOT / "var" / "tracker.sqlite3"
DEFAULT_ACTION_ENDPOINT_URL = "http://localhost:5055/webhook"
REDIS_SCHEMES = ("redis", "rediss")


class StoreConfigError(ValueError):
    """A store setting is invalid; the message names the variable (never the password)."""


def _tracker_store_url(raw: str) -> str:
    from sqlalchemy.engine.url import make_url
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        url = make_url(raw)
    except ArgumentError:
        raise StoreConfigError(
            "TRACKER_STORE_URL is not an SQLAlchemy URL "
            "(expected e.g. postgresql://user:password@host:5432/rasa); its value is not shown, it may hold a password"
        ) from None
    if url.drivername in ("postgres", "postgres+psycopg2"):
        raise StoreConfigError("TRACKER_STORE_URL: write postgresql://... (SQLAlchemy 1.4 does not know postgres://)")
    try:
        url.get_dialect()
    except NoSuchModuleError:
        raise StoreConfigError(f"TRACKER_STORE_URL: unknown database dialect {url.drivername!r}") from None
    return raw


@dataclass(frozen=True)
class RedisAddress:
    """Where the Redis lock store lives, in the arguments ``RedisLockStore`` takes."""

    host: str
    port: int = 6379
    db: int = 0
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    use_ssl: bool = False

    @classmethod
    def from_url(cls, url: str, variable: str = "LOCK_STORE_URL") -> "RedisAddress":
        try:
            parts = urlsplit(url)
            port = parts.port or 6379
        except ValueError:
            raise StoreConfigError(f"{variable} has an invalid host or port: {masked_url(url)!r}") from None
        if parts.scheme not in REDIS_SCHEMES or not parts.hostname:
            raise StoreConfigError(
                f"{variable} must look like redis://[:password@]host:6379/1 (or rediss:// for TLS), "
                f"got {masked_url(url)!r}"
            )
        db_path = parts.path.strip("/")
        if db_path and not db_path.isdigit():
            raise StoreConfigError(f"{variable}: the Redis database must be a number, got {db_path!r}")
        return cls(
            host=parts.hostname,
            port=port,
            db=int(db_path or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            use_ssl=parts.scheme == "rediss",
        )


@dataclass(frozen=True)
class StoreSettings:
    """The Rasa process's store settings, read from the environment in one place."""

    tracker_store_url: str = field(default=f"sqlite:///{DEFAULT_TRACKER_DB}", repr=False)
    lock_store: Optional[RedisAddress] = None  # None: in-memory lock store
    sanic_workers: int = 1

    @classmethod
    def from_env(cls) -> "StoreSettings":
        tracker_url = os.environ.get("TRACKER_STORE_URL", "").strip()
        lock_url = os.environ.get("LOCK_STORE_URL", "").strip()
        workers_raw = os.environ.get("SANIC_WORKERS", "1").strip() or "1"
        if not workers_raw.isdigit() or int(workers_raw) < 1:
            raise StoreConfigError(f"SANIC_WORKERS must be a positive number, got {workers_raw!r}")
        settings = cls(
            tracker_store_url=_tracker_store_url(tracker_url) if tracker_url else cls.tracker_store_url,
            lock_store=RedisAddress.from_url(lock_url) if lock_url else None,
            sanic_workers=int(workers_raw),
        )
        if settings.lock_store is None and settings.sanic_workers > 1:
            # Rasa would run several workers on one in-memory lock store each:
            # turns of one conversation would no longer be serialised.
            raise StoreConfigError("SANIC_WORKERS > 1 needs a shared lock store: set LOCK_STORE_URL=redis://...")
        return settings

    @property
    def sqlite_file(self) -> Optional[Path]:
        """The SQLite file of the tracker store, if it is one (its folder must exist)."""
        from sqlalchemy.engine.url import make_url

        url = make_url(self.tracker_store_url)
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return None
        return Path(url.database)


class EnvironmentSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on ``TRACKER_STORE_URL``, else on ``var/tracker.sqlite3``.

    Other endpoints.yml keys (e.g. ``login_db``) are passed on to
    ``SQLTrackerStore``; the database itself comes only from the environment.
    Building it installs connectors/safeguards.py (input caps, action-server
    secret, strict tracker store, ...) in the Rasa process.
    """

    def __init__(
        self,
        domain: Optional[Domain] = None,
        host: Optional[Text] = None,
        event_broker: Any = None,
        settings: Optional[StoreSettings] = None,
        **kwargs: Any,
    ) -> None:
        if host:
            raise StoreConfigError(
                "components.stores.EnvironmentSQLTrackerStore takes its database from TRACKER_STORE_URL; "
                "remove `url` from the tracker_store section of endpoints.yml"
            )
        from connectors import safeguards

        safeguards.install()  # every `rasa run` of this project builds this store: one hook for all deployments
        settings = settings or StoreSettings.from_env()
        if settings.sqlite_file is not None:
            settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
        logger.info("Tracker store: SQL at %s", masked_url(settings.tracker_store_url))
        super().__init__(domain=domain, host=settings.tracker_store_url, event_broker=event_broker, **kwargs)
        if settings.sqlite_file is not None:
            self._use_sqlite_engine(sqlite_engine(self.engine.url))
        self._recent = RecentTrackers()

    def _use_sqlite_engine(self, engine: Any) -> None:
        import sqlalchemy.orm

        self.engine.dispose()
        self.engine = engine
        self.sessionmaker = sqlalchemy.orm.sessionmaker(bind=engine)

    # A turn reads its conversation back (every event of the session, JSON-decoded and replayed)
    # right after the previous turn saved it: the saved tracker is kept and handed back instead
    # when the database still holds exactly what it saved (issue #15).

    def _signature(self, session: Any, sender_id: Text) -> Tuple[int, Optional[int]]:
        """(number of events, highest event id) of the conversation's latest session."""
        import sqlalchemy as sa

        query = self._event_query(session, sender_id, fetch_events_from_all_sessions=False).order_by(None)
        count, last_id = query.with_entities(sa.func.count(self.SQLEvent.id), sa.func.max(self.SQLEvent.id)).one()
        return int(count), last_id

    # The SQL work (queries, commits, JSON decoding, replaying the events) runs in one thread
    # of its own, not on the event loop that answers webhooks; with an event broker the
    # store streams events on the loop, so it keeps Rasa's way.

    async def _in_store_thread(self, work: Callable[[], Any]) -> Any:
        if self.event_broker is not None:
            return work()
        return await asyncio.get_running_loop().run_in_executor(STORE_THREAD, contextvars.copy_context().run, work)

    async def save(self, tracker: DialogueStateTracker) -> None:
        self._recent.forget(tracker.sender_id)
        if self.event_broker is not None:
            await super().save(tracker)
            return

        def save_and_sign() -> Tuple[int, Optional[int]]:
            _completed(SQLTrackerStore.save(self, tracker))
            with self.session_scope() as session:
                return self._signature(session, tracker.sender_id)

        signature = await self._in_store_thread(save_and_sign)
        if self.domain and self.max_event_history is None and signature[0] == len(tracker.events):
            self._recent.keep(tracker, signature, self.domain)  # it holds this session only, all of it stored

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        if self.event_broker is not None:
            return await super().retrieve(sender_id)
        kept = self._recent.take(sender_id)
        if kept is not None and (kept.domain is not self.domain or self.max_event_history is not None):
            kept = None

        def read() -> Optional[DialogueStateTracker]:
            if kept is not None:
                with self.session_scope() as session:
                    signature = self._signature(session, sender_id)
                if signature == kept.signature and len(kept.tracker.events) == signature[0]:
                    return kept.tracker
            return _completed(SQLTrackerStore.retrieve(self, sender_id))

        return await self._in_store_thread(read)

    async def retrieve_full_tracker(self, conversation_id: Text) -> Optional[DialogueStateTracker]:
        if self.event_broker is not None:
            return await super().retrieve_full_tracker(conversation_id)
        return await self._in_store_thread(lambda: _completed(SQLTrackerStore.retrieve_full_tracker(self, conversation_id)))


STORE_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tracker-store")
SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL")


def sqlite_engine(url: Any) -> Any:
    """An engine on an SQLite file whose connections stay open (a pool) and are in
    write-ahead-log mode with synchronous=NORMAL.

    Rasa's engine on an SQLite file (SQLAlchemy 1.4's default, ``NullPool``)
    opens a connection for every session and closes it after; in SQLite's
    default mode (rollback journal, synchronous=FULL) every commit also waits
    for the disk (fsync of the journal and of the database): 4-5 ms of each
    turn's save on this machine, on the turn's path (issue #15; py-spy). Here a
    commit appends to the -wal file and waits for no disk (the WAL is synced at
    checkpoints), and connections are reused, so the WAL is not checkpointed at
    every close. A Rasa process killed (kill -9) loses nothing committed; a
    power loss or an OS crash may lose the last commits but leaves the database
    consistent (sqlite.org/wal.html). Other processes (the staff console, read
    only) read the file as before; the mode stays in the file. The pool's
    connections are used by one thread at a time (``check_same_thread`` off: the
    store thread, or the loop with an event broker). Production runs on
    PostgreSQL: not concerned."""
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.QueuePool, pool_size=2, max_overflow=8,
                              connect_args={"check_same_thread": False})

    def pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in SQLITE_PRAGMAS:
                cursor.execute(pragma)
        finally:
            cursor.close()

    sa.event.listen(engine, "connect", pragmas)
    return engine


def _completed(coroutine: Any) -> Any:
    """The result of a coroutine that never waits (Rasa's SQL store methods without an event broker)."""
    try:
        coroutine.send(None)
    except StopIteration as done:
        return done.value
    coroutine.close()
    raise RuntimeError("the SQL tracker store waited for something: it cannot run in the store thread")


@dataclass
class _Kept:
    tracker: DialogueStateTracker
    signature: Tuple[int, Optional[int]]
    domain: Domain


class RecentTrackers:
    """The trackers saved last, per conversation, each handed back once (``take``): the turn
    that gets it owns it, as it would own a tracker read from the database. A tracker is
    only handed back when the database's latest session of that conversation still has the
    number of events and the highest event id it had when the tracker was saved (another
    process appending events, or a turn changing the tracker without saving it, means a
    read from the database) and the store's domain is the same (a new model)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self._kept: "OrderedDict[Text, _Kept]" = OrderedDict()

    def keep(self, tracker: DialogueStateTracker, signature: Tuple[int, Optional[int]], domain: Domain) -> None:
        self._kept.pop(tracker.sender_id, None)
        self._kept[tracker.sender_id] = _Kept(tracker, signature, domain)
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)

    def take(self, sender_id: Text) -> Optional[_Kept]:
        return self._kept.pop(sender_id, None)

    def forget(self, sender_id: Text) -> None:
        self._kept.pop(sender_id, None)


DELETE = "delete"  # _change_lock: remove the lock from Redis
LockChange = Callable[[Optional[TicketLock]], Tuple[Union[TicketLock, str, None], Any]]


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's ``RedisLockStore`` whose every read-change-write of a lock is one
    Redis transaction (WATCH/MULTI/EXEC, retried when another process changed
    the lock meanwhile).

    Rasa 3.6's ``RedisLockStore`` reads a conversation's lock, changes it and
    writes it back in separate commands. Two Rasa processes taking a ticket for
    the same conversation at the same moment can then both get the first
    ticket and run both turns at once; the SQL tracker store keeps one turn's
    events and drops the other's (RasaHQ/rasa#9213; benchmarks/lock_store_bench.py
    reproduces it). Same keys and format as ``RedisLockStore``.
    """

    def _change_lock(self, conversation_id: Text, change: LockChange) -> Any:
        """Apply ``change(lock) -> (new lock | DELETE | None for unchanged, result)`` atomically."""
        key = self.key_prefix + conversation_id
        with self.red.pipeline() as pipe:
            while True:
                try:
                    pipe.watch(key)
                    stored = pipe.get(key)
                    lock = TicketLock.from_dict(json.loads(stored)) if stored else None
                    new_lock, result = change(lock)
                    pipe.multi()
                    if new_lock == DELETE:
                        pipe.delete(key)
                    elif new_lock is not None:
                        pipe.set(key, new_lock.dumps())
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        def take_ticket(lock: Optional[TicketLock]) -> Tuple[TicketLock, int]:
            lock = lock or self.create_lock(conversation_id)
            return lock, lock.issue_ticket(lock_lifetime)

        try:
            return self._change_lock(conversation_id, take_ticket)
        except Exception as error:  # as Rasa's LockStore.issue_ticket does
            raise LockError(f"Error while acquiring lock. Error:\n{error}") from error

    def update_lock(self, conversation_id: Text) -> None:
        def drop_expired(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_expired_tickets()
            return lock, None

        self._change_lock(conversation_id, drop_expired)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        def drop_ticket(lock: Optional[TicketLock]) -> Tuple[Optional[TicketLock], None]:
            if lock is not None:
                lock.remove_ticket_for(ticket_number)
            return lock, None

        self._change_lock(conversation_id, drop_ticket)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Drop the ticket and, in the same transaction, the lock if nobody else waits."""

        def drop_ticket_and_idle_lock(lock: Optional[TicketLock]) -> Tuple[Union[TicketLock, str, None], None]:
            if lock is None:
                return None, None
            lock.remove_ticket_for(ticket_number)
            return (lock if lock.is_someone_waiting() else DELETE), None

        self._change_lock(conversation_id, drop_ticket_and_idle_lock)


def build_lock_store(settings: StoreSettings) -> LockStore:
    """Rasa's ``RedisLockStore`` when a Redis address is set, else ``InMemoryLockStore``."""
    address = settings.lock_store
    if address is None:
        logger.info("Lock store: in memory (one Rasa process only; set LOCK_STORE_URL to share it)")
        return InMemoryLockStore()
    logger.info("Lock store: Redis at %s:%s db %s", address.host, address.port, address.db)
    return AtomicRedisLockStore(
        host=address.host,
        port=address.port,
        db=address.db,
        username=address.username,
        password=address.password,
        use_ssl=address.use_ssl,
    )


class EnvironmentLockStore(LockStore):
    """Rasa's lock store interface, delegating to the store ``LOCK_STORE_URL`` selects
    (``AtomicRedisLockStore``, else ``InMemoryLockStore``). Every operation that
    changes a lock goes to the backend, so the backend's atomic versions are used."""

    def __init__(
        self, endpoint_config: Optional[EndpointConfig] = None, settings: Optional[StoreSettings] = None
    ) -> None:
        self.backend = build_lock_store(settings or StoreSettings.from_env())
        super().__init__()

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        return self.backend.issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: Text) -> None:
        self.backend.update_lock(conversation_id)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        self.backend.finish_serving(conversation_id, ticket_number)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        self.backend.cleanup(conversation_id, ticket_number)

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return self.backend.get_lock(conversation_id)

    def delete_lock(self, conversation_id: Text) -> None:
        self.backend.delete_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        self.backend.save_lock(lock)
