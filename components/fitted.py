"""Loading the scikit-learn pipelines the project's NLU components keep in Rasa's model storage."""
from __future__ import annotations

import logging
from typing import Any, Optional

import joblib
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage

logger = logging.getLogger(__name__)


def load_fitted(model_storage: ModelStorage, resource: Resource, file_name: str, when_missing: str) -> Optional[Any]:
    """The pipeline ``train`` stored as ``file_name``, or None (``when_missing`` logged) when the model holds none:
    Rasa loads a component it never trained (e.g. ``rasa train core``) and the bot runs without it."""
    try:
        with model_storage.read_from(resource) as directory:
            return joblib.load(directory / file_name)
    except (ValueError, FileNotFoundError):
        logger.warning(when_missing)
        return None
