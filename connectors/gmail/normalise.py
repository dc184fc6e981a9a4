"""Incoming mail -> the text a guest meant, with Python's ``email`` package.

- ``parse_raw(bytes)``: an RFC 2822 message (Gmail ``format=raw``);
- ``parse_full(dict)``: Gmail's ``format=full`` structure, used for messages
  too big to download whole (attachment bodies are never fetched).

Both give an ``InboundEmail``: sender address, subject, Message-ID and
References (for threading), the body as plain text (text/plain preferred,
else text/html stripped with ``html.parser``) and the attachments' names and
sizes. ``clean_text`` then removes quoted replies and signatures. Nothing
here raises on malformed MIME: defects are recorded and parsing goes on.
"""
from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message
from email.utils import getaddresses, parseaddr
from html.parser import HTMLParser
from typing import Any, Dict, List, Tuple

from connectors.gmail.api import b64url_decode

BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "hr"}
SKIP_TAGS = {"script", "style", "head", "title"}

# "On Mon, 3 Mar 2025 at 10:00, Ana <ana@x.com> wrote:" and its kin; may wrap over two lines
QUOTE_HEADERS = re.compile(
    r"^\s*(?:"
    r"On\s.+?wrote:"
    r"|El\s.+?escribi[óo]:"
    r"|Le\s.+?a\s[ée]crit\s?:"
    r"|Am\s.+?schrieb.*:"
    r"|-{2,}\s*(?:Original Message|Mensaje original|Forwarded message|Mensaje reenviado)\s*-{2,}"
    r"|_{10,}"
    r"|(?:From|De):\s.+\n(?:.*\n){0,3}?(?:Sent|Enviado(?: el)?|Date|Fecha):\s.+"
    r")\s*$",
    re.IGNORECASE | re.MULTILINE | re.DOTALL,
)
SIGNATURE_LINES = re.compile(
    r"^\s*(?:Sent from my \w+.*|Enviado desde mi \w+.*|Get Outlook for \w+.*|Obtener Outlook para \w+.*"
    r"|Sent from (?:Mail|Yahoo Mail|Outlook).*)\s*$",
    re.IGNORECASE,
)


@dataclass
class Attachment:
    filename: str
    mime_type: str
    size: int


@dataclass
class InboundEmail:
    gmail_id: str = ""
    thread_id: str = ""
    sender: str = ""  # lower-cased address: the Rasa conversation id
    sender_name: str = ""
    to: List[str] = field(default_factory=list)
    subject: str = ""
    message_id: str = ""  # RFC 2822 Message-ID, with <>
    references: List[str] = field(default_factory=list)
    body: str = ""  # plain text, before cleaning
    text: str = ""  # what the guest wrote (clean_text of body)
    attachments: List[Attachment] = field(default_factory=list)
    auto_submitted: bool = False  # auto replies, bounces, lists: never answered
    defects: List[str] = field(default_factory=list)


# -- HTML -------------------------------------------------------------------------


VOID_TAGS = {"br", "img", "hr", "meta", "link", "input", "wbr", "col", "area", "base", "source"}


