"""Is a guest's message urgent? The hotel's urgent keywords (hotel.yml,
``urgent_keywords`` per language), matched on every message whatever the
intent (connectors/safeguards.py runs the check before the dialogue).

A keyword matches as a whole word or phrase, accents and case ignored
("médico" = "MEDICO"); a keyword ending in ``*`` also matches any ending, for
the inflections guests write ("incendi*": incendio, incendios; "quem*":
quema, quemando, se está quemando). Phrases match across any run of spaces
("heart attack").
"""
from __future__ import annotations

import functools
import re

from actions.config import HotelConfig
from actions.text import normalise


@functools.lru_cache(maxsize=64)
def _pattern(keywords: tuple[str, ...]) -> re.Pattern | None:
    parts = []
    for keyword in keywords:
        stem = keyword.endswith("*")
        words = normalise(keyword.rstrip("*")).split()
        if not words:
            continue
        body = r"\s+".join(re.escape(word) for word in words)
        parts.append(rf"\b{body}{r'[a-z]*' if stem else ''}\b")
    return re.compile("|".join(parts)) if parts else None


def is_urgent(text: str, hotel: HotelConfig) -> bool:
    """True when the message contains one of the hotel's urgent keywords (any language)."""
    keywords = tuple(sorted({word for words in hotel.urgent_keywords.values() for word in words}))
    pattern = _pattern(keywords)
    return bool(pattern and text and pattern.search(normalise(text)))
