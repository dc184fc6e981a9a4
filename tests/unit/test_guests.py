"""parse_guests: how many people, from a free-text answer (ES/EN)."""
from __future__ import annotations

import pytest

from actions.guests import parse_guests


@pytest.mark.parametrize(
    "text, expected",
    [
        # counted people, summed
        ("somos 2 adultos y un niño", 3),
        ("2 adultos y 2 niños", 4),
        ("2 adults and 1 child", 3),
        ("two adults, one baby", 3),
        ("1 adulto y 2 bebés", 3),
        ("para 3 personas", 3),
        ("for 2 people", 2),
        ("20 personas", 20),
        ("1 persona", 1),
        ("3 pax", 3),
        ("4 huéspedes", 4),
        ("two guests", 2),
        ("three of us", 3),
        # "somos N" / "we are N"
        ("somos 4", 4),
        ("Somos Cuatro!", 4),
        ("seremos cinco", 5),
        ("we are 3", 3),
        ("we're two", 2),
        # couples and people alone
        ("mi mujer y yo", 2),
        ("my wife and I", 2),
        ("una pareja", 2),
        ("a couple", 2),
        ("solo yo", 1),
        ("yo sola", 1),
        ("just me", 1),
        ("una persona", 1),
        # as people say it (issue #10)
        ("family of five", 5),
        ("somos familia de 4", 4),
        ("somos 4 + 1 niño", 5),
        ("2+1", 3),
        ("dos adultos y un bebé", 3),
        ("two adults and a baby", 3),
        ("me and my husband", 2),
        ("me, my wife and our son", 3),
        ("yo y mis 2 hijos", 3),
        ("mi mujer, mis dos hijos y yo", 4),
        ("I'm coming with my wife", 2),
        ("voy con mi novia", 2),
        ("mis padres y yo", 3),
        ("nosotros dos", 2),
        ("the two of us", 2),
        ("una pareja y 2 niños", 4),
    ],
)
def test_counts_people(text, expected):
    assert parse_guests(text) == expected
    # phrased answers do not depend on a bare number being allowed
    assert parse_guests(text, bare_number_allowed=False) == expected


@pytest.mark.parametrize("text, expected", [("2", 2), ("dos", 2), ("two", 2), ("  3 ", 3), ("15", 15), ("0", 0)])
def test_bare_number_only_when_allowed(text, expected):
    assert parse_guests(text) == expected
    assert parse_guests(text, bare_number_allowed=False) is None


@pytest.mark.parametrize(
    "text",
    [
        "para 3 noches",  # nights, not people
        "for 2 nights",
        "somos 2/3",  # a date-like answer
        "del 5 al 8",
        "asdf", "", "   ", "🙂", "x", "cero", "100", "?",
    ],
)
def test_not_a_number_of_guests(text):
    assert parse_guests(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        # other people words
        ("2 ppl", 2), ("3 travellers", 3), ("2 grown ups and 2 kids", 4), ("4 in total", 4), ("4 en total", 4),
        # a bare number, then the rest of the party
        ("dos y un bebe", 3), ("somos dos mas el bebe", 3), ("2 adults + baby", 3), ("somos 2 y 2 niños", 4),
        ("for 2 and my baby", 3),
        # the guest themself only when listed, not the subject of the sentence
        ("hi, i want a double, para dos personas", 2), ("yo quiero una habitacion para 2 personas", 2),
        ("I want a room for me and my wife", 2), ("myself and my wife", 2), ("yo y 2 niños", 3),
        # someone named but not coming
        ("vamos al cumple de mi madre, somos mi marido y yo", 2), ("for my mum's birthday, me and my husband", 2),
        # a correction
        ("sorry, 3 actually, my sister is joining us", 3), ("no espera, 4", 4),
    ],
)
def test_party_phrases_and_corrections(text, expected):
    assert parse_guests(text, bare_number_allowed=False) == expected


@pytest.mark.parametrize("text", ["make that 4 nights", "sorry, 3 nights", "actually the 4th", "perdona, el 4 de mayo"])
def test_a_corrected_stay_is_not_a_party(text):
    assert parse_guests(text, bare_number_allowed=False) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        # a counted party whatever the noun, after a possessive
        ("me, my girlfriend and our 3 rugrats", 5),
        ("yo, mi marido y nuestras 2 fieras", 4),
        ("our 2 rooms for me and my brother", 2),  # rooms are not people
        # a child said by age
        ("me, my husband and our 2 year old", 3),
        ("me and my 10 month old", 2),
        # "N of us" is the total; a breakdown after it adds nobody
        ("4 of us, two adults and two teenagers", 4),
        ("somos 3 de nosotros, 2 adultos y un niño", 3),
        ("just 2 of us plus a baby", 3),
        # WhatsApp "pa" for "para"
        ("una doble pa 2", 2),
        ("pa 3 personas", 3),
    ],
)
def test_parties_said_around_the_count(text, expected):
    assert parse_guests(text, bare_number_allowed=False) == expected


@pytest.mark.parametrize(
    "text", ["sorry make that 4 nights, my manager moved the meeting", "perdona, 2 noches mas q mi jefe lo alarga"]
)
def test_someone_named_in_a_stay_correction_is_not_the_party(text):
    assert parse_guests(text, bare_number_allowed=False) is None
