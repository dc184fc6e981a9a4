"""Desk hours in the hotel's timezone: intervals, holidays, weekends, UTC input, DST."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from actions.business_hours import desk_status, is_urgent, todays_hours
from actions.config import PROJECT_ROOT, ConfigError, HotelConfig

MADRID = ZoneInfo("Europe/Madrid")
UTC = dt.timezone.utc
T = dt.time

BASE = {
    "id": "test",
    "name": "Test Hotel",
    "address": "Somewhere 1",
    "latitude": 40.0,
    "longitude": -3.0,
    "timezone": "Europe/Madrid",
    "policies": {"checkin_time": "15:00", "checkout_time": "12:00", "late_checkout_until": "15:00"},
}


def custom(**overrides) -> HotelConfig:
    return HotelConfig.from_mapping({**BASE, **overrides})


@pytest.fixture(scope="module")
def hotel() -> HotelConfig:
    return HotelConfig.load(PROJECT_ROOT / "hotel.yml")


def madrid(y, m, d, hh, mm=0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=MADRID)


def as_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(UTC)


# --- open / closed ----------------------------------------------------------------
def test_open_on_a_weekday(hotel):
    status = desk_status(hotel, madrid(2026, 11, 23, 10))  # Monday
    assert status.is_open
    assert status.closes_at == madrid(2026, 11, 23, 22)
    assert status.next_opening is None


def test_interval_bounds_open_inclusive_close_exclusive(hotel):
    assert desk_status(hotel, madrid(2026, 11, 23, 8)).is_open
    assert not desk_status(hotel, madrid(2026, 11, 23, 7, 59)).is_open
    assert desk_status(hotel, madrid(2026, 11, 23, 21, 59)).is_open
    closed = desk_status(hotel, madrid(2026, 11, 23, 22))
    assert not closed.is_open
    assert closed.next_opening == madrid(2026, 11, 24, 8)


def test_saturday_closed_between_its_two_intervals(hotel):
    morning = desk_status(hotel, madrid(2026, 11, 28, 13, 30))
    assert morning.is_open and morning.closes_at == madrid(2026, 11, 28, 14)
    lunch = desk_status(hotel, madrid(2026, 11, 28, 14, 30))
    assert not lunch.is_open
    assert lunch.closes_at is None
    assert lunch.next_opening == madrid(2026, 11, 28, 16)  # same day, afternoon interval
    afternoon = desk_status(hotel, madrid(2026, 11, 28, 16))
    assert afternoon.is_open and afternoon.closes_at == madrid(2026, 11, 28, 23)


def test_before_opening_the_next_opening_is_today(hotel):
    status = desk_status(hotel, madrid(2026, 11, 24, 6, 15))
    assert not status.is_open
    assert status.next_opening == madrid(2026, 11, 24, 8)


def test_closed_sunday_afternoon_opens_monday(hotel):
    status = desk_status(hotel, madrid(2026, 11, 29, 14, 0))  # Sunday, just closed
    assert not status.is_open
    assert status.next_opening == madrid(2026, 11, 30, 8)


def test_holiday_is_closed_all_day(hotel):
    christmas = dt.date(2026, 12, 25)  # a Friday, normally 08:00-23:00
    assert christmas in hotel.holidays
    for hour in (8, 12, 22):
        status = desk_status(hotel, madrid(2026, 12, 25, hour))
        assert not status.is_open
        assert status.next_opening == madrid(2026, 12, 26, 9)  # Saturday hours
    assert todays_hours(hotel, madrid(2026, 12, 25, 12)) == ()


def test_next_opening_skips_a_holiday(hotel):
    status = desk_status(hotel, madrid(2026, 12, 24, 22, 30))  # Thursday after closing
    assert not status.is_open
    assert status.next_opening == madrid(2026, 12, 26, 9)


def test_next_opening_skips_a_weekend_without_hours_and_a_holiday():
    config = custom(
        business_hours={day: [["09:00", "17:00"]] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")},
        holidays=["2026-12-28"],  # Monday
    )
    status = desk_status(config, madrid(2026, 12, 25, 18))  # Friday evening
    assert not status.is_open
    assert status.next_opening == madrid(2026, 12, 29, 9)  # Tuesday


def test_no_hours_at_all_is_always_closed_with_no_next_opening():
    status = desk_status(custom(business_hours={}), madrid(2026, 11, 23, 10))
    assert status == type(status)(False, None, None)


# --- timezones ------------------------------------------------------------------------
def test_utc_input_is_converted_to_hotel_time(hotel):
    # 21:30 UTC on a Monday is 22:30 in Madrid (UTC+1): closed ...
    late = desk_status(hotel, dt.datetime(2026, 11, 23, 21, 30, tzinfo=UTC))
    assert not late.is_open
    assert late.next_opening == madrid(2026, 11, 24, 8)
    # ... while 21:30 hotel time is open
    assert desk_status(hotel, madrid(2026, 11, 23, 21, 30)).is_open
    # 20:30 UTC is 21:30 in Madrid
    assert desk_status(hotel, dt.datetime(2026, 11, 23, 20, 30, tzinfo=UTC)).is_open


def test_naive_input_means_utc(hotel):
    naive = dt.datetime(2026, 11, 23, 21, 30)
    assert desk_status(hotel, naive) == desk_status(hotel, naive.replace(tzinfo=UTC))
    assert not desk_status(hotel, naive).is_open
    assert desk_status(hotel, dt.datetime(2026, 11, 23, 7, 30)).is_open  # 08:30 Madrid


def test_any_other_timezone_is_the_same_instant(hotel):
    new_york = ZoneInfo("America/New_York")
    # 16:30 in New York (UTC-5) = 22:30 in Madrid: closed
    assert not desk_status(hotel, dt.datetime(2026, 11, 23, 16, 30, tzinfo=new_york)).is_open
    # 03:00 in New York = 09:00 in Madrid: open
    assert desk_status(hotel, dt.datetime(2026, 11, 23, 3, 0, tzinfo=new_york)).is_open


def test_hotel_day_not_utc_day_picks_the_hours(hotel):
    # Saturday 23:30 UTC is already Sunday 00:30 in Madrid: Sunday's hours apply
    status = desk_status(hotel, dt.datetime(2026, 11, 28, 23, 30, tzinfo=UTC))
    assert not status.is_open
    assert status.next_opening == madrid(2026, 11, 29, 9)
    assert todays_hours(hotel, dt.datetime(2026, 11, 28, 23, 30, tzinfo=UTC)) == ((T(9), T(14)),)


def test_dst_change_day(hotel):
    # On Sunday 2027-03-28 Madrid moves from UTC+1 to UTC+2 at 02:00.
    before = desk_status(hotel, dt.datetime(2027, 3, 28, 6, 30, tzinfo=UTC))  # 08:30 CEST
    assert not before.is_open
    assert before.next_opening.utcoffset() == dt.timedelta(hours=2)
    assert as_utc(before.next_opening) == dt.datetime(2027, 3, 28, 7, 0, tzinfo=UTC)  # 09:00 CEST

    during = desk_status(hotel, dt.datetime(2027, 3, 28, 7, 30, tzinfo=UTC))  # 09:30 CEST
    assert during.is_open
    assert as_utc(during.closes_at) == dt.datetime(2027, 3, 28, 12, 0, tzinfo=UTC)  # 14:00 CEST
    # 07:30 UTC would still be before opening a week earlier (08:30 CET)
    assert not desk_status(hotel, dt.datetime(2027, 3, 21, 7, 30, tzinfo=UTC)).is_open

    # Saturday night 23:30 CET -> Sunday 09:00 CEST is 8.5 real hours, not 9.5
    night = dt.datetime(2027, 3, 27, 22, 30, tzinfo=UTC)
    status = desk_status(hotel, night)
    assert not status.is_open
    assert as_utc(status.next_opening) - night == dt.timedelta(hours=8, minutes=30)


def test_dst_end_day(hotel):
    # On Sunday 2027-10-31 Madrid goes back to UTC+1: 09:00 is 08:00 UTC again
    status = desk_status(hotel, dt.datetime(2027, 10, 31, 7, 30, tzinfo=UTC))  # 08:30 CET
    assert not status.is_open
    assert as_utc(status.next_opening) == dt.datetime(2027, 10, 31, 8, 0, tzinfo=UTC)


# --- urgency ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "¡Hay HUMO en el pasillo!",
        "hay humo",
        "inundación en el baño",
        "inundacion en el baño",
        "necesito un MÉDICO",
        "necesito un medico ya",
        "es URGENTE",
        "urgente por favor",
        "huele a gas 😱",
        "me han robado: robo en la habitación",
        "there is a FIRE in room 203",
        "Emergency!!",
        "leak in the bathroom",
        "someone is injured",
        "my wallet was stolen",
        "we need a doctor",
    ],
)
def test_urgent_in_both_languages(hotel, text):
    assert is_urgent(text, hotel)


@pytest.mark.parametrize(
    "text",
    ["quiero toallas", "I need towels", "fireplace in the room?", "firewall", "¿a qué hora es el desayuno?", "", "🙂"],
)
def test_not_urgent(hotel, text):
    assert not is_urgent(text, hotel)


def test_urgent_keywords_come_from_the_config():
    config = custom(urgent_keywords={"es": ["Socorro"], "en": ["HELP"]})
    assert is_urgent("¡SOCORRO!", config)
    assert is_urgent("help me", config)
    assert not is_urgent("fuego", config)  # not in this hotel's list


def test_accented_keyword_in_config_matches_unaccented_text():
    config = custom(urgent_keywords={"es": ["evacuación"]})
    assert is_urgent("evacuacion del edificio", config)
    assert is_urgent("EVACUACIÓN", config)


# --- config validation ------------------------------------------------------------------------
def test_intervals_are_sorted():
    config = custom(business_hours={"saturday": [["16:00", "23:00"], ["09:00", "14:00"]]})
    assert config.business_hours[5] == ((T(9), T(14)), (T(16), T(23)))
    status = desk_status(config, madrid(2026, 11, 28, 8))
    assert status.next_opening == madrid(2026, 11, 28, 9)


@pytest.mark.parametrize(
    "hours, message",
    [
        ({"funday": [["09:00", "10:00"]]}, "unknown weekday"),
        ({"monday": [["18:00", "09:00"]]}, "closes before it opens"),
        ({"monday": [["9am", "10:00"]]}, "not a HH:MM time"),
    ],
)
def test_bad_business_hours_are_rejected(hours, message):
    with pytest.raises(ConfigError, match=message):
        custom(business_hours=hours)


def test_missing_required_field_is_a_config_error():
    raw = dict(BASE)
    del raw["timezone"]
    with pytest.raises(ConfigError, match="timezone"):
        HotelConfig.from_mapping(raw)
