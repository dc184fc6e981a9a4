"""A scan the console repeats in the background (idle resume, reception
notifications): started and stopped with the app; a failed scan is logged and
the next one runs, so a database hiccup never stops the loop."""
from __future__ import annotations

import asyncio
import logging
from typing import Any, Optional

logger = logging.getLogger(__name__)


class PeriodicScan:
    """Subclasses set ``interval`` and ``what`` and define ``async scan()``."""

    interval: float
    what = "scan"
    _task: Optional[asyncio.Task] = None

    async def scan(self) -> Any:
        raise NotImplementedError

    def start(self) -> asyncio.Task:
        self._task = asyncio.get_running_loop().create_task(self._run())
        return self._task

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def _run(self) -> None:
        while True:
            try:
                await self.scan()
            except Exception:
                logger.exception("%s failed", self.what)
            await asyncio.sleep(self.interval)
