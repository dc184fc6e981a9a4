"""parse_stay / parse_date / parse_nights on Spanish and English guest messages.

TODAY is Monday 2026-11-23 (see tests/conftest.py)."""
from __future__ import annotations

import datetime as dt

import pytest

from actions.dates import StayDates, parse_date, parse_nights, parse_stay
from tests.conftest import TODAY

D = dt.date


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


# --- ranges -------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, checkin, checkout",
    [
        ("del 5 al 8 de diciembre", D(2026, 12, 5), D(2026, 12, 8)),
        ("Del 5 al 8 de Diciembre!!", D(2026, 12, 5), D(2026, 12, 8)),
        ("quiero reservar del 5 al 8 de diciembre", D(2026, 12, 5), D(2026, 12, 8)),
        ("😀 del 5 al 8 de diciembre 🎉", D(2026, 12, 5), D(2026, 12, 8)),
        ("del 5 al 8 de dic.", D(2026, 12, 5), D(2026, 12, 8)),
        ("from dec 5 to 8", D(2026, 12, 5), D(2026, 12, 8)),
        ("from December 5 to 8", D(2026, 12, 5), D(2026, 12, 8)),
        ("from the 5th to the 8th of december", D(2026, 12, 5), D(2026, 12, 8)),
        ("between dec 5 and dec 8", D(2026, 12, 5), D(2026, 12, 8)),
        ("5 to 8 december", D(2026, 12, 5), D(2026, 12, 8)),
        ("5-8 dic", D(2026, 12, 5), D(2026, 12, 8)),
        ("dec 5-8", D(2026, 12, 5), D(2026, 12, 8)),
        ("Dec 5 – 8", D(2026, 12, 5), D(2026, 12, 8)),  # en dash, as phones type it
        ("dec 5 - dec 8", D(2026, 12, 5), D(2026, 12, 8)),
        ("5-8/12", D(2026, 12, 5), D(2026, 12, 8)),
        ("15/12 al 18/12", D(2026, 12, 15), D(2026, 12, 18)),
        ("from 15/12 to 18/12", D(2026, 12, 15), D(2026, 12, 18)),
        # no month given: the next 5th is in December
        ("del 5 al 8", D(2026, 12, 5), D(2026, 12, 8)),
        # words after the range
        ("del 5 al 8 para 2 personas", D(2026, 12, 5), D(2026, 12, 8)),
        ("del 5 al 8 de diciembre para 2", D(2026, 12, 5), D(2026, 12, 8)),
        ("from dec 5 to 8 for 2 people", D(2026, 12, 5), D(2026, 12, 8)),
        ("I'd like a room from dec 5 to 8 please", D(2026, 12, 5), D(2026, 12, 8)),
        ("from the 5th to the 8th please", D(2026, 12, 5), D(2026, 12, 8)),
        # a month already past this year is next year's
        ("del 1 al 3 de marzo", D(2027, 3, 1), D(2027, 3, 3)),
    ],
)
def test_ranges(text, checkin, checkout):
    assert parse_stay(text, TODAY) == StayDates(checkin, checkout)


@pytest.mark.parametrize(
    "text",
    [
        "del 28 al 2 de enero",  # the start takes the month before the end's
        "del 28 de diciembre al 2 de enero",
        "from 28 dec to 2 jan",
    ],
)
def test_range_crossing_the_year(text):
    stay = parse_stay(text, TODAY)
    assert stay == StayDates(D(2026, 12, 28), D(2027, 1, 2))
    assert stay.complete


def test_range_crossing_the_year_from_the_31st():
    assert parse_stay("dec 31 to jan 2", TODAY) == StayDates(D(2026, 12, 31), D(2027, 1, 2))
    assert parse_stay("del 31 de diciembre al 2 de enero", TODAY) == StayDates(D(2026, 12, 31), D(2027, 1, 2))


@pytest.mark.parametrize(
    "text, checkin, checkout",
    [
        ("del viernes al domingo", D(2026, 11, 27), D(2026, 11, 29)),
        ("from friday to sunday", D(2026, 11, 27), D(2026, 11, 29)),
        ("llego mañana y me voy el viernes", D(2026, 11, 24), D(2026, 11, 27)),
    ],
)
def test_ranges_of_relative_days(text, checkin, checkout):
    assert parse_stay(text, TODAY) == StayDates(checkin, checkout)


# --- single relative days -----------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("mañana", days(1)),
        ("manana", days(1)),
        ("MAÑANA 🙏", days(1)),
        ("tomorrow", days(1)),
        ("tmrw", days(1)),
        ("mañana por la mañana", days(1)),
        ("pasado mañana", days(2)),
        ("pasado manana", days(2)),
        ("the day after tomorrow", days(2)),
        ("hoy", TODAY),
        ("today", TODAY),
        ("esta noche", TODAY),
        ("tonight", TODAY),
        ("en 3 días", days(3)),
        ("in 3 days", days(3)),
        ("dentro de dos días", days(2)),
        ("next week", D(2026, 11, 30)),  # next Monday
        ("la semana que viene", D(2026, 11, 30)),
    ],
)
def test_relative_days(text, expected):
    assert parse_date(text, TODAY) == expected
    stay = parse_stay(text, TODAY)
    assert stay.checkin == expected
    assert stay.checkout is None


