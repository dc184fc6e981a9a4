"""When the guest-service desk is open, in the hotel's own timezone."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Optional

from actions.config import HotelConfig
from actions.urgent import is_urgent  # noqa: F401  (one matcher: actions/urgent.py)

LOOKAHEAD_DAYS = 31


@dataclass(frozen=True)
class DeskStatus:
    is_open: bool
    closes_at: Optional[dt.datetime]  # when open: end of the current interval
    next_opening: Optional[dt.datetime]  # when closed: start of the next interval


def _intervals_on(hotel: HotelConfig, day: dt.date):
    if day in hotel.holidays:
        return ()
    return hotel.business_hours.get(day.weekday(), ())


def desk_status(hotel: HotelConfig, now: dt.datetime) -> DeskStatus:
    """``now`` may be in any timezone (naive means UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    local = now.astimezone(hotel.timezone)
    for offset in range(LOOKAHEAD_DAYS + 1):
        day = local.date() + dt.timedelta(days=offset)
        for opens, closes in _intervals_on(hotel, day):
            start = dt.datetime.combine(day, opens, tzinfo=hotel.timezone)
            end = dt.datetime.combine(day, closes, tzinfo=hotel.timezone)
            if start <= local < end:
                return DeskStatus(True, end, None)
            if local < start:
                return DeskStatus(False, None, start)
    return DeskStatus(False, None, None)


def todays_hours(hotel: HotelConfig, now: dt.datetime):
    """Opening intervals of the hotel-local day containing ``now``."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=dt.timezone.utc)
    return _intervals_on(hotel, now.astimezone(hotel.timezone).date())
