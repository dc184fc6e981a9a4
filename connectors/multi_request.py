"""Several requests in one guest message: side questions answered, the request kept.

Guests write "hi, I'd like a double from the 4th to the 6th, and is there
parking?" or "where are you? and what time is check-in?". The NLU gives one
message one intent, so one of the requests was lost. Before the dialogue
runs, ``plan`` looks for **side questions**: clauses that on their own (without
the "and"/"y" that opens them) parse with good confidence as a quick-answer
intent (``QUICK_ANSWERS``: an FAQ topic, the desk's hours, the location, the
room list). Each one becomes a turn of its own; the rest of the message (the
**main part**, with every entity that is not inside a side question: booking
references, dates, names, a self-introduction) is the turn the dialogue sees
as the guest's request.

The main part is a turn of its own only when it is a request (``is_request``:
a confident intent, not a greeting/thanks/goodbye/"not understood", a yes/no
only when the bot waits for one) and the whole message does not parse as one of
the side questions (then the rest is about that question: "we come by car, is
there parking? how much a day"), unless the rest answers what the bot asked
(an inform/yes/no while it waits). Otherwise:

- two side questions or more: only they are turns, and their texts run on to
  the next clause so every word the guest wrote stays in the conversation
  (the staff transcript), each with its clause's parse (entity offsets moved);
- one side question: the message stays one turn (its whole parse, made here,
  is handed to it), except when the NLU does not understand the message as a
  whole: then the turn gets the side question's parse.

Order of the turns: side questions first (in the guest's order) and the main
part last, so the bot's last message is the question a flow it starts asks;
when the bot waits for an answer (a form's question, a yes/no offer, a
question of its own that is not an open "how can I help?"), the main part
first (it is the answer), then the side questions.

Bounds (cheap, general):

- a message is looked at only with ``MIN_WORDS`` words at least, no ``/``
  payload anywhere, and a clause boundary: a sentence end (``? ! ; ...``) or
  a line break, a comma / connector ("and", "also", "y", "por cierto"...) followed
  by a question start (``QUESTION_STARTS``: "what", "is there", "qué", "a qué
  hora", "tenéis", "hay"...); a candidate clause looks like a question (ends
  with "?" or starts like one) and names no booking reference, number, day of
  the month or month (they stay with the request that needs them: "do you
  have rooms for the 10th?" is no side question). That check is regular expressions only (18 µs a
  message; 54 of the 558 guest texts of tests/heldout have a candidate);
- at most ``MAX_CANDIDATES`` clause parses, the whole message and the main
  part; ``MAX_SIDE_QUESTIONS`` + 1 turns; a greeting plus one question costs
  no parse (``SOCIAL_WORDS``); each parse made here is handed to the turn it
  belongs to (the NLU reads no tracker); the tracker is read only for a
  message that is split.

What it never does: run a payload or an intent the NLU did not give the text
(every turn is an ordinary ``UserMessage`` through Rasa's ``handle_message``,
so the ``/intent`` guard of connectors/safeguards.py still sees each part, and
no part can start with "/"); run before the guards of the whole message (it
is installed inside them: the 2000-character cap, the urgent check and the
journey's opt-out see the message as the guest wrote it); split a message of
a paused conversation. Per-conversation order holds: it runs inside
``Agent.handle_message``'s per-sender lock, so the parts of one message are
consecutive turns of that conversation, for every channel (REST, WhatsApp,
Gmail all reach ``MessageProcessor.handle_message``). A turn that fails stops
the rest (the channel's retry of the message repeats the parts already done:
quick answers, harmless).

A part's ``UserMessage`` keeps the message's id, channel and metadata, with
``metadata["multi_request"] = {"part": i, "parts": n}`` added.

The seam (rasa 3.6.21): ``MessageProcessor.handle_message(message)`` logs,
predicts and saves one message; ``install`` wraps it and checks its shape
(``SUPPORTED_RASA``, ``log_message``, ``parse_data`` honoured by
``_handle_message_with_tracker``, ``parse_message``), raising
``MultiRequestSeamMissing`` when an upgrade moved it. connectors/safeguards.py
installs it before its own input guard, so that guard stays outermost.
"""
from __future__ import annotations

