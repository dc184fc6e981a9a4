"""How actions reach the PMS: one gateway per PMS (``gateway(hotel_id)``: a
hotel file may name its own PMS, others share the process-wide one), every call
run in a worker thread (the PMS interface is blocking) and behind that PMS's
circuit breaker (``actions.pms.breaker``, state shared through Redis when
configured), so one hotel's PMS being down never stops another's.

Business outcomes (BookingNotFound, NoAvailability, InvalidBookingState,
BookingRejected: the PMS refused the data for good) are answers, not failures:
they do not trip the breaker and are never saved for retry. When the breaker is open
calls fail fast with PMSUnavailable. Every call is counted and timed
(``actions.pms.metrics``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, TypeVar

import pybreaker

from actions import config as app_config
from actions.config import DEFAULT_PMS_KEY, PMSConfig, settings
from actions.pms import metrics
from actions.pms.base import PMS, PMSUnavailable, StayLimits, check_booking_request, check_stay
from actions.pms.breaker import BUSINESS_OUTCOMES, DEFAULT_NAMESPACE, breaker_from_settings, build_breaker

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["BUSINESS_OUTCOMES", "PMSGateway", "build_breaker", "build_pms", "current_breaker", "gateway", "use_gateway"]


def build_pms(pms: PMSConfig) -> PMS:
    if pms.backend == "qloapps":
        from actions.pms.qloapps import QloAppsPMS

        return QloAppsPMS(
            pms.url,
            pms.api_key,
            hotel_id=pms.hotel_id,
            room_type_map=pms.room_types or None,
            language_ids=pms.language_ids or None,
            auto_services=pms.auto_services,
            fallback_phone=pms.fallback_phone,
        )
    from actions.pms.local import LocalPMS

    # a guest's "I paid" is a notice for staff unless the explicit demo setting is on (issue #9)
    return LocalPMS(pms.database_url, media_base_url=settings().public_url,
                    auto_confirm_payments=settings().demo_auto_confirm_payments)


def breaker_for(pms: PMSConfig) -> pybreaker.CircuitBreaker:
    """The PMS's own breaker; the process-wide PMS keeps the historical namespace."""
    if pms.key == DEFAULT_PMS_KEY:
        return current_breaker()
    config = settings()
    return build_breaker(
        fail_max=config.pms_breaker_fail_max,
        reset_timeout=config.pms_breaker_reset_seconds,
        redis_url=config.pms_breaker_redis_url,
        namespace=f"{DEFAULT_NAMESPACE}:{pms.key}",
        name=f"pms:{pms.key}",
    )


class PMSGateway:
    def __init__(self, pms: PMS, breaker: pybreaker.CircuitBreaker | None = None) -> None:
        self.pms = pms
        self.breaker = breaker or build_breaker()

    async def call(self, method: Callable[..., T], *args, **kwargs) -> T:
        """``await gateway.call(gateway.pms.get_booking, "BK100001")``."""
        check_input(method, args, kwargs)
        return await asyncio.to_thread(self._guarded_call, method, *args, **kwargs)

    def call_blocking(self, method: Callable[..., T], *args, **kwargs) -> T:
        """``call`` for a caller already in a worker thread (the journey's reconcile)."""
        check_input(method, args, kwargs)
        return self._guarded_call(method, *args, **kwargs)

    def _guarded_call(self, method: Callable[..., T], *args, **kwargs) -> T:
        operation = getattr(method, "__name__", "unknown")
        attempted = False
        try:
            # ``calling()`` checks the state under the breaker's lock but runs the
            # call outside it; ``breaker.call`` would hold the lock for the whole
            # call and make this process's PMS calls wait for each other.
            with self.breaker.calling():
                attempted = True
                started = time.perf_counter()
                try:
                    result = method(*args, **kwargs)
                finally:
                    metrics.PMS_LATENCY.labels(operation=operation).observe(time.perf_counter() - started)
        except pybreaker.CircuitBreakerError as exc:
            if attempted:  # this failure is the one that opened the circuit
                metrics.record_call(operation, "failure")
                logger.warning("PMS call %s failed; the circuit is now open", operation)
            else:
                metrics.record_call(operation, "rejected")
                logger.warning("PMS circuit open, %s not attempted", operation)
            raise PMSUnavailable("circuit open") from exc
        except BUSINESS_OUTCOMES:
            metrics.record_call(operation, "business")
            raise
        except PMSUnavailable:
            metrics.record_call(operation, "failure")
            raise
        except Exception as exc:
            metrics.record_call(operation, "failure")
            logger.exception("PMS call %s failed", operation)
            raise PMSUnavailable(type(exc).__name__) from exc
        finally:
            self.observe_state()
        metrics.record_call(operation, "success")
        return result

    def observe_state(self) -> None:
        """Refresh the state gauge from the breaker's storage (another process may
        have changed a shared state). Blocking: one Redis read when shared."""
        metrics.observe_breaker(self.breaker)


