"""The Rasa input channel for Gmail.

    GET  /webhooks/gmail/        health and counters
    POST /webhooks/gmail/push    Pub/Sub push notification (users.watch): wakes the poller,
                                 which reads the mailbox history (mailbox_sync.py)

The poller starts once the server and Rasa's agent are up
(``after_server_start``) and stops with the server. Each new message is
answered by ``handle`` (see poller.py for the order of steps and the delivery
guarantee). Failed replies (``gmail.send``) and mail whose turn keeps failing
(``gmail.inbound``) go to the process's dead-letter queue, whose worker
(connectors/channel_dlq.py) resends / re-runs them with backoff.
"""
from __future__ import annotations

import hmac
import logging
from pathlib import Path
from typing import Any, Dict, List, Optional, Text

import yaml
from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import channel_metrics
from connectors.channel_base import ChannelInput, OnNewMessage
from connectors.gmail import compose, normalise
from connectors.gmail.api import GmailClient, GmailError, ResponseTooLarge, b64url_decode
from connectors.gmail.config import ConfigError, GmailConfig
from connectors.gmail.deadletter import KIND_INBOUND, KIND_SEND, error_summary, failure_reason, masked, send_payload
from connectors.gmail.mailbox_sync import MailboxSync, MalformedPush, parse_push
from connectors.gmail.oauth import ServiceAccountError, ServiceAccountTokenProvider, TokenProvider
from connectors.gmail.outbound import GmailOutput, GmailThreadOutput, resolve_choice
from connectors.gmail.poller import Poller, search_label
from connectors.gmail.store import build_store
from connectors.gmail.thread_reply import GuestThread, NoGuestThread, reply_to_guest_thread, thread_reply_raw

logger = logging.getLogger(__name__)

TOO_LONG = (
    "Tu mensaje es demasiado largo para que lo lea. ¿Puedes escribir tu consulta en pocas líneas?\n\n"
    "Your message is too long for me to read. Could you write your question in a few lines?"
)
EMPTY = (
    "No he encontrado texto en tu mensaje. ¿Puedes escribir tu consulta en el cuerpo del correo?\n\n"
    "I couldn't find any text in your message. Could you write your question in the body of the email?"
)
ATTACHMENTS_SKIPPED = "(Adjuntos no leídos / Attachments not read: {names})"

CHANNEL = "gmail"
SENT, QUEUED, NOTHING, DROPPED = "sent", "queued", "nothing", "dropped"  # what deliver() did


class MailBusy(RuntimeError):
    """Another poller (process) holds the mail right now."""