import inspect
import itertools
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Tuple

logger = logging.getLogger(__name__)

SUPPORTED_RASA = "3.6.21"

QUICK_ANSWERS = frozenset({"faq", "business_hours", "hotel_location", "room_options"})
DROPPABLE_MAIN = frozenset({"greet", "thank", "goodbye", "nlu_fallback"})
ANSWERS_ONLY = frozenset({"affirm", "deny"})  # a main part of these only when the bot waits for an answer
ANSWER_INTENTS = ANSWERS_ONLY | {"inform"}
MIN_SIDE_CONFIDENCE = 0.8
MIN_MAIN_CONFIDENCE = 0.6
MIN_FAQ_TOPIC_CONFIDENCE = 0.5  # the ResponseSelector's confidence in the FAQ topic
MIN_WORDS = 4
MIN_CLAUSE_WORDS = 2
MAX_CANDIDATES = 4
MAX_SIDE_QUESTIONS = 3
METADATA_KEY = "multi_request"
# the bot's messages that end with "?" but wait for nothing in particular ("How can I help?")
# words of a greeting or thanks ("hola buenas!", "hi there", "thanks!"), accents removed
SOCIAL_WORDS = frozenset({
    "hola", "ola", "buenas", "buenos", "buen", "dia", "dias", "tardes", "noches", "saludos", "hey", "hi", "hii", "hello",
    "hallo", "heyy", "there", "good", "morning", "afternoon", "evening", "gracias", "thanks", "thank", "you", "thx",
})
OPEN_QUESTIONS = frozenset({"utter_greet", "utter_thank", "utter_how_can_help", "utter_form_stopped"})

# connectors that may open a clause ("..., and what time", "y ya de paso, puedo")
CONNECTORS = (
    "and also", "and", "also", "plus", "btw", "by the way", "oh and", "ah and", "another thing", "one more thing",
    "y ademas", "y tambien", "y ya de paso", "ya de paso", "de paso", "y otra cosa", "otra cosa", "y por cierto",
    "por cierto", "ademas", "tambien", "ah y", "y", "e", "o sea",
)
# words a question (or a request put as a question) starts with, accents removed, lower case
QUESTION_STARTS = (
    "what", "whats", "when", "where", "which", "who", "how", "why", "is", "are", "do", "does", "did", "can", "could",
    "will", "would", "should", "may", "any", "have you", "is there", "are there",
    "que", "q", "k", "cual", "cuales", "cuando", "donde", "adonde", "como", "cuanto", "cuanta", "cuantos", "cuantas",
    "quien", "por que", "porque", "a que", "hasta que", "desde que", "hay", "teneis", "tienen", "tienes", "tiene",
    "puedo", "podemos", "puedes", "podeis", "pueden", "podria", "podriamos", "podrias", "se puede", "sabeis", "sabes",
    "dejais", "admiten", "admitis", "aceptan", "aceptais", "permiten", "permitis", "incluye", "esta incluido",
    "esta incluida", "hace falta", "se admiten", "se permiten", "se permite", "se aceptan", "se sirve", "sirven",
)
_BLANK = " ,:\t\r\n"
_PAYLOAD = re.compile(r"(?:^|[\s,.;:!?¿¡])/")
# a day, a number or a month: a clause that names one ("do you have rooms for the 10th?") keeps it for the request
_STAY_WORDS = re.compile(
    r"\d|\b(?:enero|febrero|marzo|abril|mayo|junio|julio|agosto|se?ptiembre|octubre|noviembre|diciembre|"
    r"january|february|march|april|june|july|august|september|october|november|december|"
    r"jan|feb|apr|jun|jul|aug|sept?|oct|nov|dec)\b", re.IGNORECASE)