class _TextExtractor(HTMLParser):
    """Text of an HTML body; scripts, styles and quoted history (blockquote,
    Gmail's ``gmail_quote``, Outlook's ``divRplyFwdMsg``) are dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: List[str] = []
        self.open: List[Tuple[str, bool]] = []  # (tag, hides its content)

    @property
    def hidden(self) -> bool:
        return any(hides for _, hides in self.open)

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = dict(attrs)
        if tag in BLOCK_TAGS:
            self.parts.append("\n")
        if tag in VOID_TAGS:
            return
        classes = (attributes.get("class") or "").split()
        hides = tag in SKIP_TAGS or tag == "blockquote" or "gmail_quote" in classes or attributes.get("id") == "divRplyFwdMsg"
        self.open.append((tag, hides))

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append("\n")
        for index in range(len(self.open) - 1, -1, -1):  # close up to the matching tag (lenient HTML)
            if self.open[index][0] == tag:
                del self.open[index:]
                break

    def handle_data(self, data: str) -> None:
        if not self.hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient; anything left is dropped, not fatal
        pass
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# -- quoted replies and signatures -------------------------------------------------------


def clean_text(text: str) -> str:
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\u00a0", " ")
    match = QUOTE_HEADERS.search(text)
    if match:
        text = text[: match.start()]
    kept: List[str] = []
    for line in text.split("\n"):
        if line.rstrip() in ("--", "-- ") or SIGNATURE_LINES.match(line):
            break  # a signature: the rest is not the guest's message
        if line.lstrip().startswith(">"):
            continue
        kept.append(line.rstrip())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip()


# -- MIME ------------------------------------------------------------------------------


def parse_raw(raw: bytes, gmail_id: str = "", thread_id: str = "") -> InboundEmail:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    result = _headers(lambda name: _header(message, name), gmail_id, thread_id)
    result.defects.extend(type(d).__name__ for d in message.defects)
    plain: List[str] = []
    html: List[str] = []
    for part in _walk(message, result):
        if part.is_multipart():
            continue
        content_type = _content_type(part)
        disposition = _safe(part.get_content_disposition) or ""
        filename = _safe(part.get_filename) or ""
        if disposition == "attachment" or filename or not content_type.startswith("text/"):
            payload = _safe(lambda part=part: part.get_payload(decode=True)) or b""
            result.attachments.append(Attachment(filename or "", content_type, len(payload)))
            continue
        text = _part_text(part, result)
        (plain if content_type == "text/plain" else html if content_type == "text/html" else plain).append(text)
    result.body = "\n\n".join(t for t in plain if t.strip()) or html_to_text("\n".join(html))
    result.text = clean_text(result.body)
    return result


def parse_full(resource: Dict[str, Any]) -> InboundEmail:
    """Gmail's ``format=full`` JSON: headers and inline bodies; attachments by id only."""
    payload = resource.get("payload") or {}
    headers = {str(h.get("name", "")).lower(): str(h.get("value", "")) for h in payload.get("headers") or []}
    result = _headers(lambda name: headers.get(name.lower(), ""), str(resource.get("id", "")), str(resource.get("threadId", "")))
    plain: List[str] = []
    html: List[str] = []
    stack = [payload]
    while stack:
        part = stack.pop(0)
        if part.get("parts"):
            stack[0:0] = list(part["parts"])
            continue
        mime = str(part.get("mimeType") or "").lower()
        body = part.get("body") or {}
        if part.get("filename") or body.get("attachmentId") or not mime.startswith("text/"):
            result.attachments.append(Attachment(str(part.get("filename") or ""), mime, int(body.get("size") or 0)))
            continue
        try:
            text = b64url_decode(str(body.get("data") or "")).decode("utf-8", "replace")
        except ValueError:
            result.defects.append("InvalidBase64")
            continue
        (html if mime == "text/html" else plain).append(text)
    result.body = "\n\n".join(t for t in plain if t.strip()) or html_to_text("\n".join(html))
    result.text = clean_text(result.body)
    return result


def _headers(get, gmail_id: str, thread_id: str) -> InboundEmail:
    reply_to = get("Reply-To")
    name, address = parseaddr(reply_to or get("From"))
    if not address or "@" not in address:
        name, address = parseaddr(get("From"))
    references = re.findall(r"<[^<>\s]+>", get("References"))
    in_reply_to = re.findall(r"<[^<>\s]+>", get("In-Reply-To"))
    for ref in in_reply_to:
        if ref not in references:
            references.append(ref)
    auto = get("Auto-Submitted").strip().lower()
    precedence = get("Precedence").strip().lower()
    return InboundEmail(
        gmail_id=gmail_id,
        thread_id=thread_id,
        sender=address.strip().lower() if "@" in address else "",
        sender_name=name.strip(),
        to=[a.lower() for _, a in getaddresses([get("To")]) if a],
        subject=" ".join(get("Subject").split()),
        message_id=(re.findall(r"<[^<>\s]+>", get("Message-ID")) or [""])[0],
        references=references,
        auto_submitted=bool(auto and auto != "no") or precedence in ("bulk", "list", "junk") or bool(get("List-Id")),
    )


def _header(message: Message, name: str) -> str:
    try:
        values = message.get_all(name) or []
        return str(values[0]) if values else ""
    except Exception:  # a header the policy cannot parse: its raw text, undecoded
        for key, value in message.raw_items():
            if key.lower() == name.lower():
                return " ".join(str(value).split())
        return ""


def _walk(message: Message, result: InboundEmail):
    try:
        yield from message.walk()
    except Exception as exc:
        result.defects.append(type(exc).__name__)


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def _part_text(part: Message, result: InboundEmail) -> str:
    try:
        return str(part.get_content())
    except Exception as exc:  # unknown charset, broken transfer encoding
        result.defects.append(type(exc).__name__)
        data = _safe(lambda: part.get_payload(decode=True)) or b""
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _safe(call):
    try:
        return call()
    except Exception:
        return None
