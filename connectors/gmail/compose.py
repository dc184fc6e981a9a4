"""The reply email: RFC 2822 built with ``email.message.EmailMessage``.

Threading as RFC 5322 3.6.4 and Gmail ask: ``In-Reply-To`` is the guest's
Message-ID, ``References`` their References plus that Message-ID, the
subject is theirs with one "Re: ", and the API call carries the threadId.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from typing import List, Optional, Tuple

MAX_REFERENCES = 20  # keep the header bounded in long threads: the first and the most recent


@dataclass
class ReplyImage:
    data: bytes
    mime_type: str
    filename: str


@dataclass
class Reply:
    to: str
    subject: str
    text: str
    in_reply_to: str = ""
    references: List[str] = field(default_factory=list)
    images: List[ReplyImage] = field(default_factory=list)
    sender: str = ""
    sender_name: str = ""


def reply_subject(subject: str) -> str:
    subject = " ".join((subject or "").split())
    if not subject:
        return "Re: Tu consulta / Your enquiry"
    return subject if re.match(r"^(re|aw|rv)\s*:", subject, re.IGNORECASE) else f"Re: {subject}"


def thread_references(references: List[str], message_id: str) -> List[str]:
    chain = [r for r in references if r]
    if message_id and message_id not in chain:
        chain.append(message_id)
    if len(chain) > MAX_REFERENCES:
        chain = chain[:1] + chain[-(MAX_REFERENCES - 1):]
    return chain


def build(reply: Reply, domain: Optional[str] = None) -> Tuple[bytes, str]:
    """The message as bytes and its new Message-ID."""
    message = EmailMessage()
    if reply.sender:
        message["From"] = formataddr((reply.sender_name, reply.sender)) if reply.sender_name else reply.sender
    message["To"] = reply.to
    message["Subject"] = reply.subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message_id = make_msgid(domain=domain or (reply.sender.partition("@")[2] or None))
    message["Message-ID"] = message_id
    if reply.in_reply_to:
        message["In-Reply-To"] = reply.in_reply_to
    if reply.references:
        message["References"] = " ".join(reply.references)
    message["Auto-Submitted"] = "auto-replied"  # RFC 3834: other robots must not answer us
    message.set_content(reply.text or "", subtype="plain", charset="utf-8")
    for image in reply.images:
        maintype, _, subtype = image.mime_type.partition("/")
        message.add_attachment(image.data, maintype=maintype or "application", subtype=subtype or "octet-stream", filename=image.filename)
    return message.as_bytes(), message_id
