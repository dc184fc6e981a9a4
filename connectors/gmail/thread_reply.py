"""Reply in a guest's Gmail thread: the one way the hotel's words reach an e-mail guest.

Used for the bot's answer to a mail (channel.py), for messages the hotel
starts (saved-request notices through ``trigger_intent``, the
``proactive`` output of ``GmailInput.get_output_channel``) and by
connectors/outreach.py (staff replies, journey messages):

    thread = GuestThread.from_events(conversation_id, tracker["events"])
    gmail_id = await reply_to_guest_thread(client, thread, "Su reserva está confirmada", sender=address)

``GuestThread`` is what the guest's last mail tells about the thread (the
Gmail ``threadId``, its Message-ID and References, the subject); the channel
writes it into every user message's ``metadata["gmail"]``, so any process that
can read the tracker can answer in the same thread. The reply carries
``In-Reply-To``/``References`` (RFC 5322 3.6.4), "Re: <subject>" and the API
call the ``threadId`` — the three things Gmail groups a thread by.
``reply_to_guest_thread`` raises ``GmailError`` when Gmail refuses after the
client's retries; ``thread_reply_raw`` gives the message bytes for a
dead-letter ``gmail.send`` entry (deadletter.send_payload).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence, Tuple

from connectors.gmail import compose
from connectors.gmail.api import GmailClient


class NoGuestThread(LookupError):
    """The conversation has no Gmail message from the guest: no thread to reply in."""


MESSAGE_ID = re.compile(r"<[^<>\s]{1,250}>")


@dataclass(frozen=True)
class GuestThread:
    address: str  # the guest, lower-case: also the Rasa conversation id
    thread_id: str
    message_id: str = ""  # the guest's last mail, with <>
    subject: str = ""
    references: Tuple[str, ...] = ()
    gmail_id: str = ""  # Gmail id of that mail (marked replied once answered)

    @classmethod
    def from_metadata(cls, address: str, metadata: Mapping[str, Any]) -> "GuestThread":
        """From a user message's ``metadata`` as the Gmail channel writes it. Raises
        ``NoGuestThread`` when it holds no Gmail thread (another channel's message)."""
        gmail = metadata.get("gmail") if isinstance(metadata, Mapping) else None
        if not isinstance(gmail, Mapping) or not str(gmail.get("thread_id") or "").strip():
            raise NoGuestThread("the message carries no Gmail thread")
        if "@" not in address:
            raise NoGuestThread("the conversation id is not an e-mail address")
        message_id = str(gmail.get("message_id") or "")
        references = tuple(MESSAGE_ID.findall(" ".join(str(r) for r in gmail.get("references") or [])))
        return cls(
            address=address.strip().lower(),
            thread_id=str(gmail["thread_id"]).strip(),
            message_id=message_id if MESSAGE_ID.fullmatch(message_id) else "",
            subject=" ".join(str(gmail.get("subject") or "").split())[:300],
            references=references,
            gmail_id=str(gmail.get("id") or ""),
        )

    @classmethod
    def from_events(cls, conversation_id: str, events: Sequence[Mapping[str, Any]]) -> "GuestThread":
        """The thread of the guest's last Gmail message among a tracker's events."""
        for event in reversed(events):
            if event.get("event") == "user" and event.get("input_channel") == "gmail":
                return cls.from_metadata(conversation_id, event.get("metadata") or {})
        raise NoGuestThread("no Gmail message from this guest in the conversation")


def thread_reply_raw(thread: GuestThread, text: str, *, sender: str,
                     images: Sequence[compose.ReplyImage] = ()) -> bytes:
    """The RFC 2822 reply in ``thread`` (what ``users.messages.send`` takes as ``raw``)."""
    reply = compose.Reply(
        to=thread.address, subject=compose.reply_subject(thread.subject), text=text,
        in_reply_to=thread.message_id, references=compose.thread_references(list(thread.references), thread.message_id),
        images=list(images), sender=sender,
    )
    raw, _ = compose.build(reply)
    return raw


async def reply_to_guest_thread(client: GmailClient, thread: GuestThread, text: str, *, sender: str,
                                images: Sequence[compose.ReplyImage] = (), raw: Optional[bytes] = None) -> str:
    """Send ``text`` (and images) as a reply in the guest's thread; the Gmail id of the sent
    message. ``raw``: an already built reply (the same bytes a dead-letter entry keeps)."""
    message = raw if raw is not None else thread_reply_raw(thread, text, sender=sender, images=images)
    answer = await client.send(message, thread.thread_id or None)
    return str(answer.get("id") or "")
