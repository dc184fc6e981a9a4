"""Number of guests from a free-text answer, as people say it.

"somos 2 adultos y un niño" -> 3, "family of five" -> 5, "somos 4 + 1 niño" -> 5,
"me, my wife and our son" -> 3, "yo y mis 2 hijos" -> 3, "nosotros dos" -> 2,
"me, my husband and our 2 little rascals" -> 4, "3 of us, 2 adults and a teen" -> 3.
"""
from __future__ import annotations

import re
from typing import Optional

from actions.dates import AGES, NUMBER_WORDS
from actions.text import normalise

_NUM = r"(\d{1,2}|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"
_PEOPLE = (
    r"(?:personas?|pers|adult(?:o|a)?s?|ninos?|ninas?|nenes?|nenas?|bebes?|hijos?|hijas?|huespedes|pax|peques?|"
    r"menores|crios?|amig(?:o|a)s?|people|persons?|adults?|kids?|children|childs?|child|guests?|babies|baby|infants?|"
    r"toddlers?|teens?|teenagers?|friends?|sons?|daughters?|ppl|peeps|folks|travell?ers|viajeros|mayores|grown ?-?ups?|"
    r"grownups|seniors|of us|de nosotros)"
)
# after a number: a stay length, a date or a time, not people ("para 3 noches", "somos 2/3", "for 10am")
_LENGTH = r"noches?|nights?|dias|days|semanas?|weeks?"
_NOT_A_PARTY = rf"(?!\s*(?:{_LENGTH}|de\b|of\b(?! us)|/|th\b|st\b|nd\b|rd\b|am\b|pm\b|h\b))"
_COUNTED = re.compile(rf"\b{_NUM}\s+(?:mas\s+)?{_PEOPLE}\b")
# "a baby", "an infant", "+ baby": one more person (never "a couple", "a week")
_ONE_MORE = re.compile(
    r"\b(?:a|an|mas|plus)\s+(?:baby|bebe|child|kid|nino|nina|nene|nena|infant|toddler|teenager|teen|friend|amigo|amiga)\b"
)
_GROUP = re.compile(
    rf"\b(?:family of|familia de|group of|grupo de|party of|total of|total de|en total|in total|total)\s+{_NUM}\b"
    rf"|\b{_NUM}\s+(?:en total|in total|total|altogether|en todo)\b"
)
_SOMOS = re.compile(
    rf"\b(?:somos los|somos las|seremos los|seremos las|somos|seremos|vamos|vendremos|we are|we're|were|we will be|we'll be|there are|there will be|"
    rf"for|para|pa|nosotros)\s+{_NUM}\b{_NOT_A_PARTY}"
)
# "3 of us": the party's total; a breakdown after it ("2 adults and a teen") is not more people
_TOTAL_US = re.compile(rf"\b{_NUM}\s+(?:of us|de nosotros|de nosotras)\b")
_ADDED = re.compile(r"^\s*(?:,\s*)?(?:and|plus|y|mas|with|con)\b")
# "our 2 little monsters", "mis 3 fieras": a counted party whatever the noun (ages are removed before it runs)
_OWN_COUNT = re.compile(
    rf"\b(?:our|my|mis|nuestros|nuestras)\s+{_NUM}\b(?!\s*(?:{_LENGTH}|rooms?|habitaciones|camas|beds|bags|maletas|"
    r"cars?|coches?|dogs?|perros?|gatos?|cats?|pets?|mascotas))"
)
# "our 8 month old", "my 2 year old": one child, said by age
_AGED_ONE = re.compile(
    r"\b(?:our|my|mi|nuestro|nuestra|the|el|la)\s+\d{1,2}[\s-]*(?:months?|mos?|years?|yrs?|meses|anos)[\s-]*(?:old|de edad)?\b"
)
_SUM = re.compile(rf"\b{_NUM}\s*(?:mas|plus)\s*{_NUM}\b")
_ALONE = re.compile(r"\b(?:solo yo|yo solo|yo sola|sola|solo|just me|only me|alone|myself|una persona|just one|solo uno|solo una)\b")
_COUPLE = re.compile(r"\b(?:pareja|couple(?! of)|ambos|both of us|los dos|las dos|the two of us|nosotros dos|we two)\b")
_PARENTS = re.compile(r"\b(?:mis|my|our|nuestros)\s+(?:padres|parents|suegros|in-laws|abuelos|grandparents)\b")
# the guest themself in a list of people ("me and my wife", "yo y mi marido", "para mi y mi novia")
_SELF = re.compile(
    r"\b(?:yo|myself)\s*(?:,|\by\b|\band\b|\bcon\b|\bwith\b|\bmas\b)|(?:,|\by\b|\band\b|\bmas\b)\s*(?:yo|myself)\b"
    r"|\b(?:and|y)\s+(?:me|i)\b(?!')|(?:^|,)\s*me\b|\b(?:me|i)\s*(?:,|\band\b|\by\b)|\b(?:para|for)\s+(?:mi|me)\b"
    r"|^(?:with|con)\b|\b(?:voy|vengo|viajo|llego|coming|travelling|traveling|going|i'm|im|i am|i'll be|ire)\s+(?:\w+\s+)?(?:con|with)\b"
)
_RELATIVE = (
    r"(?:mujer|marido|esposo|esposa|pareja|novio|novia|hijo|hija|bebe|nene|nena|nino|nina|amigo|amiga|madre|padre|"
    r"mama|papa|hermano|hermana|suegra|suegro|abuela|abuelo|primo|prima|companero|companera|jefe|"
    r"wife|husband|partner|boyfriend|girlfriend|fiance|fiancee|son|daughter|baby|kid|child|friend|mother|father|"
    r"mom|mum|dad|brother|sister|colleague|boss|grandma|grandpa|grandmother|grandfather|cousin|missus|missis|hubby|"
    r"wifey|bf|gf|mate|other half|better half|chica|chico|senora|churri|peque|nino|nina|son|daughter)"
)
# "el cumple de mi madre", "my mum's birthday" name someone who does not come
_ONE_RELATIVE = re.compile(rf"(?<!\bde )(?<!\bof )\b(?:mi|my|our|nuestro|nuestra|his|her|su|the|la|el)\s+{_RELATIVE}\b(?!'s)")
# a number of people said alone, before the rest of the list: "dos y un bebé", "somos 2 más el bebé", "2 + 2 kids"
_NUM_AND_MORE = re.compile(
    rf"\b{_NUM}\s+(?:y|and|mas|plus|,)\s+(?=(?:(?:un|una|a|an|el|la|the|mi|my|our|nuestro|nuestra|mis|los|las|his|her|su|sus)\s+)?"
    rf"(?:{_RELATIVE}|{_PEOPLE})\b|{_NUM}\s+{_PEOPLE}\b)"
)
# a number given as a correction: "sorry, 3 actually", "no espera, 4"
_CORRECTED = re.compile(
    r"^(?:(?:sorry|actually|oh|no|wait|oops|ups|uy|ay|perdon|perdona|espera|mejor|al final|en realidad|hmm+|mm+|"
    r"make (?:it|that)|que sean|seran)[\s,.!]+)+" + _NUM + r"\b(?![:/.\-]\d)" + _NOT_A_PARTY
)
_BARE = re.compile(rf"^{_NUM}(?:\s+(?:please|pls|por favor|porfa|porfavor|thanks|gracias))?$")


