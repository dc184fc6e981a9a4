"""connectors/multi_request.py: which messages become several turns, in which order,
with which text (no model: the NLU is a table of parses)."""
from __future__ import annotations

import asyncio
from typing import Any, Dict, List

import pytest

from connectors import multi_request as mr


def parse_of(intent: str, confidence: float = 0.97, topic: str = "", entities: List[Dict[str, Any]] = ()) -> Dict[str, Any]:
    parse: Dict[str, Any] = {"intent": {"name": intent, "confidence": confidence}, "entities": list(entities)}
    if topic:
        parse["response_selector"] = {"faq": {"response": {"intent_response_key": f"faq/{topic}", "confidence": 0.9}}}
    return parse


class FakeNLU:
    """Parses by the first keyword found in the text; records every text it was asked to parse."""

    def __init__(self, table: Dict[str, Dict[str, Any]], default: Dict[str, Any],
                 exact: Dict[str, Dict[str, Any]] = None) -> None:
        self.table, self.default, self.exact, self.calls = table, default, exact or {}, []

    async def __call__(self, text: str) -> Dict[str, Any]:
        self.calls.append(text)
        if text in self.exact:
            return dict(self.exact[text], text=text)
        found = sorted((text.lower().find(k), k) for k in self.table if k in text.lower())
        if not found:
            return dict(self.default, text=text)
        parse = self.table[found[0][1]]  # the keyword said first: a whole message is about its first request
        entities = [dict(e, start=text.find(e["value"]), end=text.find(e["value"]) + len(e["value"]))
                    for e in parse.get("entities") or []]  # where their value is, like the NLU
        return dict(parse, text=text, entities=entities)


def run_plan(text: str, nlu: FakeNLU, awaiting: bool = False) -> List[tuple]:
    async def waits() -> bool:
        return awaiting

    return [(p.text, p.side) for p in asyncio.run(mr.plan(text, nlu, waits)).parts]


BOOKING = parse_of("make_reservation", 0.9)
TABLE = {
    "desayun": parse_of("faq", topic="breakfast"), "breakfast": parse_of("faq", topic="breakfast"),
    "perro": parse_of("faq", topic="pets"), "dogs": parse_of("faq", topic="pets"),
    "aparcar": parse_of("faq", topic="parking"), "parking": parse_of("faq", topic="parking"),
    "located": parse_of("hotel_location"), "donde esta": parse_of("hotel_location"),
    "reception open": parse_of("business_hours"), "recepcion": parse_of("business_hours"),
    "salir mas tarde": parse_of("late_checkout"), "leave later": parse_of("late_checkout"),
    "reservar": BOOKING, "room for": BOOKING, "habitacion": BOOKING,
}
FALLBACK = parse_of("nlu_fallback", 0.3)


def test_a_booking_with_a_question_answers_the_question_first_and_keeps_the_booking_whole():
    nlu = FakeNLU(TABLE, FALLBACK)
    text = "buenas! me llamo pedro gil, quiero reservar una individual del 9 al 11 de junio, y a que hora se desayuna?"
    assert run_plan(text, nlu) == [
        ("a que hora se desayuna?", True),
        ("buenas! me llamo pedro gil, quiero reservar una individual del 9 al 11 de junio", False),
    ]


def test_an_english_booking_then_a_question_after_a_full_stop():
    nlu = FakeNLU(TABLE, FALLBACK)
    assert run_plan("hey there, need a family room for 4 from june 3 to june 6. do you allow dogs?", nlu) == [
        ("do you allow dogs?", True), ("hey there, need a family room for 4 from june 3 to june 6.", False),
    ]


def test_the_booking_reference_stays_with_the_request_that_needs_it():
    text = "hola tengo la reserva BK100002, donde se puede aparcar? y puedo salir mas tarde el domingo?"
    nlu = FakeNLU(TABLE, FALLBACK, exact={text: parse_of("late_checkout")})
    parts = run_plan(text, nlu)
    assert parts == [("donde se puede aparcar?", True),
                     ("hola tengo la reserva BK100002, y puedo salir mas tarde el domingo?", False)]


def test_two_quick_questions_and_a_greeting_give_two_answers_and_no_greeting_turn():
    nlu = FakeNLU({**TABLE, "hello": parse_of("greet")}, FALLBACK)
    assert run_plan("hello! where exactly are you located? also when does reception open", nlu) == [
        ("hello! where exactly are you located?", True), ("also when does reception open", True),
    ]


def test_chit_chat_the_nlu_does_not_understand_is_dropped_when_two_questions_are_answered():
    nlu = FakeNLU(TABLE, FALLBACK)
    assert run_plan("ey perdona mi espanol fatal, donde esta el hotel? y a que hora abre la recepcion?", nlu) == [
        ("ey perdona mi espanol fatal, donde esta el hotel?", True), ("y a que hora abre la recepcion?", True),
    ]


