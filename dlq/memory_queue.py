"""In-process queue storage: the embedded default when no Redis is configured.

Lives in one process's memory, so entries are lost when the process stops and
are not shared with other processes. Operations never await, so each one is
atomic within the event loop.
"""
from __future__ import annotations

import heapq
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from dlq.entry import RETRYING, DeadLetter
from dlq.queue_store import BUSY, DUE, MISSING, ClaimedFields, ClaimResult

LEASE_EXPIRED_ERROR = "lease expired: the worker stopped during the retry"


class MemoryQueueStore:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._fields: Dict[str, Dict[str, str]] = {}
        self._due: Dict[str, float] = {}  # the authoritative due time of each entry
        self._kind: Dict[str, str] = {}
        # heaps with lazy deletion: an item is stale when _due/_expires no longer match it
        self._schedules: Dict[str, List[Tuple[float, str]]] = {}
        self._expires: Dict[str, float] = {}
        self._expiry_heap: List[Tuple[float, str]] = []

    def _schedule(self, entry_id: str, at: float) -> None:
        self._due[entry_id] = at
        heapq.heappush(self._schedules.setdefault(self._kind[entry_id], []), (at, entry_id))

    def _forget(self, entry_id: str) -> None:
        for index in (self._fields, self._due, self._kind, self._expires):
            index.pop(entry_id, None)

    def _expire(self) -> List[str]:
        now, expired = self._clock(), []
        while self._expiry_heap and self._expiry_heap[0][0] <= now:
            at, entry_id = heapq.heappop(self._expiry_heap)
            if self._expires.get(entry_id) == at:
                self._forget(entry_id)
                expired.append(entry_id)
        return expired

    async def add(self, entry: DeadLetter, ttl_seconds: int) -> bool:
        self._expire()
        if entry.id in self._fields:
            return False
        self._fields[entry.id] = entry.to_fields()
        self._kind[entry.id] = entry.kind
        self._schedule(entry.id, entry.next_retry_at)
        self._expires[entry.id] = expires = self._clock() + ttl_seconds
        heapq.heappush(self._expiry_heap, (expires, entry.id))
        return True

    def _pop_due(self, kind: str, now: float, limit: int) -> List[str]:
        schedule, due = self._schedules.get(kind, []), []
        while schedule and schedule[0][0] <= now and len(due) < limit:
            at, entry_id = heapq.heappop(schedule)
            if self._due.get(entry_id) == at and entry_id not in due:
                due.append(entry_id)
        return due

    async def claim(self, kinds: Sequence[str], limit: int, now: float, lease_until: float, token: str) -> ClaimResult:
        expired = self._expire()
        claimed: List[ClaimedFields] = []
        for kind in kinds:
            for entry_id in self._pop_due(kind, now, limit - len(claimed)):
                fields = self._fields[entry_id]
                if fields.get("status") == RETRYING:
                    if fields.get("attempts", "").isdigit():
                        fields["attempts"] = str(int(fields["attempts"]) + 1)
                    fields["error"] = LEASE_EXPIRED_ERROR
                fields.update(status=RETRYING, claim=token, lease_until=repr(lease_until), last_retry_at=repr(now))
                self._schedule(entry_id, lease_until)
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
        self._schedule(entry.id, entry.next_retry_at)
        return True

    async def remove(self, entry_id: str, kind: Optional[str], expected_claim: str) -> bool:
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
        self._schedule(entry_id, now)
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