def _fold(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))


def _phrase_pattern(phrases: Sequence[str]) -> str:
    ordered = sorted(phrases, key=len, reverse=True)
    return "|".join(re.escape(p).replace(r"\ ", r"\s+") for p in ordered)


_CONNECTOR_RUN = re.compile(rf"^(?:[\s,]*(?:{_phrase_pattern(CONNECTORS)})\b)+[\s,]*", re.IGNORECASE)
_QUESTION_START = re.compile(rf"^[¿¡\s]*(?:{_phrase_pattern(QUESTION_STARTS)})\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
# where a clause may end: sentence punctuation (kept with the clause before), a comma, or a connector word
_SENTENCE_END = re.compile(r"(?:\?+|!+|;|\.{2,}|…|\.(?=\s)|\n+)")
_SOFT_BOUNDARY = re.compile(rf",|:|\s(?=(?:{_phrase_pattern(CONNECTORS)})\b)", re.IGNORECASE)
# "y el último día, hasta qué hora...": after a connector the question word may come a few words in
QUESTION_WITHIN_WORDS = 5


@dataclass(frozen=True)
class Clause:
    start: int
    end: int  # exclusive, in the original text
    text: str

    @property
    def is_question(self) -> bool:
        return self.text.rstrip().endswith("?") or bool(_QUESTION_START.match(_fold(_strip_connectors(self.text))))

    @property
    def core(self) -> str:
        """The clause without the connectors that open it ("and what time..." -> "what time..."): what the NLU
        reads (a leading "y"/"and" costs the intent confidence)."""
        return _strip_connectors(self.text) or self.text

    @property
    def core_start(self) -> int:
        return self.start + len(self.text) - len(self.core)

    @property
    def words(self) -> int:
        return len(_WORD.findall(_strip_connectors(self.text)))


def _strip_connectors(text: str) -> str:
    return _CONNECTOR_RUN.sub("", text.lstrip(" ¿¡,")) if text else text


def _starts_question(rest: str) -> bool:
    return bool(_QUESTION_START.match(_fold(_strip_connectors(rest))))


def _asks_soon(rest: str) -> bool:
    core = _fold(_strip_connectors(rest))
    words = itertools.islice(_WORD.finditer(core), QUESTION_WITHIN_WORDS)
    return any(_QUESTION_START.match(core[w.start():]) for w in words)


def clauses(text: str) -> List[Clause]:
    """The message cut at sentence ends, at commas/colons that open a question, and at connectors
    followed by a question within a few words."""
    cuts = {0, len(text)}
    for match in _SENTENCE_END.finditer(text):
        cuts.add(match.end())
    for match in _SOFT_BOUNDARY.finditer(text):
        punctuation = match.group() in (",", ":")
        rest = text[match.end() if punctuation else match.start():]
        if _starts_question(rest) or (not punctuation and _asks_soon(rest)):
            cuts.add(match.start())
    ordered = sorted(cuts)
    result = []
    for start, end in zip(ordered, ordered[1:]):
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip(_BLANK))
        body = piece.strip(_BLANK)
        if body and _WORD.search(body):
            result.append(Clause(start + lead, start + lead + len(body), body))
        elif result and body:  # punctuation alone ("??") belongs to the clause before
            last = result[-1]
            result[-1] = Clause(last.start, start + lead + len(body), text[last.start:start + lead + len(body)])
    return result


def candidates(text: str) -> List[Clause]:
    """The clauses worth parsing on their own (question-like, not the whole message), at most MAX_CANDIDATES."""
    if not text or _PAYLOAD.search(text) or len(_WORD.findall(text)) < MIN_WORDS:
        return []  # a part must never start with "/" (Rasa would read it as an intent payload)
    found = clauses(text)
    if len(found) < 2:
        return []
    picked = [c for c in found if c.is_question and c.words >= MIN_CLAUSE_WORDS and not _STAY_WORDS.search(c.text)]
    return picked[:MAX_CANDIDATES]


