"""Rasa's tracker store and lock store, chosen from the environment.

``endpoints.yml`` names these classes (``type: components.stores.<Class>``);
Rasa 3.6 imports and builds them, and they delegate to Rasa's own stores:

- ``EnvironmentSQLTrackerStore``: Rasa's ``SQLTrackerStore`` on
  ``TRACKER_STORE_URL`` (an SQLAlchemy URL, e.g.
  ``postgresql://rasa:pw@postgres:5432/rasa``, driver psycopg2), else the
  embedded SQLite file ``var/tracker.sqlite3``.
- ``EnvironmentLockStore``: Rasa's ``RedisLockStore`` on ``LOCK_STORE_URL``
  (``redis://[:password@]host:6379/1``, ``rediss://`` for TLS), else Rasa's
  ``InMemoryLockStore`` (one Rasa process only).

Rasa's own ``${VAR}`` expansion in endpoints.yml fails on unset variables, so
these classes read the environment themselves and keep the embedded defaults.
Passwords never reach the logs: URLs are logged with the password masked.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Text
from urllib.parse import unquote, urlsplit

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore, TicketLock
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TRACKER_DB = PROJECT_ROOT / "var" / "tracker.sqlite3"
DEFAULT_ACTION_ENDPOINT_URL = "http://localhost:5055/webhook"
REDIS_SCHEMES = ("redis", "rediss")


class StoreConfigError(ValueError):
    """A store setting is invalid; the message names the variable (never the password)."""


def masked_url(url: str) -> str:
    """``scheme://user:***@host:port/db``: a URL that is safe to log or show."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    userinfo = f"{parts.username or ''}:***@"
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=userinfo + host).geturl()


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
    def uses_embedded_tracker_store(self) -> bool:
        return self.tracker_store_url.startswith("sqlite:")


class EnvironmentSQLTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on ``TRACKER_STORE_URL``, else on ``var/tracker.sqlite3``.

    Other endpoints.yml keys (e.g. ``login_db``) are passed on to
    ``SQLTrackerStore``; the database itself comes only from the environment.
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
        settings = settings or StoreSettings.from_env()
        if settings.uses_embedded_tracker_store:
            DEFAULT_TRACKER_DB.parent.mkdir(parents=True, exist_ok=True)
        logger.info("Tracker store: SQL at %s", masked_url(settings.tracker_store_url))
        super().__init__(domain=domain, host=settings.tracker_store_url, event_broker=event_broker, **kwargs)


def build_lock_store(settings: StoreSettings) -> LockStore:
    """Rasa's ``RedisLockStore`` when a Redis address is set, else ``InMemoryLockStore``."""
    address = settings.lock_store
    if address is None:
        logger.info("Lock store: in memory (one Rasa process only; set LOCK_STORE_URL to share it)")
        return InMemoryLockStore()
    logger.info("Lock store: Redis at %s:%s db %s", address.host, address.port, address.db)
    return RedisLockStore(
        host=address.host,
        port=address.port,
        db=address.db,
        username=address.username,
        password=address.password,
        use_ssl=address.use_ssl,
    )


class EnvironmentLockStore(LockStore):
    """Rasa's lock store interface, delegating to the store ``LOCK_STORE_URL`` selects."""

    def __init__(
        self, endpoint_config: Optional[EndpointConfig] = None, settings: Optional[StoreSettings] = None
    ) -> None:
        self.backend = build_lock_store(settings or StoreSettings.from_env())
        super().__init__()

    def get_lock(self, conversation_id: Text) -> Optional[TicketLock]:
        return self.backend.get_lock(conversation_id)

    def delete_lock(self, conversation_id: Text) -> None:
        self.backend.delete_lock(conversation_id)

    def save_lock(self, lock: TicketLock) -> None:
        self.backend.save_lock(lock)
