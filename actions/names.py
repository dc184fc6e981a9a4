"""Guest names from free-text answers ("a nombre de lucía fernández" -> "Lucía Fernández")."""
from __future__ import annotations

import re
from typing import Optional

from actions.text import normalise

_PREFIXES = re.compile(
    r"^\s*(?:(?:pues|vale|ok|okay|sure|yes|si|sí)[,\s]+)?"
    r"(?:a nombre de|al nombre de|en nombre de|reserva a nombre de|me llamo|mi nombre es|soy|"
    r"under the name(?: of)?|in the name of|name is|my name is|my name's|i am|i'm|it's|its|it is|the name is)\s*[:,]?\s*",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[^\W\d_]", re.UNICODE)
_ALLOWED = re.compile(r"^[^\W\d_]+(?:[\s'\-.][^\W\d_]+)*\.?$", re.UNICODE)
MAX_LENGTH = 80
# Answers that are not a name ("ok" to "under what name?" must not book for "Ok").
_NOT_NAMES = frozenset({"ok", "okay", "vale", "si", "yes", "no", "sure", "hola", "hello", "hi", "gracias", "thanks"})


def clean_guest_name(text: str) -> Optional[str]:
    """A tidy name, or None when the answer does not look like a person's name."""
    name = _PREFIXES.sub("", text.strip()).strip(" .,!¡?¿\"'")
    name = re.sub(r"\s+", " ", name)
    if not name or len(name) > MAX_LENGTH or len(_LETTERS.findall(name)) < 2 or not _ALLOWED.match(name):
        return None
    if normalise(name) in _NOT_NAMES:
        return None
    if name.islower() or name.isupper():
        name = " ".join(part[:1].upper() + part[1:].lower() for part in name.split(" "))
    return name
