"""What the process-wide Rasa patches share to check the code they patch is still there."""
from __future__ import annotations

import inspect
from typing import Any


def source_of(function: Any) -> str:
    """The source of ``function`` (of what it wraps, when it is already patched); "" when none is available."""
    try:
        return inspect.getsource(getattr(function, "__wrapped__", function))
    except (OSError, TypeError):
        return ""
