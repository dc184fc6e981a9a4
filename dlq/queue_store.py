"""What the queue needs from its storage (Redis or in-process memory).

Entries are kept as flat string fields plus a due time per kind. Every write
to a claimed entry is a compare-and-set on its claim token, so a worker whose
lease ran out cannot overwrite the work of the worker that took over.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Protocol, Sequence

from dlq.entry import DeadLetter

DUE, BUSY, MISSING = "due", "busy", "missing"


@dataclass(frozen=True)
class ClaimedFields:
    id: str
    kind: str  # the schedule it was claimed from
    fields: Dict[str, str]  # empty when the stored value is not even a hash


@dataclass(frozen=True)
class ClaimResult:
    claimed: List[ClaimedFields] = field(default_factory=list)
    expired: List[str] = field(default_factory=list)  # scheduled ids whose entry expired (TTL)


class QueueStore(Protocol):
    async def add(self, entry: DeadLetter, ttl_seconds: int) -> bool:
        """Store and schedule a new entry at ``entry.next_retry_at``; False if the id exists."""

    async def claim(self, kinds: Sequence[str], limit: int, now: float, lease_until: float, token: str) -> ClaimResult:
        """Atomically lease up to ``limit`` due entries of ``kinds``: status 'retrying',
        due again at ``lease_until``. An entry whose lease ran out counts that
        unfinished retry as a failed attempt."""

    async def load(self, entry_id: str) -> Optional[Dict[str, str]]:
        ...

    async def replace(self, entry: DeadLetter, expected_claim: str) -> bool:
        """Overwrite the entry and schedule it at ``entry.next_retry_at`` if its claim is still ``expected_claim``."""

    async def remove(self, entry_id: str, kind: Optional[str], expected_claim: str) -> bool:
        """Delete the entry if its claim is still ``expected_claim``; ``kind`` None: the stored one."""

    async def make_due(self, entry_id: str, now: float) -> str:
        """A queued entry becomes due now: DUE; a claimed one is left alone: BUSY; MISSING."""

    async def list(self, limit: int) -> List[Dict[str, str]]:
        """Stored entries, soonest due first."""

    async def count(self) -> int:
        ...

    async def close(self) -> None:
        ...