def check_input(method: Callable, args: tuple, kwargs: dict) -> None:
    """Stays and new bookings are checked here for every backend (actions/pms/base.py)
    before the PMS is called; InvalidStay is an answer and never reaches the breaker."""
    operation = getattr(method, "__name__", "")
    if operation not in ("check_availability", "create_booking"):
        return
    from actions.config import hotel
    from actions.context import hotel_today

    default_hotel = hotel()
    limits, today = StayLimits.from_policies(default_hotel.policies), hotel_today(default_hotel)
    values = list(args) + list(kwargs.values())
    if operation == "create_booking":
        check_booking_request(values[0], today, limits)
    else:
        check_stay(values[0], values[1], values[2], today, limits)


_gateways: dict[str, PMSGateway] = {}  # PMSConfig.key -> its gateway
_breaker: pybreaker.CircuitBreaker | None = None


def current_breaker() -> pybreaker.CircuitBreaker:
    """The breaker of the process-wide gateway; built from the settings without
    touching the PMS when there is no gateway yet (for ``GET /metrics``)."""
    global _breaker
    if DEFAULT_PMS_KEY in _gateways:
        return _gateways[DEFAULT_PMS_KEY].breaker
    if _breaker is None:
        _breaker = breaker_from_settings(settings())
    return _breaker


def gateway(hotel_id: str | None = None) -> PMSGateway:
    """The gateway of the PMS the hotel books in (None or an unknown id: the
    first configured hotel's), built on first use. Raises PMSUnavailable (and
    tries again next time) when the backend cannot even be set up, e.g. the
    embedded PMS's database is unreachable at start."""
    pms_config = _pms_config(hotel_id)
    current = _gateways.get(pms_config.key)
    if current is None:
        try:
            pms = build_pms(pms_config)
        except Exception as exc:
            logger.error("the %s PMS backend (%s) could not be set up: %s", pms_config.backend, pms_config.key,
                         type(exc).__name__)
            raise PMSUnavailable(f"PMS backend not set up: {type(exc).__name__}") from exc
        current = _gateways.setdefault(pms_config.key, PMSGateway(pms, breaker_for(pms_config)))
    return current


def _pms_config(hotel_id: str | None) -> PMSConfig:
    try:
        return app_config.pms_config(app_config.hotel(hotel_id))
    except FileNotFoundError:  # no hotel file (some tools): the process-wide PMS
        return PMSConfig.from_settings(settings())


def use_gateway(replacement: PMSGateway | None, hotel_id: str | None = None) -> None:
    """Swap the gateway of a hotel's PMS, by default the process-wide one (tests;
    None: rebuilt from the configuration on next use)."""
    key = DEFAULT_PMS_KEY if hotel_id is None else _pms_config(hotel_id).key
    if replacement is None:
        _gateways.pop(key, None)
        if hotel_id is None:  # forget every PMS (configuration may have changed)
            _gateways.clear()
    else:
        _gateways[key] = replacement
