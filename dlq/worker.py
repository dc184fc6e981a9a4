"""RetryWorker: every DLQ_WORKER_INTERVAL seconds, leases the due entries of the
kinds it has handlers for (at most ``batch`` per tick, so a backlog cannot turn
into a retry storm) and runs their handlers.

Handler returns -> entry removed. Raises PermanentFailure -> permanent table.
Raises anything else (or outlives its time limit) -> retried after the backoff,
permanent after max_retries. ``on_permanent(entry)`` is awaited for every entry
that became permanent. If Redis does not answer, the worker logs it once and
keeps polling; leased entries come back after their lease.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Dict, Mapping, Optional, Union

from dlq.entry import PERMANENT, DeadLetter, short_error, validate_kind
from dlq.errors import PermanentFailure, QueueUnavailable
from dlq.queue import DeadLetterQueue

logger = logging.getLogger(__name__)
Handler = Callable[[DeadLetter], Union[Awaitable[Any], Any]]
PermanentCallback = Callable[[DeadLetter], Union[Awaitable[Any], Any]]
SUCCESS, FAILURE, GAVE_UP = "success", "failure", "permanent"


@dataclass
class TickReport:
    """What one tick did (for tests and logs)."""

    unspooled: int = 0
    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    permanent: int = 0
    queue_unavailable: bool = False


class RetryWorker:
    def __init__(
        self,
        queue: DeadLetterQueue,
        handlers: Mapping[str, Handler],
        *,
        on_permanent: Optional[PermanentCallback] = None,
        interval: Optional[float] = None,
        batch: int = 20,
        handler_timeout: Optional[float] = None,
    ) -> None:
        if not handlers:
            raise ValueError("RetryWorker needs at least one handler")
        for kind in handlers:
            validate_kind(kind)
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        self.queue = queue
        self.handlers: Dict[str, Handler] = dict(handlers)
        self.on_permanent = on_permanent
        self.interval = queue.settings.worker_interval if interval is None else interval
        self.batch = batch
        # a handler must end well inside its lease, or another worker would run the entry too
        self.handler_timeout = handler_timeout or queue.settings.lease_seconds * 0.8
        self._task: Optional[asyncio.Task] = None
        self._stopping = asyncio.Event()
        self._outage = False
        self._spool_problem = False

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> asyncio.Task:
        """Run in the background on the current event loop until ``stop()``."""
        if self._task is None or self._task.done():
            self._stopping = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="dlq-retry-worker")
        return self._task

    async def stop(self, grace: float = 10.0) -> None:
        """Let the current tick finish (up to ``grace`` seconds), then stop. Handlers
        still running after that are cancelled; their entries come back after the lease."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), timeout=grace)
        except asyncio.TimeoutError:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            logger.warning("DLQ worker stopped with retries still running; they come back after their lease")

    async def _run(self) -> None:
        logger.info("DLQ worker started for %s (every %ss, batch %d)", ", ".join(sorted(self.handlers)), self.interval, self.batch)
        while not self._stopping.is_set():
            try:
                await self.run_once()
            except Exception:  # a bug in one tick must not end retrying for good
                logger.exception("DLQ worker tick failed")
            try:
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval)
            except asyncio.TimeoutError:
                pass
        logger.info("DLQ worker stopped")

    # -- one tick -------------------------------------------------------------------

    async def run_once(self) -> TickReport:
        report = TickReport()
        try:
            report.unspooled = await self._drain_spool()
            entries = await self.queue.claim_due(list(self.handlers), self.batch)
        except QueueUnavailable as exc:
            self._note_outage(exc)
            report.queue_unavailable = True
            return report
        self._note_available()
        report.claimed = len(entries)
        for outcome in await asyncio.gather(*(self._retry(entry) for entry in entries)):
            if outcome == SUCCESS:
                report.succeeded += 1
            elif outcome == FAILURE:
                report.failed += 1
            elif outcome == GAVE_UP:
                report.permanent += 1
        await self._publish_size()
        return report

    async def _drain_spool(self) -> int:
        """Move spooled entries into Redis. A spool database that does not answer
        must not stop the retries of what is already in Redis."""
        try:
            moved = await self.queue.drain_spool()
        except QueueUnavailable:
            raise
        except Exception as exc:
            if not self._spool_problem:
                logger.error("DLQ spool database unavailable (%s); retrying what is in Redis meanwhile", type(exc).__name__)
                self._spool_problem = True
            return 0
        if self._spool_problem:
            logger.warning("DLQ spool database answers again")
            self._spool_problem = False
        return moved

    async def _retry(self, entry: DeadLetter) -> Optional[str]:
        """Run one entry's handler and record the outcome; None if recording failed."""
        try:
            if entry.attempts >= entry.max_retries:  # its last retry's worker died holding the lease
                return await self._finish_permanent(await self.queue.give_up(entry.id, entry.error, claim=entry.claim))
            outcome, error = await self._call_handler(entry)
            if outcome == SUCCESS:
                await self.queue.succeed(entry.id, claim=entry.claim)
                return SUCCESS
            if outcome == GAVE_UP:
                updated = await self.queue.give_up(entry.id, error, claim=entry.claim, after_retry=True)
            else:
                updated = await self.queue.fail(entry.id, error, claim=entry.claim)
            if updated is not None and updated.status == PERMANENT:
                return await self._finish_permanent(updated)
            return outcome if updated is not None else None
        except QueueUnavailable as exc:  # the lease brings the entry back once Redis answers
            self._note_outage(exc)
        except Exception:
            logger.exception("DLQ could not record the outcome of entry %s (%s); it comes back after its lease", entry.id, entry.kind)
        return None

    async def _call_handler(self, entry: DeadLetter):
        started = time.perf_counter()
        try:
            result = self.handlers[entry.kind](entry)
            if inspect.isawaitable(result):
                await asyncio.wait_for(result, timeout=self.handler_timeout)
        except PermanentFailure as exc:
            outcome, error = GAVE_UP, short_error(exc)
        except asyncio.TimeoutError:
            outcome, error = FAILURE, f"handler timed out after {self.handler_timeout:g}s"
        except Exception as exc:
            outcome, error = FAILURE, short_error(exc)
        else:
            outcome, error = SUCCESS, ""
        self.queue.metrics.retried(entry.kind, outcome, time.perf_counter() - started)
        if outcome != SUCCESS:
            logger.warning("DLQ retry %d/%d of %s (%s) failed: %s", entry.attempts + 1, entry.max_retries, entry.id, entry.kind, error)
        return outcome, error

    async def _finish_permanent(self, entry: Optional[DeadLetter]) -> Optional[str]:
        if entry is None:
            return None
        if self.on_permanent is not None:
            try:
                result = self.on_permanent(entry)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("DLQ on_permanent callback failed for entry %s", entry.id)
        return GAVE_UP

    async def _publish_size(self) -> None:
        try:
            self.queue.metrics.queue_size(await self.queue.size())
        except Exception as exc:
            logger.debug("DLQ size unavailable: %s", exc)

    def _note_outage(self, exc: Exception) -> None:
        if not self._outage:
            logger.error("%s; the DLQ worker keeps polling", exc)
            self._outage = True

    def _note_available(self) -> None:
        if self._outage:
            logger.warning("DLQ storage answers again; retries resume")
            self._outage = False
