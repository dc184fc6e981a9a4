"""Number of guests from a free-text answer ("somos 2 adultos y un niño" -> 3)."""
from __future__ import annotations

import re
from typing import Optional

from actions.dates import NUMBER_WORDS
from actions.text import normalise

_NUM = r"(\d{1,2}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_PEOPLE = (
    r"(?:personas?|pers|adult(?:o|a)?s?|ninos?|ninas?|nenes?|bebes?|hijos?|huespedes|pax|"
    r"people|persons?|adults?|kids?|children|childs?|child|guests?|babies|baby|of us)"
)
_COUNTED = re.compile(rf"\b{_NUM}\s+{_PEOPLE}\b")
_SOMOS = re.compile(
    rf"\b(?:somos|seremos|vamos|we are|we're|were|for|para)\s+{_NUM}\b(?!\s*(?:noches?|nights?|dias|days|de\b|/))"
)
_ALONE = re.compile(r"\b(?:solo yo|yo solo|yo sola|sola|solo|just me|only me|alone|myself|una persona)\b")
_COUPLE = re.compile(r"\b(?:pareja|couple|mi mujer y yo|mi esposa y yo|mi marido y yo|my wife and i|my husband and i)\b")
_BARE = re.compile(rf"^{_NUM}$")


def _value(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token]


def parse_guests(text: str, *, bare_number_allowed: bool = True) -> Optional[int]:
    norm = normalise(text)
    counted = [_value(m.group(1)) for m in _COUNTED.finditer(norm)]
    if counted:
        return sum(counted)
    match = _SOMOS.search(norm)
    if match:
        return _value(match.group(1))
    if _COUPLE.search(norm):
        return 2
    if _ALONE.search(norm):
        return 1
    match = _BARE.match(norm)
    if match and bare_number_allowed:
        return _value(match.group(1))
    return None
