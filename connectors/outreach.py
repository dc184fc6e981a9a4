"""The hotel writes to a guest: one message into a conversation, on the
guest's own channel, outside any turn of the bot.

    delivery = await send_to_guest("34600111222@1234567890", "Your room is ready",
                                   author="alice", template=TemplateRef("room_ready", "es"))

Used by the staff console (a person answers a handed-over guest), the
proactive journey and payment checks (the QR code after staff approve).

What it does, in order:

1. Reads the conversation from Rasa's HTTP API (``GET /conversations/<id>/tracker``)
   and finds the guest's last message: its channel (``input_channel``) and
   metadata (the Gmail thread; the hotel) decide how the message travels.
   A conversation without a guest message raises ``ConversationUnknown``.
2. Sends it:
   - ``whatsapp``: through the project's Graph client. Inside the 24-hour
     customer-service window (the guest's last WhatsApp message is less than
     24 h old) as free text; outside it as the approved template (``template``,
     else the channel's ``WHATSAPP_TEMPLATE_NAME`` carrying the text as its one
     body parameter). Graph answering 131047 (window closed after all) also
     switches to the template. No template outside the window raises
     ``WindowClosed`` before anything is sent: WhatsApp would refuse it.
   - ``gmail``: a reply in the guest's thread (``In-Reply-To``/``References`` of
     the guest's last mail, its subject with "Re:", the Gmail ``threadId``),
     by the Gmail channel's own ``thread_reply`` (``GuestThread``).
   - anything else (``rest``, ``cmdline``, ``socketio``: development): nothing
     to push; the message is only recorded, and the dev client sees it in the
     tracker.
   A WhatsApp or Gmail send that fails after the client's retries goes to the
   dead-letter queue as the channel's own ``whatsapp.send`` / ``gmail.send``
   entry, which the Rasa process's retry worker resends (``status="queued"``).
   If the queue refuses too, ``DeliveryFailed`` is raised: nothing is dropped
   silently.
3. Records it in the tracker as the hotel's message: a ``bot`` event
   (BotUttered) whose metadata holds ``author`` (who wrote it: a staff user,
   ``journey``, ...), ``outreach: true``, the channel, whether it went as a
   template and its delivery status, plus the caller's ``metadata``. If Rasa
   does not take the event the message was still delivered:
   ``Delivery.recorded`` is False and ``Delivery.note`` says so.

Settings: ``RASA_URL``/``RASA_TOKEN`` (Rasa's API), the channels' own
``WHATSAPP_*``/``GMAIL_*`` settings (connectors/whatsapp/config.py,
connectors/gmail/config.py) and ``DLQ_*`` (docs/dlq.md).
"""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from actions.rasa_api import RasaAPI, RasaAPIError
from connectors.gmail import compose
from connectors.gmail.api import GmailClient, GmailError
from connectors.gmail.config import GmailConfig
from connectors.gmail.deadletter import KIND_SEND as GMAIL_SEND
from connectors.gmail.deadletter import error_summary as gmail_error_summary
from connectors.gmail.deadletter import failure_reason as gmail_failure_reason
from connectors.gmail.deadletter import masked as masked_address
from connectors.gmail.deadletter import send_payload as gmail_payload
from connectors.gmail.thread_reply import GuestThread, NoGuestThread, reply_to_guest_thread, thread_reply_raw
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.deadletter import KIND_SEND as WHATSAPP_SEND
from connectors.whatsapp.deadletter import failure_reason as graph_failure_reason
from connectors.whatsapp.deadletter import masked as masked_phone
from connectors.whatsapp.deadletter import send_payload as whatsapp_payload
from connectors.whatsapp.graph import REENGAGEMENT_REQUIRED, GraphClient, GraphError
from connectors.whatsapp.outbound import MAX_IMAGE_BYTES, is_qr_image, parse_sender_id, split_text
from connectors.whatsapp.sender import TEMPLATE_PARAM_LIMIT, address_fields, shorten

logger = logging.getLogger(__name__)

WINDOW_SECONDS = 24 * 3600
MAX_TEXT_CHARS = 8000  # a message from the hotel; WhatsApp splits at 4096
PUSHED_CHANNELS = ("whatsapp", "gmail")

