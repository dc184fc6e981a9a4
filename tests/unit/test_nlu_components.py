"""The project's NLU components without a trained model: flow-aware fallback and temperature scaling."""
from __future__ import annotations

import pytest
from rasa.shared.nlu.training_data.message import Message

from components.confidence_calibration import TemperatureScaling, rescale
from components.intent_fallback import FlowAwareFallbackClassifier


def message(*ranking) -> Message:
    intents = [{"name": name, "confidence": confidence} for name, confidence in ranking]
    return Message(data={"text": "x", "intent": dict(intents[0]), "intent_ranking": intents})


def classify(*ranking) -> str:
    config = {**FlowAwareFallbackClassifier.get_default_config(), "threshold": 0.45, "ambiguity_threshold": 0.1}
    [result] = FlowAwareFallbackClassifier(config).process([message(*ranking)])
    return result.get("intent")["name"]


def test_booking_and_availability_close_together_do_not_fall_back():
    assert classify(("make_reservation", 0.48), ("check_availability", 0.46)) == "make_reservation"
    assert classify(("check_availability", 0.5), ("make_reservation", 0.45)) == "check_availability"


def test_a_request_next_to_a_greeting_wins():
    assert classify(("greet", 0.55), ("make_reservation", 0.40)) == "make_reservation"
    assert classify(("make_reservation", 0.5), ("greet", 0.45)) == "make_reservation"


def test_other_ambiguities_still_fall_back():
    assert classify(("faq", 0.5), ("late_checkout", 0.45)) == "nlu_fallback"
    assert classify(("greet", 0.5), ("out_of_scope", 0.45)) == "nlu_fallback"  # not a request
    assert classify(("cancel_reservation", 0.3), ("faq", 0.1)) == "nlu_fallback"  # below the threshold


def test_a_yes_is_never_swapped_for_a_request():
    assert classify(("affirm", 0.9), ("cancel_reservation", 0.08)) == "affirm"


def test_temperature_keeps_the_ranking_and_softens_it():
    assert rescale([0.5, 0.3, 0.2], 1.0) == pytest.approx([0.5, 0.3, 0.2])
    soft = rescale([0.98, 0.01, 0.01], 2.0)
    assert soft[0] < 0.98 and soft[0] > soft[1] and sum(soft) == pytest.approx(1.0)
    [result] = TemperatureScaling({"temperature": 2.0}).process([message(("faq", 0.98), ("thank", 0.01), ("greet", 0.01))])
    assert result.get("intent")["name"] == "faq"
    assert result.get("intent")["confidence"] == pytest.approx(soft[0])
    with pytest.raises(ValueError):
        TemperatureScaling({"temperature": 0})
