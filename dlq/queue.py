"""The dead-letter queue: the API of docs/production-contract.md on top of a
storage (Redis or memory), the permanent-failure table and, with Redis, the
SQL spool that catches entries while Redis is down."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, List, Mapping, Optional, Sequence

from dlq import backoff
from dlq.config import DLQSettings
from dlq.entry import (
    ID_PATTERN,
    PERMANENT,
    QUEUED,
    DeadLetter,
    encode_payload,
    new_id,
    short_error,
    validate_kind,
    validate_reason,
)
from dlq.errors import CorruptEntry, QueueUnavailable
from dlq.metrics import DLQMetrics
from dlq.permanent import PermanentStore
from dlq.queue_store import BUSY, DUE, QueueStore
from dlq.spool import Spool

logger = logging.getLogger(__name__)
CORRUPT_REASON = "corrupt_entry"
SPOOL_KIND = "dlq.spool"  # kind recorded for a spooled entry too damaged to name its own
MAX_RAW_FIELD_CHARS = 2000


class DeadLetterQueue:
    def __init__(
        self,
        store: QueueStore,
        permanent: PermanentStore,
        *,
        settings: DLQSettings,
        spool: Optional[Spool] = None,
        metrics: Optional[DLQMetrics] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.permanent = permanent
        self.spool = spool
        self.settings = settings
        self.metrics = metrics or DLQMetrics()
        self.clock = clock
        self._claim_rotation = 0

    # -- producers ------------------------------------------------------------------

    async def enqueue(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        error: Any,
        conversation_id: Optional[str] = None,
        reason: str = "error",
        max_retries: Optional[int] = None,
    ) -> DeadLetter:
        """Keep a failed operation for retry; the first retry is due after the backoff base.

        With Redis down the entry goes to the SQL spool (nothing is lost); only if
        the spool's database fails too does this raise."""
        validate_kind(kind)
        validate_reason(reason)
        encode_payload(payload)
        if conversation_id is not None and (not isinstance(conversation_id, str) or len(conversation_id) > 255):
            raise ValueError("conversation_id must be a string of at most 255 characters")
        retries = self.settings.max_retries if max_retries is None else max_retries
        if retries < 1:
            raise ValueError(f"max_retries must be at least 1, got {retries}")
        now = self.clock()
        entry = DeadLetter(
            id=new_id(),
            kind=kind,
            payload=dict(payload),
            error=short_error(error),
            reason=reason,
            conversation_id=conversation_id,
            max_retries=retries,
            first_failed_at=now,
            next_retry_at=backoff.next_retry_at(now, 0, self.settings.retry_backoff_base),
        )
        await self._store_new(entry)
        self.metrics.enqueued(kind, reason)
        return entry

    async def _store_new(self, entry: DeadLetter) -> None:
        try:
            await self.store.add(entry, self.settings.ttl_seconds)
        except QueueUnavailable as exc:
            if self.spool is None:
                raise
            await self.spool.put(entry, self.clock())
            logger.warning("DLQ entry %s (%s) spooled in SQL: %s", entry.id, entry.kind, exc)

    # -- the worker's side ----------------------------------------------------------

    async def claim_due(self, kinds: Sequence[str], limit: int) -> List[DeadLetter]:
        """Lease up to ``limit`` due entries of ``kinds`` for DLQ_LEASE_SECONDS.

        Damaged entries are moved to the permanent table here and not returned."""
        kinds = [validate_kind(kind) for kind in dict.fromkeys(kinds)]
        if not kinds or limit < 1:
            return []
        self._claim_rotation = (self._claim_rotation + 1) % len(kinds)  # no kind starves the others
        kinds = kinds[self._claim_rotation:] + kinds[: self._claim_rotation]
        now = self.clock()
        token = new_id()
        result = await self.store.claim(kinds, limit, now, now + self.settings.lease_seconds, token)
        for entry_id in result.expired:
            logger.error("DLQ entry %s expired (TTL %s days) before any worker retried it", entry_id, self.settings.ttl_days)
        entries = []
        for claimed in result.claimed:
            try:
                entry = DeadLetter.from_fields(claimed.fields)
                if (entry.id, entry.kind) != (claimed.id, claimed.kind):
                    raise CorruptEntry(f"corrupt entry {claimed.id[:64]!r}: stored id/kind do not match its key")
            except CorruptEntry as exc:
                if await self._bury_corrupt(claimed.id, claimed.kind, claimed.fields, exc):
                    await self.store.remove(claimed.id, claimed.kind, token)
            else:
                entries.append(entry)
        return entries

    async def _bury_corrupt(self, entry_id: str, kind: str, fields: Mapping[str, str], problem: CorruptEntry) -> bool:
        """Record a damaged entry as a permanent failure; False if the table is unreachable."""
        now = self.clock()
        raw = {str(key)[:100]: str(value)[:MAX_RAW_FIELD_CHARS] for key, value in fields.items()}
        record = DeadLetter(
            id=entry_id[:64],
            kind=kind,
            payload={"raw": raw},
            error=short_error(problem),
            reason=CORRUPT_REASON,
            conversation_id=raw.get("conversation_id", "")[:255] or None,
            attempts=int(raw["attempts"]) if raw.get("attempts", "").isdigit() else 0,
            max_retries=self.settings.max_retries,
            first_failed_at=now,
            next_retry_at=now,
            status=PERMANENT,
        )
        logger.error("DLQ %s", record.error)
        try:
            await self.permanent.record(record, now)
        except Exception:  # the lease brings it back; no reason to stop the other entries
            logger.exception("DLQ could not record corrupt entry %s; it will be tried again after the lease", record.id)
            return False
        self.metrics.permanent(kind)
        return True

    async def _load_current(self, entry_id: str, claim: Optional[str]) -> Optional[DeadLetter]:
        """The stored entry, or None if it is gone or no longer held under ``claim``."""
        if not _is_entry_id(entry_id):
            return None
        fields = await self.store.load(entry_id)
        if fields is None:
            return None
        if claim is not None and fields.get("claim", "") != claim:
            logger.warning("DLQ entry %s: lease lost (another worker took it over); result ignored", entry_id)
            return None
        return DeadLetter.from_fields(fields)

    async def succeed(self, entry_id: str, *, claim: Optional[str] = None) -> bool:
        """The retry worked: the entry is removed. False if it was gone or its lease was lost."""
        if not _is_entry_id(entry_id):
            return False
        if claim is None:
            fields = await self.store.load(entry_id)
            if fields is None:
                return False
            claim = fields.get("claim", "")
        if await self.store.remove(entry_id, None, claim):
            return True
        logger.warning("DLQ entry %s: success not recorded, the entry is gone or another worker took it over", entry_id)
        return False

    async def fail(self, entry_id: str, error: Any, *, claim: Optional[str] = None) -> Optional[DeadLetter]:
        """The retry failed: due again after the backoff, or permanent after max_retries.

        Returns the entry as it now is (status 'queued' or 'permanent'), None if
        it was gone or its lease was lost."""
        entry = await self._load_current(entry_id, claim)
        if entry is None:
            return None
        attempts = entry.attempts + 1
        failed = entry.with_changes(attempts=attempts, error=short_error(error))
        if attempts >= entry.max_retries:
            return await self._make_permanent(failed, expected_claim=entry.claim)
        rescheduled = failed.with_changes(
            status=QUEUED,
            next_retry_at=backoff.next_retry_at(self.clock(), attempts, self.settings.retry_backoff_base),
            lease_until=None,
            claim="",
        )
        return rescheduled if await self.store.replace(rescheduled, entry.claim) else None

    async def give_up(
        self, entry_id: str, error: Any, *, claim: Optional[str] = None, after_retry: bool = False
    ) -> Optional[DeadLetter]:
        """Move the entry to the permanent table now. ``after_retry``: a retry just
        ran (and raised PermanentFailure), so it counts as an attempt."""
        entry = await self._load_current(entry_id, claim)
        if entry is None:
            return None
        attempts = entry.attempts + (1 if after_retry else 0)
        return await self._make_permanent(entry.with_changes(attempts=attempts, error=short_error(error)), entry.claim)

    async def _make_permanent(self, entry: DeadLetter, expected_claim: str) -> DeadLetter:
        now = self.clock()
        final = entry.with_changes(status=PERMANENT, next_retry_at=now, lease_until=None, claim="")
        await self.permanent.record(final, failed_at=now)  # first the table, then Redis: a crash between keeps it
        if not await self.store.remove(entry.id, entry.kind, expected_claim):
            logger.warning("DLQ entry %s recorded as permanent but another worker holds it now", entry.id)
        self.metrics.permanent(entry.kind)
        logger.error("DLQ entry %s (%s) failed permanently after %d retries: %s", entry.id, entry.kind, entry.attempts, entry.error)
        return final

    async def drain_spool(self, limit: int = 100) -> int:
        """Move spooled entries into Redis; returns how many moved. Raises
        QueueUnavailable (rows stay spooled) if Redis still does not answer."""
        if self.spool is None:
            return 0
        token = new_id()
        now = self.clock()
        taken = await self.spool.take(limit, now, now + self.settings.lease_seconds, token)
        moved: List[str] = []
        try:
            for entry_id, text in taken:
                try:
                    entry = DeadLetter.from_json(text)
                except CorruptEntry as exc:
                    if not await self._bury_corrupt(entry_id, SPOOL_KIND, {"entry": text}, exc):
                        continue
                else:
                    await self.store.add(entry, self.settings.ttl_seconds)
                moved.append(entry_id)
        except QueueUnavailable:
            await self.spool.release([entry_id for entry_id, _ in taken if entry_id not in moved], token)
            raise
        finally:
            await self.spool.delete(moved, token)
        if moved:
            logger.info("DLQ moved %d spooled entries into Redis", len(moved))
        return len(moved)

    # -- staff ----------------------------------------------------------------------

    async def get(self, entry_id: str) -> Optional[DeadLetter]:
        """The entry wherever it is: queue, spool or permanent table (not requeued)."""
        if not _is_entry_id(entry_id):
            return None
        fields = await self.store.load(entry_id)
        if fields is not None:
            return _decoded_or_none(fields)
        if self.spool is not None:
            text = await self.spool.get(entry_id)
            if text is not None:
                return _decoded_or_none(text)
        return await self.permanent.get(entry_id)

    async def list_queued(self, limit: int = 100) -> List[DeadLetter]:
        """Entries waiting for a retry (queued or being retried), soonest due first."""
        found = [_decoded_or_none(fields) for fields in await self.store.list(limit)]
        if self.spool is not None:
            found += [_decoded_or_none(text) for text in await self.spool.list(limit)]
        entries = [entry for entry in found if entry is not None]
        return sorted(entries, key=lambda entry: entry.next_retry_at)[:limit]

    async def list_permanent(self, limit: int = 100) -> List[DeadLetter]:
        """Permanent failures that staff have not requeued, newest first."""
        return await self.permanent.list(limit)

    async def retry_now(self, entry_id: str) -> Optional[DeadLetter]:
        """Queued: due now. Being retried: left alone (returned as is). Permanent:
        back into the queue, due now, with its attempts reset. None if unknown."""
        if not _is_entry_id(entry_id):
            return None
        now = self.clock()
        fields = await self.store.load(entry_id)
        if fields is not None:
            entry = _decoded_or_none(fields)
            state = await self.store.make_due(entry_id, now)
            if entry is not None and state == DUE:
                return entry.with_changes(next_retry_at=now)
            if state == BUSY:
                return entry
        if self.spool is not None:
            text = await self.spool.get(entry_id)
            spooled = _decoded_or_none(text) if text is not None else None
            if spooled is not None:
                spooled = spooled.with_changes(next_retry_at=now)
                await self.spool.replace(spooled)
                return spooled
        failed = await self.permanent.get(entry_id)
        if failed is None:
            return None
        requeued = failed.with_changes(attempts=0, status=QUEUED, next_retry_at=now, lease_until=None, claim="")
        await self._store_new(requeued)  # idempotent on the id: a double click adds it once
        await self.permanent.mark_requeued(entry_id, now)
        logger.info("DLQ entry %s (%s) requeued by staff", entry_id, failed.kind)
        return requeued

    async def size(self) -> int:
        """Entries waiting: in the queue (queued or being retried) plus spooled."""
        total = await self.store.count()
        if self.spool is not None:
            total += await self.spool.count()
        return total

    async def close(self) -> None:
        await self.store.close()
        self.permanent.dispose()


def _decoded_or_none(stored: Any) -> Optional[DeadLetter]:
    try:
        return DeadLetter.from_json(stored) if isinstance(stored, str) else DeadLetter.from_fields(stored)
    except CorruptEntry as exc:
        logger.warning("DLQ %s", exc)
        return None


def _is_entry_id(entry_id: object) -> bool:
    """Ids come from staff tools too: anything else names no entry (and no Redis key)."""
    return isinstance(entry_id, str) and bool(ID_PATTERN.match(entry_id))