_TRAILING_CONNECTORS = re.compile(rf"(?:(?:^|[\s,]+)(?:{_phrase_pattern(CONNECTORS)}))+[\s,]*$", re.IGNORECASE)
_LEADING_CONNECTOR = re.compile(rf"^[\s,]*(?:{_phrase_pattern(CONNECTORS)})\b[\s,]*", re.IGNORECASE)


def remainder(text: str, taken: Sequence[Clause]) -> str:
    """The message without the side questions' clauses and the connectors that led to them ("..., also, do you
    have parking?" leaves no "also")."""
    spans = sorted((c.start, c.end) for c in taken)
    pieces, position = [], 0
    for start, end in spans:
        pieces.append(_TRAILING_CONNECTORS.sub("", text[position:start]))
        position = end
    pieces.append(text[position:])
    joined = " ".join(p.strip() for p in pieces if p.strip())
    joined = re.sub(r"[ \t]+([,.;!?])", r"\1", joined)
    joined = _LEADING_CONNECTOR.sub("", _TRAILING_CONNECTORS.sub("", joined))
    return joined.strip(" ,;")


# -- the decision ---------------------------------------------------------------------------------------------


def side_topic(parse: Dict[str, Any]) -> Optional[str]:
    """The quick answer a clause's parse asks for ("faq/wifi", "hotel_location"), or None."""
    intent = parse.get("intent") or {}
    name, confidence = intent.get("name"), float(intent.get("confidence") or 0.0)
    if name not in QUICK_ANSWERS or confidence < MIN_SIDE_CONFIDENCE:
        return None
    if any(e.get("entity") == "booking_ref" for e in parse.get("entities") or []):
        return None
    if name == "faq":
        response = ((parse.get("response_selector") or {}).get("faq") or {}).get("response") or {}
        topic = response.get("intent_response_key")
        if not topic or float(response.get("confidence") or 0.0) < MIN_FAQ_TOPIC_CONFIDENCE:
            return None
        return str(topic)
    return str(name)


async def is_request(parse: Dict[str, Any], awaiting: "Awaiting") -> bool:
    """Whether the main part asks for something of its own: a confident intent that is not a greeting, thanks,
    goodbye or "not understood" ("cant find it anywhere" beside a wifi question is not a request), and a yes/no only
    when the bot waits for one ("no m conecta" read as a "no" answers nothing)."""
    intent = parse.get("intent") or {}
    name, confidence = intent.get("name"), float(intent.get("confidence") or 0.0)
    if name in DROPPABLE_MAIN or confidence < MIN_MAIN_CONFIDENCE:
        return False
    if name in QUICK_ANSWERS and side_topic(parse) is None:
        return False
    if name in ANSWERS_ONLY:
        return await awaiting()
    return True


@dataclass
class Part:
    text: str
    parse: Dict[str, Any]
    side: bool


@dataclass
class Plan:
    sides: List[Part] = field(default_factory=list)  # in the guest's order
    main: Optional[Part] = None
    sides_first: bool = True  # False when the bot waits for an answer: the main part is it
    whole: Optional[Dict[str, Any]] = None  # the whole message's parse, when made here and the message stays whole

    def __bool__(self) -> bool:
        return bool(self.sides)

    @property
    def parts(self) -> List[Part]:
        """The turns, in order."""
        if self.main is None:
            return list(self.sides)
        return self.sides + [self.main] if self.sides_first else [self.main] + self.sides


Parser = Callable[[str], Awaitable[Dict[str, Any]]]


def _only_social(text: str) -> bool:
    return all(_fold(word) in SOCIAL_WORDS for word in _WORD.findall(text))


Awaiting = Callable[[], Awaitable[bool]]


async def _not_awaiting() -> bool:
    return False


