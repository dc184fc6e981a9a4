"""Sending a step's message: through ``connectors.outreach`` (the guest's own
channel, WhatsApp window or template, Gmail thread, recorded in the tracker),
plus the one case outreach leaves out — **first contact**, a guest who never
wrote (booked by phone or on a website): WhatsApp only allows a template then,
and e-mail starts a new thread. Both are recorded in the tracker the same way.

Outcomes are typed so the runner maps them once:
``Sent`` (delivery mode), ``Refused`` (will never go: skip the step),
``OptedOutOnChannel`` (WhatsApp says the guest stopped messages),
``TryLater`` (transient: the dead-letter queue retries the step).
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional

from connectors import outreach as outreach_module
from connectors.gmail import compose
from connectors.gmail.api import GmailError
from connectors.outreach import (
    ChannelNotConfigured,
    ConversationUnknown,
    DeliveryFailed,
    Outreach,
    OutreachError,
    TemplateRef,
    WindowClosed,
    template_message,
)
from connectors.whatsapp.graph import GraphError
from journey.messages import Message
from journey.optout import GRAPH_OPTED_OUT

logger = logging.getLogger(__name__)
AUTHOR = "journey"
WHATSAPP_ID = re.compile(r"^\d{6,20}@\d{1,32}$")
EMAIL_ID = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[A-Za-z]{2,}$")


class TryLater(Exception):
    """Transient: the channel or Rasa did not answer; the step is retried."""


class Refused(Exception):
    """The message can never go this way (no template outside the window, channel not set up)."""


class OptedOutOnChannel(Exception):
    """WhatsApp refused it because the guest stopped the business's messages."""


@dataclass(frozen=True)
class Sent:
    channel: str  # whatsapp | gmail | rest
    mode: str  # text | template | email | queued | recorded


def channel_of(conversation_id: str) -> str:
    if WHATSAPP_ID.match(conversation_id):
        return "whatsapp"
    if EMAIL_ID.match(conversation_id):
        return "gmail"
    return "chat"


class JourneyDelivery:
    def __init__(self, outreach: Outreach) -> None:
        self.outreach = outreach

    async def send(self, conversation_id: str, message: Message, metadata: Mapping[str, Any]) -> Sent:
        template = None
        if message.template is not None:
            template = TemplateRef(message.template.name, message.template.language, tuple(message.template_parameters))
        try:
            delivery = await self.outreach.send_to_guest(
                conversation_id, message.text, author=AUTHOR, template=template, metadata=dict(metadata))
        except ConversationUnknown:
            return await self._first_contact(conversation_id, message, template, metadata)
        except (WindowClosed, ChannelNotConfigured, ValueError) as exc:
            raise Refused(str(exc)) from None
        except (DeliveryFailed, OutreachError) as exc:
            raise TryLater(str(exc)) from None
        if delivery.status == outreach_module.QUEUED:
            mode = "queued"  # the channel's dead-letter entry resends it
        elif delivery.status == outreach_module.RECORDED_ONLY:
            mode = "recorded"
        elif delivery.channel == "gmail":
            mode = "email"
        else:
            mode = "template" if delivery.as_template else "text"
        return Sent(delivery.channel, mode)

    async def _first_contact(self, conversation_id: str, message: Message, template: Optional[TemplateRef],
                             metadata: Mapping[str, Any]) -> Sent:
        channel = channel_of(conversation_id)
        if channel == "whatsapp":
            if self.outreach.whatsapp is None:
                raise Refused("the WhatsApp channel is not configured in this process")
            if template is None:
                raise Refused("first WhatsApp contact needs the step's approved template (none for this language)")
            wa_id, _, phone_number_id = conversation_id.rpartition("@")
            try:
                await self.outreach.graph.send_message(phone_number_id, template_message(wa_id, template, message.text))
            except GraphError as exc:
                if exc.code == GRAPH_OPTED_OUT:
                    raise OptedOutOnChannel(str(exc)) from None
                if exc.status and 400 <= exc.status < 500 and exc.status != 429:
                    raise Refused(f"Graph API {exc.status} (code {exc.code})") from None
                raise TryLater(f"Graph API {exc.status} (code {exc.code})") from None
            sent = Sent("whatsapp", "template")
        elif channel == "gmail":
            if self.outreach.gmail is None:
                raise Refused("the Gmail channel is not configured in this process")
            sender = (self.outreach.gmail.address or "").lower()
            raw, _ = compose.build(compose.Reply(to=conversation_id, subject=message.subject, text=message.text,
                                                 sender=sender, sender_name=self.outreach.sender_name))
            try:
                await self.outreach.gmail_client.send(raw, None)
            except GmailError as exc:
                if getattr(exc, "retryable", False) or not exc.status:
                    raise TryLater(f"Gmail {exc.status}") from None
                raise Refused(f"Gmail {exc.status}") from None
            sent = Sent("gmail", "email")
        else:
            raise Refused(f"no channel reaches {conversation_id!r} (not a WhatsApp number or an e-mail address)")
        await self._record(conversation_id, message, sent, metadata)
        return sent

    async def _record(self, conversation_id: str, message: Message, sent: Sent, metadata: Mapping[str, Any]) -> None:
        meta: Dict[str, Any] = {**dict(metadata), "author": AUTHOR, "outreach": True, "channel": sent.channel,
                                "as_template": sent.mode == "template", "delivery": "sent", "first_contact": True}
        if message.template is not None and sent.mode == "template":
            meta["template"] = message.template.name
        event = {"event": "bot", "text": message.text, "timestamp": self.outreach.clock(), "data": {}, "metadata": meta}
        try:
            await self.outreach.rasa.append_events(conversation_id, [event])
        except Exception as exc:  # delivered all the same; the transcript misses it
            logger.error("journey: first message to a %s guest sent but not recorded in the tracker: %s", sent.channel, exc)

    async def append_events(self, conversation_id: str, events: List[Dict[str, Any]]) -> None:
        """Put the conversation in the state the step's message creates (e.g. an open offer)."""
        await self.outreach.rasa.append_events(conversation_id, events)