def test_every_word_stays_in_a_turn_and_entities_follow_their_clause():
    room = {"entity": "room_type", "value": "suite"}
    nlu = FakeNLU({"suite": parse_of("faq", topic="pets", entities=[room]), **TABLE}, FALLBACK)
    text = "ok mil perdones!! la suite admite perros? y donde esta el hotel?"
    parts = asyncio.run(mr.plan(text, nlu)).parts
    assert " ".join(p.text for p in parts) == text
    entity = parts[0].parse["entities"][0]
    assert parts[0].text[entity["start"]:entity["end"]] == "suite"


def test_one_question_beside_a_greeting_stays_one_message_without_any_parse():
    nlu = FakeNLU(TABLE, FALLBACK)
    assert run_plan("buenas tardes!! a que hora se desayuna?", nlu) == []
    assert nlu.calls == []


def test_one_question_beside_chit_chat_stays_one_message_parsed_once():
    nlu = FakeNLU(TABLE, FALLBACK)
    text = "perdon por escribir tan tarde, a que hora se desayuna?"
    plan = asyncio.run(mr.plan(text, nlu))
    assert not plan and plan.whole["text"] == text
    assert nlu.calls.count(text) == 1


def test_a_message_not_understood_as_a_whole_gets_the_answer_its_question_has():
    text = "we are coming by car from far away, can we leave the car at the hotel?"
    nlu = FakeNLU({"leave the car": parse_of("faq", topic="parking")}, FALLBACK, exact={text: FALLBACK})
    parts = asyncio.run(mr.plan(text, nlu)).parts
    assert [(p.text, mr.side_topic(p.parse)) for p in parts] == [(text, "faq/parking")]


def test_a_follow_up_on_the_side_question_is_not_a_request_of_its_own():
    nlu = FakeNLU({**TABLE, "cuanto cuesta": BOOKING}, FALLBACK)
    assert run_plan("buenas vamos en coche, se puede aparcar? cuanto cuesta al dia", nlu) == []


@pytest.mark.parametrize("rest", [parse_of("deny", 1.0), parse_of("hotel_location", 0.7), parse_of("make_reservation", 0.4)])
def test_a_rest_that_asks_nothing_of_its_own_leaves_the_message_whole(rest):
    text = "what is the wifi password? it does not work at all"
    nlu = FakeNLU({"wifi": parse_of("faq", topic="wifi")}, FALLBACK, exact={"it does not work at all": rest})
    assert run_plan(text, nlu) == []


def test_a_yes_with_a_question_when_the_bot_offered_something():
    text = "yes please go ahead, and is there parking?"
    nlu = FakeNLU({"parking": parse_of("faq", topic="parking")}, FALLBACK,
                  exact={"yes please go ahead": parse_of("affirm", 0.99), text: parse_of("affirm", 0.9)})
    assert run_plan(text, nlu, awaiting=True) == [("yes please go ahead", False), ("is there parking?", True)]
    assert run_plan(text, nlu, awaiting=False) == []


def test_while_the_bot_waits_for_an_answer_the_answer_goes_first():
    nlu = FakeNLU({**TABLE, "del 9 al 11": parse_of("inform")}, FALLBACK)
    assert run_plan("del 9 al 11 de junio, y se admiten perros?", nlu, awaiting=True) == [
        ("del 9 al 11 de junio", False), ("se admiten perros?", True),
    ]


def test_the_same_question_twice_is_answered_once():
    nlu = FakeNLU(TABLE, FALLBACK)
    assert run_plan("i want a room for two on june 3 to 5, is there parking? is parking free?", nlu) == [
        ("is there parking?", True), ("i want a room for two on june 3 to 5", False),
    ]


@pytest.mark.parametrize("parse", [
    parse_of("faq", 0.6, topic="breakfast"),                     # not confident enough
    parse_of("late_checkout"),                                   # a flow, not a quick answer
    {**parse_of("faq"), "response_selector": {"faq": {"response": {"intent_response_key": "faq/wifi", "confidence": 0.2}}}},
    parse_of("faq", topic="wifi", entities=[{"entity": "booking_ref", "value": "BK100001"}]),
])
def test_clauses_that_are_no_confident_quick_answer_are_not_side_questions(parse):
    assert mr.side_topic(parse) is None


def test_messages_that_are_not_split_cost_no_parse():
    for text in ("quiero reservar una doble para mi mujer y para mi del 4 al 6", "is there parking and wifi?",
                 "hola, donde estais?", "what time is check in and check out?",
                 '/inform{"room_type":"double"}, and what time is breakfast?',
                 'where are you located? /inform{"room_type":"suite"}', 'where are you located? and /greet please'):
        assert mr.candidates(text) == [], text


