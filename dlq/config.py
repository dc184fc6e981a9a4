"""Typed settings of the dead-letter queue, read from the environment in one place.

| variable | default |
|---|---|
| DLQ_REDIS_URL | REDIS_URL; unset: in-process queue (one process only) |
| DLQ_DATABASE_URL | ASSISTANT_DATABASE_URL, else sqlite:///<project>/var/assistant.sqlite3 |
| DLQ_MAX_RETRIES | 3 |
| DLQ_RETRY_BACKOFF_BASE | 60 (seconds; retry k waits base * 2^(k-1)) |
| DLQ_TTL_DAYS | 7 |
| DLQ_WORKER_INTERVAL | 5 (seconds) |
| DLQ_LEASE_SECONDS | 300 |
| DLQ_PREFIX | dlq |

URLs are kept out of ``repr`` (they may hold passwords); log ``masked_url(...)``.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Mapping, Optional
from urllib.parse import urlsplit

from core.settings import PROJECT_ROOT
from dlq.errors import DLQConfigError

DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'var' / 'assistant.sqlite3'}"
PREFIX_PATTERN = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
REDIS_SCHEMES = ("redis", "rediss", "unix")


def masked_url(url: str) -> str:
    """``scheme://user:***@host:port/db``: the URL without its password, safe to log
    or show (also used for the tracker and lock store URLs, components/stores.py)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


@dataclass(frozen=True)
class DLQSettings:
    redis_url: str = field(default="", repr=False)  # empty: in-process queue
    database_url: str = field(default=DEFAULT_DATABASE_URL, repr=False)
    max_retries: int = 3
    retry_backoff_base: float = 60.0
    ttl_days: float = 7.0
    worker_interval: float = 5.0
    lease_seconds: float = 300.0
    prefix: str = "dlq"

    def __post_init__(self) -> None:
        if self.redis_url and urlsplit(self.redis_url).scheme not in REDIS_SCHEMES:
            raise DLQConfigError(f"DLQ_REDIS_URL must start with redis://, rediss:// or unix://, got {masked_url(self.redis_url)!r}")
        if not self.database_url:
            raise DLQConfigError("DLQ_DATABASE_URL must not be empty")
        if self.max_retries < 1:
            raise DLQConfigError(f"DLQ_MAX_RETRIES must be at least 1, got {self.max_retries}")
        for name, value in (
            ("DLQ_RETRY_BACKOFF_BASE", self.retry_backoff_base),
            ("DLQ_TTL_DAYS", self.ttl_days),
            ("DLQ_WORKER_INTERVAL", self.worker_interval),
            ("DLQ_LEASE_SECONDS", self.lease_seconds),
        ):
            if not (math.isfinite(value) and value > 0):
                raise DLQConfigError(f"{name} must be a positive number of seconds/days, got {value}")
        if not PREFIX_PATTERN.match(self.prefix):
            raise DLQConfigError(f"DLQ_PREFIX must be 1-64 characters of letters, digits, '_', '.', ':', '-', got {self.prefix!r}")

    @property
    def ttl_seconds(self) -> int:
        return max(1, int(self.ttl_days * 86400))

    @property
    def backend(self) -> str:
        return "redis" if self.redis_url else "memory"

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "DLQSettings":
        env = os.environ if environ is None else environ

        def text(*names: str) -> str:
            for name in names:
                value = env.get(name, "").strip()
                if value:
                    return value
            return ""

        def number(name: str, default: float, integer: bool = False) -> float:
            raw = text(name)
            if not raw:
                return default
            try:
                return int(raw) if integer else float(raw)
            except ValueError:
                kind = "a whole number" if integer else "a number"
                raise DLQConfigError(f"{name} must be {kind}, got {raw!r}") from None

        return cls(
            redis_url=text("DLQ_REDIS_URL", "REDIS_URL"),
            database_url=text("DLQ_DATABASE_URL", "ASSISTANT_DATABASE_URL") or DEFAULT_DATABASE_URL,
            max_retries=int(number("DLQ_MAX_RETRIES", cls.max_retries, integer=True)),
            retry_backoff_base=number("DLQ_RETRY_BACKOFF_BASE", cls.retry_backoff_base),
            ttl_days=number("DLQ_TTL_DAYS", cls.ttl_days),
            worker_interval=number("DLQ_WORKER_INTERVAL", cls.worker_interval),
            lease_seconds=number("DLQ_LEASE_SECONDS", cls.lease_seconds),
            prefix=text("DLQ_PREFIX") or cls.prefix,
        )