async def plan(text: str, parse: Parser, awaiting: Awaiting = _not_awaiting) -> Plan:
    """What a message becomes; an empty plan (falsy) when it stays one message. ``awaiting`` (async, called only
    when a message is split with a main part) tells whether the bot waits for an answer."""
    found = candidates(text)
    if not found or (len(found) == 1 and _only_social(remainder(text, found))):
        return Plan()  # "hola! where are you?": one request, no parse spent here
    sides: List[Tuple[Clause, Dict[str, Any]]] = []
    topics = set()
    for clause in found:
        parsed = await parse(clause.core)
        topic = side_topic(parsed)
        if topic is None or len(sides) >= MAX_SIDE_QUESTIONS:
            continue
        if topic in topics:  # the same question twice: answered once
            sides.append((clause, {}))
            continue
        topics.add(topic)
        sides.append((clause, parsed))
    answered = [(c, p) for c, p in sides if p]
    if not answered:
        return Plan()
    whole = await parse(text)
    main_text = remainder(text, [c for c, _ in sides])
    # the rest is a request of its own unless it is chit-chat, or the whole message is about a side question
    # ("we go by car, is there parking? how much a day": the price is the parking's)
    if not _only_social(main_text):
        main = Part(main_text, await parse(main_text), side=False)
        about_a_side = side_topic(whole) in topics
        if await is_request(main.parse, awaiting) and (not about_a_side or await _answers_the_bot(main.parse, awaiting)):
            sides_first = not await awaiting()
            side_parts = [Part(c.core, p, side=True) for c, p in answered]
            return Plan(side_parts, main, sides_first)
    if len(answered) >= 2 or not understood(whole):
        return Plan(_covering(text, answered))
    return Plan(whole=whole)  # one question and its context: the message as it is (parsed once)


async def _answers_the_bot(parse: Dict[str, Any], awaiting: Awaiting) -> bool:
    """An answer ("del 3 al 5 de junio", "yes") while the bot waits for one: a turn even when the whole message reads
    as the side question."""
    return (parse.get("intent") or {}).get("name") in ANSWER_INTENTS and await awaiting()


def understood(parse: Dict[str, Any]) -> bool:
    return (parse.get("intent") or {}).get("name") != "nlu_fallback"


def _covering(text: str, answered: Sequence[Tuple[Clause, Dict[str, Any]]]) -> List[Part]:
    """The side questions' turns when nothing else of the message is kept: each turn's text runs on to the next
    clause, so every word the guest wrote stays in the conversation (the transcript staff read); each turn keeps its
    clause's parse, entity offsets moved to the longer text."""
    ordered = sorted(answered, key=lambda item: item[0].start)
    parts, start = [], 0
    for number, (clause, parsed) in enumerate(ordered):
        end = len(text) if number == len(ordered) - 1 else clause.end
        piece = text[start:end]
        lead = len(piece) - len(piece.lstrip(_BLANK))
        piece = piece.strip(_BLANK)
        shift = clause.core_start - (start + lead)
        moved = dict(parsed, text=piece, entities=[
            dict(e, start=e["start"] + shift, end=e["end"] + shift) if isinstance(e.get("start"), int)
            and isinstance(e.get("end"), int) else dict(e) for e in parsed.get("entities") or []])
        parts.append(Part(piece, moved, side=True))
        start = end
    return parts


def awaiting_answer(tracker: Any) -> bool:
    """Whether the bot waits for an answer: an active form, a pending yes/no, or its last message is a question."""
    if tracker is None:
        return False
    if tracker.active_loop_name or tracker.get_slot("pending_confirmation"):
        return True
    for event in reversed(tracker.events):
        kind = getattr(event, "type_name", "")
        if kind == "user":
            return False
        if kind == "bot":
            utter = (getattr(event, "metadata", None) or {}).get("utter_action") or ""
            return (event.text or "").rstrip().endswith("?") and utter not in OPEN_QUESTIONS
    return False


# -- installation -----------------------------------------------------------------------------------------------


