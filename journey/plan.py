"""When each step of a booking is due: pure functions of the booking, the
hotel's time zone and the journey settings (no clock, no database).

A step is due at its local time on its day (``days`` from check-in or
check-out) and may go out until it stops making sense (``expires``): the
quiet hours of that day, check-out time for the late-checkout offer, the end
of the stay for a confirmation. Times are computed in the hotel's zone, so a
step is at 10:00 in Madrid in winter and in summer; they are stored in UTC.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Dict
from zoneinfo import ZoneInfo

from journey.bookings import JourneyBooking
from journey.config import (
    ANCHORS,
    BOOKING_CONFIRMATION,
    CHECKOUT_MORNING,
    REVIEW_REQUEST,
    STEPS,
    JourneyConfig,
)

REVIEW_GRACE_DAYS = 2  # a review request held up by an outage may still go out this many days later


@dataclass(frozen=True)
class PlannedStep:
    step: str
    due: dt.datetime  # aware, UTC
    expires: dt.datetime  # aware, UTC: not sent at or after this

    @property
    def possible(self) -> bool:
        return self.due < self.expires


def local(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, at, tzinfo=zone).astimezone(dt.timezone.utc)


def out_of_quiet_hours(moment: dt.datetime, journey: JourneyConfig, zone: ZoneInfo) -> dt.datetime:
    """``moment`` if messages may go out then, else the end of those quiet hours."""
    here = moment.astimezone(zone)
    if not journey.is_quiet(here.time().replace(tzinfo=None)):
        return moment
    day = here.date()
    if journey.quiet_start > journey.quiet_end and here.time() >= journey.quiet_start:
        day += dt.timedelta(days=1)  # evening: quiet until tomorrow morning
    return local(day, journey.quiet_end, zone)


def next_quiet_start(after: dt.datetime, journey: JourneyConfig, zone: ZoneInfo) -> dt.datetime:
    """The first start of quiet hours after ``after``."""
    day = after.astimezone(zone).date()
    start = local(day, journey.quiet_start, zone)
    return start if start > after else local(day + dt.timedelta(days=1), journey.quiet_start, zone)


def plan(
    booking: JourneyBooking, journey: JourneyConfig, zone: ZoneInfo, checkout_time: dt.time, booked_seen: dt.datetime
) -> Dict[str, PlannedStep]:
    """The enabled steps of a booking and their times. ``booked_seen``: when the
    journey first saw the booking (the confirmation goes out then, or when the
    quiet hours end)."""
    planned: Dict[str, PlannedStep] = {}
    for name in STEPS:
        step = journey.steps[name]
        if not step.enabled:
            continue
        if name == BOOKING_CONFIRMATION:
            if booking.from_chat:
                continue  # the guest saw the confirmation in the chat
            due = out_of_quiet_hours(booked_seen, journey, zone)
            planned[name] = PlannedStep(name, due, local(booking.checkin, dt.time(0, 0), zone))
            continue
        anchor = booking.checkin if ANCHORS[name] == "checkin" else booking.checkout
        day = anchor + dt.timedelta(days=step.days)
        due = local(day, step.at, zone)
        expires = next_quiet_start(due, journey, zone)
        if name == CHECKOUT_MORNING:
            expires = min(expires, local(booking.checkout, checkout_time, zone))
        elif name == REVIEW_REQUEST:
            expires = next_quiet_start(due + dt.timedelta(days=REVIEW_GRACE_DAYS), journey, zone)
        planned[name] = PlannedStep(name, due, expires)
    return planned
