"""Every process-wide change this project makes to Rasa, installed in one place.

``install()`` is called by the tracker store class that endpoints.yml names
(``components.stores.EnvironmentSQLTrackerStore``), so every ``rasa run`` /
``rasa shell`` of this project gets all of them, whatever channels
credentials.yml lists (REST only included); channels may call it again
(idempotent). Each guard checks the Rasa code it changes (``SUPPORTED_RASA``
and the seam's shape) and raises ``SafeguardSeamMissing`` at startup when an
upgrade moved it, like connectors/action_retry.py does.

What is installed:

1. **action retry** (connectors/action_retry.py): refused action-server
   connections retried while the action server restarts.
2. **action-server secret**: every call to the action server carries
   ``Authorization: Bearer <ACTION_SERVER_TOKEN>`` (actions/webhook_auth.py);
   the action server refuses calls without it.
3. **strict tracker store** (connectors/strict_tracker_store.py): a tracker
   store that is down fails the turn instead of Rasa's silent in-memory
   fallback, for every ``FailSafeTrackerStore`` of the process.
4. **message length cap before NLU**: a message longer than
   ``MAX_MESSAGE_CHARS`` (default 2000) is not parsed (a 50 KB message held
   the NLU for 9 s and 7 GB); the guest gets ``utter_message_too_long``.
5. **no internal intents from guests**: text starting with ``/`` (Rasa's
   ``RegexMessageHandler`` turns ``/intent{"entity": ...}`` into that intent
   and entities) is honoured only when it is exactly the payload of a button
   the bot offered in this conversation (buttons keep working) or
   ``/restart``; ``EXTERNAL_*`` intents never (they are for ``trigger_intent``
   on the token-protected API, which does not pass through here). Anything
   else is parsed by the NLU as ordinary text, with the slashes removed.
6. **urgent messages**: a message with an urgent keyword of the hotel
   (actions/urgent.py, both languages, inflections) runs ``action_handoff``
   (urgent staff request + pause) instead of the predicted dialogue, whatever
   the NLU made of it.
7. **REST channel**: its ``input_channel`` is always ``rest`` (a client
   could name any channel); its sender ids can never take another channel's
   form (``<phone>@<phone_number_id>``, e-mail addresses: anything with
   ``@``, ``+`` or outside ``[A-Za-z0-9_.:-]{1,64}``); outside development
   it needs ``Authorization: Bearer $REST_CHANNEL_TOKEN`` and is off without
   that variable.
8. **request body cap** of Rasa's HTTP server (``RASA_MAX_BODY_BYTES``,
   default 8 MiB, the WhatsApp channel's own cap, instead of Sanic's 100 MB).
9. **several requests in one message** (connectors/multi_request.py): side
   questions answered as turns of their own, inside guards 4-6 (installed first).
10. **inference off the event loop** (connectors/perf.py): the model graph
    (parse, predictions) runs in one worker thread, so webhooks are answered
    while turns run.
"""
from __future__ import annotations

import hmac
import inspect
import json
import logging
import os
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional

from connectors.seams import source_of as _source
from core.settings import ConfigError

logger = logging.getLogger(__name__)

SUPPORTED_RASA = "3.6.21"
TOO_LONG_RESPONSE = "utter_message_too_long"  # sent as response="utter_message_too_long"
URGENT_ACTION = "action_handoff"
ALWAYS_ALLOWED_COMMANDS = ("/restart",)
# Payloads the channels build themselves (connectors/whatsapp: a receipt photo, a shared
# location): allowed with at most these entities, short string values. Typing one
# gives no more than saying "I paid for BK100002" or "where are you?".
CHANNEL_PAYLOADS = {"hotel_location": frozenset(), "payment_confirmation": frozenset({"booking_ref"})}
MAX_ENTITY_CHARS = 40
BUTTONS_LOOKBACK_EVENTS = 200  # how far back an offered button still counts
REST_SENDER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class SafeguardSeamMissing(RuntimeError):
    """The Rasa code a safeguard changes is not what it expects."""


@dataclass(frozen=True)
class InputLimits:
    max_message_chars: int = 2000
    # as large as the WhatsApp channel's own cap (WHATSAPP_MAX_BODY_BYTES): Meta's biggest batches
    # (5,000 messages, ~2 MB) must reach the channel; Sanic's default is 100 MB
    max_body_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(cls) -> "InputLimits":
        def number(name: str, default: int, minimum: int) -> int:
            raw = os.environ.get(name, "").strip()
            if not raw:
                return default
            if not raw.isdigit() or int(raw) < minimum:
                raise ConfigError(f"{name} must be a whole number of at least {minimum}, got {raw!r}")
            return int(raw)

        return cls(
            max_message_chars=number("MAX_MESSAGE_CHARS", cls.max_message_chars, 100),
            max_body_bytes=number("RASA_MAX_BODY_BYTES", cls.max_body_bytes, 64_000),
        )


