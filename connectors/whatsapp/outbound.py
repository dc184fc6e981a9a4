"""Rasa bot messages -> WhatsApp Cloud API messages.

- text: split at WhatsApp's 4096-character limit (paragraph, line, then word
  boundaries);
- buttons: up to 3 with titles of at most 20 characters become reply
  buttons; otherwise a list (rows of at most 24 characters, 10 rows a
  message). The Rasa payload travels as the reply id; payloads too long for
  an id are kept in the state store under a short key;
- images: QR codes (``/qr/<token>.png``) are fetched from the action server,
  uploaded to ``/media`` and sent by media id (the action server need not be
  reachable from Meta); other images are sent by link, or uploaded too with
  ``WHATSAPP_IMAGE_UPLOAD=all``;
- custom json: ``{"location": {...}}`` -> a location pin; ``{"qr": {...}}``
  -> caption of the QR image that follows; ``{"whatsapp": {...}}`` -> a raw
  Graph API message body, sent as is;
- outside the 24-hour service window (or when Graph answers 131047) the text
  goes out as the configured template message (``sender.MessageSender``).

Merging (``merge=True``, the channel's own turns): every message is billed
since October 2026, so a turn's texts are held and sent together, joined by a
blank line, in as few messages as the 4096-character limit allows: texts
right before buttons become the buttons' body when it fits (1024
characters); an image, a location or a raw message first sends the texts
held before it, so everything keeps its place. ``flush()`` (the channel calls
it when the turn ends) sends what is still held; ``sent_count`` is how many
messages the turn cost. Messages Rasa sends on its own (``get_output_channel``:
reminders, staff replies) are never held.

Failures after the Graph client's retries go to the dead-letter queue as
``whatsapp.send`` entries (deadletter.py); they never raise into Rasa, so one
failed message does not lose the rest of the turn.
"""
from __future__ import annotations

import hashlib
import logging
import re
from typing import Any, Awaitable, Callable, Dict, List, Optional, Sequence, Text, Tuple
from urllib.parse import urlparse

from rasa.core.channels.channel import OutputChannel

from connectors import channel_metrics
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.deadletter import enqueue_failed_send
from connectors.whatsapp.graph import GraphClient, GraphError
from connectors.whatsapp.sender import MessageSender, shorten
from connectors.whatsapp.store import StateStore

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
INTERACTIVE_BODY_LIMIT = 1024
BUTTON_LIMIT, BUTTON_TITLE_LIMIT, BUTTON_ID_LIMIT = 3, 20, 256
LIST_ROW_LIMIT, ROW_TITLE_LIMIT, ROW_DESCRIPTION_LIMIT, ROW_ID_LIMIT = 10, 24, 72, 200
LIST_BUTTON_LABEL = "Opciones / Options"
MAX_IMAGE_BYTES = 5 * 1024 * 1024
PAYLOAD_KEY_PREFIX = "wa:"
TEXT_SEPARATOR = "\n\n"
QR_PATH = re.compile(r"/qr/[^/]+\.png$")


def sender_id(guest: str, phone_number_id: str) -> str:
    """The Rasa conversation id: one conversation per guest (phone number, or
    business-scoped user id when Meta gave no number) and hotel number."""
    return f"{guest}@{phone_number_id}"


def parse_sender_id(value: str) -> Tuple[str, str]:
    wa_id, sep, phone_number_id = str(value).rpartition("@")
    if not sep or not wa_id or not phone_number_id:
        raise ValueError(f"not a WhatsApp conversation id: {value!r}")
    return wa_id, phone_number_id


def split_text(text: str, limit: int = TEXT_LIMIT) -> List[str]:
    text = text.strip()
    chunks = []
    while len(text) > limit:
        cut = -1
        for separator in ("\n\n", "\n", " "):
            cut = text.rfind(separator, 0, limit + 1)
            if cut > 0:
                break
        if cut <= 0:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks


def pack_texts(texts: Sequence[str], limit: int = TEXT_LIMIT) -> List[str]:
    """Texts joined by blank lines into as few messages of at most ``limit`` as possible, in order."""
    packed: List[str] = []
    for text in texts:
        for chunk in split_text(text, limit):
            if packed and len(packed[-1]) + len(TEXT_SEPARATOR) + len(chunk) <= limit:
                packed[-1] = packed[-1] + TEXT_SEPARATOR + chunk
            else:
                packed.append(chunk)
    return packed


