"""Incoming mail -> the text a guest meant, with Python's ``email`` package.

- ``parse_raw(bytes)``: an RFC 2822 message (Gmail ``format=raw``);
- ``parse_full(dict)``: Gmail's ``format=full`` structure, used for messages
  too big to download whole (attachment bodies are never fetched).

Both give an ``InboundEmail``: sender address, subject, Message-ID and
References (for threading), the body as plain text (text/plain preferred,
else text/html stripped with ``html.parser``) and the attachments' names and
sizes. ``clean_text`` (reply_text.py) then removes quoted replies and
signatures. Nothing here raises on malformed MIME: defects are recorded and
parsing goes on. Bodies are decoded by their part's charset in both formats.
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
from connectors.gmail.reply_text import reply_text

BLOCK_TAGS = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "blockquote", "hr"}
SKIP_TAGS = {"script", "style", "head", "title"}
HIDING_CLASSES = {"gmail_quote", "yahoo_quoted", "gmail_extra"}
QUOTE_START_IDS = {"divRplyFwdMsg", "appendonsend", "OLK_SRC_BODY_SECTION"}
QUOTE_START_CLASSES = {"moz-cite-prefix", "OutlookMessageHeader"}

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
    """Text of an HTML body; scripts, styles and quoted history are dropped:
    blockquote and Gmail's ``gmail_quote`` hide their content; Outlook's
    ``divRplyFwdMsg`` / ``appendonsend`` and Thunderbird's ``moz-cite-prefix``
    start the quoted original, which runs to the end of the document (siblings,
    not children), so everything from them on is dropped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: List[str] = []
        self.open: List[Tuple[str, bool]] = []  # (tag, hides its content)
        self.stopped = False  # the quoted original has begun

    @property
    def hidden(self) -> bool:
        return self.stopped or any(hides for _, hides in self.open)

    def handle_starttag(self, tag: str, attrs) -> None:
        attributes = dict(attrs)
        if tag == "hr" and not self.hidden:
            self.parts.append("\n" + "-" * 10 + "\n")  # a rule: reply_text cuts what follows it
        elif tag in BLOCK_TAGS:
            self.parts.append("\n")
        if tag in VOID_TAGS:
            return
        classes = (attributes.get("class") or "").split()
        if attributes.get("id") in QUOTE_START_IDS or QUOTE_START_CLASSES.intersection(classes):
            self.stopped = True
        hides = tag in SKIP_TAGS or tag == "blockquote" or bool(HIDING_CLASSES.intersection(classes))
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
    """The guest's own text of a plain-text body (see reply_text.py)."""
    return reply_text(text)


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
            data = b64url_decode(str(body.get("data") or ""))
        except ValueError:
            result.defects.append("InvalidBase64")
            continue
        text = decode_part(data, _part_charset(part), result)
        (html if mime == "text/html" else plain).append(text)
    result.body = "\n\n".join(t for t in plain if t.strip()) or html_to_text("\n".join(html))
    result.text = clean_text(result.body)
    return result


def _part_charset(part: Dict[str, Any]) -> str:
    """The charset of a ``format=full`` part, from its own Content-Type header (Gmail
    sends the part's bytes as they were in the mail, not re-encoded to UTF-8)."""
    for header in part.get("headers") or []:
        if str(header.get("name", "")).lower() == "content-type":
            params = Message()
            params["Content-Type"] = str(header.get("value", ""))
            return str(params.get_content_charset() or "")
    return ""


def decode_part(data: bytes, charset: str, result: InboundEmail) -> str:
    """Bytes of a text part in their declared charset; undeclared means UTF-8 and, when
    that fails, Windows-1252 (what mail without a charset nearly always is)."""
    if charset:
        try:
            return data.decode(_CHARSET_ALIASES.get(charset.lower(), charset))
        except LookupError:
            result.defects.append(f"UnknownCharset:{charset[:40]}")
        except UnicodeDecodeError:
            result.defects.append(f"UndecodableText:{charset[:40]}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


# labels mail clients write that Python's codecs don't know by that name
_CHARSET_ALIASES = {"iso-8859-8-i": "iso-8859-8", "x-mac-roman": "mac-roman", "ks_c_5601-1987": "cp949", "unicode-1-1-utf-7": "utf-7"}


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
        return decode_part(data, _safe(part.get_content_charset) or "", result) if isinstance(data, bytes) else str(data)


def _safe(call):
    try:
        return call()
    except Exception:
        return None