SENT, QUEUED, RECORDED_ONLY = "sent", "queued", "recorded"


class OutreachError(Exception):
    """The message could not go out; the message says why (no secrets, no full addresses)."""


class ConversationUnknown(OutreachError):
    """No guest message in that conversation: nothing says which channel to use."""


class ChannelNotConfigured(OutreachError):
    """The guest's channel has no settings in this process (e.g. WHATSAPP_* missing)."""


class WindowClosed(OutreachError):
    """WhatsApp's 24-hour window is closed and no template is configured."""


class DeliveryFailed(OutreachError):
    """The channel refused the message and the dead-letter queue could not keep it."""


@dataclass(frozen=True)
class TemplateRef:
    """An approved WhatsApp template. ``parameters``: its body parameters;
    empty means one parameter carrying the message text."""

    name: str
    language: str = "es"
    parameters: tuple = ()


@dataclass(frozen=True)
class Route:
    """How a message to this conversation would travel right now."""

    conversation_id: str
    channel: str
    window_open: Optional[bool]  # WhatsApp only
    template: Optional[TemplateRef]  # the template it would go as (None: free text)
    hotel_id: str = ""
    last_guest_at: Optional[float] = None
    gmail: Any = None  # connectors.gmail.thread_reply.GuestThread of a Gmail guest

    @property
    def as_template(self) -> bool:
        return self.template is not None


@dataclass(frozen=True)
class Delivery:
    conversation_id: str
    channel: str
    status: str  # sent | queued (dead-letter queue, resent by the worker) | recorded (dev channels)
    as_template: bool = False
    message_ids: tuple = ()  # Graph / Gmail ids of what was sent
    dead_letter_id: str = ""
    recorded: bool = True
    note: str = ""

    def as_dict(self) -> Dict[str, Any]:
        return {"conversation_id": self.conversation_id, "channel": self.channel, "status": self.status,
                "as_template": self.as_template, "message_ids": list(self.message_ids),
                "dead_letter_id": self.dead_letter_id or None, "recorded": self.recorded, "note": self.note or None}


def last_guest_message(events: Sequence[Mapping[str, Any]]) -> Optional[Mapping[str, Any]]:
    for event in reversed(events):
        if event.get("event") == "user":
            return event
    return None


def last_guest_time(events: Sequence[Mapping[str, Any]], channel: str) -> Optional[float]:
    for event in reversed(events):
        if event.get("event") == "user" and event.get("input_channel") == channel:
            try:
                return float(event.get("timestamp"))
            except (TypeError, ValueError):
                return None
    return None


def template_message(wa_id: str, template: TemplateRef, text: str) -> Dict[str, Any]:
    # template parameters may not hold new lines, tabs or runs of spaces
    parameters = template.parameters or (text,)
    return {
        "recipient_type": "individual",
        **address_fields(wa_id),
        "type": "template",
        "template": {
            "name": template.name,
            "language": {"code": template.language},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": shorten(str(p), TEMPLATE_PARAM_LIMIT)} for p in parameters
            ]}],
        },
    }