@pytest.mark.parametrize("text", ["el finde", "this weekend", "este fin de semana", "next weekend"])
def test_a_weekend_is_friday_to_sunday(text):
    assert parse_date(text, TODAY) == D(2026, 11, 27)
    assert parse_stay(text, TODAY) == StayDates(D(2026, 11, 27), D(2026, 11, 29))


@pytest.mark.parametrize(
    "text, checkin, checkout",
    [
        ("the weekend after next", D(2026, 12, 11), D(2026, 12, 13)),  # weeks start on Monday
        ("el jueves 3", D(2026, 12, 3), None),  # the day of the month; the weekday only confirms it
        ("el finde, 1 noche", D(2026, 11, 27), D(2026, 11, 28)),
        ("from the 4th, 3 nights", D(2026, 12, 4), D(2026, 12, 7)),
        ("desde el 4, 3 noches", D(2026, 12, 4), D(2026, 12, 7)),
        ("a partir del 20, cuatro noches", D(2026, 12, 20), D(2026, 12, 24)),
        ("el 15 por una semana", D(2026, 12, 15), D(2026, 12, 22)),
        ("a week from friday", D(2026, 11, 27), D(2026, 12, 4)),
        ("llegamos el 12 y nos vamos el 14", D(2026, 12, 12), D(2026, 12, 14)),
        ("arrive 12th leave 14th", D(2026, 12, 12), D(2026, 12, 14)),
        ("hasta el domingo", None, D(2026, 11, 29)),  # a departure only
        ("actually until sunday", None, D(2026, 11, 29)),
        ("el 5 del mes que viene", D(2026, 12, 5), None),
    ],
)
def test_stays_as_people_say_them(text, checkin, checkout):
    assert parse_stay(text, TODAY) == StayDates(checkin, checkout)


def test_time_of_day_alone_is_not_tomorrow():
    assert parse_date("esta mañana", TODAY) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("next friday", D(2026, 11, 27)),
        ("friday", D(2026, 11, 27)),
        ("el viernes que viene", D(2026, 11, 27)),
        ("el viernes 🙂", D(2026, 11, 27)),
        ("el sábado que viene", D(2026, 11, 28)),
        ("el sabado", D(2026, 11, 28)),
        ("domingo", D(2026, 11, 29)),
        ("el miércoles", D(2026, 11, 25)),
        # today is Monday: "lunes" is next Monday, never today
        ("lunes", D(2026, 11, 30)),
        ("next monday", D(2026, 11, 30)),
    ],
)
def test_weekdays_are_the_next_one(text, expected):
    assert parse_date(text, TODAY) == expected
    assert expected > TODAY and expected - TODAY <= dt.timedelta(days=7)


# --- absolute dates -------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("15/12", D(2026, 12, 15)),  # day first (the hotel's locale)
        ("12/15", D(2026, 12, 15)),  # only month-first makes sense
        ("05.12", D(2026, 12, 5)),
        ("5/12", D(2026, 12, 5)),
        ("5.12.2026", D(2026, 12, 5)),
        ("31/12/2026", D(2026, 12, 31)),
        ("1/1/27", D(2027, 1, 1)),
        ("2026-12-05", D(2026, 12, 5)),  # ISO, not "12-05" read as 12 May
        ("20/11", D(2027, 11, 20)),  # already past this year: next year's
        ("5 de diciembre", D(2026, 12, 5)),
        ("24 dic 2026", D(2026, 12, 24)),
        ("dec 8th", D(2026, 12, 8)),
        ("December 8", D(2026, 12, 8)),
        ("10 de noviembre", D(2027, 11, 10)),  # past this year: next year's
        ("el 5", D(2026, 12, 5)),  # bare day: the next 5th
        ("the 5th", D(2026, 12, 5)),
        ("el 24", D(2026, 11, 24)),
        ("23", TODAY),  # today's day of the month is today
        ("22", D(2026, 12, 22)),
    ],
)
def test_absolute_dates(text, expected):
    assert parse_date(text, TODAY) == expected
    assert parse_stay(text, TODAY) == StayDates(expected, None)


def test_numeric_dates_depend_on_today():
    # "15/12" seen on 20 Dec is next year's 15 Dec
    assert parse_date("15/12", D(2026, 12, 20)) == D(2027, 12, 15)
    assert parse_date("15/12", D(2026, 12, 15)) == D(2026, 12, 15)


# --- stay lengths ---------------------------------------------------------------
@pytest.mark.parametrize(
    "text, checkin, checkout",
    [
        ("tomorrow for 2 nights", days(1), days(3)),
        ("two nights from tomorrow", days(1), days(3)),
        ("mañana 3 noches", days(1), days(4)),
        ("el 5 de diciembre por 3 noches", D(2026, 12, 5), D(2026, 12, 8)),
        ("3 noches desde el 5 de diciembre", D(2026, 12, 5), D(2026, 12, 8)),
        ("3 nights from dec 5", D(2026, 12, 5), D(2026, 12, 8)),
        ("llegando el 5 de diciembre, 2 noches", D(2026, 12, 5), D(2026, 12, 7)),
        ("5/12 3 noches", D(2026, 12, 5), D(2026, 12, 8)),
        ("in 2 days for 3 nights", days(2), days(5)),
    ],
)
def test_date_plus_nights(text, checkin, checkout):
    assert parse_stay(text, TODAY) == StayDates(checkin, checkout)


