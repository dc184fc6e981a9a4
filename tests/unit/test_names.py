"""clean_guest_name: a tidy name from a free-text answer, or None."""
from __future__ import annotations

import pytest

from actions.names import MAX_LENGTH, clean_guest_name, introduced_name, plausible_name


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Lucía Fernández", "Lucía Fernández"),
        ("lucía fernández", "Lucía Fernández"),  # all lowercase is capitalised
        ("LUCIA FERNANDEZ", "Lucia Fernandez"),  # all uppercase too
        ("a nombre de lucía fernández", "Lucía Fernández"),
        ("Me llamo Juan Pérez", "Juan Pérez"),
        ("mi nombre es Ana López", "Ana López"),
        ("sí, a nombre de Ana", "Ana"),
        ("vale, a nombre de Pedro Gil", "Pedro Gil"),
        ("my name is John Smith", "John Smith"),
        ("under the name of Sarah Connor", "Sarah Connor"),
        ("it's Ana López.", "Ana López"),
        ("I'm Tom Baker!", "Tom Baker"),
        ("¿Pedro?", "Pedro"),
        ("Jean   Paul", "Jean Paul"),
        ("  John  ", "John"),
        ("Mary-Jane O'Neil", "Mary-Jane O'Neil"),
        ("o'brien", "O'brien"),
        ("José María de la Cruz", "José María de la Cruz"),  # mixed case is left alone
        ("McDonald", "McDonald"),
        ("Ñoño Núñez", "Ñoño Núñez"),
        ("李小龙", "李小龙"),
    ],
)
def test_names(text, expected):
    assert clean_guest_name(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "", "   ", "J", "12345", "asdf123", "🙂", "🙂🙂🙂", "N/A", "@user", "john@example.com", "+34 600 000 000",
        "a nombre de", "my name is", "?!", "x" * (MAX_LENGTH + 1),
        # a yes / hello to "under what name?" is not a name
        "ok", "OK", "vale", "sí", "yes", "hola", "thanks",
    ],
)
def test_not_names(text):
    assert clean_guest_name(text) is None


def test_a_name_at_the_length_limit_is_kept():
    name = "A" + "b" * (MAX_LENGTH - 1)
    assert clean_guest_name(name) == name


# --- a name-asking turn: a plausible name is a name ------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("Park", "Park"),  # shares letters with "parking"
        ("Rosa Bar", "Rosa Bar"),
        ("dolores paz", "Dolores Paz"),
        ("a nombre de Luz Marina", "Luz Marina"),
        ("Kim Park", "Kim Park"),
    ],
)
def test_plausible_names_look_like_vocabulary(text, expected):
    assert plausible_name(text) == expected


@pytest.mark.parametrize(
    "text", ["do you have parking?", "what time is breakfast", "parking", "una persona", "no", "quiero hablar con alguien"]
)
def test_questions_and_requests_are_not_names(text):
    assert plausible_name(text) is None


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Soy Ana Ruiz, quiero reservar", "Ana Ruiz"),
        ("hola soy marta gil y necesito una habitacion", "Marta Gil"),
        ("Hi, I'm Tom Baker and I'd like a room", "Tom Baker"),
        ("my name is Sarah Connor, booking please", "Sarah Connor"),
        ("me llamo Pedro", "Pedro"),
    ],
)
def test_self_introductions(text, expected):
    assert introduced_name(text) == expected


@pytest.mark.parametrize("text", ["I'm looking for a room", "soy de Madrid", "soy cliente", "I'm travelling with my wife", "hola"])
def test_phrases_that_are_not_introductions(text):
    assert introduced_name(text) is None


def test_what_a_guest_is_after_is_not_their_name():
    assert introduced_name("hi, I'm after a single room for friday") is None
    assert introduced_name("hi im john, a room please") == "John"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("hey it's Will Lee here, want to book a double", "Will Lee"),  # "Will" is a stop word elsewhere
        ("it is John here", "John"),
        ("queriamos una doble del 4 al 6 a nombre de marta gil muchas gracias", "Marta Gil"),
        ("book it under the name of sarah connor thanks", "Sarah Connor"),
        ("reserva a nombre de Pedro Sanz por favor", "Pedro Sanz"),
    ],
)
def test_names_given_inside_a_request(text, expected):
    assert introduced_name(text) == expected


@pytest.mark.parametrize(
    "text", ["its raining here", "it's so cold here", "its me here", "a nombre de quien?", "a nombre de mi marido", "i'm here for 3 nights"]
)
def test_phrases_that_name_nobody(text):
    assert introduced_name(text) is None