class Outreach:
    """One per process; ``close()`` at shutdown. Every collaborator can be passed in (tests)."""

    def __init__(
        self,
        rasa: RasaAPI,
        *,
        whatsapp: Optional[WhatsAppConfig] = None,
        gmail: Optional[GmailConfig] = None,
        queue: Any = None,
        graph: Optional[GraphClient] = None,
        gmail_client: Optional[GmailClient] = None,
        sender_name: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rasa, self.clock = rasa, clock
        self.whatsapp = whatsapp if whatsapp is not None and whatsapp.enabled else None
        self.gmail = gmail if gmail is not None and gmail.enabled else None
        self._queue, self._own_queue = queue, queue is None
        self._graph, self._gmail_client = graph, gmail_client
        self._gmail_address = (gmail.address if gmail else "") or ""
        self.sender_name = sender_name

    @classmethod
    def from_env(cls, **overrides: Any) -> "Outreach":
        from connectors.settings import ConfigError

        def load(kind):
            try:
                return kind.from_sources({})
            except ConfigError as exc:
                logger.warning("outreach: %s settings unusable (%s); that channel stays off", kind.__name__, exc)
                return None

        return cls(overrides.pop("rasa", None) or RasaAPI.from_env(), whatsapp=load(WhatsAppConfig),
                   gmail=load(GmailConfig), **overrides)

    # -- clients (built on first use) -------------------------------------------------

    @property
    def graph(self) -> GraphClient:
        if self._graph is None:
            c = self._require(self.whatsapp, "whatsapp")
            self._graph = GraphClient(c.graph_api_url, c.graph_api_version, c.access_token, c.send_retries,
                                      c.retry_base_seconds, c.http_timeout_seconds)
        return self._graph

    @property
    def gmail_client(self) -> GmailClient:
        if self._gmail_client is None:
            from connectors.gmail.channel import _token_provider  # the channel's own credential choice

            c = self._require(self.gmail, "gmail")
            self._gmail_client = GmailClient(c.api_url, c.user_id, _token_provider(c), c.send_retries,
                                             c.retry_base_seconds, c.http_timeout_seconds)
        return self._gmail_client

    def queue(self) -> Any:
        if self._queue is None:
            from dlq import DLQSettings, build_queue

            self._queue = build_queue(DLQSettings.from_env())
        return self._queue

    @staticmethod
    def _require(config: Any, channel: str) -> Any:
        if config is None:
            raise ChannelNotConfigured(f"the {channel} channel is not configured in this process")
        return config

    async def close(self) -> None:
        for client in (self._graph, self._gmail_client):
            if client is not None:
                await client.close()
        if self._own_queue and self._queue is not None:
            await self._queue.close()

    # -- the API ------------------------------------------------------------------------

    async def route(self, conversation_id: str, template: Optional[TemplateRef] = None) -> Route:
        """How a message would go now (the staff page shows it before sending)."""
        events = await self._events(conversation_id)
        return self._route(conversation_id, events, template)

    async def send_to_guest(
        self,
        conversation_id: str,
        text: str,
        *,
        author: str,
        template: Optional[TemplateRef] = None,
        metadata: Optional[Mapping[str, Any]] = None,
        image: Optional[str] = None,
    ) -> Delivery:
        """Deliver ``text`` on the guest's channel and record it as the hotel's message (module docstring).
        ``image``: an http(s) image URL sent after the text (QR codes: fetched and uploaded / attached);
        outside the WhatsApp window its URL travels in the template text instead."""
        text = (text or "").strip()
        if not text:
            raise ValueError("the message is empty")
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(f"the message is longer than {MAX_TEXT_CHARS} characters")
        if not (author or "").strip():
            raise ValueError("say who writes the message (author)")
        if image is not None and not image.startswith(("http://", "https://")):
            raise ValueError("image must be an http(s) URL")
        route = await self.route(conversation_id, template)
        if route.channel == "whatsapp":
            delivery = await self._send_whatsapp(route, text, image)
        elif route.channel == "gmail":
            delivery = await self._send_gmail(route, text, image)
        else:
            delivery = Delivery(conversation_id, route.channel or "rest", RECORDED_ONLY)
        return await self._record(delivery, text, author.strip()[:120], route, metadata, image)

    # -- reading the conversation --------------------------------------------------------

    async def _events(self, conversation_id: str) -> List[Mapping[str, Any]]:
        try:
            state = await self.rasa.tracker(conversation_id)
        except RasaAPIError as exc:
            raise OutreachError(f"could not read the conversation from Rasa ({exc})") from None
        events = state.get("events")
        if not isinstance(events, list):
            raise OutreachError("Rasa answered a tracker without events")
        return [e for e in events if isinstance(e, Mapping)]

    def _route(self, conversation_id: str, events: Sequence[Mapping[str, Any]], template: Optional[TemplateRef]) -> Route:
        guest = last_guest_message(events)
        if guest is None:
            raise ConversationUnknown(f"conversation {conversation_id!r} has no guest message")
        channel = str(guest.get("input_channel") or "")
        metadata = guest.get("metadata") if isinstance(guest.get("metadata"), Mapping) else {}
        hotel = metadata.get("hotel") if isinstance(metadata.get("hotel"), Mapping) else {}
        hotel_id = str(hotel.get("id") or "")
        if channel == "whatsapp":
            config = self._require(self.whatsapp, "whatsapp")
            parse_sender_id(conversation_id)  # raises ValueError for an id that is no WhatsApp conversation
            last = last_guest_time(events, "whatsapp")
            window_open = last is not None and self.clock() - last < WINDOW_SECONDS
            if template is None and config.template_name:
                template = TemplateRef(config.template_name, config.template_language)
            if not window_open and template is None:
                raise WindowClosed("the guest last wrote more than 24 hours ago and no WhatsApp template is configured "
                                   "(WHATSAPP_TEMPLATE_NAME or the hotel's template)")
            return Route(conversation_id, channel, window_open, None if window_open else template, hotel_id, last)
        if channel == "gmail":
            self._require(self.gmail, "gmail")
            try:
                thread = GuestThread.from_events(conversation_id, events)
            except NoGuestThread as exc:
                raise ConversationUnknown(f"no Gmail thread to answer in {conversation_id!r} ({exc})") from None
            return Route(conversation_id, channel, None, None, hotel_id, last_guest_time(events, "gmail"), thread)
        return Route(conversation_id, channel or "rest", None, None, hotel_id, last_guest_time(events, channel))

    # -- channels -------------------------------------------------------------------------

    async def _send_whatsapp(self, route: Route, text: str, image: Optional[str] = None) -> Delivery:
        wa_id, phone_number_id = parse_sender_id(route.conversation_id)
        if route.template is not None:
            messages = [template_message(wa_id, route.template, f"{text} {image}" if image else text)]
        else:
            messages = [{"recipient_type": "individual", **address_fields(wa_id), "type": "text",
                         "text": {"body": chunk, "preview_url": "http" in chunk}} for chunk in split_text(text)]
            if image:
                messages.append({"recipient_type": "individual", **address_fields(wa_id), "type": "image",
                                 "image": await self._whatsapp_image(phone_number_id, image)})
        ids: List[str] = []
        as_template = route.template is not None
        fallback = self._fallback_template(route)
        for message in messages:
            try:
                ids.append(await self._graph_send(phone_number_id, message))
            except GraphError as exc:
                if exc.code == REENGAGEMENT_REQUIRED and message.get("type") != "template" and fallback is not None:
                    # Graph says the window closed after all: the whole text as one template message
                    try:
                        ids.append(await self._graph_send(phone_number_id, template_message(wa_id, fallback, text)))
                        return Delivery(route.conversation_id, "whatsapp", SENT, True, tuple(ids))
                    except GraphError as again:
                        exc, message = again, template_message(wa_id, fallback, text)
                entry_id = await self._dead_letter(
                    WHATSAPP_SEND, whatsapp_payload(phone_number_id, wa_id, message, text),
                    f"Graph API {exc.status} (code {exc.code}): {exc.detail}"[:300], route.conversation_id,
                    graph_failure_reason(exc), f"WhatsApp message to {masked_phone(wa_id)}")
                return Delivery(route.conversation_id, "whatsapp", QUEUED, as_template, tuple(ids), entry_id)
        return Delivery(route.conversation_id, "whatsapp", SENT, as_template, tuple(ids))

    async def _whatsapp_image(self, phone_number_id: str, url: str) -> Dict[str, Any]:
        """QR codes are uploaded (the action server need not be reachable from Meta), as the channel does."""
        if not is_qr_image(url):
            return {"link": url}
        try:
            data, mime_type = await self.graph.fetch_url(url, MAX_IMAGE_BYTES)
            if not mime_type.startswith("image/"):
                raise GraphError(415, f"{url} is not an image")
            return {"id": await self.graph.upload_media(phone_number_id, data, mime_type, "qr.png")}
        except GraphError as exc:
            logger.warning("outreach: could not upload the QR image (%s); sending it by link", exc)
            return {"link": url}

    def _fallback_template(self, route: Route) -> Optional[TemplateRef]:
        config = self.whatsapp
        return route.template or (TemplateRef(config.template_name, config.template_language)
                                  if config and config.template_name else None)

    async def _graph_send(self, phone_number_id: str, message: Dict[str, Any]) -> str:
        answer = await self.graph.send_message(phone_number_id, message)
        sent = answer.get("messages") or [{}]
        return str(sent[0].get("id") or "")

    async def _send_gmail(self, route: Route, text: str, image: Optional[str] = None) -> Delivery:
        """A reply in the guest's thread, built by the Gmail channel's own ``thread_reply`` module."""
        thread: GuestThread = route.gmail  # type: ignore[assignment]
        if not self._gmail_address:
            try:
                self._gmail_address = str((await self.gmail_client.profile()).get("emailAddress") or "").lower()
            except GmailError as exc:
                raise DeliveryFailed(f"Gmail did not say which mailbox it is ({exc})") from None
        images = []
        if image:
            try:
                data, mime_type = await self.gmail_client.fetch_url(image, MAX_IMAGE_BYTES)
                name = "qr.png" if is_qr_image(image) else (image.rsplit("/", 1)[-1][-80:] or "image")
                images.append(compose.ReplyImage(data, mime_type, name))
            except GmailError as exc:
                logger.warning("outreach: image not attached (%s); its link goes in the text", exc)
                text = f"{text}\n\n{image}"
        raw = thread_reply_raw(thread, text, sender=self._gmail_address, images=images)
        try:
            gmail_id = await reply_to_guest_thread(self.gmail_client, thread, text, sender=self._gmail_address, raw=raw)
        except GmailError as exc:
            entry_id = await self._dead_letter(
                GMAIL_SEND, gmail_payload(raw, thread.thread_id, thread.gmail_id), gmail_error_summary(exc),
                route.conversation_id, gmail_failure_reason(exc), f"Gmail message to {masked_address(route.conversation_id)}")
            return Delivery(route.conversation_id, "gmail", QUEUED, dead_letter_id=entry_id)
        return Delivery(route.conversation_id, "gmail", SENT, message_ids=(gmail_id,))

    async def _dead_letter(self, kind: str, payload: Dict[str, Any], error: str, conversation_id: str, reason: str,
                           what: str) -> str:
        try:
            entry = await self.queue().enqueue(kind, payload, error=error, conversation_id=conversation_id, reason=reason)
        except Exception as exc:  # Redis and the spool both down, or DLQ settings broken
            logger.error("outreach: %s failed (%s) and the dead-letter queue refused it: %s", what, error, type(exc).__name__)
            raise DeliveryFailed(f"{what} failed ({error}) and the dead-letter queue did not keep it") from None
        logger.warning("outreach: %s failed (%s); dead-letter entry %s resends it", what, error, entry.id)
        return entry.id

    # -- the transcript ----------------------------------------------------------------------

    async def _record(self, delivery: Delivery, text: str, author: str, route: Route,
                      metadata: Optional[Mapping[str, Any]], image: Optional[str] = None) -> Delivery:
        meta = {**dict(metadata or {}), "author": author, "outreach": True, "channel": delivery.channel,
                "as_template": delivery.as_template, "delivery": delivery.status}
        if route.template is not None or delivery.as_template:
            meta["template"] = (route.template or self._fallback_template(route)).name  # type: ignore[union-attr]
        if delivery.dead_letter_id:
            meta["dead_letter_id"] = delivery.dead_letter_id
        event = {"event": "bot", "text": text, "timestamp": self.clock(), "data": {"image": image} if image else {},
                 "metadata": meta}
        try:
            await self.rasa.append_events(delivery.conversation_id, [event])
        except RasaAPIError as exc:
            logger.error("outreach: message to %s %s but not recorded in the tracker: %s",
                         delivery.channel, delivery.status, exc)
            return _replace(delivery, recorded=False, note=f"{delivery.status}, but Rasa did not record it in the "
                                                            f"transcript ({exc})")
        return delivery


def _replace(delivery: Delivery, **changes: Any) -> Delivery:
    return dataclasses.replace(delivery, **changes)


_default: Optional[Outreach] = None
_default_lock = threading.Lock()


async def default_outreach() -> Outreach:
    """The process's Outreach, built from the environment on first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Outreach.from_env()
        return _default


async def send_to_guest(
    conversation_id: str,
    text: str,
    *,
    author: str,
    template: Optional[TemplateRef] = None,
    metadata: Optional[Mapping[str, Any]] = None,
    image: Optional[str] = None,
) -> Delivery:
    """``Outreach.send_to_guest`` of the process's default Outreach (settings from the environment)."""
    outreach = await default_outreach()
    return await outreach.send_to_guest(conversation_id, text, author=author, template=template, metadata=metadata,
                                        image=image)