# -- pure decisions (unit-tested without Rasa) ------------------------------------


def is_command(text: Optional[str]) -> bool:
    """Rasa reads text that starts with '/' (after strip) as an intent payload."""
    return (text or "").strip().startswith("/")


def command_intent(text: str) -> str:
    body = text.strip()[1:]
    return re.split(r"[{@\s]", body, maxsplit=1)[0]


def offered_payloads(events: Iterable[Dict[str, Any]]) -> set[str]:
    """Payloads of the buttons (and quick replies) the bot sent in these events."""
    payloads = set()
    for event in events:
        if event.get("event") != "bot":
            continue
        data = event.get("data") or {}
        for button in list(data.get("buttons") or []) + list(data.get("quick_replies") or []):
            payload = button.get("payload") if isinstance(button, dict) else None
            if isinstance(payload, str):
                payloads.add(payload.strip())
    return payloads


def _channel_payload(text: str) -> bool:
    intent = command_intent(text)
    if intent not in CHANNEL_PAYLOADS:
        return False
    rest = text.strip()[1 + len(intent):]
    if not rest:
        return True
    try:
        entities = json.loads(rest)
    except ValueError:
        return False
    return (isinstance(entities, dict) and set(entities) <= CHANNEL_PAYLOADS[intent]
            and all(isinstance(v, str) and len(v) <= MAX_ENTITY_CHARS for v in entities.values()))


def command_allowed(text: str, offered: set[str]) -> bool:
    """A '/...' text is honoured only as a button the bot offered, /restart or a
    channel payload (CHANNEL_PAYLOADS); never EXTERNAL_*."""
    if command_intent(text).upper().startswith("EXTERNAL_"):
        return False
    stripped = text.strip()
    return stripped in ALWAYS_ALLOWED_COMMANDS or stripped in offered or _channel_payload(stripped)


def neutralised(text: str) -> str:
    """The text the NLU reads instead of a refused payload: no leading slashes."""
    return text.strip().lstrip("/").strip() or "?"


def forged_rest_sender(sender_id: Any) -> bool:
    """True when a REST sender id could be mistaken for another channel's (or is malformed)."""
    return not (isinstance(sender_id, str) and REST_SENDER.fullmatch(sender_id))


# -- installation -----------------------------------------------------------------

_installed = False
_limits = InputLimits()


def _check_version() -> None:
    import rasa

    if rasa.__version__ != SUPPORTED_RASA:
        raise SafeguardSeamMissing(f"connectors/safeguards.py is written for rasa {SUPPORTED_RASA}, found {rasa.__version__}")


def check_seams() -> None:
    """Raise ``SafeguardSeamMissing`` unless every seam is where the guards expect it."""
    from rasa.core.actions.action import RemoteAction
    from rasa.core.channels.rest import RestInput
    from rasa.core.processor import MessageProcessor
    from rasa.core.tracker_store import FailSafeTrackerStore

    _check_version()
    problems = []
    if list(inspect.signature(getattr(MessageProcessor.handle_message, "__wrapped__", MessageProcessor.handle_message)).parameters) != ["self", "message"]:
        problems.append("MessageProcessor.handle_message no longer takes (message)")
    handle_source = _source(MessageProcessor._handle_message_with_tracker)
    if "if message.parse_data:" not in handle_source or "self.parse_message(message, tracker)" not in handle_source:
        problems.append("MessageProcessor._handle_message_with_tracker no longer parses message.parse_data / parse_message")
    for name in ("_run_action", "log_message", "save_tracker"):
        if not hasattr(MessageProcessor, name):
            problems.append(f"MessageProcessor.{name} is gone")
    rest_source = _source(RestInput.blueprint)
    for call in ("self._extract_sender(request)", "self._extract_input_channel(request)"):
        if call not in rest_source:
            problems.append(f"RestInput's webhook no longer calls {call}")
    if "on_tracker_store_error" not in inspect.signature(FailSafeTrackerStore.__init__).parameters:
        problems.append("FailSafeTrackerStore no longer takes on_tracker_store_error")
    if "self.action_endpoint.request(" not in _source(RemoteAction.run):
        problems.append("RemoteAction.run no longer calls self.action_endpoint.request(...)")
    if problems:
        raise SafeguardSeamMissing("cannot install the safeguards (connectors/safeguards.py): " + "; ".join(problems))


