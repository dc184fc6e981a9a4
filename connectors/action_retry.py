"""Retry action-server calls that never reached the action server.

Why: Rasa 3.6's ``RemoteAction.run`` turns a failed call to the action server
into a ``RasaException``; the processor logs it and goes on without the
action's events, so while the action server restarts a guest silently gets no
answer. With this adapter a call whose TCP connection could not be made is
tried again, ``attempts`` times in all over about ``window_seconds``
(defaults: 5 tries, waits of 0.6, 1.2, 2.5 and 5 s), so a restart of a few
seconds costs the guest a slower answer, not a lost one.

What is retried, and only that: ``aiohttp.ClientConnectorError`` (connection
refused, reset or unreachable while connecting). Rasa opens a new connection
for every action call (``EndpointConfig.request`` makes a session per call),
so such an error means no byte of the request reached the action server and
the action cannot have run. A connection dropped after the request was sent,
a timeout or an HTTP error is NOT retried: the action may have run (a booking
written) and running it twice is worse than the error Rasa reports.

The seam (rasa 3.6.21): every action-server call goes through a
``RemoteAction`` built with ``RemoteAction(name, action_endpoint)`` (actions,
form validation, custom slot mappings) and made by
``self.action_endpoint.request(...)`` in ``RemoteAction.run``. ``install``
wraps ``RemoteAction.__init__`` so the stored endpoint is a
``RetryingActionEndpoint`` (an ``EndpointConfig`` whose ``request`` retries);
other endpoints (tracker store, NLG, models) are untouched. ``install``
checks the seam and raises ``ActionRetrySeamMissing`` when a Rasa upgrade
moved it, so the channels fail at startup instead of silently losing the
guarantee. Installing twice is harmless.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from typing import Any, Awaitable, Callable, Optional

import aiohttp
from rasa.utils.endpoints import EndpointConfig

from dlq.retry import RetryPolicy

logger = logging.getLogger(__name__)

SUPPORTED_RASA = "3.6.21"
NOT_RETRIED = (aiohttp.ClientSSLError,)  # certificate/TLS problems do not heal in seconds


class ActionRetrySeamMissing(RuntimeError):
    """The Rasa code this adapter hooks into is not what it expects."""


# 5 tries, waits of 0.6, 1.2, 2.5 and 5 s: ~9.4 s in all (the project's one policy, dlq/retry.py)
DEFAULT_POLICY = RetryPolicy(retries=4, first_delay=0.625)


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(exc, NOT_RETRIED)


class RetryingActionEndpoint(EndpointConfig):
    """The action server's ``EndpointConfig`` with connection-refused retries."""

    def __init__(
        self, endpoint: EndpointConfig, policy: RetryPolicy,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        # keep every field of the configured endpoint (url, token, headers, cafile, kwargs, ...)
        self.__dict__.update(endpoint.__dict__)
        self.policy, self._sleep = policy, sleep

    async def request(self, *args: Any, **kwargs: Any) -> Optional[Any]:
        def log(exc: BaseException, retry_number: int, delay: float) -> None:
            logger.warning(
                "action server %s not reachable (%s); nothing was sent, try %d/%d in %.1fs",
                self.url, type(exc).__name__, retry_number + 1, self.policy.attempts, delay,
            )

        return await self.policy.call(lambda: super(RetryingActionEndpoint, self).request(*args, **kwargs),
                                      retryable=_retryable, on_retry=log, sleep=self._sleep)

    def copy(self) -> "RetryingActionEndpoint":
        return RetryingActionEndpoint(super().copy(), self.policy, self._sleep)


def wrap(endpoint: Optional[EndpointConfig], policy: RetryPolicy) -> Optional[EndpointConfig]:
    if endpoint is None or isinstance(endpoint, RetryingActionEndpoint):
        return endpoint
    return RetryingActionEndpoint(endpoint, policy)


_installed: Optional[RetryPolicy] = None


def check_seam() -> None:
    """Raise ``ActionRetrySeamMissing`` unless Rasa calls the action server the way this adapter expects."""
    import rasa
    from rasa.core.actions.action import RemoteAction

    problems = []
    if rasa.__version__ != SUPPORTED_RASA:
        problems.append(f"written for rasa {SUPPORTED_RASA}, found {rasa.__version__}")
    init = getattr(RemoteAction.__init__, "__wrapped__", RemoteAction.__init__)
    if list(inspect.signature(init).parameters) != ["self", "name", "action_endpoint"]:
        problems.append("RemoteAction.__init__ no longer takes (name, action_endpoint)")
    try:
        run_source = inspect.getsource(RemoteAction.run)
    except (OSError, TypeError):
        run_source = ""
    if "self.action_endpoint.request(" not in run_source:
        problems.append("RemoteAction.run no longer calls self.action_endpoint.request(...)")
    if problems:
        raise ActionRetrySeamMissing(
            "cannot install the action-server retry (connectors/action_retry.py): " + "; ".join(problems)
        )


def install(policy: RetryPolicy = DEFAULT_POLICY) -> None:
    """Make every ``RemoteAction`` of this process retry unreachable action servers."""
    global _installed
    check_seam()
    from rasa.core.actions.action import RemoteAction

    if _installed is not None:
        if policy != _installed:
            logger.info("action-server retry already installed with %s; keeping it", _installed)
        return
    original_init = RemoteAction.__init__

    def __init__(self, name: str, action_endpoint: Optional[EndpointConfig]) -> None:
        original_init(self, name, wrap(action_endpoint, policy))

    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    RemoteAction.__init__ = __init__  # type: ignore[method-assign]
    _installed = policy
    logger.info("action-server calls retried on refused connections: %d tries over ~%.0fs",
                policy.attempts, policy.window_seconds)


def installed_policy() -> Optional[RetryPolicy]:
    return _installed