def _value(token: str) -> int:
    return int(token) if token.isdigit() else NUMBER_WORDS[token]


def _listed_people(norm: str) -> Optional[int]:
    """People named one by one or counted ("2 adultos y un bebé", "me, my wife and our son"), or None."""
    aged = len(_AGED_ONE.findall(norm))
    norm = AGES.sub(" ", _AGED_ONE.sub(" ", norm))  # "(6 and 9 yrs)", "de 8 meses": ages, not people
    counted = aged + sum(_value(m.group(1)) for m in _COUNTED.finditer(norm))
    counted += sum(_value(m.group(1)) for m in _OWN_COUNT.finditer(norm) if not _COUNTED.match(norm, m.start(1)))
    counted += sum(_value(m.group(1)) for m in _NUM_AND_MORE.finditer(norm))
    counted += len(_ONE_MORE.findall(norm)) if counted else 0
    counted += 2 * len(_PARENTS.findall(norm))
    relatives = len(_ONE_RELATIVE.findall(norm))
    if counted and re.search(r"\b(?:una pareja|a couple)\b(?! of)", norm):
        counted += 2  # "una pareja y 2 niños"
    if not (counted or relatives):
        return None
    self_listed = bool(_SELF.search(norm))
    if not counted and not self_listed and (relatives == 1 or not re.search(r"\b(?:and|y|con|with)\b|,", norm)):
        return None  # "my wife" alone does not say who else comes; "my boss extended the trip" names nobody who does
    return counted + relatives + (1 if self_listed and (relatives or counted) else 0)


def parse_guests(text: str, *, bare_number_allowed: bool = True) -> Optional[int]:
    """How many people, or None when the text does not say."""
    norm = normalise(text.replace("+", " mas "))
    match = _GROUP.search(norm)
    if match:
        return _value(match.group(1) or match.group(2))
    match = _TOTAL_US.search(norm)
    if match:
        total, after = _value(match.group(1)), norm[match.end():]
        more = (_listed_people(after) or len(_ONE_MORE.findall(after))) if _ADDED.match(after) else None
        return total + more if more else total
    match = _SUM.search(norm)
    if match:
        rest = norm[:match.start()] + " " + norm[match.end():]
        return _value(match.group(1)) + _value(match.group(2)) + sum(_value(m.group(1)) for m in _COUNTED.finditer(rest))
    match = _CORRECTED.match(norm)
    if match:
        return _value(match.group(1))
    listed = _listed_people(norm)
    if listed:
        return listed
    match = _SOMOS.search(norm)
    if match:
        return _value(match.group(1))
    if re.search(r"\b(?:mi mujer y yo|mi esposa y yo|mi marido y yo|my wife and i|my husband and i)\b", norm):
        return 2
    if _COUPLE.search(norm):
        return 2
    if _ALONE.search(norm):
        return 1
    match = _BARE.match(norm)
    if match and bare_number_allowed:
        return _value(match.group(1))
    return None
