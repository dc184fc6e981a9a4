"""Parse stay dates from Spanish or English guest messages.

Absolute dates with month names ("5 de diciembre", "dec 8th", "24 dic 2026") are
parsed by ``dateparser``; this module finds the spans, resolves ranges ("del 5 al
8 de diciembre", "from dec 5 to 8", "5-8/12"), stay lengths ("3 noches"),
relative days (mañana, pasado mañana, next friday, el sábado que viene) and
numeric dates (15/12, 12/15 when unambiguous), which dateparser gets wrong or
misses in WhatsApp-style text.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Optional

import dateparser

from actions.text import normalise as _text_normalise

MONTHS = (
    "enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre|"
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "ene|feb|mar|abr|jun|jul|ago|sep|sept|oct|nov|dic|jan|apr|aug|dec"
)
WEEKDAYS = {
    "lunes": 0, "martes": 1, "miercoles": 2, "jueves": 3, "viernes": 4, "sabado": 5, "domingo": 6,
    "monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6,
    "mon": 0, "tue": 1, "tues": 1, "wed": 2, "thu": 3, "thurs": 3, "fri": 4, "sat": 5, "sun": 6,
}
NUMBER_WORDS = {
    "un": 1, "una": 1, "uno": 1, "one": 1, "dos": 2, "two": 2, "tres": 3, "three": 3,
    "cuatro": 4, "four": 4, "cinco": 5, "five": 5, "seis": 6, "six": 6, "siete": 7, "seven": 7,
    "ocho": 8, "eight": 8, "nueve": 9, "nine": 9, "diez": 10, "ten": 10,
    "once": 11, "eleven": 11, "doce": 12, "twelve": 12, "catorce": 14, "fourteen": 14,
}
_DAY = r"(\d{1,2})(?:st|nd|rd|th|º|o)?"
# "18 d marzo": WhatsApp Spanish drops the "e" of "de"
_D_MONTH = re.compile(rf"\b(\d{{1,2}})\s+d\s+(?=(?:{MONTHS})\b)")


def normalise(text: str) -> str:
    return _D_MONTH.sub(r"\1 de ", _text_normalise(text))


_MONTH_DAY = re.compile(rf"\b{_DAY}\s*(?:de\s+|of\s+)?(?:{MONTHS})\.?\b(?:,?\s*(?:de\s+|del\s+)?(\d{{4}}))?")
_DAY_MONTH_EN = re.compile(rf"\b(?:{MONTHS})\.?\s+{_DAY}\b(?:,?\s*(\d{{4}}))?")
_ISO = re.compile(r"\b(\d{4})[/.\-](\d{1,2})[/.\-](\d{1,2})\b")  # 2026-12-05
_NUMERIC = re.compile(r"\b(\d{1,2})[/.\-](\d{1,2})(?:[/.\-](\d{2,4}))?\b")
_BARE_DAY = re.compile(rf"^(?:el|the|on the|on|dia|day)?\s*{_DAY}$")
# A day followed by other words ("8 para 2 personas"), but not a (bad) full date ("31 de febrero").
_LEADING_DAY = re.compile(rf"^(?:el|the|on the|on|dia|day)?\s*{_DAY}\b(?![:/.\-]\d)(?!\s*(?:de\s+|of\s+)?(?:{MONTHS})\b)")
# "en 3 dias" / "in 3 days" is an arrival (_IN_DAYS), not a stay length.
_NIGHTS = re.compile(r"(?<!\ben )(?<!\bin )(?<!dentro de )\b(\d{1,2}|" + "|".join(NUMBER_WORDS) + r")\s+(?:noches?|nights?|nites?|dias|days)\b")
_WEEKS = re.compile(r"(?<!\ben )(?<!\bin )(?<!dentro de )\b(\d|a|an|" + "|".join(NUMBER_WORDS) + r")\s+(?:semanas?|weeks?)\b")
# ages ("niños de 8 y 11 años", "(6 and 9 yrs)"): neither dates nor people (actions/guests.py reads it too)
AGES = re.compile(
    r"\b(?:de\s+|of\s+|aged\s+)?\d{1,2}(?:\s*(?:,|y|and|&)\s*\d{1,2})*\s*(?:anos|anitos|years?|yrs?|yo|y/o|meses|months?)(?:\s+old)?\b"
)
_WEEKEND = re.compile(r"\b(?:fin de semana|finde|fds|weekend|wknd|wkend)\b")
_AFTER_NEXT = re.compile(
    r"\b(?:after next|siguiente al (?:proximo|que viene)|(?:de|del) la otra semana|del otro|el otro (?:finde|fin de semana)|"
    r"in two weeks|en dos semanas|dentro de dos semanas)\b"
)
_NEXT_MONTH = re.compile(r"\b(?:next month|el mes que viene|el proximo mes|el mes proximo|mes que viene|the following month)\b")
# a day of the month inside other words: "from the 4th", "desde el 4,", "llegamos el 12"
_DAY_REF = re.compile(
    r"(?:\b(?:the|el|dia|day|del|on the|on|desde el|a partir del|starting the|from the)\s+(\d{1,2})(?:st|nd|rd|th|º|o)?"
    r"|\b(\d{1,2})(?:st|nd|rd|th))\b"
    r"(?![:/.\-]\d)(?!\s*(?:personas?|people|persons?|adults?|adultos?|ninos?|kids?|guests?|huespedes|pax|noches?|nights?|"
    r"dias|days|semanas?|weeks?|hab|habitacion|rooms?|of us|h\b|am\b|pm\b|hrs?\b|horas?\b|euros?|eur\b|%))"
)
# a lone date that says when the guest leaves, not arrives
_DEPARTURE = re.compile(
    r"\b(?:until|till|til|hasta|leaving|leave|salgo|salimos|nos vamos|me voy|salida|check ?out|departure|depart|back on)\b"
)
_IN_DAYS = re.compile(r"\b(?:en|dentro de|in)\s+(\d{1,2}|" + "|".join(NUMBER_WORDS) + r")\s+(?:dias|days)\b")
_RANGE = re.compile(
    r"^(?:.*?\b(?:del?|desde el|desde|from|between|entre el|entre|for|llegando el|arriving)\s+)?"
    r"(?P<start>.+?)\s*(?:\b(?:al|a|hasta el|hasta|to|till|until|through|thru|and|y el|y)\b|-|–)\s*(?P<end>.+)$"
)


@dataclass(frozen=True)
class StayDates:
    checkin: Optional[dt.date] = None
    checkout: Optional[dt.date] = None

    @property
    def complete(self) -> bool:
        return self.checkin is not None and self.checkout is not None


def _number(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token]


def _next_weekday(today: dt.date, weekday: int) -> dt.date:
    days_ahead = (weekday - today.weekday()) % 7 or 7
    return today + dt.timedelta(days=days_ahead)


def _next_day_of_month(today: dt.date, day: int) -> Optional[dt.date]:
    year, month = today.year, today.month
    for _ in range(3):
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            candidate = None
        if candidate and candidate >= today:
            return candidate
        month, year = (1, year + 1) if month == 12 else (month + 1, year)
    return None


def _numeric_date(match: re.Match, today: dt.date) -> Optional[dt.date]:
    first, second = int(match.group(1)), int(match.group(2))
    year_text = match.group(3)
    # Day-first (the hotel's locale) unless only month-first makes sense.
    day, month = (second, first) if first <= 12 < second else (first, second)
    years = [int(year_text) + (2000 if len(year_text) == 2 else 0)] if year_text else [today.year, today.year + 1]
    for year in years:
        try:
            candidate = dt.date(year, month, day)
        except ValueError:
            return None
        if year_text or candidate >= today:
            return candidate
    return None


def _month_name_date(span: str, today: dt.date) -> Optional[dt.date]:
    settings = {
        "RELATIVE_BASE": dt.datetime.combine(today, dt.time(12)),
        "PREFER_DATES_FROM": "future",
        "REQUIRE_PARTS": ["day", "month"],
        "DATE_ORDER": "DMY",
    }
    parsed = dateparser.parse(span, languages=["es", "en"], settings=settings)
    return parsed.date() if parsed else None


def parse_date(text: str, today: dt.date) -> Optional[dt.date]:
    """One date in ``text`` (already about a single day), or None."""
    norm = normalise(text)
    if not norm:
        return None
    if re.search(r"\b(?:pasado manana|day after tomorrow)\b", norm):
        return today + dt.timedelta(days=2)
    # "esta mañana" / "por la mañana" are a time of day, "mañana por la mañana" is still tomorrow.
    if re.search(r"\b(?:manana|tomorrow|tmrw|tmr|tomorow)\b", re.sub(r"\b(?:esta|por la) manana\b", " ", norm)):
        return today + dt.timedelta(days=1)
    if re.search(r"\b(?:hoy|today|tonight|esta noche)\b", norm):
        return today
    if re.search(r"\b(?:ayer|yesterday)\b", norm):
        return today - dt.timedelta(days=1)  # a check-in already made (existing bookings); forms refuse past dates
    match = _IN_DAYS.search(norm)
    if match:
        return today + dt.timedelta(days=_number(match.group(1)))
    if re.search(r"\b(?:next week|la semana que viene|la proxima semana|semana proxima)\b", norm):
        return _next_weekday(today, 0)
    if _WEEKEND.search(norm):
        return weekend_stay(norm, today).checkin
    for span_re in (_MONTH_DAY, _DAY_MONTH_EN):
        match = span_re.search(norm)
        if match:
            return _month_name_date(match.group(0), today)
    match = _ISO.search(norm)
    if match:
        try:
            return dt.date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return None
    match = _NUMERIC.search(norm)
    if match:
        return _numeric_date(match, today)
    for word, weekday in WEEKDAYS.items():
        named_day = re.search(rf"\b{word}\s+(?:the\s+)?(\d{{1,2}})(?:st|nd|rd|th)?\b(?!\s*(?:noches?|nights?|personas?|people))", norm)
        if named_day:  # "el jueves 11": that day of the month; the weekday only confirms it
            return _next_day_of_month(today, int(named_day.group(1)))
        if re.search(rf"\b{word}\b", norm):
            return _next_weekday(today, weekday)
    match = _BARE_DAY.match(norm) or _DAY_REF.search(norm)
    if match:
        day = int(match.group(1) or match.group(2) if match.re is _DAY_REF else match.group(1))
        if _NEXT_MONTH.search(norm):
            first_of_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            try:
                return first_of_next.replace(day=day)
            except ValueError:
                return None
        return _next_day_of_month(today, day)
    return None


def weekend_stay(norm: str, today: dt.date) -> StayDates:
    """A weekend is Friday to Sunday: this one, or the one after with "after next"."""
    weekday = today.weekday()
    if weekday == 5:
        start = today
    else:
        start = today + dt.timedelta(days=(4 - weekday) % 7)
    if _AFTER_NEXT.search(norm):
        start += dt.timedelta(days=14)  # the weekend of the week after next week (weeks start on Monday)
    return StayDates(start, start + dt.timedelta(days=6 - start.weekday()))


# where a stay may start in a longer message: "...i would like to reserve a suite from 14 to 18 june" (the first
# "to" / "a" is no range), "...looking for somewhere 20th to 24th april"
_RANGE_ANCHOR = re.compile(
    rf"\b(?:from|del|desde|between|entre|de|starting|arriving|llegando)\s+(?=(?:el |la |the |on )?(?:\d|(?:{'|'.join(WEEKDAYS)}|{MONTHS})\b))"
    rf"|\b(?=(?:{'|'.join(WEEKDAYS)}|{MONTHS})\b)"
    r"|(?P<day>(?<![\d/.\-])\b(?=\d{1,2}(?:st|nd|rd|th|º|o)?\b(?![/.\-:]\d)))"
)


def _range_candidates(norm: str):
    """The message from each place a stay may start, then the whole message. A bare
    day starts one only with a month written after it ("20th to 24th april")."""
    seen = set()
    for match in _RANGE_ANCHOR.finditer(norm):
        candidate = norm[match.start():]
        if match.group("day") is not None and not (_MONTH_DAY.search(candidate) or _DAY_MONTH_EN.search(candidate)):
            continue
        if candidate not in seen:
            seen.add(candidate)
            yield candidate
    if norm not in seen:
        yield norm


# "somewhere 20th" / "el viernes 19" before "to 24th april": the start's day without a month of its own
_TRAILING_DAY = re.compile(r"(?:^|\s)(?:el|the|on the|on|dia|day)?\s*(\d{1,2})(?:st|nd|rd|th|º|o)?$")


def _resolve_range(start_text: str, end_text: str, today: dt.date) -> StayDates:
    end = parse_date(end_text, today)
    start_norm = normalise(start_text)
    start_bare = _BARE_DAY.match(start_norm)
    if start_bare is None and _absolute(normalise(end_text)) and not _absolute(start_norm):
        start_bare = _TRAILING_DAY.search(start_norm)
    if end and start_bare:
        # "del 5 al 8 de diciembre": the start day takes the end's month.
        day = int(start_bare.group(1))
        month_start = end.replace(day=1)
        try:
            start = month_start.replace(day=day)
        except ValueError:
            return StayDates(None, end)
        if start >= end:  # "del 28 al 2 de enero" starts the month before
            previous = month_start - dt.timedelta(days=1)
            start = previous.replace(day=min(day, previous.day))
        return StayDates(start, end)
    start = parse_date(start_text, today)
    end_norm = normalise(end_text)
    end_bare = _LEADING_DAY.match(end_norm)
    if start and end_bare and not end:
        day = int(end_bare.group(1))
        end = _next_day_of_month(start + dt.timedelta(days=1), day)
    elif start and end and end <= start and not _absolute(end_norm):
        # "the 4th of may to the 6th", "del lunes 10 al viernes": the end counts from the start
        end = parse_date(end_text, start + dt.timedelta(days=1))
    return StayDates(start, end)


def _absolute(norm: str) -> bool:
    """A date with its month or year written out."""
    return bool(_MONTH_DAY.search(norm) or _DAY_MONTH_EN.search(norm) or _ISO.search(norm) or _NUMERIC.search(norm))


def parse_stay(text: str, today: dt.date) -> StayDates:
    """Check-in and/or check-out found in a guest message.

    A message with a single date returns it as check-in; with "N noches" the
    check-out follows from it.
    """
    norm = _without_reason(AGES.sub(" ", normalise(text)))  # "niños de 8 y 11 años" are not dates
    nights = parse_nights(norm)
    without_nights = _WEEKS.sub(" ", _NIGHTS.sub(" ", norm))
    # "del 12 al 14, es un finde": the dates say it; the weekend word is no date of its own
    ranged = _WEEKEND.sub(" ", without_nights) if _explicit_date(without_nights) else without_nights
    for candidate in _range_candidates(ranged):
        range_match = _RANGE.match(candidate)
        if range_match:
            stay = _resolve_range(range_match.group("start"), range_match.group("end"), today)
            if stay.complete:
                return stay
    if _WEEKEND.search(without_nights) and _explicit_date(without_nights):
        # "el finde del 13", "the weekend of the 13th": the weekend around that day
        day = parse_date(_WEEKEND.sub(" ", without_nights), today)
        if day is not None:
            friday = day - dt.timedelta(days=day.weekday() - 4) if day.weekday() >= 4 else day + dt.timedelta(days=4 - day.weekday())
            if nights:
                return StayDates(friday, friday + dt.timedelta(days=nights))
            return StayDates(friday, friday + dt.timedelta(days=2))
    if _WEEKEND.search(without_nights) and not _explicit_date(without_nights):
        weekend = weekend_stay(without_nights, today)
        if nights:
            return StayDates(weekend.checkin, weekend.checkin + dt.timedelta(days=nights))
        return weekend
    two = _two_day_refs(without_nights, today)
    if two.complete:
        return two
    checkin = parse_date(without_nights, today)
    if checkin and nights:
        return StayDates(checkin, checkin + dt.timedelta(days=nights))
    if checkin and _DEPARTURE.search(without_nights) and not re.search(
        r"\b(?:llego|llegamos|llegada|arrive|arriving|arrival|check ?in|entrada|desde|from)\b", without_nights
    ):
        return StayDates(None, checkin)  # "hasta el domingo", "actually until sunday"
    return StayDates(checkin, None)


# "mejor 3 noches q el lunes es fiesta", "3 noches asi vemos el domingo", "del 4 al 6 because on the 7th I work": the reason's day is no stay date
_REASON = re.compile(r"\b(?:porque|pq|xq|because|cause|cuz|coz|since|ya que|asi|so that|so we can|que|q)\b")
_STAY_WORDS = re.compile(
    r"\b(?:llego|llegamos|llegada|arrive|arriving|arrival|check ?in|entrada|desde|from|until|till|hasta|leaving|leave|salgo|"
    r"salimos|nos vamos|me voy|salida|check ?out|departure|depart)\b"
)


def _without_reason(norm: str) -> str:
    """The message without a trailing reason clause, when what comes before it already gives the stay."""
    for match in _REASON.finditer(norm):
        head, tail = norm[:match.start()], norm[match.end():]
        if not (_NIGHTS.search(head) or _WEEKS.search(head) or _explicit_date(head) or _RANGE.match(head)):
            continue
        if _STAY_WORDS.search(tail) or _NIGHTS.search(tail) or _WEEKS.search(tail):
            return norm
        return head
    return norm


def _explicit_date(norm: str) -> bool:
    return bool(_MONTH_DAY.search(norm) or _DAY_MONTH_EN.search(norm) or _NUMERIC.search(norm) or _DAY_REF.search(norm))


def _two_day_refs(norm: str, today: dt.date) -> StayDates:
    """ "arrive the 12th, leave the 14th": two days of the month in order make a stay."""
    days = [int(m.group(1) or m.group(2)) for m in _DAY_REF.finditer(norm)]
    if len(days) != 2 or _MONTH_DAY.search(norm) or _DAY_MONTH_EN.search(norm):
        return StayDates()
    start = parse_date(norm, today)
    if start is None:
        return StayDates()
    end = _next_day_of_month(start + dt.timedelta(days=1), days[1])
    return StayDates(start, end) if end and start.day == days[0] else StayDates()


def possible_dates(text: str, today: dt.date, *, days_back: int = 60) -> set[dt.date]:
    """What a date a guest gives about an existing booking may mean: the next such
    day, or one in the last ``days_back`` days (an in-house guest's check-in was
    yesterday: "el 2 de marzo" is not next year's)."""
    found = {parse_date(text, today), parse_date(text, today - dt.timedelta(days=days_back))}
    return {d for d in found if d is not None and d <= today + dt.timedelta(days=400)}


def parse_departure(text: str, today: dt.date, checkin: dt.date) -> Optional[dt.date]:
    """A lone date answering "when do you leave?": a weekday or a bare day of the
    month counts from the check-in ("el sábado" after Thursday 11 is the 13th)."""
    norm = normalise(text)
    absolute = _MONTH_DAY.search(norm) or _DAY_MONTH_EN.search(norm) or _ISO.search(norm) or _NUMERIC.search(norm)
    return parse_date(text, today if absolute else max(today, checkin))


def parse_nights(text: str) -> Optional[int]:
    """Stay length in nights: "3 noches", "two nights", "una semana" (7), "2 weeks" (14)."""
    norm = normalise(text)
    match = _NIGHTS.search(norm)
    if match:
        return _number(match.group(1))
    match = _WEEKS.search(norm)
    if match:
        token = match.group(1)
        return 7 * (1 if token in ("a", "an") else _number(token))
    return None
