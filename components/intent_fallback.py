"""FallbackClassifier that knows which intents are not really in conflict.

Rasa's FallbackClassifier predicts ``nlu_fallback`` when the top two intents
are closer than ``ambiguity_threshold``. Two cases are not ambiguous for this
assistant, and guests hit them all the time:

- intents of one flow (``same_flow``: check_availability / make_reservation
  both collect the same stay and end in a booking): the top one is kept;
- a greeting or thanks beside a request ("Hello! could I book a single
  from the 4th to the 6th?"): the request is what the guest came for, so it
  becomes the intent whenever it is in the top two (``social``), even when the
  greeting scored higher.

Everything else behaves as FallbackClassifier (threshold, ambiguity).
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import THRESHOLD_KEY, FallbackClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY
from rasa.shared.nlu.training_data.message import Message

SAME_FLOW_KEY = "same_flow"
SOCIAL_KEY = "social"
MIN_REQUEST_CONFIDENCE_KEY = "min_request_confidence"
NOT_REQUESTS_KEY = "not_requests"
_SOCIAL_SHARE = "_social_confidence"  # set on a message between _prefer_request and the threshold check


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class FlowAwareFallbackClassifier(FallbackClassifier):
    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {
            **FallbackClassifier.get_default_config(),
            SAME_FLOW_KEY: [["check_availability", "make_reservation"]],
            # not "affirm": a yes with words ("sí, cancélala ya") answers the bot's question
            SOCIAL_KEY: ["greet", "thank"],
            # never preferred over a greeting
            NOT_REQUESTS_KEY: ["out_of_scope", "bot_challenge", "goodbye", "deny", "affirm", "nlu_fallback"],
            # a request behind a greeting must still be this likely to win
            MIN_REQUEST_CONFIDENCE_KEY: 0.15,
        }

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._prefer_request(message)
        return super().process(messages)

    def _prefer_request(self, message: Message) -> None:
        ranking = message.data.get(INTENT_RANKING_KEY) or []
        if len(ranking) < 2:
            return
        first, second = ranking[0], ranking[1]
        social = set(self.component_config[SOCIAL_KEY])
        if (
            first.get(INTENT_NAME_KEY) in social
            and second.get(INTENT_NAME_KEY) not in social
            and second.get(INTENT_NAME_KEY) not in set(self.component_config[NOT_REQUESTS_KEY])
            and second.get(PREDICTED_CONFIDENCE_KEY, 0.0) >= self.component_config[MIN_REQUEST_CONFIDENCE_KEY]
        ):
            ranking[0], ranking[1] = second, first
            message.data[INTENT] = dict(second)
            # the model's doubt was between "greeting" and "greeting + request": together they count
            message.data[_SOCIAL_SHARE] = first.get(PREDICTED_CONFIDENCE_KEY, 0.0)

    def _nlu_confidence_below_threshold(self, message: Message):
        below, confidence = super()._nlu_confidence_below_threshold(message)
        share = message.data.pop(_SOCIAL_SHARE, 0.0)
        if below and confidence + share >= self.component_config[THRESHOLD_KEY]:
            return False, confidence
        return below, confidence

    def _nlu_prediction_ambiguous(self, message: Message):
        ranking = message.data.get(INTENT_RANKING_KEY) or []
        if len(ranking) >= 2:
            names = {ranking[0].get(INTENT_NAME_KEY), ranking[1].get(INTENT_NAME_KEY)}
            social = set(self.component_config[SOCIAL_KEY])
            if any(names <= set(group) for group in self.component_config[SAME_FLOW_KEY]):
                return False, None
            requests = names - social - set(self.component_config[NOT_REQUESTS_KEY])
            if len(names & social) == 1 and len(requests) == 1:  # a greeting and a request: the request is first
                return False, None
        return super()._nlu_prediction_ambiguous(message)
