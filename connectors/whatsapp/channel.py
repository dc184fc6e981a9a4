"""The Rasa input channel: webhook routes and the background turn.

    GET  /webhooks/whatsapp/           health
    GET  /webhooks/whatsapp/webhook    Meta's subscription check (hub.challenge)
    POST /webhooks/whatsapp/webhook    notifications, signed with X-Hub-Signature-256

A POST is read up to ``max_body_bytes`` (413 beyond), its signature checked
(401 missing, 403 wrong) and its JSON parsed (400 when it is not a WhatsApp
notification at all). Each message stands alone: one that does not fit
(inbound.py) is logged and kept for staff as a permanent dead-letter entry
(``whatsapp.rejected``) while the others are answered.

Before the 200 goes out, the batch's new messages (one call to the store
tells which are done already) are journaled in the dead-letter queue: one
``whatsapp.inbound`` entry per chunk of up to 100 messages, due after the
queue's backoff (503 when the queue cannot take them, so Meta redelivers), so
a body of 5,000 messages costs some 50 writes, not 20,000 round trips. In the
background, in order per guest, each message takes its lease (turn_lease.py)
and its turn runs: turned into text for Rasa (payloads, Flow answers,
voice-note transcription) and handed to Rasa with the hotel's metadata; then
it is marked done. A chunk's entry is removed once every message of it is
settled; a turn that raises (tracker store down) gets an entry of its own
(reason ``turn_failed``) that the dead-letter worker retries with backoff.

If the process dies first, the chunk's entry stays and, once due, the worker
of this or another Rasa process runs the messages not done yet
(``_recover``). A message already done is never run again; one owned by a
live process is left to it (the worker keeps a fresh entry for it instead).
"""
from __future__ import annotations

import asyncio
import hmac
import logging
from dataclasses import asdict, dataclass
from typing import Any, Awaitable, Callable, Dict, Iterable, List, Optional, Text

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from connectors import channel_metrics, strict_tracker_store
from connectors.channel_base import ChannelInput, OnNewMessage
from connectors.whatsapp import inbound, signature
from connectors.whatsapp.config import WhatsAppConfig
from connectors.whatsapp.deadletter import (
    JOURNAL_NOTE,
    JOURNAL_REASON,
    KIND_INBOUND,
    KIND_REJECTED,
    KIND_SEND,
    TURN_FAILED_REASON,
    journal_chunks,
    masked,
    rejected_chunks,
)
from connectors.whatsapp.dispatch import OrderedDispatcher
from connectors.whatsapp.graph import GraphClient, GraphError
from connectors.whatsapp.inbound import InboundMessage, MalformedPayload, Preference, Rejected
from connectors.whatsapp.outbound import PAYLOAD_KEY_PREFIX, WhatsAppOutput, sender_id
from connectors.whatsapp.presence import TypingIndicator
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
CALL_PERMISSION_ACCEPTED = (
    "Gracias, podremos llamarte por WhatsApp si hace falta. / Thanks, we may call you on WhatsApp if needed."
)
CALL_PERMISSION_REJECTED = "Entendido, no te llamaremos. / Understood, we won't call you."
SILENT_TYPES = ("reaction", "system", "revoke")  # nothing for Rasa, nothing said

@dataclass
class JournalChunk:
    """The journal entry of up to 100 messages of one webhook: removed once all of
    them are settled here, left to the worker (``keep``) when one is not."""

    entry_id: Optional[str]
    pending: int
    keep: bool = False