def is_qr_image(url: str) -> bool:
    return bool(QR_PATH.search(urlparse(url).path))


class WhatsAppOutput(OutputChannel):
    @classmethod
    def name(cls) -> Text:
        return "whatsapp"

    def __init__(
        self,
        config: WhatsAppConfig,
        graph: GraphClient,
        store: StateStore,
        queue=None,
        *,
        merge: bool = False,
        before_send: Optional[Callable[[], Awaitable[None]]] = None,
    ) -> None:
        """``queue``: the process's dead-letter queue (None: failed sends are only logged);
        ``merge``: hold texts until ``flush`` (see the module docstring); ``before_send``:
        awaited once before the first message goes out (the typing indicator)."""
        self.config, self.graph, self.store, self.queue = config, graph, store, queue
        self.sender = MessageSender(config, graph, store)
        self.merge = merge
        self._before_send = before_send
        self._qr_caption: Optional[str] = None
        self._held: List[str] = []
        self._held_for: Optional[str] = None
        self.sent: List[Dict[str, Any]] = []  # Graph answers of this turn (for tests and logs)
        self.sent_count = 0  # messages this output tried to send (each one is billed)

    # -- Rasa's OutputChannel API ---------------------------------------------

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        text = (text or "").strip()
        if not text:
            return
        if self.merge:
            if self._held_for not in (None, recipient_id):
                await self.flush()
            self._held.append(text)
            self._held_for = recipient_id
            return
        for chunk in split_text(text):
            await self._send_text(recipient_id, chunk)

    async def flush(self) -> None:
        """Send the texts held so far (merged)."""
        held, recipient = self._held, self._held_for
        self._held, self._held_for = [], None
        if recipient is None:
            return
        for chunk in pack_texts(held):
            await self._send_text(recipient, chunk)

    def _take_held_into(self, recipient_id: str, body: str, limit: int) -> str:
        """``body`` prefixed with the held texts when the result fits in ``limit``."""
        if not self._held or self._held_for != recipient_id:
            return body
        combined = TEXT_SEPARATOR.join(self._held + ([body] if body else []))
        if len(combined) > limit:
            return body
        self._held, self._held_for = [], None
        return combined

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        text = (text or "").strip()
        choices = [b for b in buttons if b.get("title") and b.get("payload") is not None]
        links = [f"{b['title']}: {b['url']}" for b in buttons if b.get("url")]
        if links:
            text = "\n".join([text] + links).strip()
        if not choices:
            await self.send_text_message(recipient_id, text)
            return
        if self.merge:
            text = self._take_held_into(recipient_id, text, INTERACTIVE_BODY_LIMIT)
            await self.flush()
        chunks = split_text(text, INTERACTIVE_BODY_LIMIT) or ["👇"]
        for chunk in chunks[:-1]:
            await self._send_text(recipient_id, chunk)
        body = chunks[-1]
        fallback = f"{body}\n" + " / ".join(str(b["title"]) for b in choices)
        if len(choices) <= BUTTON_LIMIT and all(len(str(b["title"])) <= BUTTON_TITLE_LIMIT for b in choices):
            ids = await self._reply_ids(choices, BUTTON_ID_LIMIT)
            interactive = {
                "type": "button",
                "body": {"text": body},
                "action": {
                    "buttons": [
                        {"type": "reply", "reply": {"id": id_, "title": str(b["title"])}} for b, id_ in zip(choices, ids)
                    ]
                },
            }
            await self._send(recipient_id, {"type": "interactive", "interactive": interactive}, fallback)
            return
        ids = await self._reply_ids(choices, ROW_ID_LIMIT)
        rows = []
        for button, id_ in zip(choices, ids):
            title = str(button["title"])
            row = {"id": id_, "title": shorten(title, ROW_TITLE_LIMIT)}
            if len(" ".join(title.split())) > ROW_TITLE_LIMIT:
                row["description"] = shorten(title, ROW_DESCRIPTION_LIMIT)
            rows.append(row)
        for start in range(0, len(rows), LIST_ROW_LIMIT):
            interactive = {
                "type": "list",
                "body": {"text": body if start == 0 else "…"},
                "action": {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows[start : start + LIST_ROW_LIMIT]}]},
            }
            await self._send(recipient_id, {"type": "interactive", "interactive": interactive}, fallback)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.flush()
        caption = self._qr_caption if is_qr_image(image) else None
        self._qr_caption = None
        media: Dict[str, Any] = {"link": image}
        if self.config.image_upload == "all" or is_qr_image(image):
            try:
                media = {"id": await self._upload_image(recipient_id, image)}
            except GraphError as exc:
                logger.warning("could not upload image for WhatsApp (%s); sending it by link", exc)
        if caption:
            media["caption"] = caption
        await self._send(recipient_id, {"type": "image", "image": media}, caption or image)

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        if not isinstance(json_message, dict):
            return
        if json_message.get("location") or json_message.get("whatsapp"):
            await self.flush()
        location = json_message.get("location")
        if isinstance(location, dict) and "latitude" in location and "longitude" in location:
            pin = {
                "latitude": float(location["latitude"]),
                "longitude": float(location["longitude"]),
                "name": str(location.get("name") or ""),
                "address": str(location.get("address") or ""),
            }
            fallback = ", ".join(filter(None, (pin["name"], pin["address"]))) or f"{pin['latitude']},{pin['longitude']}"
            await self._send(recipient_id, {"type": "location", "location": pin}, fallback)
        qr = json_message.get("qr")
        if isinstance(qr, dict) and qr.get("reference"):
            self._qr_caption = str(qr["reference"])
        raw = json_message.get("whatsapp")
        if isinstance(raw, dict) and raw.get("type"):
            await self._send(recipient_id, dict(raw), None)
        if not (location or qr or raw):
            logger.debug("custom json without a WhatsApp form ignored: %s", sorted(json_message))

    # -- plumbing -------------------------------------------------------------

    async def _reply_ids(self, buttons: Sequence[Dict[str, Any]], limit: int) -> List[str]:
        """The Rasa payload itself when it fits, else a short key to it in the store."""
        ids: List[str] = []
        for index, button in enumerate(buttons):
            payload = str(button["payload"])
            id_ = payload.strip()
            if not id_ or len(id_) > limit or id_ in ids or id_.startswith(PAYLOAD_KEY_PREFIX):
                digest = hashlib.sha256(f"{index}:{payload}".encode("utf-8")).hexdigest()[:32]
                id_ = PAYLOAD_KEY_PREFIX + digest
                await self.store.put_payload(digest, payload)
            ids.append(id_)
        return ids

    async def _upload_image(self, recipient_id: str, url: str) -> str:
        _, phone_number_id = parse_sender_id(recipient_id)
        data, mime_type = await self.graph.fetch_url(url, MAX_IMAGE_BYTES)
        if not mime_type.startswith("image/"):
            raise GraphError(415, f"{url} is not an image ({mime_type})")
        filename = urlparse(url).path.rsplit("/", 1)[-1] or "image"
        return await self.graph.upload_media(phone_number_id, data, mime_type, filename[-80:])

    async def _send_text(self, recipient_id: str, chunk: str) -> None:
        await self._send(recipient_id, {"type": "text", "text": {"body": chunk, "preview_url": "http" in chunk}}, chunk)

    async def _send(self, recipient_id: str, message: Dict[str, Any], fallback_text: Optional[str]) -> None:
        try:
            wa_id, phone_number_id = parse_sender_id(recipient_id)
        except ValueError:
            logger.error("cannot send a WhatsApp message to conversation %r", recipient_id)
            return
        if self._before_send is not None:
            before, self._before_send = self._before_send, None
            await before()
        self.sent_count += 1
        try:
            self.sent.append(await self.sender.send(phone_number_id, wa_id, message, fallback_text))
        except GraphError as exc:
            channel_metrics.send("whatsapp", "failed")
            await enqueue_failed_send(self.queue, phone_number_id, wa_id, message, fallback_text, exc)
            return
        channel_metrics.send("whatsapp", "sent")
