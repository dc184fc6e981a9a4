"""The Rasa input channel: webhook routes and the background turn.

    GET  /webhooks/whatsapp/           health
    GET  /webhooks/whatsapp/webhook    Meta's subscription check (hub.challenge)
    POST /webhooks/whatsapp/webhook    notifications, signed with X-Hub-Signature-256

A POST is read up to ``max_body_bytes`` (413 beyond), its signature checked
(401 missing, 403 wrong) and its JSON parsed (400 when malformed). Each new
message is journaled in the dead-letter queue (a ``whatsapp.inbound`` entry,
due after the queue's backoff) and leased to this process (turn_lease.py)
before the 200 goes out (503 when the queue cannot take it, so Meta
redelivers). In the background, in order per guest, its turn runs: turned
into text for Rasa (payloads, voice-note transcription) and handed to Rasa
with the hotel's metadata; then it is marked done, its lease released and its
journal entry removed.

If the process dies before that (its leases lapse), or Rasa raises (tracker
store down), the entry stays and, once due, the dead-letter worker of this or
another Rasa process runs the turn (``_recover``) with the queue's backoff. A
message already done is never run again; one still owned by a live process
is left to it (the worker keeps a fresh entry for it instead).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import asdict, dataclass
from typing import Any, Dict, Optional, Text

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import channel_metrics, strict_tracker_store
from connectors.channel_base import ChannelInput, OnNewMessage
from connectors.whatsapp import inbound, signature
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.deadletter import JOURNAL_NOTE, JOURNAL_REASON, KIND_INBOUND, KIND_SEND, masked
from connectors.whatsapp.dispatch import OrderedDispatcher
from connectors.whatsapp.graph import GraphClient, GraphError
from connectors.whatsapp.inbound import InboundMessage, MalformedPayload
from connectors.whatsapp.outbound import PAYLOAD_KEY_PREFIX, WhatsAppOutput, sender_id
from connectors.whatsapp.sender import MessageSender
from connectors.whatsapp.speech import AudioError, Transcriber
from connectors.whatsapp.store import StateStore, build_store
from connectors.whatsapp.turn_lease import LeaseBusy, TurnLease

logger = logging.getLogger(__name__)

MAX_CHALLENGE_LENGTH = 256
RECEIPT_MIME_PREFIXES = ("image/", "application/pdf")
CHANNEL = "whatsapp"

# Said by the channel itself: these cases never reach the bot.
VOICE_NOT_UNDERSTOOD = (
    "No he podido entender la nota de voz, ¿me lo escribes? / "
    "I couldn't understand the voice note, could you type it?"
)
VOICE_UNAVAILABLE = (
    "Todavía no puedo escuchar notas de voz, ¿me lo escribes? / "
    "I can't listen to voice notes yet, could you type it?"
)
UNSUPPORTED = (
    "Puedo leer texto, notas de voz, ubicaciones y fotos de justificantes de pago. / "
    "I can read text, voice notes, locations and photos of payment receipts."
)

@dataclass
class Job:
    """A message's turn to run: ``lease`` held since the webhook accepted it (None when
    the worker recovers it), ``entry_id`` its journal entry (removed once done),
    ``finished`` resolved for the worker."""

    message: InboundMessage
    lease: Optional[TurnLease]
    entry_id: Optional[str]
    finished: Optional["asyncio.Future[None]"] = None


class WhatsAppInput(ChannelInput):
    @classmethod
    def name(cls) -> Text:
        return CHANNEL

    @classmethod
    def config_from(cls, credentials: Optional[Dict[Text, Any]]) -> WhatsAppConfig:
        return WhatsAppConfig.from_sources(credentials)

    def __init__(self, config: WhatsAppConfig, graph: Optional[GraphClient] = None, store: Optional[StateStore] = None) -> None:
        self.config = config
        self.graph = graph or GraphClient(
            config.graph_api_url,
            config.graph_api_version,
            config.access_token,
            retries=config.send_retries,
            retry_base_seconds=config.retry_base_seconds,
            timeout_seconds=config.http_timeout_seconds,
        )
        self.store = store or build_store(config.redis_url, config.redis_prefix, config.dedup_ttl_seconds)
        self.sender = MessageSender(config, self.graph, self.store)
        self.queue = None  # the process's dead-letter queue, from server start
        self.transcriber = (
            Transcriber(config.vosk_model_path, config.max_voice_seconds) if config.vosk_model_path else None
        )
        self.dispatcher: OrderedDispatcher[Job] = OrderedDispatcher(self._run_job, config.max_concurrency)
        if not config.enabled:
            logger.warning(
                "WhatsApp channel is not configured (WHATSAPP_VERIFY_TOKEN, WHATSAPP_APP_SECRET, "
                "WHATSAPP_ACCESS_TOKEN, WHATSAPP_PHONE_NUMBER_ID): its webhook answers 503"
            )
        else:
            logger.info("WhatsApp channel for numbers %s, Graph API %s", ", ".join(config.hotels), self.graph.base)

    def get_output_channel(self) -> WhatsAppOutput:
        """For messages Rasa sends on its own (the recipient id names number and guest)."""
        return WhatsAppOutput(self.config, self.graph, self.store, self.queue)

    # -- routes ---------------------------------------------------------------

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        webhook = Blueprint("whatsapp_webhook", __name__)

        @webhook.route("/", methods=["GET"])
        async def health(request: Request) -> HTTPResponse:
            return response.json({"status": "ok" if self.config.enabled else "not configured"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            return self._verify(request)

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            return await self._receive(request)

        async def started(app, loop) -> None:
            if self.transcriber is not None:  # load the model now rather than at the first voice note
                loop.run_in_executor(None, self.transcriber.preload).add_done_callback(_log_preload_failure)

        async def stopping(app, loop) -> None:
            await self.dispatcher.drain()

        self.wire(
            webhook, on_new_message,
            dead_letter_handlers=lambda: {KIND_SEND: self._resend, KIND_INBOUND: self._recover},
            on_permanent=self._permanent, started=started, stopping=stopping, closeables=(self.graph, self.store),
        )
        return webhook

    def _verify(self, request: Request) -> HTTPResponse:
        if not self.config.enabled:
            return response.text("WhatsApp channel not configured", status=503)
        mode = request.args.get("hub.mode", "")
        token = request.args.get("hub.verify_token", "")
        challenge = request.args.get("hub.challenge", "")
        if mode != "subscribe" or not challenge or len(challenge) > MAX_CHALLENGE_LENGTH:
            return response.text("bad verification request", status=400)
        if not hmac.compare_digest(token.encode("utf-8"), self.config.verify_token.encode("utf-8")):
            return response.text("verify token mismatch", status=403)
        return response.text(challenge, content_type="text/plain")

    async def _receive(self, request: Request) -> HTTPResponse:
        if not self.config.enabled:
            return response.json({"error": "WhatsApp channel not configured"}, status=503)
        limit = self.config.max_body_bytes
        try:
            declared = int(request.headers.get("content-length") or 0)
        except ValueError:
            return response.json({"error": "bad Content-Length"}, status=400)
        if declared > limit:
            return response.json({"error": f"body larger than {limit} bytes"}, status=413)
        body = await _read_body(request, limit)
        if body is None:
            return response.json({"error": f"body larger than {limit} bytes"}, status=413)
        header = request.headers.get(signature.HEADER)
        if not header:
            return response.json({"error": f"missing {signature.HEADER}"}, status=401)
        if not signature.is_valid(body, header, self.config.app_secret):
            logger.warning("WhatsApp webhook with a wrong signature from %s refused", request.remote_addr or request.ip)
            return response.json({"error": "invalid signature"}, status=403)
        try:
            batch = inbound.parse_webhook(inbound.decode_json(body))
        except MalformedPayload as exc:
            return response.json({"error": f"malformed payload: {exc}"}, status=400)
        for error in batch.errors:
            logger.warning("WhatsApp reported an error: %s %s", error.get("code"), error.get("title"))
        for message in batch.messages:
            try:
                job = await self._accept(message)
            except Exception as exc:  # not recorded: let Meta deliver it again rather than risk losing it
                logger.error("could not journal WhatsApp message %s (%s); answering 503 so Meta redelivers",
                             message.message_id, type(exc).__name__)
                return response.json({"error": "temporarily unavailable"}, status=503)
            if job is not None:
                self.dispatcher.submit(message.sender_key, job)
        return response.json({"status": "received", "messages": len(batch.messages), "statuses": batch.statuses})

    # -- journal ----------------------------------------------------------------

    async def _accept(self, message: InboundMessage) -> Optional["Job"]:
        """Journal a new message and take its lease; None for a duplicate. Journaled
        first, then claimed: a crash in between leaves an extra entry, which finds the
        message done (or owned) when it comes due and goes away."""
        if await self.store.is_done(message.message_id):
            channel_metrics.message(CHANNEL, "duplicate")
            return None
        entry_id = await self._journal(message)
        if not await self.store.claim(message.message_id):
            logger.info("duplicate WhatsApp delivery of %s ignored", message.message_id)
            channel_metrics.message(CHANNEL, "duplicate")
            await self._remove_entry(entry_id)
            return None
        lease = TurnLease(self.store, message.message_id, self.config.turn_lease_seconds)
        if not await lease.acquire():  # a worker is recovering an older delivery of it
            return None
        return Job(message, lease, entry_id)

    async def _journal(self, message: InboundMessage) -> Optional[str]:
        if self.queue is None:
            return None
        entry = await self.queue.enqueue(
            KIND_INBOUND, inbound.to_payload(message), error=JOURNAL_NOTE,
            conversation_id=sender_id(message.wa_id, message.phone_number_id), reason=JOURNAL_REASON,
        )
        return entry.id

    async def _remove_entry(self, entry_id: Optional[str]) -> None:
        if entry_id is None or self.queue is None:
            return
        try:
            await self.queue.succeed(entry_id)
        except Exception as exc:  # the worker will find the message done and remove it
            logger.warning("could not remove journal entry %s: %s", entry_id, type(exc).__name__)

    # -- dead-letter handlers (run by the process's worker) ---------------------------

    async def _recover(self, entry) -> None:
        """A journaled message whose turn did not finish (crash, Rasa error). It joins
        its guest's queue (order, concurrency) before this coroutine first awaits, so
        the worker's entries, claimed oldest first, keep their order per guest."""
        self.require_agent_ready()
        message = inbound.from_payload(entry.payload)
        job = Job(message, None, None, asyncio.get_running_loop().create_future())
        self.dispatcher.submit(message.sender_key, job)
        try:
            await job.finished
        except LeaseBusy:
            # owned by a live process (waiting or in its turn): keep a fresh journal entry
            # for it, due after the backoff, instead of spending this entry's retries
            await self._journal(message)
            return
        logger.info("recovered WhatsApp message %s (retry %d)", message.message_id, entry.attempts + 1)

    async def _resend(self, entry) -> None:
        from dlq import PermanentFailure

        payload = entry.payload
        try:
            await self.sender.send(str(payload["phone_number_id"]), str(payload["recipient"]), dict(payload["message"]),
                                   payload.get("fallback_text"))
        except GraphError as exc:
            if exc.retryable:
                raise
            raise PermanentFailure(f"Graph API {exc.status} (code {exc.code}): {exc.detail}"[:300]) from None
        channel_metrics.send(CHANNEL, "resent")

    async def _permanent(self, entry) -> None:
        if entry.kind == KIND_INBOUND:
            logger.error("WhatsApp message of %s could not be processed; dead-letter entry %s is permanent",
                         masked(str(entry.payload.get("wa_id", ""))), entry.id)
        else:
            logger.error("WhatsApp message to %s could not be sent; dead-letter entry %s is permanent",
                         masked(str(entry.payload.get("recipient", ""))), entry.id)

    # -- background turn ------------------------------------------------------

    async def _run_job(self, job: "Job") -> None:
        """Never raises: a failure is left to the journal (new messages) or handed to the worker (recovery)."""
        lease = job.lease or TurnLease(self.store, job.message.message_id, self.config.turn_lease_seconds)
        try:
            if job.lease is None and not await lease.acquire():
                raise LeaseBusy(job.message.message_id)
            await self._process(job.message)
        except Exception as exc:
            if job.finished is not None:
                if not job.finished.done():  # the worker may have stopped waiting (handler timeout)
                    job.finished.set_exception(exc)
            elif not isinstance(exc, LeaseBusy):
                expected = isinstance(exc, strict_tracker_store.TrackerStoreUnavailable)  # an outage, not a bug: no traceback
                logger.error("WhatsApp message %s failed (%s); its journal entry retries it", job.message.message_id,
                             f"{type(exc).__name__}: {exc}"[:300], exc_info=not expected)
            return
        finally:
            await lease.release()
        if job.finished is not None and not job.finished.done():
            job.finished.set_result(None)
        await self._remove_entry(job.entry_id)

    async def _process(self, message: InboundMessage) -> None:
        """Run the message's turn unless it is done; then mark it done. Raises when Rasa does."""
        route = self.config.hotel_for(message.phone_number_id)
        if route is None:
            logger.warning("WhatsApp message for unconfigured number %s ignored", message.phone_number_id)
            channel_metrics.message(CHANNEL, "ignored")
            return
        if await self.store.is_done(message.message_id):
            channel_metrics.message(CHANNEL, "duplicate")
            return
        await self._turn(message, route)
        await self.store.mark_done(message.message_id)

    async def _turn(self, message: InboundMessage, route) -> None:
        on_new_message = self.on_new_message
        await self.store.open_window(f"{message.phone_number_id}:{message.wa_id}")
        conversation = sender_id(message.wa_id, message.phone_number_id)
        output = WhatsAppOutput(self.config, self.graph, self.store, self.queue)
        if self.config.mark_read:
            await self._mark_read(message)
        details: Dict[str, Any] = {}
        text = await self._text_for_rasa(message, output, conversation, details)
        if not text:
            channel_metrics.message(CHANNEL, "ignored")
            return
        metadata = {
            "channel": CHANNEL,
            "hotel": route.as_metadata(),
            "whatsapp": {
                "phone_number_id": message.phone_number_id,
                "display_phone_number": message.display_phone_number,
                "wa_id": message.wa_id,
                "profile_name": message.profile_name,
                "message_id": message.message_id,
                "type": message.type,
                "timestamp": message.timestamp,
                **details,
            },
        }
        user_message = UserMessage(
            text, output, conversation, input_channel=self.name(), message_id=message.message_id, metadata=metadata
        )
        with channel_metrics.turn(CHANNEL):
            await on_new_message(user_message)

    async def _text_for_rasa(
        self, message: InboundMessage, output: WhatsAppOutput, conversation: str, details: Dict[str, Any]
    ) -> Optional[str]:
        kind = message.type
        if kind == "text":
            return message.text.strip() or None
        if kind in ("interactive", "button"):
            return await self._reply_payload(message)
        if kind == "location" and message.location is not None:
            details["location"] = asdict(message.location)
            return inbound.intent_payload("hotel_location")
        media = message.media
        if media is not None:
            details["media"] = {"id": media.id, "mime_type": media.mime_type, "caption": media.caption}
        if media is not None and (kind == "image" or (kind == "document" and media.mime_type.startswith(RECEIPT_MIME_PREFIXES))):
            reference = inbound.booking_ref_in(media.caption) or inbound.booking_ref_in(media.filename)
            return inbound.intent_payload("payment_confirmation", {"booking_ref": reference} if reference else None)
        if media is not None and kind == "audio":
            text = await self._transcribe(media.id, output, conversation)
            if text:
                details["transcribed"] = True
            return text
        if kind in ("reaction", "system"):
            return None
        await output.send_text_message(conversation, UNSUPPORTED)
        return None

    async def _reply_payload(self, message: InboundMessage) -> Optional[str]:
        reply_id = message.reply_id.strip()
        if reply_id.startswith(PAYLOAD_KEY_PREFIX):
            payload = await self.store.get_payload(reply_id[len(PAYLOAD_KEY_PREFIX) :])
            # an expired key: let the NLU read the button's title instead
            return payload or message.reply_title or None
        return reply_id or message.reply_title or None

    async def _transcribe(self, media_id: str, output: WhatsAppOutput, conversation: str) -> Optional[str]:
        if self.transcriber is None:
            await output.send_text_message(conversation, VOICE_UNAVAILABLE)
            return None
        try:
            data, _ = await self.graph.download_media(media_id, self.config.max_media_bytes)
            text = (await self.transcriber.transcribe(data)).strip()
        except (GraphError, AudioError) as exc:
            logger.warning("voice note %s not transcribed: %s", media_id, exc)
            text = ""
        except Exception:  # the recogniser itself (e.g. a broken model directory)
            logger.exception("voice note %s not transcribed", media_id)
            text = ""
        if not text:
            await output.send_text_message(conversation, VOICE_NOT_UNDERSTOOD)
            return None
        return text

    async def _mark_read(self, message: InboundMessage) -> None:
        try:
            await self.graph.send_message(message.phone_number_id, {"status": "read", "message_id": message.message_id})
        except GraphError as exc:
            logger.info("could not mark %s as read: %s", message.message_id, exc)


def _log_preload_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("could not load the Vosk model: %s", future.exception())


async def _read_body(request: Request, limit: int) -> Optional[bytes]:
    """The raw body, or None once it passes ``limit`` (the rest is not buffered)."""
    if request.body or request.stream is None:  # a route that was not streamed
        return request.body if len(request.body or b"") <= limit else None
    chunks, size = [], 0
    while True:
        chunk = await request.stream.read()
        if chunk is None:
            break
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