class GmailInput(ChannelInput):
    """The shared channel parts (listeners, dead-letter queue hookup, agent-ready check,
    action-server retry) come from connectors/channel_base.py."""

    @classmethod
    def name(cls) -> Text:
        return "gmail"

    @classmethod
    def config_from(cls, credentials: Optional[Dict[Text, Any]]) -> GmailConfig:
        return GmailConfig.from_sources(credentials)

    def __init__(self, config: GmailConfig, client: Optional[GmailClient] = None, store=None) -> None:
        self.config = config
        tokens = _token_provider(config)
        self.client = client or GmailClient(config.api_url, config.user_id, tokens, config.send_retries,
                                            config.retry_base_seconds, config.http_timeout_seconds)
        self.store = store or build_store(config.redis_url, config.redis_prefix, config.dedup_ttl_seconds)
        self.queue = None  # the process's dead-letter queue, from server start (ChannelInput.wire)
        self.poller = Poller(self, config.poll_seconds, config.max_messages_per_poll)
        self.sync = MailboxSync(self.client, self._search_query, config.push_topic, config.watch_renew_seconds)
        self.address = config.address
        self.handled_label_id: Optional[str] = None
        self.hotel = _hotel(config.hotel_config)
        self.stats = {"processed": 0, "replied": 0, "dead_lettered": 0, "skipped": 0}
        if not config.enabled:
            logger.warning("Gmail channel is not configured (GMAIL_CLIENT_ID, GMAIL_CLIENT_SECRET, "
                           "GMAIL_REFRESH_TOKEN, or GMAIL_SERVICE_ACCOUNT_FILE): it stays off")
        else:
            logger.info("Gmail channel polling %s every %ss", self.client.base, config.poll_seconds)

    def get_output_channel(self) -> GmailThreadOutput:
        """For messages Rasa sends outside a mail's turn (``trigger_intent`` with
        ``output_channel=latest|gmail``: saved-request notices, staff handing back):
        each bot message is sent at once as a reply in the guest's thread. A turn
        started by a mail uses its own collecting ``GmailOutput`` (one reply per mail)."""
        return GmailThreadOutput(self.send_proactive)

    # -- routes -----------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        hook = Blueprint("gmail_webhook", __name__)

        @hook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            status = "ok" if self.config.enabled else "not configured"
            return response.json({"status": status, "polls": self.poller.polls, **self.stats})

        @hook.route("/push", methods=["POST"])
        async def push(request: Request) -> HTTPResponse:
            if not self.config.enabled:
                return response.text("Gmail channel not configured", status=503)
            expected = self.config.push_token
            given = request.args.get("token", "")
            if expected and not hmac.compare_digest(given.encode(), expected.encode()):
                return response.text("bad token", status=403)
            try:
                self.sync.note_push(parse_push(request.json))
            except (MalformedPush, ValueError) as exc:  # request.json raises on a body that is not JSON
                return response.json({"error": f"not a Gmail push notification: {exc}"}, status=400)
            self.poller.wake.set()  # the notification only says "something changed": poll
            return response.json({"status": "ok"})

        async def started(app, loop) -> None:
            if self.config.enabled:  # after Rasa's agent is loaded: a mail is never handed to no model
                self.poller.start(on_new_message)

        async def stopping(app, loop) -> None:
            await self.poller.stop()

        self.wire(
            hook, on_new_message,
            dead_letter_handlers=lambda: {KIND_SEND: self._resend, KIND_INBOUND: self._recover},
            on_permanent=self._permanent, started=started, stopping=stopping, closeables=(self.client, self.store),
        )
        return hook

    # -- one message --------------------------------------------------------------

    async def new_message_ids(self, limit: int) -> List[str]:
        if self.handled_label_id is None:
            self.handled_label_id = await self.client.label_id(self.config.handled_label)
        if not self.address:
            self.address = str((await self.client.profile()).get("emailAddress") or "").lower()
        return await self.sync.new_message_ids(limit, list(self.poller.failures))

    def _search_query(self) -> str:
        return f"{self.config.query} -label:{search_label(self.config.handled_label)}".strip()

    async def handle(self, message_id: str, on_new_message: OnNewMessage, recovering: bool = False) -> None:
        """Answer one mail (see poller.py). ``recovering`` (the dead-letter worker, for mail it
        labelled itself): the label does not mean done, and a mail another poller holds
        raises ``MailBusy`` instead of being left to that poller."""
        if await self.store.replied(message_id):
            channel_metrics.message(CHANNEL, "duplicate")
            await self.mark_handled(message_id)  # the label was lost last time
            return
        if not await self.store.claim(message_id):
            if recovering:
                raise MailBusy(f"Gmail message {message_id} is being handled elsewhere")
            return
        try:
            minimal = await self.client.get_message(message_id, "minimal", 1024 * 1024)
            labels = minimal.get("labelIds") or []
            if not recovering and self.handled_label_id and self.handled_label_id in labels:
                channel_metrics.message(CHANNEL, "duplicate")  # listed again by the history: already handled
                return
            email = await self.read(message_id, minimal)
            await self._answer(email, on_new_message)
            await self.mark_handled(message_id)
        finally:
            await self.store.release(message_id)

    async def read(self, message_id: str, minimal: Dict[str, Any]) -> normalise.InboundEmail:
        limit = self.config.max_raw_bytes
        thread_id = str(minimal.get("threadId") or "")
        if int(minimal.get("sizeEstimate") or 0) <= limit:
            try:
                resource = await self.client.get_message(message_id, "raw", limit * 4 // 3 + 64 * 1024)
                return normalise.parse_raw(b64url_decode(str(resource.get("raw") or "")), message_id, thread_id)
            except ResponseTooLarge:
                pass
        logger.info("Gmail message %s is large; reading its structure, not its attachments", message_id)
        return normalise.parse_full(await self.client.get_message(message_id, "full", 4 * 1024 * 1024))

    async def _answer(self, email: normalise.InboundEmail, on_new_message: OnNewMessage) -> None:
        self.stats["processed"] += 1
        if email.defects:
            logger.info("Gmail message %s has MIME defects: %s", email.gmail_id, ", ".join(sorted(set(email.defects))))
        if not email.sender or email.sender == self.address or email.auto_submitted:
            logger.info("Gmail message %s not answered (no sender, our own or automatic)", email.gmail_id)
            self.stats["skipped"] += 1
            channel_metrics.message(CHANNEL, "ignored")
            return
        output = GmailOutput()
        if len(email.body) > self.config.max_body_chars:
            output.texts.append(TOO_LONG)
        elif not email.text:
            output.texts.append(EMPTY)
        else:
            text = email.text
            choice = resolve_choice(text, await self.store.offered(email.sender))
            metadata = {
                "channel": "gmail",
                "hotel": self.hotel,
                "gmail": {
                    "id": email.gmail_id, "thread_id": email.thread_id, "message_id": email.message_id,
                    "subject": email.subject, "from_name": email.sender_name, "references": email.references[-20:],
                    "attachments": [{"filename": a.filename, "mime_type": a.mime_type, "size": a.size} for a in email.attachments],
                },
            }
            with channel_metrics.turn(CHANNEL):
                await on_new_message(UserMessage(choice or text, output, email.sender, input_channel=self.name(),
                                                 message_id=email.gmail_id, metadata=metadata))
            await self.store.put_offered(email.sender, output.buttons)
        await self.reply(email, output)

    async def reply(self, email: normalise.InboundEmail, output: GmailOutput) -> None:
        """The answer to one mail; a failed send goes to the dead-letter queue (see ``deliver``)."""
        thread = GuestThread(email.sender, email.thread_id, email.message_id, email.subject,
                             tuple(email.references), email.gmail_id)
        if await self.deliver(thread, output, raise_undeliverable=False) == SENT:
            await self.store.mark_replied(email.gmail_id)  # a queued reply is marked by its resend

    async def send_proactive(self, recipient_id: str, output: GmailOutput) -> None:
        """One bot message the hotel starts, as a reply in the guest's last thread. Raises
        ``NoGuestThread`` (no Gmail message from that guest) or ``GmailError`` (refused and
        no dead-letter queue): the ``trigger_intent`` call then fails instead of the guest
        silently getting nothing."""
        if not self.config.enabled:
            raise NoGuestThread("the Gmail channel is not configured")
        thread = await self.guest_thread(recipient_id)
        if not self.address:
            self.address = str((await self.client.profile()).get("emailAddress") or "").lower()
        await self.deliver(thread, output, raise_undeliverable=True)
        if output.buttons:
            await self.store.put_offered(thread.address, output.buttons)

    async def guest_thread(self, conversation_id: str) -> GuestThread:
        """The thread of the guest's last mail, from the tracker store (its metadata)."""
        from rasa.shared.core.events import UserUttered

        agent = getattr(getattr(self._app, "ctx", None), "agent", None)
        if agent is None or agent.tracker_store is None:
            raise NoGuestThread("Rasa's agent is not running")
        tracker = await agent.tracker_store.retrieve(conversation_id)
        for event in reversed(tracker.events if tracker else []):
            if isinstance(event, UserUttered) and event.input_channel == self.name():
                return GuestThread.from_metadata(conversation_id, event.metadata or {})
        raise NoGuestThread("no Gmail message from this guest in the conversation")

    async def deliver(self, thread: GuestThread, output: GmailOutput, raise_undeliverable: bool) -> str:
        """Send ``output`` (texts, images fetched and attached) in ``thread``: ``SENT``, ``QUEUED``
        (a ``gmail.send`` dead-letter entry the worker resends), ``NOTHING`` to send, or
        ``DROPPED`` (refused and no queue: logged; raised instead with ``raise_undeliverable``)."""
        images, skipped = [], []
        for url in output.image_urls:
            try:
                data, mime = await self.client.fetch_url(url, self.config.max_attachment_bytes)
            except GmailError as exc:
                logger.warning("image for the reply not attached: %s", exc)
                skipped.append(url)
                continue
            name = output.image_names.get(url) or (url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "image")
            images.append(compose.ReplyImage(data, mime if "/" in mime else "application/octet-stream", name[-80:]))
        text = output.text
        if skipped:
            text = "\n\n".join(filter(None, [text] + skipped))  # at least the link
        if not text and not images:
            return NOTHING
        raw = thread_reply_raw(thread, text, sender=self.address, images=images)
        try:
            await reply_to_guest_thread(self.client, thread, text, sender=self.address, raw=raw)
        except GmailError as exc:
            channel_metrics.send(CHANNEL, "failed")
            if self.queue is None and raise_undeliverable:
                raise
            await self._dead_letter_reply(raw, thread, exc)
            return QUEUED if self.queue is not None else DROPPED
        channel_metrics.send(CHANNEL, "sent")
        self.stats["replied"] += 1
        return SENT

    async def _dead_letter_reply(self, raw: bytes, thread: GuestThread, error: GmailError) -> None:
        """Into the queue, so the mail may be labelled. Raises if the queue cannot take it:
        the mail then stays unlabelled and is processed again at the next poll."""
        self.stats["dead_lettered"] += 1
        if self.queue is None:
            logger.error("Gmail reply to %s dropped after retries (no dead-letter queue): %s",
                         masked(thread.address), error_summary(error))
            return
        entry = await self.queue.enqueue(
            KIND_SEND, send_payload(raw, thread.thread_id, thread.gmail_id), error=error_summary(error),
            conversation_id=thread.address, reason=failure_reason(error),
        )
        logger.warning("Gmail reply to %s failed (%s); dead-letter entry %s", masked(thread.address),
                       error_summary(error), entry.id)

    async def mark_handled(self, message_id: str) -> None:
        if self.handled_label_id is None:
            self.handled_label_id = await self.client.label_id(self.config.handled_label)
        await self.client.modify(message_id, [self.handled_label_id], ["UNREAD"])

    async def give_up(self, message_id: str, error: str) -> None:
        """A message that failed every time: handed to the dead-letter queue (``gmail.inbound``),
        then labelled so it cannot block the mailbox. Without a queue it is only labelled and logged."""
        if self.queue is None:
            logger.error("Gmail message %s could not be processed; labelled %s without a reply",
                         message_id, self.config.handled_label)
        else:
            entry = await self.queue.enqueue(KIND_INBOUND, {"gmail_id": message_id}, error=error[:300],
                                             reason="turn_failed")
            logger.warning("Gmail message %s keeps failing; dead-letter entry %s retries it", message_id, entry.id)
        try:
            await self.mark_handled(message_id)
        except GmailError as exc:  # it stays unlabelled: seen again next poll, answered once (replied record)
            logger.warning("could not label %s: %s", message_id, exc)

    # -- dead-letter handlers (run by the process's worker) ---------------------------

    async def _resend(self, entry) -> None:
        from dlq import PermanentFailure

        payload = entry.payload
        try:
            await self.client.send(b64url_decode(str(payload["raw"])), str(payload.get("thread_id") or "") or None)
        except GmailError as exc:
            if exc.retryable:
                raise
            raise PermanentFailure(error_summary(exc)) from None
        channel_metrics.send(CHANNEL, "resent")
        self.stats["replied"] += 1
        await self.store.mark_replied(str(payload["gmail_id"]))

    async def _recover(self, entry) -> None:
        self.require_agent_ready()
        await self.handle(str(entry.payload["gmail_id"]), self.on_new_message, recovering=True)

    async def _permanent(self, entry) -> None:
        what = "reply" if entry.kind == KIND_SEND else "mail"
        logger.error("Gmail %s %s could not be handled; dead-letter entry %s is permanent",
                     what, entry.payload.get("gmail_id"), entry.id)


def _token_provider(config: GmailConfig) -> TokenProvider:
    if not config.service_account_file:
        return TokenProvider(config.token_url, config.client_id, config.client_secret, config.refresh_token,
                             config.http_timeout_seconds)
    try:
        return ServiceAccountTokenProvider(config.service_account_file, config.user_id, config.token_url,
                                           config.http_timeout_seconds)
    except ServiceAccountError as exc:
        raise ConfigError(str(exc)) from None


def _hotel(path: str) -> Dict[str, str]:
    hotel_id = Path(path).stem
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        hotel_id = str(data.get("id") or hotel_id)
    except (OSError, yaml.YAMLError):
        pass
    return {"id": hotel_id, "config": path}