class MultiRequestSeamMissing(RuntimeError):
    """The Rasa code this module wraps is not what it expects."""


_installed = False


def check_seam() -> None:
    import rasa
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    problems = []
    if rasa.__version__ != SUPPORTED_RASA:
        problems.append(f"written for rasa {SUPPORTED_RASA}, found {rasa.__version__}")
    handle = inspect.unwrap(MessageProcessor.handle_message)
    if list(inspect.signature(handle).parameters) != ["self", "message"]:
        problems.append("MessageProcessor.handle_message no longer takes (message)")
    source = inspect.getsource(handle)
    if "self.log_message(message" not in source:
        problems.append("MessageProcessor.handle_message no longer logs the message with log_message")
    if "if message.parse_data:" not in inspect.getsource(inspect.unwrap(MessageProcessor._handle_message_with_tracker)):
        problems.append("MessageProcessor._handle_message_with_tracker no longer takes message.parse_data")
    for name in ("parse_message", "_has_session_expired"):
        if not hasattr(MessageProcessor, name):
            problems.append(f"MessageProcessor.{name} is gone")
    if "parse_data" not in inspect.signature(UserMessage.__init__).parameters:
        problems.append("UserMessage no longer takes parse_data")
    if problems:
        raise MultiRequestSeamMissing("cannot install connectors/multi_request.py: " + "; ".join(problems))


def install() -> None:
    """Wrap ``MessageProcessor.handle_message`` (idempotent). Call it before any guard that must see the
    whole message wraps the same method (connectors/safeguards.py does)."""
    global _installed
    if _installed:
        return
    check_seam()
    from rasa.core.channels.channel import UserMessage
    from rasa.core.processor import MessageProcessor

    original = MessageProcessor.handle_message

    async def handle_message(self, message):
        try:
            parts = await _split(self, message)
        except Exception:  # a fault of the splitting never costs the guest the turn (a store down fails it below)
            logger.exception("conversation %s: multi_request could not look at the message; handled whole",
                             message.sender_id)
            message.parse_data, parts = None, []
        if not parts:
            return await original(self, message)
        logger.info("conversation %s: one message, %d turns (%s)", message.sender_id, len(parts),
                    ", ".join("side" if p.side else "main" for p in parts))
        result = None
        for number, part in enumerate(parts, start=1):
            metadata = dict(message.metadata or {}, **{METADATA_KEY: {"part": number, "parts": len(parts)}})
            result = await original(self, UserMessage(
                part.text, message.output_channel, message.sender_id, parse_data=part.parse,
                input_channel=message.input_channel, message_id=message.message_id, metadata=metadata,
            ))
        return result

    handle_message.__wrapped__ = original  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]
    _installed = True


async def _split(processor: Any, message: Any) -> List[Part]:
    from rasa.core.channels.channel import UserMessage

    text = message.text or ""
    if message.parse_data or not candidates(text):
        return []

    async def parse(clause: str) -> Dict[str, Any]:  # the NLU reads no tracker: an empty one, as parse_message does
        return await processor.parse_message(
            UserMessage(clause, message.output_channel, message.sender_id, input_channel=message.input_channel,
                        message_id=message.message_id, metadata=message.metadata))

    tracker_read: List[Any] = []

    async def tracker() -> Any:  # read only when a split needs it
        if not tracker_read:
            found = await processor.tracker_store.retrieve(message.sender_id)
            tracker_read.append(None if found is not None and processor._has_session_expired(found) else found)
        return tracker_read[0]

    async def awaiting() -> bool:
        return awaiting_answer(await tracker())

    found = await plan(text, parse, awaiting)
    if found.whole is not None:
        message.parse_data = found.whole  # parsed once: the turn uses it (never a "/" payload: candidates())
    if not found:
        return []
    current = await tracker()
    if current is not None and current.is_paused():
        return []
    parts = found.parts
    if any(part.text.lstrip().startswith("/") for part in parts):  # never: candidates() refuses such messages
        return []
    return parts
