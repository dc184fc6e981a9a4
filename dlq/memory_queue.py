"""In-process queue storage: the embedded default when no Redis is configured.

Lives in one process's memory, so entries are lost when the process stops and
are not shared with other processes. Operations never await, so each one is
atomic within the event loop.
"""
from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence

from dlq.entry import RETRYING, DeadLetter
from dlq.queue_store import BUSY, DUE, MISSING, ClaimedFields, ClaimResult

LEASE_EXPIRED_ERROR = "lease expired: the worker stopped during the retry"


class MemoryQueueStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._fields: Dict[str, Dict[str, str]] = {}
        self._due: Dict[str, float] = {}
        self._kind: Dict[str, str] = {}
        self._expires: Dict[str, float] = {}

    def _forget(self, entry_id: str) -> None:
        for index in (self._fields, self._due, self._kind, self._expires):
            index.pop(entry_id, None)

    def _expire(self) -> List[str]:
        now = self._clock()
        expired = [entry_id for entry_id, at in self._expires.items() if at <= now]
        for entry_id in expired:
            self._forget(entry_id)
        return expired

    async def add(self, entry: DeadLetter, ttl_seconds: int) -> bool:
        self._expire()
        if entry.id in self._fields:
            return False
        self._fields[entry.id] = entry.to_fields()
        self._due[entry.id] = entry.next_retry_at
        self._kind[entry.id] = entry.kind
        self._expires[entry.id] = self._clock() + ttl_seconds
        return True

    async def claim(self, kinds: Sequence[str], limit: int, now: float, lease_until: float, token: str) -> ClaimResult:
        expired = self._expire()
        claimed: List[ClaimedFields] = []
        for kind in kinds:
            due = sorted((at, entry_id) for entry_id, at in self._due.items() if at <= now and self._kind[entry_id] == kind)
            for _, entry_id in due[: limit - len(claimed)]:
                fields = self._fields[entry_id]
                if fields.get("status") == RETRYING:
                    if fields.get("attempts", "").isdigit():
                        fields["attempts"] = str(int(fields["attempts"]) + 1)
                    fields["error"] = LEASE_EXPIRED_ERROR
                fields.update(status=RETRYING, claim=token, lease_until=repr(lease_until), last_retry_at=repr(now))
                self._due[entry_id] = lease_until
                claimed.append(ClaimedFields(entry_id, kind, dict(fields)))
            if len(claimed) >= limit:
                break
        return ClaimResult(claimed, expired)

    async def load(self, entry_id: str) -> Optional[Dict[str, str]]:
        self._expire()
        fields = self._fields.get(entry_id)
        return dict(fields) if fields is not None else None

    def _holds(self, entry_id: str, expected_claim: str) -> bool:
        return entry_id in self._fields and self._fields[entry_id].get("claim", "") == expected_claim

    async def replace(self, entry: DeadLetter, expected_claim: str) -> bool:
        if not self._holds(entry.id, expected_claim):
            return False
        self._fields[entry.id] = entry.to_fields()
        self._due[entry.id] = entry.next_retry_at
        return True

    async def remove(self, entry_id: str, kind: str, expected_claim: str) -> bool:
        if not self._holds(entry_id, expected_claim):
            return False
        self._forget(entry_id)
        return True

    async def make_due(self, entry_id: str, now: float) -> str:
        fields = self._fields.get(entry_id)
        if fields is None:
            return MISSING
        if fields.get("status") == RETRYING:
            return BUSY
        fields["next_retry_at"] = repr(now)
        self._due[entry_id] = now
        return DUE

    async def list(self, limit: int) -> List[Dict[str, str]]:
        self._expire()
        soonest = sorted(self._due.items(), key=lambda item: item[1])[:limit]
        return [dict(self._fields[entry_id]) for entry_id, _ in soonest]

    async def count(self) -> int:
        self._expire()
        return len(self._fields)

    async def close(self) -> None:
        pass
