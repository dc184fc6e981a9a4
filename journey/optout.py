"""Opt-out from proactive messages: recognising it, in one place.

A message that *is* an opt-out ("stop", "baja", "no más mensajes",
"unsubscribe", WhatsApp's "Stop promotions" button) — the whole message,
after normalising case, accents and punctuation — ends the journey's
messages for that guest at that hotel. Matching the whole message keeps
"stop the noise in room 12" a complaint, not an opt-out. No NLU retraining:
the check runs on every message in ``action_detect_language``.
"""
from __future__ import annotations

import re
import unicodedata

PHRASES = frozenset({
    # Spanish
    "baja", "darme de baja", "dame de baja", "de baja", "quiero darme de baja", "no mas mensajes",
    "no quiero mas mensajes", "no me escribais mas", "no me escribas mas", "no mas", "parar mensajes",
    "detener promociones", "cancelar suscripcion",
    # English
    "stop", "stop messages", "stop promotions", "unsubscribe", "no more messages", "opt out", "optout",
    "stop messaging me", "dont message me",
})
MAX_LENGTH = 60  # anything longer is a conversation, not an opt-out
GRAPH_OPTED_OUT = 131050  # Graph: "user has chosen to stop receiving marketing messages"
OPTED_OUT_TEXT = {
    "es": "Hecho: no te enviaremos más mensajes automáticos. Si nos escribes, te seguiremos respondiendo.",
    "en": "Done: we won't send you any more automatic messages. If you write to us, we'll still answer.",
}


def normalise(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    plain = plain.replace("'", "").replace("’", "")
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def is_opt_out(text: str) -> bool:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_LENGTH:
        return False
    return normalise(text) in PHRASES
