"""The circuit breaker in front of the PMS.

With ``PMS_BREAKER_REDIS_URL`` (or ``REDIS_URL``) the breaker's state (closed /
open / half-open, failure counter, opened-at) is pybreaker's
``CircuitRedisStorage``, so every action-server process sees one circuit: five
failures seen by any processes together open it for all of them.

Two things about pybreaker 1.4.1's Redis storage shape this module:

* it reads the state with ``bytes.decode``: the Redis client must return bytes
  (``decode_responses=False``, redis-py's default), and it keeps its keys under
  ``<namespace>:pybreaker:{state,fail_counter,success_counter,opened_at}``;
  ``opened_at`` is stored in whole seconds, so a shared circuit's reset timeout
  has one-second resolution;
* on a Redis error it logs a traceback and answers "closed" with a zero failure
  counter, on every call: with Redis down the breaker could never open, and
  the log would fill. ``FailSafeStorage`` prevents both: Redis errors escape
  pybreaker's storage (``_EscalatingRedis``) and the breaker carries on with an
  in-memory state of this process; Redis is tried again every
  ``retry_seconds``. The outage and the recovery are logged once each. A PMS
  call never fails because Redis is down.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterable, Optional, TypeVar

import pybreaker
import redis

from actions.config import Settings
from actions.pms.base import BookingNotFound, BookingRejected, InvalidBookingState, NoAvailability
from actions.pms.metrics import BreakerStateListener

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Answers, not failures: they never count towards opening the circuit.
# BookingRejected: the PMS refused the data for good (e.g. QloApps without a phone).
BUSINESS_OUTCOMES = (BookingNotFound, NoAvailability, InvalidBookingState, BookingRejected, ValueError)
DEFAULT_NAMESPACE = "guest-assistant:pms"
REDIS_TIMEOUT_SECONDS = 0.5  # a PMS call must not wait long on the breaker's bookkeeping
REDIS_RETRY_SECONDS = 5.0


class SharedStateUnavailable(Exception):
    """Redis could not be used for the breaker state (internal)."""


class _EscalatingRedis:
    """A Redis client whose errors pybreaker's storage does not swallow:
    they become ``SharedStateUnavailable`` for ``FailSafeStorage`` to handle."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return method(*args, **kwargs)
            except redis.RedisError as exc:
                raise SharedStateUnavailable(type(exc).__name__) from exc

        return call


class FailSafeStorage(pybreaker.CircuitBreakerStorage):
    """Breaker state in Redis (shared), in process memory while Redis is unreachable."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = DEFAULT_NAMESPACE,
        retry_seconds: float = REDIS_RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__("redis-with-memory-fallback")
        self._client = _EscalatingRedis(client)
        self._namespace = namespace
        self._retry_seconds = retry_seconds
        self._clock = clock
        self._shared: Optional[pybreaker.CircuitRedisStorage] = None
        self._memory = pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)
        self._redis_down_until: Optional[float] = None  # None: Redis in use
        self._lock = threading.Lock()

    @property
    def shared(self) -> bool:
        """True while the state is read from and written to Redis."""
        return self._redis_down_until is None

    def _use(self, operation: Callable[[pybreaker.CircuitBreakerStorage], T]) -> T:
        with self._lock:
            down_until = self._redis_down_until
            if down_until is not None and self._clock() < down_until:
                return operation(self._memory)
        try:
            if self._shared is None:
                self._shared = pybreaker.CircuitRedisStorage(
                    pybreaker.STATE_CLOSED, self._client, namespace=self._namespace
                )
            result = operation(self._shared)
        except SharedStateUnavailable as exc:
            with self._lock:
                if self._redis_down_until is None:
                    logger.warning(
                        "PMS breaker: Redis unreachable (%s); this process keeps the breaker state in memory "
                        "and tries Redis again every %.0f s", exc, self._retry_seconds,
                    )
                self._redis_down_until = self._clock() + self._retry_seconds
            return operation(self._memory)
        with self._lock:
            if self._redis_down_until is not None:
                logger.warning("PMS breaker: Redis reachable again; the breaker state is shared again")
                self._redis_down_until = None
        return result

    # -- CircuitBreakerStorage ----------------------------------------------------
    @property
    def state(self) -> str:
        return self._use(lambda storage: storage.state)

    @state.setter
    def state(self, state: str) -> None:
        def write(storage: pybreaker.CircuitBreakerStorage) -> None:
            storage.state = state

        self._use(write)

    def increment_counter(self) -> None:
        self._use(lambda storage: storage.increment_counter())

    def reset_counter(self) -> None:
        self._use(lambda storage: storage.reset_counter())

    def increment_success_counter(self) -> None:
        self._use(lambda storage: storage.increment_success_counter())

    def reset_success_counter(self) -> None:
        self._use(lambda storage: storage.reset_success_counter())

    @property
    def counter(self) -> int:
        return self._use(lambda storage: storage.counter)

    @property
    def success_counter(self) -> int:
        return self._use(lambda storage: storage.success_counter)

    @property
    def opened_at(self):
        return self._use(lambda storage: storage.opened_at)

    @opened_at.setter
    def opened_at(self, when) -> None:
        def write(storage: pybreaker.CircuitBreakerStorage) -> None:
            storage.opened_at = when

        self._use(write)


def redis_client(url: str) -> redis.Redis:
    """A client that answers bytes (pybreaker decodes them) and gives up fast."""
    return redis.Redis.from_url(
        url,
        decode_responses=False,
        socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        socket_timeout=REDIS_TIMEOUT_SECONDS,
    )


def build_breaker(
    fail_max: int = 5,
    reset_timeout: float = 30,
    redis_url: str = "",
    namespace: str = DEFAULT_NAMESPACE,
    listeners: Iterable[pybreaker.CircuitBreakerListener] = (),
    name: str = "pms",
) -> pybreaker.CircuitBreaker:
    """The PMS breaker: state in Redis when ``redis_url`` is given, else in memory.
    Its state changes feed the ``pms_circuit_breaker_state`` gauge."""
    storage = FailSafeStorage(redis_client(redis_url), namespace) if redis_url else None
    return pybreaker.CircuitBreaker(
        fail_max=fail_max,
        reset_timeout=reset_timeout,
        exclude=list(BUSINESS_OUTCOMES),
        listeners=[BreakerStateListener(), *listeners],
        state_storage=storage,
        name=name,  # "pms": the process-wide PMS; "pms:hotel:<id>": a hotel's own PMS
    )


def breaker_from_settings(config: Settings) -> pybreaker.CircuitBreaker:
    return build_breaker(
        fail_max=config.pms_breaker_fail_max,
        reset_timeout=config.pms_breaker_reset_seconds,
        redis_url=config.pms_breaker_redis_url,
    )
