"""One dead letter: what failed, why, how often it was retried, when it is due.

Stored as flat string fields (a Redis hash, a JSON object in the spool). Reading
validates every field, so a damaged entry raises ``CorruptEntry`` (and is moved
to the permanent table) instead of being retried forever.
"""
from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Dict, Mapping, Optional

from dlq.errors import CorruptEntry

QUEUED, RETRYING, PERMANENT = "queued", "retrying", "permanent"
STATUSES = (QUEUED, RETRYING, PERMANENT)
KIND_PATTERN = re.compile(r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$")  # <area>.<operation>
REASON_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
MAX_ERROR_CHARS = 500
MAX_PAYLOAD_BYTES = 256 * 1024


def new_id() -> str:
    return uuid.uuid4().hex


SECRET_PARAMETER = re.compile(r"(?i)\b([a-z_]*(?:token|key|secret|password|signature)[a-z_]*)=[^&\s\"']+")
URL_PASSWORD = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@")


def short_error(error: Any) -> str:
    """An error as a short one-line string ('Type: message' for exceptions), with
    secret-looking URL parameters and URL passwords masked: errors end up in
    logs, the permanent table and the staff console."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error)
    text = " ".join(text.split())
    text = URL_PASSWORD.sub(r"\1***@", SECRET_PARAMETER.sub(r"\1=***", text))
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def validate_kind(kind: Any) -> str:
    if not isinstance(kind, str) or len(kind) > 64 or not KIND_PATTERN.match(kind):
        raise ValueError(f"kind must look like '<area>.<operation>' (e.g. 'pms.create_booking'), got {kind!r}")
    return kind


def validate_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not REASON_PATTERN.match(reason):
        raise ValueError(f"reason must be a short snake_case word (e.g. 'pms_unavailable'), got {reason!r}")
    return reason


def encode_payload(payload: Any) -> str:
    if not isinstance(payload, dict):
        raise ValueError(f"payload must be a JSON object (dict), got {type(payload).__name__}")
    try:
        text = json.dumps(payload, separators=(",", ":"), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"payload is not JSON-serialisable: {exc}") from None
    if len(text.encode()) > MAX_PAYLOAD_BYTES:
        raise ValueError(f"payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    return text


@dataclass(frozen=True)
class DeadLetter:
    id: str
    kind: str
    payload: Dict[str, Any]
    error: str
    reason: str
    conversation_id: Optional[str] = None
    attempts: int = 0  # retries run so far (the original failure is not one)
    max_retries: int = 3
    first_failed_at: float = 0.0  # epoch seconds
    last_retry_at: Optional[float] = None
    next_retry_at: float = 0.0
    status: str = QUEUED
    # while status == "retrying": who holds the lease and until when
    lease_until: Optional[float] = None
    claim: str = field(default="", repr=False)

    @property
    def retries_left(self) -> int:
        return max(0, self.max_retries - self.attempts)

    def as_dict(self) -> Dict[str, Any]:
        data = asdict(self)
        data.pop("claim")
        return data

    def with_changes(self, **changes: Any) -> "DeadLetter":
        return replace(self, **changes)

    # -- storage form -------------------------------------------------------------

    def to_fields(self) -> Dict[str, str]:
        fields = {
            "id": self.id,
            "kind": self.kind,
            "payload": encode_payload(self.payload),
            "error": self.error,
            "reason": self.reason,
            "attempts": str(self.attempts),
            "max_retries": str(self.max_retries),
            "first_failed_at": repr(float(self.first_failed_at)),
            "next_retry_at": repr(float(self.next_retry_at)),
            "status": self.status,
        }
        if self.conversation_id is not None:
            fields["conversation_id"] = self.conversation_id
        if self.last_retry_at is not None:
            fields["last_retry_at"] = repr(float(self.last_retry_at))
        if self.lease_until is not None:
            fields["lease_until"] = repr(float(self.lease_until))
        if self.claim:
            fields["claim"] = self.claim
        return fields

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> "DeadLetter":
        """Validate and decode stored fields; ``CorruptEntry`` says what is wrong."""
        try:
            return cls._decode(fields)
        except CorruptEntry:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            detail = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
            raise CorruptEntry(f"corrupt entry {str(fields.get('id', '?'))[:64]!r}: {detail}") from None

    @classmethod
    def _decode(cls, fields: Mapping[str, str]) -> "DeadLetter":
        entry_id = fields["id"]
        if not ID_PATTERN.match(entry_id):
            raise ValueError(f"bad id {entry_id[:80]!r}")
        payload = json.loads(fields["payload"])
        if not isinstance(payload, dict):
            raise ValueError("payload is not a JSON object")
        status = fields["status"]
        if status not in STATUSES:
            raise ValueError(f"unknown status {status[:40]!r}")
        attempts, max_retries = _count(fields["attempts"], "attempts"), _count(fields["max_retries"], "max_retries")
        return cls(
            id=entry_id,
            kind=validate_kind(fields["kind"]),
            payload=payload,
            error=fields.get("error", ""),
            reason=validate_reason(fields["reason"]),
            conversation_id=fields.get("conversation_id"),
            attempts=attempts,
            max_retries=max_retries,
            first_failed_at=_time(fields["first_failed_at"], "first_failed_at"),
            last_retry_at=_optional_time(fields.get("last_retry_at"), "last_retry_at"),
            next_retry_at=_time(fields["next_retry_at"], "next_retry_at"),
            status=status,
            lease_until=_optional_time(fields.get("lease_until"), "lease_until"),
            claim=fields.get("claim", ""),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_fields(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "DeadLetter":
        try:
            fields = json.loads(text)
        except ValueError as exc:
            raise CorruptEntry(f"corrupt entry: not JSON ({exc})") from None
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise CorruptEntry("corrupt entry: expected a JSON object of strings")
        return cls.from_fields(fields)


def _count(raw: str, name: str) -> int:
    value = int(raw)
    if value < 0:
        raise ValueError(f"{name} is negative")
    return value


def _time(raw: str, name: str) -> float:
    value = float(raw)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} is not a time")
    return value


def _optional_time(raw: Optional[str], name: str) -> Optional[float]:
    return None if raw in (None, "") else _time(raw, name)
