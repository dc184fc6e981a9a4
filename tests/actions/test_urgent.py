"""Urgent messages without an alarm word (actions/urgent.py combinations "a ... b"),
and ordinary complaints that must not raise an alarm."""
from __future__ import annotations

import pytest

from actions.config import PROJECT_ROOT, HotelConfig
from actions.urgent import NEAR_WORDS, is_urgent, keyword_pattern

BASE = {
    "id": "test", "name": "Test Hotel", "address": "Somewhere 1", "latitude": 40.0, "longitude": -3.0,
    "timezone": "Europe/Madrid",
    "policies": {"checkin_time": "15:00", "checkout_time": "12:00", "late_checkout_until": "15:00"},
}


@pytest.fixture(scope="module")
def hotel() -> HotelConfig:
    return HotelConfig.load(PROJECT_ROOT / "hotel.yml")


@pytest.mark.parametrize("text", [
    "my daughter got stuck inside the lift on floor 2",
    "we are locked in the elevator",
    "me he quedado encerrado en el ascensor",
    "el ascensor se ha parado entre plantas con mi madre",
    "huele mucho a gas en la cocina",
    "it smells strongly of gas here",
    "se está inundando la habitación",
    "my husband collapsed in the lobby",
    "mi hija no puede respirar",
    "there are sparks coming out of the socket",
    "my dad fell and can't get up",
    "no encuentro a mi hijo en la piscina",
    "water dripping from the ceiling everywhere",
    "cae agua del techo a chorros",
    "I think my mum broke her leg on the stairs",
])
def test_emergencies_told_without_an_alarm_word(hotel, text):
    assert is_urgent(text, hotel)


@pytest.mark.parametrize("text", [
    "el ascensor va muy lento",
    "the lift is slow",
    "is there a lift?",
    "no sale agua caliente en la ducha",
    "the air con is not cooling",
    "los vecinos hacen mucho ruido",
    "the bathroom light keeps flickering",
    "can I smoke on the balcony?",
    "quiero reservar para mi hijo y para mi",
    "my son and I want a double",
    "se ha caido la wifi",
    "the shower head is broken",
    "la habitacion huele a tabaco",
    "do you have parking? my gas tank is empty",
])
def test_ordinary_complaints_and_requests_are_not_urgent(hotel, text):
    assert not is_urgent(text, hotel)


def config(*keywords: str) -> HotelConfig:
    return HotelConfig.from_mapping({**BASE, "urgent_keywords": {"en": list(keywords)}})


def test_combination_parts_in_order_and_near():
    hotel = config("stuck/trapped ... lift/elevator*")
    assert is_urgent("stuck in the lift", hotel)
    assert is_urgent("TRAPPED inside the elevators", hotel)
    assert not is_urgent("the lift, I'm stuck", hotel)  # written order
    far = "stuck " + "word " * (NEAR_WORDS + 1) + "lift"
    assert not is_urgent(far, hotel)
    near = "stuck " + "word " * NEAR_WORDS + "lift"
    assert is_urgent(near, hotel)


def test_combination_parts_are_whole_words_and_stems():
    hotel = config("huel* ... gas")
    assert is_urgent("huele muchisimo a gas", hotel)
    assert is_urgent("huelo gas", hotel)
    assert not is_urgent("huele a gasolina", hotel)


def test_an_empty_keyword_or_part_matches_nothing():
    assert keyword_pattern(" ") is None
    assert keyword_pattern("stuck ... /") is None
    assert not is_urgent("anything at all", config("", "stuck ... /"))
