"""The hook through which channels hand over sends that failed after every
retry: ``"package.module:callable"`` (a function, coroutine function or class
to instantiate) receiving one failure record. Shared by the WhatsApp and Gmail
channels; the project's dead-letter queue plugs in here."""
from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any, Awaitable, Callable, TypeVar, Union

logger = logging.getLogger(__name__)
Failure = TypeVar("Failure")
Sink = Callable[[Any], Union[None, Awaitable[None]]]


def load_sink(path: str, default: Sink) -> Sink:
    """The callable named by ``path``; ``default`` when ``path`` is empty."""
    if not path:
        return default
    module_name, sep, attribute = path.partition(":")
    if not sep:
        module_name, _, attribute = path.rpartition(".")
    target = getattr(importlib.import_module(module_name), attribute)
    return target() if inspect.isclass(target) else target


async def deliver(sink: Sink, failed: Failure, fallback: Callable[[Failure], None]) -> None:
    """Hand ``failed`` to ``sink``; if the sink itself fails, log it and call ``fallback``."""
    try:
        result = sink(failed)
        if inspect.isawaitable(result):
            await result
    except Exception:  # the sink failing must not stop the channel
        logger.exception("dead-letter sink failed")
        fallback(failed)
