"""Reception hears about every new handoff, payment check and urgent
incident outside the console page:

- e-mail over SMTP (``STAFF_SMTP_URL``, ``STAFF_SMTP_FROM``) to the hotel's
  ``reception.notify_emails``;
- a generic JSON POST to the hotel's ``reception.notify_webhook`` (chat tools:
  the body's ``text`` is what Slack/Mattermost-style incoming webhooks show;
  the other fields are structured);
- urgent ones also to the hotel's ``reception.duty_phone`` as the WhatsApp
  template ``reception.duty_template`` (body parameter: the summary).

Each carries the hotel, the guest's last messages and a link to the
conversation in the console (``STAFF_PUBLIC_URL``). ``NotificationWatcher``
looks for new open requests every ``STAFF_NOTIFY_POLL_SECONDS`` (requests are
written by the action server; the console process notifies), and each request
is notified once (``staff_request_marks.notified_at``, claimed atomically, so
several console processes do not notify twice). A target that fails goes to
the dead-letter queue as a ``staff.notify`` entry; the console's retry worker
(``resend``) tries it again with the queue's backoff, a refusal (4xx) is
permanent.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import smtplib
import ssl
from dataclasses import asdict, dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Dict, List, Optional, Sequence
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import aiohttp

from staff.periodic import PeriodicScan
from staff.reception import Reception, reception_of

logger = logging.getLogger(__name__)

KIND = "staff.notify"
NOTIFIED_KINDS = ("handoff", "payment_check")  # plus every urgent request
LAST_MESSAGES = 6
MAX_AGE = dt.timedelta(hours=1)  # older open requests (e.g. at first start) are not announced
TIMEOUT = aiohttp.ClientTimeout(total=15)


class NotificationError(Exception):
    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class Line:
    who: str  # guest | bot | staff name
    text: str
    at: str


@dataclass(frozen=True)
class Notice:
    request_id: int
    kind: str
    urgent: bool
    hotel_id: str
    hotel_name: str
    conversation_id: str
    channel: str
    text: str
    created_at: str
    link: str
    last_messages: Sequence[Line] = field(default_factory=tuple)

    @property
    def subject(self) -> str:
        what = {"handoff": "guest asks for a person", "payment_check": "payment to check",
                "issue": "incident"}.get(self.kind, self.kind)
        prefix = "URGENT " if self.urgent else ""
        return f"{prefix}[{self.hotel_name or self.hotel_id}] #{self.request_id} {what} ({self.channel or 'chat'})"

    @property
    def summary(self) -> str:
        return f"{self.subject}: “{' '.join(self.text.split())[:300]}”" + (f" {self.link}" if self.link else "")

    def body(self) -> str:
        lines = [self.subject, "", f"Conversation: {self.conversation_id}", f"Request: {self.text}", ""]
        if self.last_messages:
            lines.append("Last messages:")
            lines += [f"  {m.at} {m.who}: {m.text}" for m in self.last_messages]
            lines.append("")
        if self.link:
            lines.append(f"Open it in the staff console: {self.link}")
        return "\n".join(lines)

    def as_json(self) -> Dict[str, Any]:
        return {"text": self.summary, "event": "staff_request", "id": self.request_id, "kind": self.kind,
                "urgent": self.urgent, "hotel": {"id": self.hotel_id, "name": self.hotel_name},
                "conversation": self.conversation_id, "channel": self.channel, "request_text": self.text,
                "created_at": self.created_at, "link": self.link,
                "last_messages": [asdict(m) for m in self.last_messages]}

    @classmethod
    def from_json(cls, data: Dict[str, Any]) -> "Notice":
        return cls(int(data["id"]), str(data["kind"]), bool(data["urgent"]), str(data["hotel"]["id"]),
                   str(data["hotel"]["name"]), str(data["conversation"]), str(data["channel"]),
                   str(data["request_text"]), str(data["created_at"]), str(data["link"]),
                   tuple(Line(str(m["who"]), str(m["text"]), str(m["at"])) for m in data.get("last_messages") or []))


def wanted(kind: str, urgent: bool) -> bool:
    return urgent or kind in NOTIFIED_KINDS


class SMTPSender:
    """``smtp://[user:password@]host[:port][?starttls=1]`` or ``smtps://...`` (stdlib smtplib, in a thread)."""

    def __init__(self, url: str, sender: str, timeout: float = 15.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("STAFF_SMTP_URL must look like smtp://[user:password@]host[:port]")
        self.ssl = parts.scheme == "smtps"
        self.host, self.port = parts.hostname, parts.port or (465 if self.ssl else 25)
        self.user, self.password = unquote(parts.username or ""), unquote(parts.password or "")
        self.starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true", "yes")
        self.sender, self.timeout = sender, timeout

    def __repr__(self) -> str:
        return f"SMTPSender({self.host}:{self.port})"

    def _send(self, message: EmailMessage) -> None:
        context = ssl.create_default_context()
        smtp = (smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context) if self.ssl
                else smtplib.SMTP(self.host, self.port, timeout=self.timeout))
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password)
            smtp.send_message(message)

    async def send(self, to: Sequence[str], subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = self.sender, ", ".join(to), subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=self.sender.partition("@")[2] or None)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(body)
        try:
            await asyncio.to_thread(self._send, message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise NotificationError(f"SMTP refused the recipients ({len(exc.recipients)})", permanent=True) from None
        except smtplib.SMTPResponseException as exc:
            raise NotificationError(f"SMTP {exc.smtp_code}", permanent=500 <= exc.smtp_code < 600 and exc.smtp_code != 554) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise NotificationError(f"SMTP unreachable ({type(exc).__name__})") from None


class Notifier:
    def __init__(self, smtp: Optional[SMTPSender], queue: Any, outreach: Any = None, public_url: str = "",
                 receptions=reception_of) -> None:
        """``outreach``: a connectors.outreach.Outreach whose Graph client reaches duty phones."""
        self.smtp, self.queue, self.outreach = smtp, queue, outreach
        self.public_url = public_url.rstrip("/")
        self.receptions = receptions
        self.sent: List[tuple] = []  # (target, request id) delivered by this process

    def link(self, conversation_id: str) -> str:
        if not self.public_url:
            return ""
        return f"{self.public_url}/conversation?{urlencode({'id': conversation_id}, quote_via=quote)}"

    def targets(self, reception: Reception, urgent: bool) -> List[str]:
        found = []
        if reception.notify_emails and self.smtp is not None:
            found.append("email")
        if reception.notify_webhook:
            found.append("webhook")
        if urgent and reception.duty_phone and reception.duty_template is not None:
            found.append("duty_phone")
        return found

    async def notify(self, notice: Notice) -> Dict[str, str]:
        """Every target of the notice's hotel: "sent", or the dead-letter id it waits under."""
        reception = self.receptions(notice.hotel_id)
        outcome: Dict[str, str] = {}
        for target in self.targets(reception, notice.urgent):
            try:
                await self.deliver(target, notice, reception)
                outcome[target] = "sent"
            except NotificationError as exc:
                outcome[target] = await self._dead_letter(target, notice, exc)
        if not outcome:
            logger.info("staff request #%s of hotel %s: no notification targets configured",
                        notice.request_id, notice.hotel_id)
        return outcome

    async def deliver(self, target: str, notice: Notice, reception: Optional[Reception] = None) -> None:
        reception = reception or self.receptions(notice.hotel_id)
        if target == "email":
            if self.smtp is None:
                raise NotificationError("STAFF_SMTP_URL is not set", permanent=True)
            await self.smtp.send(reception.notify_emails, notice.subject, notice.body())
        elif target == "webhook":
            await self._webhook(reception.notify_webhook, notice)
        elif target == "duty_phone":
            await self._duty_phone(reception, notice)
        else:
            raise NotificationError(f"unknown notification target {target!r}", permanent=True)
        self.sent.append((target, notice.request_id))
        logger.info("staff request #%s: %s notification sent", notice.request_id, target)

    async def _webhook(self, url: str, notice: Notice) -> None:
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
                async with session.post(url, json=notice.as_json()) as answer:
                    if answer.status >= 400:
                        raise NotificationError(f"webhook answered {answer.status}",
                                                permanent=400 <= answer.status < 500 and answer.status not in (408, 429))
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            raise NotificationError(f"webhook unreachable ({type(exc).__name__})") from None

    async def _duty_phone(self, reception: Reception, notice: Notice) -> None:
        from connectors.outreach import template_message
        from connectors.whatsapp.graph import GraphError

        if self.outreach is None or self.outreach.whatsapp is None:
            raise NotificationError("the WhatsApp channel is not configured for the duty phone", permanent=True)
        config = self.outreach.whatsapp
        routes = [r.phone_number_id for r in config.hotels.values() if r.hotel_id == notice.hotel_id]
        phone_number_id = routes[0] if routes else config.phone_number_id
        message = template_message(reception.duty_phone, reception.duty_template, notice.summary)
        try:
            await self.outreach.graph.send_message(phone_number_id, message)
        except GraphError as exc:
            raise NotificationError(f"Graph API {exc.status} (code {exc.code})",
                                    permanent=not exc.retryable and exc.status != 0) from None

    async def _dead_letter(self, target: str, notice: Notice, error: NotificationError) -> str:
        if self.queue is None:
            logger.error("staff request #%s: %s notification failed (%s) and there is no dead-letter queue",
                         notice.request_id, target, error)
            return "failed"
        try:
            entry = await self.queue.enqueue(KIND, {"target": target, "notice": notice.as_json()}, error=str(error),
                                             conversation_id=notice.conversation_id,
                                             reason="notify_rejected" if error.permanent else "notify_failed")
        except Exception as exc:
            logger.error("staff request #%s: %s notification failed (%s); the dead-letter queue refused it too (%s)",
                         notice.request_id, target, error, type(exc).__name__)
            return "failed"
        logger.warning("staff request #%s: %s notification failed (%s); dead-letter entry %s",
                       notice.request_id, target, error, entry.id)
        return entry.id

    async def resend(self, entry) -> None:
        """The dead-letter worker's handler for ``staff.notify``."""
        from dlq import PermanentFailure

        notice = Notice.from_json(entry.payload["notice"])
        try:
            await self.deliver(str(entry.payload["target"]), notice)
        except NotificationError as exc:
            if exc.permanent:
                raise PermanentFailure(str(exc)) from None
            raise


def last_lines(entries: Sequence[Any], limit: int = LAST_MESSAGES) -> tuple:
    lines = []
    for e in entries:
        if e.kind == "guest":
            lines.append(Line("guest", e.text[:500], e.at.isoformat(timespec="seconds") if e.at else ""))
        elif e.kind == "bot":
            lines.append(Line(e.author or "bot", e.text[:500], e.at.isoformat(timespec="seconds") if e.at else ""))
    return tuple(lines[-limit:])


class NotificationWatcher(PeriodicScan):
    """Finds new open requests and notifies each once (run in the console process)."""

    what = "staff notification scan"

    def __init__(self, notifier: Notifier, requests: Any, desk: Any, reader: Any, interval: float = 5.0,
                 clock=lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)) -> None:
        self.notifier, self.requests, self.desk, self.reader = notifier, requests, desk, reader
        self.interval, self.clock = interval, clock

    async def scan(self) -> List[int]:
        """Notify every new wanted request; the ids notified."""
        found = await asyncio.to_thread(self.requests.open_requests)
        fresh = [r for r in found if wanted(r.kind, bool(r.urgent)) and r.created_at and self.clock() - r.created_at <= MAX_AGE]
        marks = await asyncio.to_thread(self.desk.notified, [r.id for r in fresh])
        done = []
        for request in fresh:
            if marks.get(request.id) is not None or not await asyncio.to_thread(self.desk.claim_notification, request.id):
                continue
            notice = await asyncio.to_thread(self.notice_for, request)
            await self.notifier.notify(notice)
            done.append(request.id)
        return done

    def notice_for(self, request: Any) -> Notice:
        from staff.tracker_reader import ConversationNotFound

        channel, hotel_id, lines = "", "", ()
        try:
            transcript = self.reader.transcript(request.sender_id)
            channel, hotel_id = transcript.summary.channel, transcript.summary.hotel_id
            lines = last_lines(transcript.entries)
        except ConversationNotFound:
            pass
        hotel_id = hotel_id or self.reader.default_hotel
        reception = self.notifier.receptions(hotel_id)
        created = request.created_at.replace(tzinfo=dt.timezone.utc).isoformat(timespec="seconds")
        return Notice(request.id, request.kind, bool(request.urgent), hotel_id, reception.hotel_name, request.sender_id,
                      channel, request.text, created, self.notifier.link(request.sender_id), lines)


def smtp_from_config(url: str, sender: str) -> Optional[SMTPSender]:
    if not url:
        return None
    if not sender:
        from core.settings import ConfigError

        raise ConfigError("STAFF_SMTP_URL needs STAFF_SMTP_FROM (the sender address)")
    try:
        return SMTPSender(url, sender)
    except ValueError as exc:
        from core.settings import ConfigError

        raise ConfigError(str(exc)) from None

