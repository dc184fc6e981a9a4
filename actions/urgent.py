"""Is a guest's message urgent? The hotel's urgent keywords (hotel.yml,
``urgent_keywords`` per language), matched on every message whatever the
intent (connectors/safeguards.py runs the check before the dialogue).

A keyword matches as a whole word or phrase, accents and case ignored
("médico" = "MEDICO"); a keyword ending in ``*`` also matches any ending, for
the inflections guests write ("incendi*": incendio, incendios; "quem*":
quema, quemando, se está quemando). Phrases match across any run of spaces
("heart attack").

Emergencies are often told without an alarm word ("my son is stuck in the
lift", "huele muchísimo a gas"): a keyword may be a combination of words
written near each other, parts joined by `` ... ``, each part a ``/``-separated
list of alternatives: ``"stuck/trapped ... lift/elevator*"`` matches "stuck in
the lift" and "trapped inside the elevator", with at most
``NEAR_WORDS`` words between two parts, in the written order. Ordinary
complaints ("the lift is slow", "no sale agua caliente") match none of them.
"""
from __future__ import annotations

import functools
import re

from actions.config import HotelConfig
from actions.text import normalise

NEAR_WORDS = 4  # words allowed between two parts of a combination
_NEAR = r"(?:\W+\w+){0,%d}\W+" % NEAR_WORDS


def _phrase(phrase: str) -> str | None:
    stem = phrase.endswith("*")
    words = normalise(phrase.rstrip("*")).split()
    if not words:
        return None
    body = r"\s+".join(re.escape(word) for word in words)
    return rf"{body}{r'[a-z]*' if stem else ''}"


def keyword_pattern(keyword: str) -> str | None:
    """The regular expression of one keyword (a phrase, a stem or a combination), or None when it is empty."""
    parts = []
    for part in keyword.split(" ... "):
        alternatives = [p for p in (_phrase(a.strip()) for a in part.split("/")) if p]
        if not alternatives:
            return None
        parts.append(rf"\b(?:{'|'.join(alternatives)})\b")
    return _NEAR.join(parts) if parts else None


@functools.lru_cache(maxsize=64)
def _pattern(keywords: tuple[str, ...]) -> re.Pattern | None:
    parts = [p for p in (keyword_pattern(k) for k in keywords) if p]
    return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None


def is_urgent(text: str, hotel: HotelConfig) -> bool:
    """True when the message contains one of the hotel's urgent keywords (any language)."""
    keywords = tuple(sorted({word for words in hotel.urgent_keywords.values() for word in words}))
    pattern = _pattern(keywords)
    return bool(pattern and text and pattern.search(normalise(text)))
