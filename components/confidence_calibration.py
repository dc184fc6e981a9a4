"""Temperature scaling of the intent confidences (Guo et al. 2017, "On
Calibration of Modern Neural Networks").

A classifier's confidences are rarely calibrated: DIET trained to convergence
was over-confident (wrong intents at 0.99+, T > 1 needed); the regularised
logistic regression of components/intent_classifier.py is under-confident
(right intents at 0.3-0.5, T < 1 needed), so fallback and handoff thresholds
cannot tell doubt from certainty. Dividing the logits by a temperature T
(fitted on held-out examples by scripts/nlu_report.py, which prints the
reliability bins and ECE at T = 1 and at the configured T) keeps the ranking
and makes a 0.7 mean about 70 % right. With softmax confidences p_i,
softmax(logit_i / T) = p_i^(1/T) / sum_j p_j^(1/T).

Needs every intent in the ranking (NgramIntentClassifier gives them all; DIET
needs ``ranking_length: 0``), else the rescaled confidences are only
renormalised over the top few.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

TEMPERATURE_KEY = "temperature"
_FLOOR = 1e-12


def rescale(confidences: List[float], temperature: float) -> List[float]:
    """p_i^(1/T), normalised; T == 1 returns the same distribution."""
    logs = [math.log(max(p, _FLOOR)) / temperature for p in confidences]
    top = max(logs)
    weights = [math.exp(value - top) for value in logs]
    total = sum(weights)
    return [w / total for w in weights]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class TemperatureScaling(GraphComponent):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {TEMPERATURE_KEY: 1.0}

    def __init__(self, config: Dict[Text, Any]) -> None:
        temperature = float(config[TEMPERATURE_KEY])
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self._temperature = temperature

    @classmethod
    def create(
        cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource, execution_context: ExecutionContext
    ) -> "TemperatureScaling":
        return cls(config)

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            ranking = message.get(INTENT_RANKING_KEY) or []
            if not ranking or self._temperature == 1.0:
                continue
            scaled = rescale([float(r.get(PREDICTED_CONFIDENCE_KEY) or 0.0) for r in ranking], self._temperature)
            new_ranking = [
                {**r, PREDICTED_CONFIDENCE_KEY: p} for r, p in zip(ranking, scaled)
            ]
            new_ranking.sort(key=lambda r: r[PREDICTED_CONFIDENCE_KEY], reverse=True)
            message.set(INTENT_RANKING_KEY, new_ranking, add_to_output=True)
            top = new_ranking[0]
            if (message.get(INTENT) or {}).get(INTENT_NAME_KEY) == top.get(INTENT_NAME_KEY):
                message.set(INTENT, {**message.get(INTENT), PREDICTED_CONFIDENCE_KEY: top[PREDICTED_CONFIDENCE_KEY]},
                            add_to_output=True)
        return messages
