"""The settings core: one ``PROJECT_ROOT`` and one ``ConfigError``.

Each package reads its own settings (actions/config.py, connectors/settings.py,
dlq/config.py, staff/config.py, components/stores.py), but they all report a
bad value with this one exception type, so a deployment that fails to start
shows the same kind of error whichever part was misconfigured, and callers can
catch one class.
"""
from __future__ import annotations

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A setting is missing or invalid; the message names it."""
