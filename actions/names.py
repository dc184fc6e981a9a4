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


# Whole answers that are a question or a request, not a name, even in a name-asking turn.
_NOT_A_NAME_WORDS = frozenset({
    "persona", "person", "human", "humano", "agente", "agent", "recepcion", "reception", "nadie", "cancel", "cancelar",
    "stop", "basta", "olvidalo", "wifi", "parking", "desayuno", "breakfast", "piscina", "pool", "precio", "price",
    "help", "ayuda", "checkout", "checkin", "gracias", "thanks", "thank", "adios", "bye", "nada", "nothing",
})
_PEOPLE_REQUESTS = frozenset({"persona", "person", "human", "humano", "agente", "agent", "recepcion", "reception"})
_QUESTION_START = re.compile(
    r"^(?:que|qué|cual|cuál|cuando|cuándo|donde|dónde|como|cómo|cuanto|cuánto|cuanta|hay|tienen|tiene|teneis|puedo|"
    r"puede|podria|quiero|quisiera|necesito|me gustaria|what|when|where|how|do|does|did|can|could|is|are|will|would|"
    r"i want|i need|i'd|please|por favor|no|not|and|y|but|pero|wait|espera|sorry|perdon)\b",
    re.IGNORECASE,
)
MAX_NAME_WORDS = 5
_LEAD = re.compile(
    r"^(?:(?:ok|okay|vale|sure|yes|si|sí|pues|so)[,\s]+)?(?:put it |book it |booking |reservation |la reserva |ponla |ponlo )?"
    r"(?:under|for|a nombre de|al nombre de|a|para)\s*[:,]?\s+(?=\S+)",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"[\s,.!]+(?:please|pls|plz|por favor|porfa|porfavor|thanks|thank you|gracias|thx)[\s.!]*$", re.IGNORECASE)


def plausible_name(text: str) -> Optional[str]:
    """The name in an answer to "under what name?", even when it shares words
    with the hotel's vocabulary ("Park", "Rosa Bar", "Dolores Paz"); None for
    questions, requests and anything else that is not a person's name."""
    stripped = _LEAD.sub("", _TRAIL.sub("", text.strip())).strip()
    if "?" in stripped or "¿" in stripped:
        return None
    if len(stripped.split()) > 2 and _QUESTION_START.match(normalise(stripped)):
        return None  # a two-word answer is a name ("Will Smith", "Can Yilmaz")
    name = clean_guest_name(stripped)
    if name is None or len(name.split()) > MAX_NAME_WORDS:
        return None
    words = normalise(name).split()
    if any(word in _PEOPLE_REQUESTS for word in words) or (len(words) == 1 and words[0] in _NOT_A_NAME_WORDS):
        return None  # "Penny Price" is a name, "parking" alone is a question
    return name


# "soy Ana Ruiz, quiero reservar", "hi, this is Tom Baker and I'd like a room"
_INTRODUCTION = re.compile(
    r"(?:^|[\s,.!¡])(?:soy|me llamo|mi nombre es|my name is|my name's|this is|i am|i'm|im|"
    r"(?:reserva |booking |book it |put it )?(?:a nombre de|al nombre de|bajo el nombre de|under the name of|under the name|in the name of)"
    r")\s*:?\s+"
    r"(?P<name>[^\W\d_][\w'\-]*(?:\s+(?:de\s+(?:la\s+|los\s+)?|del\s+)?[^\W\d_][\w'\-]*){0,3})",
    re.IGNORECASE,
)
# words that end a name or show the phrase is not one ("soy de Madrid", "I'm looking for")
_NAME_STOP = frozenset({
    "y", "e", "and", "quiero", "quisiera", "queria", "necesito", "busco", "want", "would", "need", "like", "looking",
    "from", "de", "del", "desde", "para", "for", "con", "with", "un", "una", "el", "la", "a", "an", "the", "cliente",
    "huesped", "guest", "interested", "interesado", "interesada", "here", "aqui", "trying", "going", "in", "en",
    "staying", "alojado", "alojada", "hospedado", "hospedada", "writing", "escribiendo", "te", "les", "os", "le",
    "me", "i", "we", "por", "to", "that", "not", "no", "sure", "ok", "so", "just", "also", "tambien", "muy",
    "very", "reservar", "book", "booking", "reserva", "hola", "hi", "hello", "please", "porfa", "gracias", "thanks",
    "at", "on", "is", "are", "was", "will", "can", "could", "lo", "los", "las", "mi", "my", "su", "your", "tu",
    "calling", "wondering", "planning", "travelling", "traveling", "coming", "viajando", "llegando", "pensando",
    "after", "back", "new", "ready", "sorry", "happy", "glad", "still", "only", "currently", "already", "about",
    "nuevo", "nueva", "otra", "otro", "yo", "solo", "sola", "muchas", "muchisimas", "mil", "thank", "thx", "saludos",
    "bye", "adios", "x", "xfa", "plz", "pls", "tks", "ty", "cheers", "besos", "abrazo",
    "quien", "who", "what", "que", "which", "cual",
})
# "hey it's Will Lee here": one or two words between "it's" and "here" are the name, whatever they mean
_HERE = re.compile(
    r"(?:^|[\s,.!¡])(?:it's|its|it is)\s+(?P<name>[^\W\d_][\w'\-]*(?:\s+[^\W\d_][\w'\-]*)?)\s+here\b", re.IGNORECASE
)
_NOT_HERE = frozenset({"me", "us", "we", "i", "just", "only", "the", "a", "my", "our", "so", "very", "really", "nice", "raining", "cold",
                       "hot", "all", "everything", "still", "not", "no", "too", "sunny", "lovely", "great", "late", "early"})


def introduced_name(text: str) -> Optional[str]:
    """The name a guest introduces themself with, or None."""
    match = _HERE.search(text)
    if match and not set(normalise(match.group("name")).split()) & _NOT_HERE:
        name = clean_guest_name(match.group("name"))
        if name is not None:
            return name
    for match in _INTRODUCTION.finditer(text):
        words = []
        for word in match.group("name").split():
            if normalise(word) in _NAME_STOP or normalise(word).endswith("ing") and not words:
                break
            words.append(word)
        if words and not (len(words) == 1 and normalise(words[0]) in _NAME_STOP):
            name = clean_guest_name(" ".join(words))
            if name is not None and not any(w in _PEOPLE_REQUESTS for w in normalise(name).split()):
                return name
    return None
