"""The staff console's settings, read from the environment in one place.

Shared names (TRACKER_STORE_URL, ASSISTANT_DATABASE_URL, RASA_URL, RASA_TOKEN)
mean what docs/production-contract.md says; the STAFF_* ones are the
console's own (docs/staff.md). Secrets are kept out of ``repr``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from actions.config import PROJECT_ROOT, Settings
from core.settings import ConfigError
from staff.passwords import PasswordHashError, parse_hash

DEFAULT_TRACKER_STORE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'tracker.sqlite3'}"
DEFAULT_RASA_URL = "http://localhost:5005"
MIN_SESSION_SECRET_LENGTH = 32


def parse_users(raw: str) -> dict[str, str]:
    """``alice:<hash>,bob:<hash>`` -> {"alice": "<hash>", ...}; every hash is checked."""
    users: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, encoded = item.partition(":")
        name, encoded = name.strip(), encoded.strip()
        if not sep or not name or not encoded:
            raise ConfigError("STAFF_USERS: expected name:hash pairs separated by commas")
        try:
            parse_hash(encoded)
        except PasswordHashError as exc:
            raise ConfigError(f"STAFF_USERS: the hash of {name!r} is invalid ({exc}); "
                              "make one with `python -m staff hash-password`") from None
        if name in users:
            raise ConfigError(f"STAFF_USERS: user {name!r} is listed twice")
        users[name] = encoded
    return users


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum:g}")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    raise ConfigError(f"{name} must be 1/0 (true/false), got {raw!r}")


def parse_user_hotels(raw: str) -> Optional[dict[str, frozenset]]:
    """``alice=demo,bob=playa|demo,carol=*`` -> {"alice": {"demo"}, ...}; "*" is every hotel.
    None (unset): every user sees every hotel (one-hotel installations)."""
    if not raw.strip():
        return None
    found: dict[str, frozenset] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, hotels = item.partition("=")
        ids = frozenset(h.strip() for h in hotels.split("|") if h.strip())
        if not sep or not name.strip() or not ids:
            raise ConfigError("STAFF_USER_HOTELS: expected user=hotel|hotel pairs separated by commas")
        if name.strip() in found:
            raise ConfigError(f"STAFF_USER_HOTELS: user {name.strip()!r} is listed twice")
        found[name.strip()] = ids
    return found


def _url(environ: Mapping[str, str], name: str) -> str:
    raw = environ.get(name, "").strip().rstrip("/")
    if raw and not raw.startswith(("http://", "https://")):
        raise ConfigError(f"{name} must be an http(s) URL, got {raw!r}")
    return raw


def _timezone(environ: Mapping[str, str]) -> ZoneInfo:
    name = environ.get("STAFF_TIMEZONE", "").strip()
    if not name:
        from actions.config import hotel

        return hotel().timezone
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"STAFF_TIMEZONE: unknown time zone {name!r}") from None


@dataclass(frozen=True)
class StaffConfig:
    tracker_store_url: str = DEFAULT_TRACKER_STORE_URL
    assistant_database_url: str = Settings.assistant_database_url
    rasa_url: str = DEFAULT_RASA_URL
    rasa_token: str = field(default="", repr=False)
    users: Mapping[str, str] = field(default_factory=dict, repr=False)  # name -> pbkdf2 hash
    session_secret: str = field(default="", repr=False)
    session_hours: float = 8.0
    login_max_failures: int = 5
    login_window_seconds: float = 300.0
    cookie_secure: bool = False
    timezone: ZoneInfo = ZoneInfo("UTC")
    # user -> hotel ids they may see ("*": all); None: everybody sees every hotel
    user_hotels: Optional[Mapping[str, frozenset]] = None
    public_url: str = ""  # where reception opens the console (links in notifications)
    idle_resume_minutes: float = 0.0  # a paused conversation nobody wrote in goes back to the bot (0: never)
    notify_poll_seconds: float = 5.0  # how often new staff requests are looked for
    smtp_url: str = field(default="", repr=False)  # smtp://user:password@host:port (smtps://, ?starttls=1)
    smtp_from: str = ""
    metrics_token: str = field(default="", repr=False)  # /metrics needs ?token= or a Bearer token (empty: open)

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "StaffConfig":
        env = os.environ if environ is None else environ
        get = lambda name: env.get(name, "").strip()  # noqa: E731
        return cls(
            tracker_store_url=get("TRACKER_STORE_URL") or DEFAULT_TRACKER_STORE_URL,
            assistant_database_url=get("ASSISTANT_DATABASE_URL") or Settings.assistant_database_url,
            rasa_url=(get("RASA_URL") or DEFAULT_RASA_URL).rstrip("/"),
            rasa_token=get("RASA_TOKEN"),
            users=parse_users(get("STAFF_USERS")),
            session_secret=get("STAFF_SESSION_SECRET"),
            session_hours=_number(env, "STAFF_SESSION_HOURS", 8.0, minimum=0.01),
            login_max_failures=int(_number(env, "STAFF_LOGIN_MAX_FAILURES", 5, minimum=1)),
            login_window_seconds=_number(env, "STAFF_LOGIN_WINDOW_SECONDS", 300.0, minimum=1),
            cookie_secure=_flag(env, "STAFF_COOKIE_SECURE"),
            timezone=_timezone(env),
            user_hotels=parse_user_hotels(get("STAFF_USER_HOTELS")),
            public_url=_url(env, "STAFF_PUBLIC_URL"),
            idle_resume_minutes=_number(env, "STAFF_IDLE_RESUME_MINUTES", 0.0, minimum=0),
            notify_poll_seconds=_number(env, "STAFF_NOTIFY_POLL_SECONDS", 5.0, minimum=0.2),
            smtp_url=get("STAFF_SMTP_URL"),
            smtp_from=get("STAFF_SMTP_FROM"),
            metrics_token=get("STAFF_METRICS_TOKEN"),
        )

    def hotels_of(self, user: str) -> Optional[frozenset]:
        """The hotel ids ``user`` may see; None means every hotel."""
        if self.user_hotels is None:
            return None
        hotels = self.user_hotels.get(user, frozenset())
        return None if "*" in hotels else hotels

    @property
    def session_seconds(self) -> int:
        return max(1, int(self.session_hours * 3600))

    def check_web(self) -> None:
        """The web console needs users and a session secret; say which is missing."""
        if not self.users:
            raise ConfigError("STAFF_USERS is empty: add name:hash pairs (hashes from `python -m staff hash-password`)")
        if self.smtp_url:
            from staff.notifications import smtp_from_config

            smtp_from_config(self.smtp_url, self.smtp_from)  # raises ConfigError for a bad URL or no sender
        if len(self.session_secret) < MIN_SESSION_SECRET_LENGTH:
            raise ConfigError(
                f"STAFF_SESSION_SECRET must be at least {MIN_SESSION_SECRET_LENGTH} characters "
                "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