def install(limits: Optional[InputLimits] = None) -> None:
    """Install every safeguard in this process (idempotent)."""
    global _installed, _limits
    from actions.webhook_auth import action_server_token

    if _installed:
        _cap_request_bodies(_limits)
        return
    check_seams()
    _limits = limits or InputLimits.from_env()
    token = action_server_token()  # production without ACTION_SERVER_TOKEN stops here
    rest_token = _rest_token()
    from connectors import action_retry, multi_request, perf

    action_retry.install()
    perf.install()
    multi_request.install()  # before _install_input_guard: the guards see the whole message first
    _install_action_auth(token)
    _install_strict_tracker_store()
    _install_input_guard()
    _install_rest_guard(rest_token)
    _cap_request_bodies(_limits)
    _installed = True
    logger.info(
        "safeguards installed: messages capped at %d characters, bodies at %d bytes, REST %s",
        _limits.max_message_chars, _limits.max_body_bytes,
        "open (development)" if rest_token is None else ("token-protected" if rest_token else "off"),
    )


def installed() -> bool:
    return _installed


def _rest_token() -> Optional[str]:
    """None: REST open (development); "": REST off; else the token it requires."""
    from actions.webhook_auth import MIN_TOKEN_CHARS, is_development

    token = os.environ.get("REST_CHANNEL_TOKEN", "").strip()
    if token and len(token) < MIN_TOKEN_CHARS and not is_development():
        raise ConfigError(f"REST_CHANNEL_TOKEN must be at least {MIN_TOKEN_CHARS} characters")
    if token:
        return token
    return None if is_development() else ""


def _install_action_auth(token: str) -> None:
    from rasa.core.actions.action import RemoteAction

    from actions.webhook_auth import authorization_header

    original_init = RemoteAction.__init__
    header = authorization_header(token)

    def __init__(self, name, action_endpoint) -> None:
        if action_endpoint is not None and (action_endpoint.headers or {}).get("Authorization") != header:
            action_endpoint = action_endpoint.copy()
            action_endpoint.headers = dict(action_endpoint.headers or {}, Authorization=header)
        original_init(self, name, action_endpoint)

    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    RemoteAction.__init__ = __init__  # type: ignore[method-assign]


def _install_strict_tracker_store() -> None:
    from rasa.core.tracker_store import FailSafeTrackerStore

    from connectors.strict_tracker_store import _fail_the_turn

    original_init = FailSafeTrackerStore.__init__

    def __init__(self, tracker_store, on_tracker_store_error=None, fallback_tracker_store=None) -> None:
        original_init(self, tracker_store, _fail_the_turn, fallback_tracker_store)

    __init__.__wrapped__ = original_init  # type: ignore[attr-defined]
    FailSafeTrackerStore.__init__ = __init__  # type: ignore[method-assign]


def _install_input_guard() -> None:
    from rasa.core.processor import MessageProcessor

    original_handle = MessageProcessor.handle_message
    original_with_tracker = MessageProcessor._handle_message_with_tracker

    async def handle_message(self, message):
        text = message.text or ""
        if len(text) > _limits.max_message_chars:
            return await _refuse_long_message(self, message)
        if _is_urgent(text, message.metadata):
            return await _urgent_turn(self, message)
        from journey.rasa_turn import is_opt_out, opt_out_turn  # "baja"/"stop": the journey's opt-out

        if is_opt_out(text):
            return await opt_out_turn(self, message)
        return await original_handle(self, message)

    async def _handle_message_with_tracker(self, message, tracker) -> None:
        if not message.parse_data and is_command(message.text):
            offered = offered_payloads(e.as_dict() for e in list(tracker.events)[-BUTTONS_LOOKBACK_EVENTS:])
            if not command_allowed(message.text, offered):
                logger.warning("conversation %s: refused the intent payload %r (not a button the bot offered)",
                               message.sender_id, message.text[:80])
                from rasa.core.channels.channel import UserMessage

                plain = UserMessage(neutralised(message.text), message.output_channel, message.sender_id,
                                    input_channel=message.input_channel, message_id=message.message_id,
                                    metadata=message.metadata)
                parse_data = await self.parse_message(plain, tracker)
                parse_data["text"] = message.text
                message.parse_data = parse_data
        await original_with_tracker(self, message, tracker)

    handle_message.__wrapped__ = original_handle  # type: ignore[attr-defined]
    _handle_message_with_tracker.__wrapped__ = original_with_tracker  # type: ignore[attr-defined]
    MessageProcessor.handle_message = handle_message  # type: ignore[method-assign]
    MessageProcessor._handle_message_with_tracker = _handle_message_with_tracker  # type: ignore[method-assign]


