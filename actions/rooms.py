"""Room types as guests write them ("dbl", "la indibidual", "matrimonio", "no la doble, la suite")."""
from __future__ import annotations

import re
from typing import Optional

from actions.text import normalise

ROOM_WORDS = {
    "single": r"single|singel|sgl|individual(?:es)?|indiv|indibidual|indivudual|individul|sencilla|simple",
    "double": r"double|doble|dobles|dbl|dble|matrimonio|matrimonial|twin|king|queen",
    # "a family of five" / "familia de 4" is a party, not the room
    "family": r"family(?!\s+of\b)|familiar|familiares|fam room|familia(?!\s+de\b)|cuadruple|quad",
    "suite": r"suite|suites|suit|suitte|swite",
}
_MENTION = re.compile("|".join(rf"(?P<{code}>\b(?:{words})\b)" for code, words in ROOM_WORDS.items()))
_DETERMINER = r"(?:(?:la|el|una|un|the|a|an)\s+)?"
_NEGATED_BEFORE = re.compile(rf"\b(?:no|not|ni|nada de)\s+{_DETERMINER}$")
_NEGATED_AFTER = re.compile(r"^\s+(?:room\s+|habitacion\s+)?(?:no|not)\b(?!\s*,?\s*(?:espera|wait))")


def parse_room_type(text: str) -> Optional[str]:
    """The room type a message asks for: the last one named and not refused, or None."""
    norm = normalise(text)
    chosen = None
    for match in _MENTION.finditer(norm):
        if _NEGATED_BEFORE.search(norm[:match.start()]) or _NEGATED_AFTER.match(norm[match.end():]):
            continue  # "no la doble", "the double no"
        chosen = match.lastgroup
    return chosen
