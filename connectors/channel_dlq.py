"""The Rasa process's dead-letter queue and its one retry worker.

Every enabled channel of a Rasa process (one Sanic app) shares one queue
(``dlq.build_queue(DLQSettings.from_env())``: Redis when ``DLQ_REDIS_URL`` or
``REDIS_URL`` is set) and one ``dlq.RetryWorker`` that claims only the kinds
the channels registered handlers for (``whatsapp.*``, ``gmail.*``). Two Rasa
processes on one Redis each run a worker; claims are atomic in the queue, so
an entry is retried by one of them at a time.

Lifecycle, driven by the channels' blueprint listeners (``attach``):

- ``before_server_start``: the channel registers its handlers and gets the queue;
- ``after_server_start``: the worker starts (Rasa's agent is loaded by then);
- ``before_server_stop``: the worker stops (its current retry finishes);
- ``after_server_stop``: the queue is closed, after the channels drained.

Each step runs once per app whatever the number of channels.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Optional

from dlq import DeadLetter, DLQSettings, RetryWorker, build_queue

logger = logging.getLogger(__name__)

Handler = Callable[[DeadLetter], Awaitable[Any]]
OnPermanent = Callable[[DeadLetter], Awaitable[None]]
APP_ATTRIBUTE = "channel_dead_letters"


class ChannelDeadLetters:
    def __init__(self, settings: Optional[DLQSettings] = None) -> None:
        self.settings = settings
        self.handlers: Dict[str, Handler] = {}
        self.on_permanent: Dict[str, OnPermanent] = {}
        self.queue = None
        self.worker: Optional[RetryWorker] = None

    def register(self, handlers: Dict[str, Handler], on_permanent: Optional[OnPermanent] = None) -> None:
        if self.worker is not None:
            raise RuntimeError("handlers must be registered before the dead-letter worker starts")
        for kind, handler in handlers.items():
            if kind in self.handlers:
                raise ValueError(f"two handlers for the dead-letter kind {kind!r}")
            self.handlers[kind] = handler
            if on_permanent is not None:
                self.on_permanent[kind] = on_permanent

    def open(self):
        """The queue (built on first use)."""
        if self.queue is None:
            self.settings = self.settings or DLQSettings.from_env()
            self.queue = build_queue(self.settings)
            logger.info("channel dead-letter queue: %s backend", self.settings.backend)
        return self.queue

    def start(self) -> None:
        if self.worker is not None or not self.handlers:
            return
        self.worker = RetryWorker(self.open(), dict(self.handlers), on_permanent=self._permanent)
        self.worker.start()
        logger.info("dead-letter worker started for %s", ", ".join(sorted(self.handlers)))

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()

    async def close(self) -> None:
        await self.stop()
        if self.queue is not None:
            await self.queue.close()
            self.queue = None

    async def _permanent(self, entry: DeadLetter) -> None:
        callback = self.on_permanent.get(entry.kind)
        if callback is not None:
            await callback(entry)


def for_app(app) -> ChannelDeadLetters:
    """The app's shared instance (created by the first channel that asks)."""
    shared = getattr(app.ctx, APP_ATTRIBUTE, None)
    if shared is None:
        shared = ChannelDeadLetters()
        setattr(app.ctx, APP_ATTRIBUTE, shared)
    return shared


def attach(blueprint, handlers: Callable[[], Dict[str, Handler]], on_open: Callable[[Any], None],
           on_permanent: Optional[OnPermanent] = None) -> None:
    """Wire a channel's blueprint to the app's queue and worker (see the module docstring)."""

    @blueprint.listener("before_server_start")
    async def open_dead_letters(app, loop) -> None:
        shared = for_app(app)
        shared.register(handlers(), on_permanent)
        on_open(shared.open())

    @blueprint.listener("after_server_start")
    async def start_dead_letter_worker(app, loop) -> None:
        for_app(app).start()

    @blueprint.listener("before_server_stop")
    async def stop_dead_letter_worker(app, loop) -> None:
        await for_app(app).stop()

    @blueprint.listener("after_server_stop")
    async def close_dead_letters(app, loop) -> None:
        await for_app(app).close()
