"""Sending one message to a guest, as WhatsApp allows at that moment.

Used for every send: the turn's replies (``WhatsAppOutput``) and the
dead-letter worker's resends. Inside the guest's 24-hour service window the
message goes as it is; outside it (window closed in the store, or Graph
answering 131047 "re-engagement required") a message with a text form goes
out as the approved template ``WHATSAPP_TEMPLATE_NAME`` carrying that text.
Raises the Graph client's ``GraphError`` when the message could not be sent
after the client's retries.

Addressing (``address_fields``): a guest known by phone number gets ``"to"``;
one known only by a business-scoped user id (Meta omits the number of guests
with a username) gets ``"recipient"``, as the Cloud API asks since 2026.

Public API (the staff outreach and the dead-letter worker call it)::

    await MessageSender(config, graph, store).send(phone_number_id, recipient, message, fallback_text)

``recipient``: the phone number or user id (``outbound.parse_sender_id`` of a
conversation id); ``message``: a Graph message body without addressing
(``{"type": "text", "text": {"body": ...}}``); ``fallback_text``: the text a
template carries outside the window (None: never a template). Returns Graph's
answer.
"""
from __future__ import annotations

import logging
from typing import Any, Dict, Optional

from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.graph import REENGAGEMENT_REQUIRED, GraphClient, GraphError
from connectors.whatsapp.store import StateStore

logger = logging.getLogger(__name__)

TEMPLATE_PARAM_LIMIT = 1024


def is_user_id(recipient: str) -> bool:
    """A business-scoped user id ("US.13491208655302741918", parent ids "US.ENT.…"),
    not a phone number (digits only)."""
    return not str(recipient).isdigit()


def address_fields(recipient: str) -> Dict[str, str]:
    return {"recipient": recipient} if is_user_id(recipient) else {"to": recipient}


def shorten(text: str, limit: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class MessageSender:
    def __init__(self, config: WhatsAppConfig, graph: GraphClient, store: StateStore) -> None:
        self.config, self.graph, self.store = config, graph, store

    async def send(self, phone_number_id: str, recipient: str, message: Dict[str, Any], fallback_text: Optional[str]) -> Dict[str, Any]:
        """Graph's answer; ``fallback_text`` is the text a template would carry (None: never a template)."""
        body = {"recipient_type": "individual", **address_fields(recipient), **message}
        template = self.template_body(recipient, fallback_text) if message.get("type") != "template" else None
        if template is not None and not await self._window_open(f"{phone_number_id}:{recipient}"):
            return await self.graph.send_message(phone_number_id, template)
        try:
            return await self.graph.send_message(phone_number_id, body)
        except GraphError as exc:
            if exc.code != REENGAGEMENT_REQUIRED or template is None:
                raise
        return await self.graph.send_message(phone_number_id, template)

    def template_body(self, recipient: str, text: Optional[str]) -> Optional[Dict[str, Any]]:
        if not (self.config.template_name and text):
            return None
        # template parameters may not hold new lines, tabs or runs of spaces
        parameter = shorten(text, TEMPLATE_PARAM_LIMIT)
        return {
            "recipient_type": "individual",
            **address_fields(recipient),
            "type": "template",
            "template": {
                "name": self.config.template_name,
                "language": {"code": self.config.template_language},
                "components": [{"type": "body", "parameters": [{"type": "text", "text": parameter}]}],
            },
        }

    async def _window_open(self, conversation: str) -> bool:
        try:
            return await self.store.window_open(conversation)
        except Exception:  # the store failing must not stop replies: assume the guest just wrote
            logger.warning("could not read the WhatsApp service window; sending free-form")
            return True
