"""What every guest channel of this project (WhatsApp, Gmail) does the same way.

- ``ChannelInput``: a Rasa ``InputChannel`` with
  - ``from_credentials`` building the channel from its typed config
    (``config_from``) and installing the action-server retry when enabled;
  - ``wire(blueprint, on_new_message, ...)``: the server listeners, in this
    order: after start, the app is kept (for the agent) and the strict tracker
    store installed (a store that is down fails the turn, so the dead-letter
    journal retries it) before the channel's own start; before stop, the
    channel's own stop (drain, poller); after stop, its clients and stores are
    closed; and the app's dead-letter queue and worker (channel_dlq.attach)
    with the channel's handlers;
  - ``queue``: the process's dead-letter queue once the server starts;
  - ``require_agent_ready()``: raises ``AgentNotReady`` while Rasa has no
    model loaded, so a recovered message waits for the next try;
  - ``on_new_message``: Rasa's callback, once the blueprint is built.
- ``FallbackStore``: a Redis-backed store that uses this process's memory,
  with one warning per outage, while Redis is unreachable.
"""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable, Dict, Iterable, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint

from connectors import action_retry, channel_dlq, strict_tracker_store

logger = logging.getLogger(__name__)

OnNewMessage = Callable[[UserMessage], Awaitable[Any]]
Hook = Callable[[Any, Any], Awaitable[None]]  # (app, loop)


class AgentNotReady(RuntimeError):
    """Rasa has no model loaded yet: a recovered message must wait."""


class ChannelInput(InputChannel):
    """Subclasses set ``self.config`` (with an ``enabled`` property) before calling
    ``wire`` and implement ``config_from``."""

    config: Any
    queue: Any = None
    _app: Any = None
    _on_new_message: Optional[OnNewMessage] = None

    @classmethod
    def config_from(cls, credentials: Optional[Dict[Text, Any]]) -> Any:
        raise NotImplementedError

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "ChannelInput":
        channel = cls(cls.config_from(credentials))  # type: ignore[call-arg]
        if channel.config.enabled:
            action_retry.install()
        return channel

    @property
    def on_new_message(self) -> OnNewMessage:
        if self._on_new_message is None:
            raise RuntimeError(f"the {self.name()} blueprint was not built")
        return self._on_new_message

    def require_agent_ready(self) -> None:
        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if agent is not None and not agent.is_ready():
            raise AgentNotReady("no model loaded yet")

    def wire(
        self,
        blueprint: Blueprint,
        on_new_message: OnNewMessage,
        *,
        dead_letter_handlers: Callable[[], Dict[str, channel_dlq.Handler]],
        on_permanent: Optional[channel_dlq.OnPermanent] = None,
        started: Optional[Hook] = None,
        stopping: Optional[Hook] = None,
        closeables: Iterable[Any] = (),
    ) -> None:
        """Register the listeners described in the module docstring. ``closeables``:
        objects with an async ``close()`` (API clients, stores), closed after stop."""
        self._on_new_message = on_new_message
        closeables = list(closeables)

        @blueprint.listener("after_server_start")
        async def channel_started(app, loop) -> None:
            self._app = app
            if self.config.enabled:
                strict_tracker_store.install(getattr(app.ctx, "agent", None))
            if started is not None:
                await started(app, loop)

        @blueprint.listener("before_server_stop")
        async def channel_stopping(app, loop) -> None:
            if stopping is not None:
                await stopping(app, loop)

        @blueprint.listener("after_server_stop")
        async def channel_closed(app, loop) -> None:
            for closeable in closeables:
                try:
                    await closeable.close()
                except Exception as exc:  # closing a broken connection must not fail shutdown
                    logger.warning("%s: closing %s failed: %s", self.name(), type(closeable).__name__,
                                   type(exc).__name__)

        if self.config.enabled:
            channel_dlq.attach(blueprint, handlers=dead_letter_handlers, on_open=self._use_queue,
                               on_permanent=on_permanent)

    def _use_queue(self, queue) -> None:
        self.queue = queue


class FallbackStore:
    """Calls ``primary`` (Redis); on any error of it, the same call on ``fallback``
    (memory), logged once per outage. Subclasses expose the store's methods through
    ``call(name, *args)`` and decide what is also written to memory so that a later
    outage still knows it."""

    def __init__(self, primary: Any, fallback: Any, what: str = "channel") -> None:
        self.primary, self.fallback, self.what = primary, fallback, what
        self.degraded = False

    async def call(self, name: str, *args: Any) -> Any:
        try:
            result = await getattr(self.primary, name)(*args)
        except Exception as exc:  # redis.exceptions.RedisError, OSError, timeouts
            if not self.degraded:
                logger.warning("Redis unavailable (%s); %s state kept in this process until it is back",
                               type(exc).__name__, self.what)
            self.degraded = True
            return await getattr(self.fallback, name)(*args)
        if self.degraded:
            logger.info("Redis is back; %s state is shared again", self.what)
            self.degraded = False
        return result

    async def close(self) -> None:
        try:
            await self.primary.close()
        except Exception:  # closing a broken connection must not fail shutdown
            pass
        await self.fallback.close()
