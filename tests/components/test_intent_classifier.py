"""NgramIntentClassifier trained on a handful of examples (no model on disk but Rasa's local storage)."""
from __future__ import annotations

import pytest
from rasa.engine.graph import ExecutionContext
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from components.intent_classifier import NgramIntentClassifier, normalise

EXAMPLES = {
    "greet": ["hola", "buenas", "hello", "hi there", "hey"],
    "make_reservation": ["quiero reservar una doble", "reservar habitacion", "book a room", "i want to book", "reserva para 2"],
    "faq": ["a que hora es el desayuno", "hay wifi", "breakfast time?", "do you have parking", "wifi password"],
}


def training_data() -> TrainingData:
    return TrainingData(
        [Message(data={"text": text, "intent": intent}) for intent, texts in EXAMPLES.items() for text in texts]
    )


def trained(tmp_path, name="intents"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    storage = LocalModelStorage(tmp_path)
    resource = Resource(name)
    context = ExecutionContext(graph_schema=None, model_id="test")
    classifier = NgramIntentClassifier.create(NgramIntentClassifier.get_default_config(), storage, resource, context)
    classifier.train(training_data())
    return storage, resource, context


def parse(classifier, text):
    [message] = classifier.process([Message(data={"text": text})])
    return message


def test_accents_and_case_do_not_matter():
    assert normalise("Reservación MAÑANA") == "reservacion manana"


def test_it_learns_predicts_every_intent_and_survives_a_reload(tmp_path):
    storage, resource, context = trained(tmp_path)
    classifier = NgramIntentClassifier.load(NgramIntentClassifier.get_default_config(), storage, resource, context)
    message = parse(classifier, "quiero resrvar una habitacion")
    assert message.get("intent")["name"] == "make_reservation"
    ranking = message.get("intent_ranking")
    assert {r["name"] for r in ranking} == set(EXAMPLES)
    assert sum(r["confidence"] for r in ranking) == pytest.approx(1.0)
    assert ranking == sorted(ranking, key=lambda r: -r["confidence"])
    assert message.get("intent")["confidence"] == ranking[0]["confidence"]
    assert parse(classifier, "WIFI???").get("intent")["name"] == "faq"


def test_training_is_deterministic(tmp_path):
    first = NgramIntentClassifier.load(NgramIntentClassifier.get_default_config(), *trained(tmp_path / "a"))
    second = NgramIntentClassifier.load(NgramIntentClassifier.get_default_config(), *trained(tmp_path / "b"))
    assert first.rank("hola quiero reservar") == second.rank("hola quiero reservar")


def test_an_empty_message_gets_no_intent(tmp_path):
    classifier = NgramIntentClassifier.load(NgramIntentClassifier.get_default_config(), *trained(tmp_path))
    message = parse(classifier, "   ")
    assert message.get("intent")["name"] is None and message.get("intent_ranking") == []


def test_one_intent_is_not_enough(tmp_path):
    storage = LocalModelStorage(tmp_path)
    classifier = NgramIntentClassifier.create(
        NgramIntentClassifier.get_default_config(), storage, Resource("x"), ExecutionContext(graph_schema=None, model_id="t")
    )
    with pytest.raises(ValueError):
        classifier.train(TrainingData([Message(data={"text": "hola", "intent": "greet"})]))
