"""NLU component that tells whether a guest writes in Spanish or English.

It learns from the NLU training data itself: every intent block carries
``metadata: {language: es|en}``. A character n-gram logistic regression copes
with typos, missing accents and WhatsApp shorthand better than generic
detectors do on three-word messages. The result is added to the parse data as
``language: {"name": "es", "confidence": 0.97}``; the ``language`` slot is set
from it by ``action_detect_language`` only when the confidence reaches
``threshold``, so "ok" or "👍" keep the conversation's language.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional, Text

import joblib
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from components.fitted import load_fitted

logger = logging.getLogger(__name__)

LANGUAGE = "language"
MODEL_FILE = "language_detector.joblib"


def _example_language(message: Message) -> Optional[str]:
    metadata = message.get("metadata") or {}
    for level in ("example", "intent"):
        value = (metadata.get(level) or {}).get(LANGUAGE)
        if value:
            return str(value)
    return None


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class LanguageDetector(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"threshold": 0.75, "random_seed": 42}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        pipeline: Optional[Pipeline] = None,
    ) -> None:
        self._config = config
        self._storage = model_storage
        self._resource = resource
        self._pipeline = pipeline

    @classmethod
    def create(cls, config, model_storage, resource, execution_context: ExecutionContext):
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        texts, labels = [], []
        for message in training_data.intent_examples:
            language = _example_language(message)
            if language and message.get("text"):
                texts.append(message.get("text"))
                labels.append(language)
        if len(set(labels)) < 2:
            logger.warning("LanguageDetector: fewer than two languages in the metadata; not trained")
            return self._resource
        self._pipeline = Pipeline(
            [
                ("ngrams", TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), lowercase=True, sublinear_tf=True)),
                ("model", LogisticRegression(C=10.0, max_iter=2000, random_state=self._config["random_seed"])),
            ]
        ).fit(texts, labels)
        with self._storage.write_to(self._resource) as directory:
            joblib.dump(self._pipeline, directory / MODEL_FILE)
        return self._resource

    @classmethod
    def load(cls, config, model_storage, resource, execution_context, **kwargs):
        return cls(config, model_storage, resource, load_fitted(
            model_storage, resource, MODEL_FILE, "LanguageDetector: no trained model found; language will not be detected"
        ))

    def detect(self, text: str) -> Optional[Dict[Text, Any]]:
        if self._pipeline is None or not text or not text.strip():
            return None
        probabilities = self._pipeline.predict_proba([text])[0]
        best = int(probabilities.argmax())
        return {"name": str(self._pipeline.classes_[best]), "confidence": float(probabilities[best])}

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            detected = self.detect(message.get("text") or "")
            if detected is not None:
                detected["reliable"] = detected["confidence"] >= self._config["threshold"]
                message.set(LANGUAGE, detected, add_to_output=True)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data
