"""The exceptions of the dead-letter queue."""
from __future__ import annotations

from core.settings import ConfigError


class DLQError(Exception):
    """Base class of the queue's own errors."""


class DLQConfigError(DLQError, ConfigError):
    """A DLQ_* setting is invalid; the message names the variable."""


class PermanentFailure(DLQError):
    """Raised by a handler when retrying cannot help (e.g. the booking no longer
    exists): the entry goes straight to the permanent table."""


class QueueUnavailable(DLQError):
    """The queue's storage (Redis) does not answer. Entries stay where they are;
    the worker tries again on its next tick."""


class CorruptEntry(DLQError, ValueError):
    """A stored entry does not match the schema; it is moved to the permanent
    table instead of being retried."""
