"""How actions reach the PMS: one backend per process, every call run in a
worker thread (the PMS interface is blocking) and behind the circuit breaker
of ``actions.pms.breaker`` (state shared through Redis when configured).

Business outcomes (BookingNotFound, NoAvailability, InvalidBookingState) are
answers, not failures: they do not trip the breaker. When the breaker is open
calls fail fast with PMSUnavailable. Every call is counted and timed
(``actions.pms.metrics``).
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, TypeVar

import pybreaker

from actions.config import Settings, settings
from actions.pms import metrics
from actions.pms.base import PMS, PMSUnavailable, StayLimits, check_booking_request, check_stay
from actions.pms.breaker import BUSINESS_OUTCOMES, breaker_from_settings, build_breaker

logger = logging.getLogger(__name__)
T = TypeVar("T")

__all__ = ["BUSINESS_OUTCOMES", "PMSGateway", "build_breaker", "build_pms", "current_breaker", "gateway", "use_gateway"]


def build_pms(config: Settings) -> PMS:
    if config.pms_backend == "qloapps":
        from actions.pms.qloapps import QloAppsPMS

        return QloAppsPMS(
            config.qloapps_url,
            config.qloapps_api_key,
            hotel_id=config.qloapps_hotel_id,
            room_type_map=config.qloapps_room_types or None,
            language_ids=config.qloapps_language_ids or None,
        )
    from actions.pms.local import LocalPMS

    # a guest's "I paid" is a notice for staff unless the explicit demo setting is on (issue #9)
    return LocalPMS(config.pms_database_url, media_base_url=config.public_url,
                    auto_confirm_payments=config.demo_auto_confirm_payments)


class PMSGateway:
    def __init__(self, pms: PMS, breaker: pybreaker.CircuitBreaker | None = None) -> None:
        self.pms = pms
        self.breaker = breaker or build_breaker()

    async def call(self, method: Callable[..., T], *args, **kwargs) -> T:
        """``await gateway.call(gateway.pms.get_booking, "BK100001")``."""
        check_input(method, args, kwargs)
        return await asyncio.to_thread(self._guarded_call, method, *args, **kwargs)

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


_current: PMSGateway | None = None
_breaker: pybreaker.CircuitBreaker | None = None


def current_breaker() -> pybreaker.CircuitBreaker:
    """The breaker of the process-wide gateway; built from the settings without
    touching the PMS when there is no gateway yet (for ``GET /metrics``)."""
    global _breaker
    if _current is not None:
        return _current.breaker
    if _breaker is None:
        _breaker = breaker_from_settings(settings())
    return _breaker


def gateway() -> PMSGateway:
    """The process-wide gateway, built from the environment on first use.
    Raises PMSUnavailable (and tries again next time) when the backend cannot
    even be set up, e.g. the embedded PMS's database is unreachable at start."""
    global _current
    if _current is None:
        config = settings()
        try:
            pms = build_pms(config)
        except Exception as exc:
            logger.error("the %s PMS backend could not be set up: %s", config.pms_backend, type(exc).__name__)
            raise PMSUnavailable(f"PMS backend not set up: {type(exc).__name__}") from exc
        _current = PMSGateway(pms, current_breaker())
    return _current


def use_gateway(replacement: PMSGateway | None) -> None:
    """Swap the process-wide gateway (tests; None rebuilds from settings)."""
    global _current
    _current = replacement