def _collected(message) -> Optional[List[Dict[str, Any]]]:
    from rasa.core.channels.channel import CollectingOutputChannel

    return message.output_channel.messages if isinstance(message.output_channel, CollectingOutputChannel) else None


async def _refuse_long_message(processor, message):
    """Tell the guest, in their language, that the message is too long; nothing is parsed."""
    from rasa.shared.core.trackers import DialogueStateTracker

    logger.warning("conversation %s: message of %d characters refused (limit %d)",
                   message.sender_id, len(message.text or ""), _limits.max_message_chars)
    tracker = await processor.tracker_store.retrieve(message.sender_id)
    if tracker is None:
        tracker = DialogueStateTracker(message.sender_id, processor.domain.slots)
    if TOO_LONG_RESPONSE in processor.domain.responses:
        reply = await processor.nlg.generate(
            TOO_LONG_RESPONSE, tracker, message.output_channel.name(), max_chars=_limits.max_message_chars
        )
    else:  # a model trained before the response existed
        reply = {"text": f"Tu mensaje es demasiado largo (máximo {_limits.max_message_chars} caracteres). / "
                         f"Your message is too long (at most {_limits.max_message_chars} characters)."}
    await message.output_channel.send_response(message.sender_id, reply or {})
    return _collected(message)


def _is_urgent(text: str, metadata: Optional[Dict[str, Any]]) -> bool:
    from actions import config
    from actions.urgent import is_urgent

    hotel_meta = (metadata or {}).get("hotel") if isinstance((metadata or {}).get("hotel"), dict) else {}
    return is_urgent(text, config.hotel(hotel_meta.get("id")))


async def _urgent_turn(processor, message):
    """Log the message, then run the urgent handoff instead of the predicted dialogue."""
    import rasa.core.actions.action
    from rasa.core.policies.policy import PolicyPrediction
    from rasa.shared.core.constants import ACTION_LISTEN_NAME
    from rasa.shared.core.events import ActionExecuted

    tracker = await processor.log_message(message, should_save_tracker=False)
    if not tracker.is_paused():
        logger.warning("conversation %s: urgent keyword, handing over to staff", message.sender_id)
        action = rasa.core.actions.action.action_for_name_or_text(URGENT_ACTION, processor.domain, processor.action_endpoint)
        prediction = PolicyPrediction.for_action_name(processor.domain, URGENT_ACTION, "urgent_keyword")
        await processor._run_action(action, tracker, message.output_channel, processor.nlg, prediction)
        tracker.update(ActionExecuted(ACTION_LISTEN_NAME))
    await processor.save_tracker(tracker)
    return _collected(message)


def _install_rest_guard(rest_token: Optional[str]) -> None:
    from rasa.core.channels.rest import RestInput
    from sanic.exceptions import Forbidden, InvalidUsage, Unauthorized

    original_sender = RestInput._extract_sender

    async def _extract_sender(self, request):
        if type(self).name() == "rest":  # other channels built on RestInput have their own checks
            if rest_token == "":
                raise Forbidden("the REST channel is off (set REST_CHANNEL_TOKEN to use it outside development)")
            if rest_token is not None:
                given = (request.headers.get("Authorization") or "").encode("utf-8", "replace")
                if not hmac.compare_digest(given, f"Bearer {rest_token}".encode()):
                    raise Unauthorized("REST channel token missing or wrong", scheme="Bearer")
        sender = await original_sender(self, request)
        if type(self).name() == "rest" and forged_rest_sender(sender):
            raise InvalidUsage("sender must be 1-64 characters of A-Z a-z 0-9 _ . : - (no channel's ids)")
        return sender

    def _extract_input_channel(self, request) -> str:
        return self.name()  # never the client's "input_channel": it could claim to be WhatsApp

    _extract_sender.__wrapped__ = original_sender  # type: ignore[attr-defined]
    RestInput._extract_sender = _extract_sender  # type: ignore[method-assign]
    RestInput._extract_input_channel = _extract_input_channel  # type: ignore[method-assign]


def _cap_request_bodies(limits: InputLimits) -> None:
    """Lower Sanic's 100 MB request size on the Rasa apps of this process (read per connection)."""
    from sanic import Sanic

    for app in list(getattr(Sanic, "_app_registry", {}).values()):
        if app.config.REQUEST_MAX_SIZE > limits.max_body_bytes:
            app.config.REQUEST_MAX_SIZE = limits.max_body_bytes