@pytest.mark.parametrize(
    "text, nights",
    [("3 noches", 3), ("dos noches", 2), ("una noche", 1), ("1 night", 1), ("four nights", 4), ("5 días", 5), ("10 nights", 10)],
)
def test_nights_alone_give_a_length_but_no_dates(text, nights):
    assert parse_nights(text) == nights
    assert parse_stay(text, TODAY) == StayDates(None, None)


def test_in_n_days_is_an_arrival_not_a_length():
    assert parse_nights("en 3 días") is None
    assert parse_nights("in 3 days") is None


# --- garbage --------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "asdf", "", "   ", "🙏🙏", "😀 🎉", "lol", "dec", "noviembre", "asdf 12",
        "31/02", "31 de febrero", "feb 30", "13/13", "32/12", "12/32", "0/12", "00/00", "99/99/9999",
        "del 30 al 31 de febrero", "para 2 personas", "?!?!", "2026-02-30",
    ],
)
def test_garbage_gives_no_dates_and_does_not_raise(text):
    assert parse_stay(text, TODAY) == StayDates(None, None)
    assert parse_date(text, TODAY) is None
    assert not parse_stay(text, TODAY).complete


def test_a_date_about_an_existing_booking_may_be_in_the_past():
    from actions.dates import possible_dates

    # an in-house guest checked in yesterday: "el 22 de noviembre" is not next year's only
    assert D(2026, 11, 22) in possible_dates("el 22 de noviembre", TODAY)
    assert D(2026, 11, 22) in possible_dates("ayer", TODAY)
    assert D(2026, 12, 5) in possible_dates("the 5th", TODAY)


@pytest.mark.parametrize("text", ["somos 2 adultos y 2 niños de 8 y 11 años", "two kids aged 5 and 7", "un bebé de 6 meses"])
def test_ages_are_not_dates(text):
    assert parse_stay(text, TODAY) == StayDates(None, None)


@pytest.mark.parametrize(
    "text, checkin, checkout",
    [
        # TODAY is Monday 2026-11-23: Saturday 5 December's weekend is Friday 4 to Sunday 6
        ("el finde del 5 de diciembre", dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
        ("the weekend of the 5th", dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
        ("weekend of dec 4, 3 nights", dt.date(2026, 12, 4), dt.date(2026, 12, 7)),
        # the dates say it; the weekend word is no date of its own
        ("del 4 al 6 de diciembre, es un finde", dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
        ("from the 4th to the 6th, a weekend away", dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
    ],
)
def test_the_weekend_of_a_given_day(text, checkin, checkout):
    assert parse_stay(text, TODAY) == StayDates(checkin, checkout)


@pytest.mark.parametrize(
    "text, checkin, checkout",
    [
        ("mejor 3 noches q el lunes es fiesta", None, None),  # the Monday is the reason, not the arrival
        ("mejor 2 noches asi vemos el partido del sabado", None, None),  # "asi": a purpose, not the arrival
        ("make it 4 nights so that we can see the market on sunday", None, None),
        ("del 4 al 6 de diciembre porque el 7 trabajo", dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
        ("quiero que sea del 4 al 6 de diciembre", dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
        ("llegamos el viernes que es festivo y nos vamos el domingo", dt.date(2026, 11, 27), dt.date(2026, 11, 29)),
    ],
)
def test_a_reason_clause_gives_no_stay_date(text, checkin, checkout):
    assert parse_stay(text, TODAY) == StayDates(checkin, checkout)


@pytest.mark.parametrize(
    "text, checkin, checkout",
    [
        # the first "a" / "to" of a long message is no range
        ("hi! could I get a double for me and my wife from the 4th till the 6th of december? name is kim lee",
         dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
        ("Good morning, I would like to reserve your suite from 14 to 18 December. Best regards", dt.date(2026, 12, 14), dt.date(2026, 12, 18)),
        ("vamos a ir a sevilla y queremos una doble desde el viernes 4 hasta el domingo 6 de diciembre",
         dt.date(2026, 12, 4), dt.date(2026, 12, 6)),
        # a day with words before it takes the end's month
        ("we're 2 adults looking for something 20th to 24th december", dt.date(2026, 12, 20), dt.date(2026, 12, 24)),
    ],
)
def test_a_range_inside_a_long_message(text, checkin, checkout):
    assert parse_stay(text, TODAY) == StayDates(checkin, checkout)


@pytest.mark.parametrize(
    "text, expected", [("el 9 d enero", dt.date(2027, 1, 9)), ("llego el 14 d diciembre", dt.date(2026, 12, 14))]
)
def test_de_shortened_to_d_before_a_month(text, expected):
    assert parse_date(text, TODAY) == expected