@dataclass
class Job:
    """A message's turn to run: ``chunk`` its journal entry (None when the worker
    recovers it), ``finished`` resolved for the worker."""

    message: InboundMessage
    chunk: Optional[JournalChunk]
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
        # called with (conversation id, inbound.Preference) when a guest stops/resumes marketing
        # messages in WhatsApp itself: by default the journey's opt-out store records it
        self.on_preference: Optional[Callable[[str, Preference], Awaitable[None]]] = self._journey_opt_out
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
            dead_letter_handlers=lambda: {KIND_SEND: self._resend, KIND_INBOUND: self._recover,
                                          KIND_REJECTED: self._rejected},
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
        try:
            await self._keep_rejected(batch.rejected)
            jobs = await self._accept(batch.messages)
        except Exception as exc:  # not recorded: let Meta deliver it again rather than risk losing it
            logger.error("could not journal a WhatsApp webhook of %d messages (%s); answering 503 so Meta redelivers",
                         len(batch.messages) + len(batch.rejected), type(exc).__name__)
            return response.json({"error": "temporarily unavailable"}, status=503)
        for job in jobs:
            self.dispatcher.submit(job.message.sender_key, job)
        for preference in batch.preferences:
            await self._preference(preference)
        answer = {"status": "received", "messages": len(batch.messages), "statuses": batch.statuses}
        if batch.rejected:
            answer["rejected"] = len(batch.rejected)
        return response.json(answer)

    # -- journal ----------------------------------------------------------------

    async def _accept(self, messages: List[InboundMessage]) -> List[Job]:
        """Journal the batch's new messages, chunk by chunk; their jobs. Done ones (one
        store call for the batch) and repeats inside the body are duplicates."""
        if not messages:
            return []
        done = await self.store.done_among([m.message_id for m in messages])
        fresh, seen = [], set()
        for message in messages:
            if message.message_id in done or message.message_id in seen:
                channel_metrics.message(CHANNEL, "duplicate")
                continue
            seen.add(message.message_id)
            fresh.append(message)
        jobs: List[Job] = []
        start = 0
        for chunk_payloads in journal_chunks([inbound.to_payload(m) for m in fresh]):  # contiguous, in order
            chunk_messages = fresh[start:start + len(chunk_payloads)]
            start += len(chunk_payloads)
            chunk = JournalChunk(await self._journal(chunk_messages, payloads=chunk_payloads), len(chunk_messages))
            jobs.extend(Job(message, chunk) for message in chunk_messages)
        return jobs

    async def _journal(self, messages: List[InboundMessage], reason: str = JOURNAL_REASON,
                       error: str = JOURNAL_NOTE, payloads: Optional[List[Dict[str, Any]]] = None) -> Optional[str]:
        if self.queue is None or not messages:
            return None
        guests = {sender_id(m.guest, m.phone_number_id) for m in messages}
        entry = await self.queue.enqueue(
            KIND_INBOUND, {"messages": payloads or [inbound.to_payload(m) for m in messages]}, error=error,
            conversation_id=guests.pop() if len(guests) == 1 else None, reason=reason,
        )
        return entry.id

    async def _remove_entry(self, entry_id: Optional[str]) -> None:
        if entry_id is None or self.queue is None:
            return
        try:
            await self.queue.succeed(entry_id)
        except Exception as exc:  # the worker will find the messages done and remove it
            logger.warning("could not remove journal entry %s: %s", entry_id, type(exc).__name__)

    async def _settle(self, chunk: Optional[JournalChunk], keep: bool = False) -> None:
        if chunk is None:
            return
        chunk.pending -= 1
        chunk.keep = chunk.keep or keep
        if chunk.pending == 0 and not chunk.keep:
            await self._remove_entry(chunk.entry_id)

    async def _keep_rejected(self, rejected: List[Rejected]) -> None:
        """Malformed messages: logged, and kept for staff as permanent dead letters."""
        for item in rejected:
            channel_metrics.message(CHANNEL, "rejected")
            logger.warning("WhatsApp message from %s rejected (%s); kept for staff", masked(item.guest) if item.guest
                           else "an unknown sender", item.error)
        if self.queue is None:
            return
        for chunk in rejected_chunks(rejected):
            guests = {sender_id(r.guest, r.phone_number_id) if r.guest and r.phone_number_id else "" for r in chunk}
            conversation = guests.pop() if len(guests) == 1 else None
            summary = "; ".join(sorted({r.error for r in chunk}))[:300]
            entry = await self.queue.enqueue(
                KIND_REJECTED, {"rejected": [asdict(r) for r in chunk]}, error=summary,
                conversation_id=conversation or None, reason="malformed", max_retries=1,
            )
            try:  # straight to the permanent table; if that fails the worker's handler puts it there
                await self.queue.give_up(entry.id, summary)
            except Exception as exc:
                logger.warning("rejected WhatsApp messages stay queued in entry %s (%s)", entry.id, type(exc).__name__)

    async def _journey_opt_out(self, conversation_id: str, preference: Preference) -> None:
        from journey.guest_messages import on_whatsapp_preference  # the journey is optional for the channel

        route = self.config.hotel_for(preference.phone_number_id)
        if route is None:
            logger.warning("WhatsApp preference for an unknown number %s ignored", preference.phone_number_id)
            return
        await on_whatsapp_preference(route.hotel_id, conversation_id, preference.value)

    async def _preference(self, preference: Preference) -> None:
        """A guest stopped or resumed marketing messages in WhatsApp itself."""
        guest = preference.wa_id or preference.user_id
        logger.info("WhatsApp guest %s: %s %s", masked(guest), preference.category, preference.value)
        if self.on_preference is None:
            return
        try:
            await self.on_preference(sender_id(guest, preference.phone_number_id), preference)
        except Exception:
            logger.exception("the WhatsApp preference hook failed")

    # -- dead-letter handlers (run by the process's worker) ---------------------------

    async def _recover(self, entry) -> None:
        """A journal entry whose messages did not all finish (crash, Rasa error). They join
        their guests' queues (order, concurrency) before this coroutine first awaits, so
        the worker's entries, claimed oldest first, keep their order per guest."""
        self.require_agent_ready()
        messages = journaled_messages(entry.payload)
        loop = asyncio.get_running_loop()
        jobs = [Job(message, None, loop.create_future()) for message in messages]
        for job in jobs:
            self.dispatcher.submit(job.message.sender_key, job)
        results = await asyncio.gather(*(job.finished for job in jobs), return_exceptions=True)
        busy = [job.message for job, result in zip(jobs, results) if isinstance(result, LeaseBusy)]
        failed = [(job.message, result) for job, result in zip(jobs, results)
                  if isinstance(result, BaseException) and not isinstance(result, LeaseBusy)]
        # owned by a live process (waiting or in its turn): keep a fresh journal entry
        # for them, due after the backoff, instead of spending this entry's retries
        await self._journal(busy)
        if failed and len(failed) + len(busy) == len(messages):
            raise failed[0][1]
        for message, error in failed:  # some of the chunk worked: the others retry on their own
            await self._journal([message], TURN_FAILED_REASON, f"{type(error).__name__}: {error}")
        logger.info("recovered %d WhatsApp messages (retry %d)", len(messages) - len(busy) - len(failed),
                    entry.attempts + 1)

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

    async def _rejected(self, entry) -> None:
        from dlq import PermanentFailure

        raise PermanentFailure("malformed WhatsApp message, kept for staff")

    async def _permanent(self, entry) -> None:
        if entry.kind == KIND_REJECTED:
            return  # logged when it arrived
        if entry.kind == KIND_INBOUND:
            logger.error("WhatsApp message(s) of %s could not be processed; dead-letter entry %s is permanent",
                         masked(str(entry.conversation_id or "")), entry.id)
        else:
            logger.error("WhatsApp message to %s could not be sent; dead-letter entry %s is permanent",
                         masked(str(entry.payload.get("recipient", ""))), entry.id)

    # -- background turn ------------------------------------------------------

    async def _run_job(self, job: "Job") -> None:
        """Never raises: a failure gets its own entry (new messages) or goes back to the worker (recovery)."""
        lease = TurnLease(self.store, job.message.message_id, self.config.turn_lease_seconds)
        try:
            if not await lease.acquire():
                raise LeaseBusy(job.message.message_id)
            await self._process(job.message)
        except Exception as exc:
            if job.finished is not None:
                if not job.finished.done():  # the worker may have stopped waiting (handler timeout)
                    job.finished.set_exception(exc)
                return
            if isinstance(exc, LeaseBusy):  # another process runs it: the entry waits, finds it done
                await self._settle(job.chunk, keep=True)
                return
            expected = isinstance(exc, strict_tracker_store.TrackerStoreUnavailable)  # an outage, not a bug: no traceback
            logger.error("WhatsApp message %s failed (%s); the dead-letter worker retries it", job.message.message_id,
                         f"{type(exc).__name__}: {exc}"[:300], exc_info=not expected)
            await self._settle(job.chunk, keep=not await self._journal_failure(job.message, exc))
            return
        finally:
            await lease.release()
        if job.finished is not None and not job.finished.done():
            job.finished.set_result(None)
        await self._settle(job.chunk)

    async def _journal_failure(self, message: InboundMessage, error: Exception) -> bool:
        """An entry of its own for a failed turn (retried with backoff); False when the
        queue refused it (the chunk's entry then stays for the worker)."""
        if self.queue is None:
            return True
        try:
            await self._journal([message], TURN_FAILED_REASON, f"{type(error).__name__}: {error}")
            return True
        except Exception as exc:
            logger.warning("could not journal the failed turn of %s (%s)", message.message_id, type(exc).__name__)
            return False

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
        await self._turn(message, route, await self._guest(message))
        await self.store.mark_done(message.message_id)

    async def _guest(self, message: InboundMessage) -> str:
        """Who the conversation is with: the phone number when Meta gives one (and the
        user id is linked to it for later messages), else the number linked to the
        user id before, else the user id itself."""
        if message.wa_id and message.user_id:
            await self.store.link_guest(message.user_id, message.wa_id)
        if message.wa_id:
            return message.wa_id
        return await self.store.phone_of(message.user_id) or message.user_id

    async def _turn(self, message: InboundMessage, route, guest: str) -> None:
        on_new_message = self.on_new_message
        await self.store.open_window(f"{message.phone_number_id}:{guest}")
        conversation = sender_id(guest, message.phone_number_id)
        presence = TypingIndicator(self.graph, message.phone_number_id, message.message_id,
                                   typing=self.config.typing_indicator)
        output = WhatsAppOutput(self.config, self.graph, self.store, self.queue, merge=True,
                                before_send=presence.before_reply)
        if message.type not in SILENT_TYPES and (self.config.typing_indicator or self.config.mark_read):
            presence.start()
            await presence.first_sent()  # read ticks before the turn runs (presence.py: why)
        try:
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
                    "user_id": message.user_id,
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
        finally:
            await output.flush()
            await presence.stop()
            channel_metrics.turn_messages(CHANNEL, output.sent_count)

    async def _text_for_rasa(
        self, message: InboundMessage, output: WhatsAppOutput, conversation: str, details: Dict[str, Any]
    ) -> Optional[str]:
        kind = message.type
        if kind == "text":
            return message.text.strip() or None
        if kind in ("interactive", "button"):
            return await self._reply_payload(message)
        if kind == "flow" and message.flow is not None:
            details["flow"] = message.flow
            return inbound.flow_text(message.flow).strip() or None
        if kind == "edit":
            details["edit_of"] = message.original_id
            return message.text.strip() or None
        if kind == "call_permission":
            details["call_permission"] = message.call_permission
            accepted = message.call_permission == "accept"
            await output.send_text_message(conversation, CALL_PERMISSION_ACCEPTED if accepted else CALL_PERMISSION_REJECTED)
            return None
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
        if kind in SILENT_TYPES:
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


def journaled_messages(payload: Dict[str, Any]) -> List[InboundMessage]:
    """The messages of a journal entry: ``{"messages": [...]}``, or one message (entries
    written before batches were journaled together)."""
    items: Iterable[Any] = payload["messages"] if isinstance(payload.get("messages"), list) else [payload]
    return [inbound.from_payload(item) for item in items]
