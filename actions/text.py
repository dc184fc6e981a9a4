"""Text normalisation shared by the parsers: lowercase, no accents, no emojis."""
from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_DASHES = re.compile(r"[\u2010-\u2015\u2212]")  # en/em dashes, minus: "5 – 8 dic"
_KEEP = re.compile(r"[^a-z0-9/\-.:,' ]")


def normalise(text: str) -> str:
    """'¡Mañana, 5 de Diciembre 🙏!' -> 'manana, 5 de diciembre'."""
    stripped = "".join(
        ch for ch in unicodedata.normalize("NFKD", _DASHES.sub("-", text.lower())) if not unicodedata.combining(ch)
    )
    return _SPACES.sub(" ", _KEEP.sub(" ", stripped)).strip(" .,")
