"""The secret Rasa shows the action server on every ``POST /webhook``, and the
deployment mode that decides where it comes from.

Why: the action server runs any action for whoever posts a tracker to
/webhook (cancel a booking, confirm a payment, write a booking that skipped
every form check). Only Rasa may call it, so both processes share a secret:

- production (``ASSISTANT_ENV=production``): ``ACTION_SERVER_TOKEN`` from the
  environment, at least 32 characters; both processes refuse to start without.
- development (the embedded default, ``make run``): generated once into
  ``var/action-server.token`` (mode 0600) by whichever process needs it first;
  the other reads the same file. ``ACTION_SERVER_TOKEN`` still wins when set.

Rasa sends it as ``Authorization: Bearer <token>``, added to the action
endpoint of endpoints.yml by ``connectors/safeguards.py``; the action server
compares it in constant time (``actions/server.py``).
"""
from __future__ import annotations

import hmac
import os
import secrets
import uuid
from pathlib import Path

from core.settings import PROJECT_ROOT, ConfigError

MODES = ("development", "production")
TOKEN_ENV = "ACTION_SERVER_TOKEN"
MIN_TOKEN_CHARS = 32
DEFAULT_TOKEN_FILE = PROJECT_ROOT / "var" / "action-server.token"


def deployment_mode() -> str:
    """``ASSISTANT_ENV``: ``development`` (default, embedded setup) or ``production``."""
    mode = os.environ.get("ASSISTANT_ENV", "development").strip().lower() or "development"
    if mode not in MODES:
        raise ConfigError(f"ASSISTANT_ENV must be one of {', '.join(MODES)}, got {mode!r}")
    return mode


def is_development() -> bool:
    return deployment_mode() == "development"


def _generated_token(path: Path) -> str:
    """The token in ``path``, written first (atomically, 0600) when there is none."""
    try:
        token = path.read_text(encoding="ascii").strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_urlsafe(32))
    try:
        os.link(draft, path)  # fails if another process wrote it first: theirs wins
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text(encoding="ascii").strip()


def action_server_token(token_file: Path = DEFAULT_TOKEN_FILE) -> str:
    """The shared secret, or ConfigError when production lacks a strong one."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        if len(token) < MIN_TOKEN_CHARS and not is_development():
            raise ConfigError(f"{TOKEN_ENV} must be at least {MIN_TOKEN_CHARS} characters")
        return token
    if not is_development():
        raise ConfigError(f"{TOKEN_ENV} must be set when ASSISTANT_ENV=production (python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    return _generated_token(token_file)


def authorization_header(token: str) -> str:
    return f"Bearer {token}"


def is_authorized(header_value: str | None, token: str) -> bool:
    """Constant-time check of an ``Authorization`` header against the token."""
    expected = authorization_header(token).encode()
    return hmac.compare_digest((header_value or "").strip().encode("utf-8", "replace"), expected)
