"""Rasa's bot messages of one turn, collected into one reply email.

Texts are joined by blank lines; buttons become a numbered list the guest
answers by writing the number or the option (``resolve_choice`` maps that
back to the button's payload on the next turn); image URLs are fetched by
the channel and attached; ``{"qr": {"reference"}}`` names the QR attachment.

``GmailThreadOutput`` is the output for messages the hotel starts (Rasa's
``trigger_intent``): each bot message goes out at once, as its own reply in
the guest's thread, through the channel's ``send_proactive``.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import OutputChannel

logger = logging.getLogger(__name__)

OPTIONS_HINT = "(Responde con el número / Reply with the number)"


class GmailOutput(OutputChannel):
    @classmethod
    def name(cls) -> Text:
        return "gmail"

    def __init__(self) -> None:
        self.texts: List[str] = []
        self.image_urls: List[str] = []
        self.image_names: Dict[str, str] = {}
        self.buttons: List[Dict[str, Any]] = []  # the last set offered (for the numbered answer)
        self._qr_reference: Optional[str] = None

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        if text and text.strip():
            self.texts.append(text.strip())

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        lines = [text.strip()] if text and text.strip() else []
        choices = [b for b in buttons if b.get("title")]
        for number, button in enumerate(choices, 1):
            line = f"  {number}. {button['title']}"
            if button.get("url"):
                line += f": {button['url']}"
            lines.append(line)
        if any(b.get("payload") is not None for b in choices):
            lines.append(OPTIONS_HINT)
            self.buttons = [dict(b) for b in choices]
        if lines:
            self.texts.append("\n".join(lines))

    async def send_quick_replies(self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self.send_text_with_buttons(recipient_id, text, quick_replies, **kwargs)

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        if image:
            self.image_urls.append(str(image))
            if self._qr_reference:
                self.image_names[str(image)] = f"qr-{self._qr_reference}.png"
                self._qr_reference = None

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, str(attachment))

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        if not isinstance(json_message, dict):
            return
        qr = json_message.get("qr")
        if isinstance(qr, dict) and qr.get("reference"):
            self._qr_reference = re.sub(r"[^A-Za-z0-9_-]", "", str(qr["reference"]))[:40] or None
        location = json_message.get("location")
        if isinstance(location, dict) and "latitude" in location and "longitude" in location:
            name = ", ".join(filter(None, (str(location.get("name") or ""), str(location.get("address") or ""))))
            maps = f"https://maps.google.com/?q={location['latitude']},{location['longitude']}"
            self.texts.append(f"{name}\n{maps}".strip())

    @property
    def text(self) -> str:
        return "\n\n".join(self.texts)


class GmailThreadOutput(OutputChannel):
    """Sends every bot message it is given as one reply in the guest's thread.

    Rasa hands a bot message to ``send_response``, which splits it into
    ``send_text_message`` / ``send_image_url`` / ... calls: those are collected
    into one ``GmailOutput`` and ``send`` (``GmailInput.send_proactive``) mails
    it. Calls made directly to a ``send_*`` method are one message each."""

    def __init__(self, send: Callable[[str, GmailOutput], Awaitable[None]]) -> None:
        self._send = send

    @classmethod
    def name(cls) -> Text:
        return "gmail"

    async def send_response(self, recipient_id: Text, message: Dict[Text, Any]) -> None:
        collected = GmailOutput()
        await collected.send_response(recipient_id, dict(message))  # Rasa pops keys from it
        await self._send(recipient_id, collected)

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text})

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, "buttons": buttons})

    async def send_quick_replies(self, recipient_id: Text, text: Text, quick_replies: List[Dict[Text, Any]], **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"text": text, "quick_replies": quick_replies})

    async def send_image_url(self, recipient_id: Text, image: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"image": image})

    async def send_attachment(self, recipient_id: Text, attachment: Text, **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"attachment": attachment})

    async def send_custom_json(self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any) -> None:
        await self.send_response(recipient_id, {"custom": json_message})


def resolve_choice(text: str, buttons: List[Dict[str, Any]]) -> Optional[str]:
    """'2' or '2.' or the option's title -> that button's payload."""
    answer = " ".join(text.split()).strip().rstrip(".)").strip().lower()
    if not answer or not buttons:
        return None
    if answer.isdigit() and 1 <= int(answer) <= len(buttons):
        payload = buttons[int(answer) - 1].get("payload")
        return str(payload) if payload is not None else None
    for button in buttons:
        if str(button.get("title", "")).strip().lower() == answer and button.get("payload") is not None:
            return str(button["payload"])
    return None