def test_a_message_without_any_side_question_stays_whole():
    nlu = FakeNLU(TABLE, FALLBACK)
    assert run_plan("quiero reservar del 3 al 5, podria ser una doble?", nlu) == []


def test_parses_and_turns_are_bounded():
    nlu = FakeNLU(TABLE, FALLBACK)
    text = " ".join(["do you allow dogs? is there parking? where are you located? when does reception open?"] * 3)
    parts = run_plan(text, nlu)
    assert len(nlu.calls) <= mr.MAX_CANDIDATES + 2  # the clauses, the whole message, the rest
    assert len([p for p in parts if p[1]]) <= mr.MAX_SIDE_QUESTIONS and len(parts) <= mr.MAX_SIDE_QUESTIONS + 1


def test_each_parse_is_made_once_and_handed_to_its_turn():
    nlu = FakeNLU(TABLE, FALLBACK)
    text = "hey there, need a family room for 4 from june 3 to june 6. do you allow dogs?"
    parts = asyncio.run(mr.plan(text, nlu)).parts
    assert [p.parse["text"] for p in parts] == [p.text for p in parts]
    assert sorted(nlu.calls) == sorted([p.text for p in parts] + [text])  # and the whole message, once


def test_the_seam_is_where_the_module_expects_it():
    mr.check_seam()


def test_an_e_mail_with_a_booking_and_a_question_on_its_own_line():
    text = ("Hello,\n\nWe would like to book a double room from 14 to 17 July for two adults.\n"
            "Also, do you have parking at the hotel?\n\nKind regards,\nMark Jones")
    nlu = FakeNLU(TABLE, FALLBACK, exact={text: BOOKING})
    nlu.table["book a double"] = BOOKING
    assert run_plan(text, nlu) == [
        ("do you have parking at the hotel?", True),
        ("Hello,\n\nWe would like to book a double room from 14 to 17 July for two adults. Kind regards,\nMark Jones", False),
    ]


@pytest.mark.parametrize("text", [
    "do you have rooms for the 10th? is there parking?",
    "tienes habitacion para el 3 de agosto? hay parking?",
    "any rooms in june? is there parking?",
])
def test_a_question_that_names_a_day_or_a_month_stays_with_the_request(text):
    assert [c.core for c in mr.candidates(text)] == [text.split("? ")[1]]


def test_an_answer_to_the_bot_is_kept_even_when_the_whole_message_reads_as_the_question():
    text = "del 3 al 5 de junio, y teneis parking?"
    nlu = FakeNLU({"parking": parse_of("faq", topic="parking")}, FALLBACK,
                  exact={"del 3 al 5 de junio": parse_of("inform", 0.99), text: parse_of("faq", topic="parking")})
    assert run_plan(text, nlu, awaiting=True) == [("del 3 al 5 de junio", False), ("teneis parking?", True)]
    assert run_plan(text, nlu, awaiting=False) == []


def test_the_bot_waits_for_an_answer_inside_a_form_or_after_its_own_question():
    from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    form = DialogueStateTracker.from_events("g", [ActiveLoop("reservation_form"), SlotSet("requested_slot", "checkin")])
    offer = DialogueStateTracker.from_events("g", [UserUttered("hi"), BotUttered("Shall I book one?", metadata={
        "utter_action": "utter_availability_footer"}), ActionExecuted("action_listen")])
    greeting = DialogueStateTracker.from_events("g", [UserUttered("hi"), BotUttered("How can I help?", metadata={
        "utter_action": "utter_greet"})])
    assert mr.awaiting_answer(form) and mr.awaiting_answer(offer)
    assert not mr.awaiting_answer(greeting) and not mr.awaiting_answer(None)


@pytest.mark.parametrize("text, questions", [
    # a colon opens the first question; the connector's question word comes a few words in
    ("hola, un par de dudas: hay piscina en el hotel y al llegar pronto a que hora nos dan la llave?",
     ["hay piscina en el hotel", "al llegar pronto a que hora nos dan la llave?"]),
    ("quick ones: do you have a gym and for the last morning when do we need to be out?",
     ["do you have a gym", "for the last morning when do we need to be out?"]),
])
def test_questions_after_a_colon_or_a_few_words_after_the_connector_are_clauses_of_their_own(text, questions):
    assert [c.core for c in mr.candidates(text)] == questions


def test_a_connector_far_from_any_question_word_is_no_boundary():
    text = "we want the double and my husband says the view from the big window must be the best one?"
    assert [c.text for c in mr.clauses(text)] == [text]
