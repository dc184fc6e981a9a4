"""Dead letters for staff: what waits for a retry, what failed for good, and
"retry now" (the queue's ``retry_now``: a queued entry becomes due now, a
permanent one goes back into the queue with its attempts reset).
The queue is the ``dlq`` package's (docs/production-contract.md)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, List

ENTRY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class EntryNotFound(LookupError):
    pass


@dataclass(frozen=True)
class DeadLetterOverview:
    queued: List[Any]  # dlq.DeadLetter, soonest due first
    permanent: List[Any]  # dlq.DeadLetter, newest first

    def as_dict(self) -> Dict[str, Any]:
        return {"queued": [e.as_dict() for e in self.queued], "permanent": [e.as_dict() for e in self.permanent]}


def check_entry_id(entry_id: str) -> str:
    if not ENTRY_ID.match(entry_id or ""):
        raise ValueError("a dead-letter id is 1-64 letters, digits, '_' or '-'")
    return entry_id


class DeadLetterDesk:
    def __init__(self, queue: Any) -> None:
        self._queue = queue

    async def overview(self, limit: int = 100) -> DeadLetterOverview:
        return DeadLetterOverview(await self._queue.list_queued(limit), await self._queue.list_permanent(limit))

    async def retry(self, entry_id: str) -> Any:
        """The entry as it is after the request: queued and due now (or being retried)."""
        entry = await self._queue.retry_now(check_entry_id(entry_id))
        if entry is None:
            raise EntryNotFound(f"no dead letter {entry_id}")
        return entry

    async def close(self) -> None:
        await self._queue.close()
