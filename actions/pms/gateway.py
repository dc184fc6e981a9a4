"""How actions reach the PMS: one backend per process, every call run in a
worker thread (the PMS interface is blocking) and behind a circuit breaker.

Business outcomes (BookingNotFound, NoAvailability, InvalidBookingState) are
answers, not failures: they do not trip the breaker. When the breaker is open
calls fail fast with PMSUnavailable.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, TypeVar

import pybreaker

from actions.config import Settings, settings
from actions.pms.base import (
    PMS,
    BookingNotFound,
    InvalidBookingState,
    NoAvailability,
    PMSUnavailable,
)

logger = logging.getLogger(__name__)
T = TypeVar("T")

BUSINESS_OUTCOMES = (BookingNotFound, NoAvailability, InvalidBookingState, ValueError)


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

    return LocalPMS(config.pms_database_url, media_base_url=config.public_url)


def build_breaker(fail_max: int = 5, reset_timeout: float = 30) -> pybreaker.CircuitBreaker:
    return pybreaker.CircuitBreaker(
        fail_max=fail_max, reset_timeout=reset_timeout, exclude=list(BUSINESS_OUTCOMES), name="pms"
    )


class PMSGateway:
    def __init__(self, pms: PMS, breaker: pybreaker.CircuitBreaker | None = None) -> None:
        self.pms = pms
        self.breaker = breaker or build_breaker()

    async def call(self, method: Callable[..., T], *args, **kwargs) -> T:
        """``await gateway.call(gateway.pms.get_booking, "BK100001")``."""
        try:
            return await asyncio.to_thread(self.breaker.call, method, *args, **kwargs)
        except pybreaker.CircuitBreakerError as exc:
            logger.warning("PMS circuit open, %s not attempted", getattr(method, "__name__", method))
            raise PMSUnavailable("circuit open") from exc
        except BUSINESS_OUTCOMES:
            raise
        except PMSUnavailable:
            raise
        except Exception as exc:
            logger.exception("PMS call %s failed", getattr(method, "__name__", method))
            raise PMSUnavailable(type(exc).__name__) from exc


_current: PMSGateway | None = None


def gateway() -> PMSGateway:
    """The process-wide gateway, built from the environment on first use."""
    global _current
    if _current is None:
        _current = PMSGateway(build_pms(settings()))
    return _current


def use_gateway(replacement: PMSGateway | None) -> None:
    """Swap the process-wide gateway (tests; None rebuilds from settings)."""
    global _current
    _current = replacement
