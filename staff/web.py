"""The staff web console: a small Sanic app with server-rendered pages.

    python -m staff.web [--host 127.0.0.1] [--port 5060]

Pages: conversations (most recent first), one transcript, open handoffs
(Resume bot / Mark done), dead letters (Retry). Every page needs a signed-in
staff user (STAFF_USERS); sessions are signed cookies (STAFF_SESSION_SECRET),
HttpOnly, SameSite=Strict, expiring after STAFF_SESSION_HOURS; every POST
carries a CSRF token; failed sign-ins are rate limited per client address.
Security notes: docs/staff.md.
"""
from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import functools
import logging
import re
import sys
import time
from typing import Any, Awaitable, Callable, Optional
from urllib.parse import urlencode, urlsplit

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from actions.rasa_api import RasaAPIError
from staff import audit_log, pages
from staff.config import ConfigError, StaffConfig
from staff.console import StaffConsole
from staff.dead_letters import EntryNotFound, check_entry_id
from staff.handoffs import RequestAlreadyResolved, RequestNotFound
from staff.passwords import MAX_PASSWORD_BYTES, PasswordChecker
from staff.rate_limit import LoginRateLimiter
from staff.sessions import LOGIN_FORM, SESSION, Token, TokenSigner
from staff.tracker_reader import ConversationNotFound

logger = logging.getLogger("staff.web")

SESSION_COOKIE = "staff_session"
LOGIN_COOKIE = "staff_login"
LOGIN_FORM_SECONDS = 15 * 60
PAGE_SIZE = 25
REFRESH_SECONDS = 60
DEFAULT_PAGE = "/conversations"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
                               "img-src 'self' http: https:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
# outcome codes carried by the redirect after a POST -> (message, is_error); {ref} is a checked id
MESSAGES = {
    "resumed": ("The bot is answering again; resolved request(s) {ref}.", False),
    "resolved": ("Request {ref} marked done.", False),
    "retried": ("Dead letter {ref} is queued and due now.", False),
    "not_found": ("{ref} was not found (already handled?).", True),
    "already": ("Request {ref} was already resolved.", True),
    "rasa": ("Rasa did not resume the conversation of request {ref}; nothing was marked. Try again.", True),
    "dlq_down": ("The dead-letter queue did not answer; {ref} was not retried.", True),
    "replied": ("Sent to the guest.", False),
    "replied_template": ("Sent to the guest as the WhatsApp template (outside the 24-hour window).", False),
    "queued": ("The channel did not take the message; it waits in the dead-letter queue as {ref} and is resent automatically.", True),
    "not_recorded": ("Sent, but Rasa did not record it in the transcript.", True),
    "send_failed": ("Not sent: {ref}.", True),
    "claimed": ("You work on this conversation now.", False),
    "assigned": ("Assigned to {ref}.", False),
    "noted": ("Note added (staff only).", False),
    "gave_back": ("The bot answers this guest again; resolved request(s) {ref}.", False),
    "approved": ("Payment of request {ref} confirmed in the PMS; the QR code went to the guest.", False),
    "rejected": ("Payment check {ref} rejected; the guest got the reason.", False),
    "payment_failed": ("Payment check {ref}: nothing was done (see the log).", True),
    "bad_input": ("{ref}", True),
}
SEND_FAILURES = {  # outreach exception class -> what staff read (no guest data, no secrets)
    "WindowClosed": "the guest wrote more than 24 hours ago and no WhatsApp template is configured",
    "ChannelNotConfigured": "the guest's channel is not configured for the console",
    "ConversationUnknown": "the conversation has no guest message to answer",
    "DeliveryFailed": "the channel and the dead-letter queue both failed",
    "OutreachError": "Rasa did not answer",
}
REF = re.compile(r"^[A-Za-z0-9_#,. ()-]{1,160}$")
Handler = Callable[..., Awaitable[HTTPResponse]]


def safe_next(path: Optional[str]) -> str:
    """Where to go after signing in: a path on this site only (no open redirect)."""
    if not path or not path.startswith("/") or path.startswith("//") or "\\" in path:
        return DEFAULT_PAGE
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or path.startswith("/login"):
        return DEFAULT_PAGE
    return path


def client_address(request: Request) -> str:
    return request.remote_addr or request.ip or "unknown"


def html(body: str, status: int = 200, headers: Optional[dict] = None) -> HTTPResponse:
    return response.html(body, status=status, headers=headers)


def see_other(location: str) -> HTTPResponse:
    return response.redirect(location, status=303)


def outcome(path: str, code: str, ref: Any) -> HTTPResponse:
    return see_other(f"{path}?{urlencode({'msg': code, 'ref': str(ref)})}")


def back_to(sender_id: str, code: str, ref: Any = "-") -> HTTPResponse:
    return see_other("/conversation?" + urlencode({"id": sender_id, "msg": code, "ref": str(ref)}))


def audit_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("actions.audit") is not None


def message_of(request: Request) -> tuple[str, bool]:
    code, ref = request.args.get("msg", ""), request.args.get("ref", "")
    if code not in MESSAGES or not REF.match(ref):
        return "", False
    text, is_error = MESSAGES[code]
    return text.format(ref=ref), is_error


def create_app(
    config: StaffConfig,
    console: Optional[StaffConsole] = None,
    *,
    name: str = "staff_console",
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    background: bool = False,
) -> Sanic:
    """``background``: run the notification watcher, its dead-letter worker and the idle timeout
    (``python -m staff.web`` does; tests of single pages do not)."""
    config.check_web()
    console = console or StaffConsole.from_config(config)
    signer = TokenSigner(config.session_secret, clock)
    passwords = PasswordChecker(config.users)
    limiter = LoginRateLimiter(config.login_max_failures, config.login_window_seconds, monotonic)
    zone = config.timezone

    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 64 * 1024
    app.ctx.dead_letters = None

    def set_cookie(resp: HTTPResponse, request: Request, cookie: str, value: str, max_age: int) -> None:
        resp.cookies[cookie] = value
        resp.cookies[cookie]["httponly"] = True
        resp.cookies[cookie]["samesite"] = "Strict"
        resp.cookies[cookie]["path"] = "/"
        resp.cookies[cookie]["max-age"] = max_age
        if config.cookie_secure or request.scheme == "https":
            resp.cookies[cookie]["secure"] = True

    def clear_cookie(resp: HTTPResponse, cookie: str) -> None:
        resp.cookies[cookie] = ""
        resp.cookies[cookie]["path"] = "/"
        resp.cookies[cookie]["max-age"] = 0

    def session_of(request: Request) -> Optional[Token]:
        token = signer.read(SESSION, request.cookies.get(SESSION_COOKIE))
        return token if token is not None and passwords.knows(token.user) else None

    def hotels_of(request: Request):
        return config.hotels_of(request.ctx.staff.user)

    def may_see(request: Request, hotel_id: Optional[str]) -> bool:
        hotels = hotels_of(request)
        return hotel_id is not None and (hotels is None or hotel_id in hotels)

    def waiting_count(request: Request) -> int:
        hotels = hotels_of(request)
        try:
            rows = console.waiting_snapshot()
        except Exception as exc:  # a page must not fail because the count could not be made
            logger.warning("staff console: waiting count unavailable: %s", type(exc).__name__)
            return 0
        return sum(r["waiting"] for r in rows if hotels is None or r["hotel"] in hotels)

    async def page(request: Request, title: str, body: str, here: str = "", refresh: int = 0, status: int = 200) -> HTTPResponse:
        token: Token = request.ctx.staff
        waiting = await asyncio.to_thread(waiting_count, request)
        extra = (("audit", "/audit", "Audit"),) if audit_available() else ()
        return html(pages.layout(title, body, token.user, signer.csrf_token(token), here, refresh, waiting, extra), status)

    def error(status: int, message: str) -> HTTPResponse:
        return html(pages.error_page(status, message), status)

    def staff_only(handler: Handler) -> Handler:
        """Anonymous GET -> sign-in page (then back); anonymous POST -> 401;
        POST without the session's CSRF token -> 403."""

        @functools.wraps(handler)
        async def guarded(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
            token = session_of(request)
            if token is None:
                if request.method == "GET":
                    target = request.path + (f"?{request.query_string}" if request.query_string else "")
                    return see_other("/login?" + urlencode({"next": target}))
                return error(401, "Sign in first.")
            if request.method == "POST" and not signer.csrf_matches(token, request.form.get("csrf")):
                logger.warning("staff POST %s without a valid CSRF token (user %r)", request.path, token.user)
                return error(403, "This form was not sent by the staff console (missing or wrong CSRF token). Reload the page.")
            request.ctx.staff = token
            return await handler(request, *args, **kwargs)

        return guarded

    async def dead_letters():
        if app.ctx.dead_letters is None:
            app.ctx.dead_letters = console.open_dead_letters()
        return app.ctx.dead_letters

    @app.after_server_start
    async def start_background(app_: Sanic, loop) -> None:
        """Reception notifications (and their dead-letter retries) and the idle timeout."""
        app.ctx.background = []
        if not background:
            return
        from dlq import RetryWorker
        from staff.idle import IdleResumer
        from staff.notifications import KIND as NOTIFY_KIND
        from staff.notifications import NotificationWatcher

        notifier = console.notifier()
        watcher = NotificationWatcher(notifier, console.requests, console.desk, console.reader, config.notify_poll_seconds)
        watcher.start()
        worker = RetryWorker(console.queue(), {NOTIFY_KIND: notifier.resend})
        worker.start()
        app.ctx.background = [watcher, worker]
        if config.idle_resume_minutes > 0:
            idle = IdleResumer(console.reader, console.requests, console.outreach, console.rasa, config.idle_resume_minutes,
                               interval=min(60.0, config.idle_resume_minutes * 60 / 4))
            idle.start()
            app.ctx.background.append(idle)

    @app.before_server_stop
    async def stop_background(app_: Sanic, loop) -> None:
        for task in getattr(app.ctx, "background", []):
            await task.stop()

    @app.after_server_stop
    async def close_services(app_: Sanic, loop) -> None:
        if app.ctx.dead_letters is not None:
            await app.ctx.dead_letters.close()
        await console.aclose()
        console.close()

    @app.middleware("response")
    async def security_headers(request: Request, resp: HTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(header, value)

    # -- public -----------------------------------------------------------------------

    @app.get("/staff.css")
    async def stylesheet(request: Request) -> HTTPResponse:
        return response.text(pages.STYLESHEET, content_type="text/css; charset=utf-8")

    @app.get("/staff.js")
    async def script(request: Request) -> HTTPResponse:
        return response.text(pages.SCRIPT, content_type="text/javascript; charset=utf-8")

    @app.get("/")
    async def home(request: Request) -> HTTPResponse:
        return see_other(DEFAULT_PAGE)

    @app.get("/login")
    async def login_form(request: Request) -> HTTPResponse:
        if session_of(request) is not None:
            return see_other(safe_next(request.args.get("next")))
        value, token = signer.issue(LOGIN_FORM, "", LOGIN_FORM_SECONDS)
        resp = html(pages.login_page(signer.csrf_token(token), safe_next(request.args.get("next"))))
        set_cookie(resp, request, LOGIN_COOKIE, value, LOGIN_FORM_SECONDS)
        return resp

    @app.post("/login")
    async def login(request: Request) -> HTTPResponse:
        form_token = signer.read(LOGIN_FORM, request.cookies.get(LOGIN_COOKIE))
        if form_token is None or not signer.csrf_matches(form_token, request.form.get("csrf")):
            return error(403, "The sign-in form expired or was not sent by this site. Reload the sign-in page.")
        csrf, next_path = signer.csrf_token(form_token), safe_next(request.form.get("next"))
        address = client_address(request)
        wait = limiter.retry_after(address)
        if wait > 0:
            logger.warning("staff sign-in refused: too many failures from %s", address)
            minutes = max(1, round(wait / 60))
            return html(pages.login_page(csrf, next_path, f"Too many failed sign-ins. Try again in {minutes} minute(s)."),
                        429, {"Retry-After": str(int(wait) + 1)})
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        if len(password.encode("utf-8")) > MAX_PASSWORD_BYTES:
            password = ""
        if not (username and password and await asyncio.to_thread(passwords.check, username, password)):
            limiter.record_failure(address)
            logger.warning("staff sign-in failed for user %r from %s", username, address)
            return html(pages.login_page(csrf, next_path, "Wrong user or password."), 401)
        limiter.reset(address)
        value, _ = signer.issue(SESSION, username, config.session_seconds)
        logger.info("staff %r signed in from %s", username, address)
        resp = see_other(next_path)
        set_cookie(resp, request, SESSION_COOKIE, value, config.session_seconds)
        clear_cookie(resp, LOGIN_COOKIE)
        return resp

    # -- signed in ---------------------------------------------------------------------

    @app.post("/logout")
    @staff_only
    async def logout(request: Request) -> HTTPResponse:
        signer.revoke(request.ctx.staff)
        logger.info("staff %r signed out", request.ctx.staff.user)
        resp = see_other("/login")
        clear_cookie(resp, SESSION_COOKIE)
        return resp

    @app.get("/conversations")
    @staff_only
    async def conversations(request: Request) -> HTTPResponse:
        raw_page = request.args.get("page", "1")
        if not raw_page.isdigit() or int(raw_page) < 1:
            return error(400, "page must be a positive number")
        search = request.args.get("q", "")[:200]
        found = await asyncio.to_thread(console.reader.conversations, int(raw_page), PAGE_SIZE, search, hotels_of(request))
        return await page(request, "Conversations", pages.conversations_body(found, zone), "conversations", REFRESH_SECONDS)

    async def visible_transcript(request: Request, sender_id: str):
        """The transcript if the conversation exists and belongs to one of the user's hotels, else None."""
        try:
            transcript = await asyncio.to_thread(console.reader.transcript, sender_id)
        except ConversationNotFound:
            return None
        if not may_see(request, transcript.summary.hotel_id):
            logger.warning("staff %r asked for a conversation of hotel %r outside their hotels",
                           request.ctx.staff.user, transcript.summary.hotel_id)
            return None
        return transcript

    async def route_note(sender_id: str) -> tuple[str, bool]:
        """What the page says before sending, and whether a reply is possible at all."""
        from connectors.outreach import OutreachError, WindowClosed

        try:
            route = await console.replies.preview(sender_id)
        except WindowClosed:
            return ("The guest last wrote more than 24 hours ago and no WhatsApp template is configured: "
                    "WhatsApp would refuse a message now.", False)
        except OutreachError as exc:
            return (f"Replies are not possible now: {SEND_FAILURES.get(type(exc).__name__, 'see the log')}.", False)
        except ConversationNotFound:
            return ("", False)
        if route.as_template:
            return (f"The guest last wrote more than 24 hours ago: your reply goes as the WhatsApp template "
                    f"“{route.template.name}” ({route.template.language}), your text inside it, on one line.", True)
        if route.channel == "gmail":
            return ("Your reply goes by e-mail, in the guest's thread.", True)
        if route.channel == "whatsapp":
            return ("Your reply goes by WhatsApp as a normal message (inside the 24-hour window).", True)
        return (f"Development channel ({route.channel}): the reply is only recorded in the transcript.", True)

    @app.get("/conversation")
    @staff_only
    async def conversation(request: Request) -> HTTPResponse:
        sender_id = request.args.get("id", "")
        if not sender_id:
            return error(400, "Which conversation? (?id=...)")
        transcript = await visible_transcript(request, sender_id)
        if transcript is None:
            return error(404, f"No conversation {sender_id!r}.")
        note, can_reply = await route_note(sender_id)
        assignee = (await asyncio.to_thread(console.desk.assignees, [sender_id])).get(sender_id, "")
        notes = await asyncio.to_thread(console.desk.notes, sender_id)
        message, is_error = message_of(request)
        users = sorted(u for u in config.users if config.hotels_of(u) is None or transcript.summary.hotel_id in config.hotels_of(u))
        body = pages.conversation_body(transcript, zone, signer.csrf_token(request.ctx.staff), route_note=note,
                                       can_reply=can_reply, assignee=assignee, users=users, notes=notes,
                                       message=message, error=is_error)
        return await page(request, f"Conversation {sender_id}", body, "conversations")

    @app.get("/api/live")
    @staff_only
    async def live(request: Request) -> HTTPResponse:
        """What the page's script polls: the waiting count and, for a conversation, the lines after ``after``."""
        answer: dict = {"waiting": await asyncio.to_thread(waiting_count, request)}
        sender_id = request.args.get("id", "")
        if sender_id:
            raw_after = request.args.get("after", "0")
            if not raw_after.isdigit():
                return response.json({"error": "after must be an event id"}, status=400)
            summary = (await asyncio.to_thread(console.reader.summaries, [sender_id])).get(sender_id)
            if summary is None or not may_see(request, summary.hotel_id):
                return response.json({"error": "no such conversation"}, status=404)
            entries = await asyncio.to_thread(console.reader.entries_after, sender_id, int(raw_after))
            answer.update(html=pages.entries_html(entries, zone), last=entries[-1].event_id if entries else int(raw_after),
                          paused=summary.paused, state=pages.state_badge(summary.paused))
        return response.json(answer, headers={"Cache-Control": "no-store"})

    async def conversation_form(request: Request):
        """(sender_id, summary) of a POSTed conversation the user may touch, or an error response."""
        sender_id = (request.form.get("id") or "")[:255]
        summary = (await asyncio.to_thread(console.reader.summaries, [sender_id])).get(sender_id) if sender_id else None
        if summary is None or not may_see(request, summary.hotel_id):
            return sender_id, error(404, f"No conversation {sender_id!r}.")
        return sender_id, None

    @app.post("/conversation/reply")
    @staff_only
    async def reply(request: Request) -> HTTPResponse:
        from connectors.outreach import OutreachError

        sender_id, refused = await conversation_form(request)
        if refused:
            return refused
        user = request.ctx.staff.user
        try:
            delivery = await console.replies.reply(sender_id, request.form.get("text") or "", user)
        except ValueError as exc:
            return back_to(sender_id, "bad_input", str(exc)[:150])
        except OutreachError as exc:
            logger.error("staff %r: reply not sent: %s", user, exc)
            return back_to(sender_id, "send_failed", SEND_FAILURES.get(type(exc).__name__, "see the log"))
        if delivery.status == "queued":
            return back_to(sender_id, "queued", delivery.dead_letter_id)
        if not delivery.recorded:
            return back_to(sender_id, "not_recorded")
        return back_to(sender_id, "replied_template" if delivery.as_template else "replied")

    @app.post("/conversation/claim")
    @staff_only
    async def claim(request: Request) -> HTTPResponse:
        sender_id, refused = await conversation_form(request)
        if refused:
            return refused
        user = request.ctx.staff.user
        await asyncio.to_thread(console.desk.assign, sender_id, user, user)
        audit_log.record(user, sender_id, "", "claimed")
        return back_to(sender_id, "claimed")

    @app.post("/conversation/assign")
    @staff_only
    async def assign(request: Request) -> HTTPResponse:
        sender_id, refused = await conversation_form(request)
        if refused:
            return refused
        assignee = (request.form.get("assignee") or "").strip()
        hotel = await asyncio.to_thread(console.reader.hotel_of, sender_id)
        hotels = config.hotels_of(assignee)
        if assignee not in config.users or (hotels is not None and hotel not in hotels):
            return back_to(sender_id, "bad_input", "That user cannot see this hotel")
        await asyncio.to_thread(console.desk.assign, sender_id, assignee, request.ctx.staff.user)
        audit_log.record(request.ctx.staff.user, sender_id, "", "assigned", f"to {assignee}")
        return back_to(sender_id, "assigned", assignee if REF.match(assignee) else "-")

    @app.post("/conversation/note")
    @staff_only
    async def note(request: Request) -> HTTPResponse:
        sender_id, refused = await conversation_form(request)
        if refused:
            return refused
        try:
            await asyncio.to_thread(console.desk.add_note, sender_id, request.ctx.staff.user, request.form.get("text") or "")
        except ValueError as exc:
            return back_to(sender_id, "bad_input", str(exc)[:150])
        audit_log.record(request.ctx.staff.user, sender_id, "", "note_added")
        return back_to(sender_id, "noted")

    @app.post("/conversation/resume")
    @staff_only
    async def give_back(request: Request) -> HTTPResponse:
        sender_id, refused = await conversation_form(request)
        if refused:
            return refused
        user = request.ctx.staff.user
        try:
            done = await console.handoffs.resume_conversation(sender_id, user)
        except RasaAPIError as exc:
            logger.error("staff %r: give back failed: %s", user, exc)
            return back_to(sender_id, "send_failed", "Rasa did not resume the conversation")
        audit_log.record(user, sender_id, "", "bot_resumed")
        return back_to(sender_id, "gave_back", ", ".join(f"#{i}" for i in done.resolved_ids) or "none")

    @app.get("/handoffs")
    @staff_only
    async def handoffs(request: Request) -> HTTPResponse:
        hotels = hotels_of(request)
        found = await asyncio.to_thread(console.handoffs.open_requests)
        open_requests = [r for r in found if hotels is None
                         or (r.conversation.hotel_id if r.conversation else console.reader.default_hotel) in hotels]
        assignees = await asyncio.to_thread(console.desk.assignees, [r.sender_id for r in open_requests])
        answered = await asyncio.to_thread(console.desk.first_replies, [r.id for r in open_requests])
        answered = {i: t.replace(tzinfo=dt.timezone.utc) for i, t in answered.items()}
        message, is_error = message_of(request)
        body = pages.handoffs_body(open_requests, signer.csrf_token(request.ctx.staff), zone, message, is_error,
                                   assignees, answered)
        # no meta refresh: /staff.js reloads the list when the waiting count changes, unless staff are typing
        return await page(request, "Open handoffs and staff requests", body, "handoffs")

    async def payment_request(request: Request, request_id: int):
        found = await asyncio.to_thread(console.requests.get, request_id)
        if found is None:
            return None, outcome("/handoffs", "not_found", f"#{request_id}")
        hotel = await asyncio.to_thread(console.reader.hotel_of, found.sender_id)
        if not may_see(request, hotel if hotel is not None else console.reader.default_hotel):
            return None, error(404, f"No request #{request_id}.")
        return found, None

    async def language_of(sender_id: str) -> str:
        summary = (await asyncio.to_thread(console.reader.summaries, [sender_id])).get(sender_id)
        return summary.language if summary and summary.language in ("es", "en") else "es"

    @app.post("/payments/<request_id:int>/approve")
    @staff_only
    async def approve(request: Request, request_id: int) -> HTTPResponse:
        from actions.pms.base import PMSError
        from connectors.outreach import OutreachError
        from staff.payments import PaymentCheckError

        found, refused = await payment_request(request, request_id)
        if refused:
            return refused
        user = request.ctx.staff.user
        try:
            await console.payments.approve(request_id, user, await language_of(found.sender_id),
                                           await asyncio.to_thread(console.reader.hotel_of, found.sender_id))
        except (PaymentCheckError, PMSError, OutreachError) as exc:
            logger.error("staff %r: approve of payment check #%s failed: %s", user, request_id, exc)
            return outcome("/handoffs", "payment_failed", f"#{request_id}")
        logger.info("staff %r approved payment check #%s", user, request_id)
        return outcome("/handoffs", "approved", f"#{request_id}")

    @app.get("/payments/<request_id:int>/receipt")
    @staff_only
    async def receipt(request: Request, request_id: int) -> HTTPResponse:
        from staff.payments import PaymentCheckError

        found, refused = await payment_request(request, request_id)
        if refused:
            return refused
        try:
            data, mime = await console.payments.receipt(request_id)
        except PaymentCheckError as exc:
            return error(404, str(exc))
        disposition = "inline" if mime.startswith("image/") else f'attachment; filename="receipt-{request_id}"'
        audit_log.record(request.ctx.staff.user, found.sender_id, "", "receipt_viewed", f"request #{request_id}")
        return response.raw(data, content_type=mime, headers={"Content-Disposition": disposition,
                                                               "Content-Security-Policy": "default-src 'none'; img-src 'self'"})

    @app.post("/payments/<request_id:int>/reject")
    @staff_only
    async def reject(request: Request, request_id: int) -> HTTPResponse:
        from connectors.outreach import OutreachError
        from staff.payments import PaymentCheckError

        found, refused = await payment_request(request, request_id)
        if refused:
            return refused
        user = request.ctx.staff.user
        try:
            await console.payments.reject(request_id, user, request.form.get("reason") or "",
                                          await language_of(found.sender_id))
        except ValueError as exc:
            return outcome("/handoffs", "bad_input", str(exc)[:150])
        except (PaymentCheckError, OutreachError) as exc:
            logger.error("staff %r: reject of payment check #%s failed: %s", user, request_id, exc)
            return outcome("/handoffs", "payment_failed", f"#{request_id}")
        return outcome("/handoffs", "rejected", f"#{request_id}")

    @app.get("/audit")
    @staff_only
    async def audit(request: Request) -> HTTPResponse:
        """The audit log, newest first; ?conversation= / ?booking= narrow it. Users of some hotels
        see the entries of their hotels' conversations only."""
        if not audit_available():
            return error(404, "There is no audit log in this installation.")
        conversation_id = request.args.get("conversation", "")[:255]
        booking = request.args.get("booking", "")[:32]
        entries = await asyncio.to_thread(audit_log.audit().recent, 200, booking_ref=booking, conversation_id=conversation_id)
        hotels = hotels_of(request)
        if hotels is not None:
            ids = {e.conversation_id for e in entries if e.conversation_id}
            summaries = await asyncio.to_thread(console.reader.summaries, ids)
            entries = [e for e in entries if e.conversation_id in summaries and summaries[e.conversation_id].hotel_id in hotels]
        return await page(request, "Audit log", pages.audit_body(entries, zone, conversation_id, booking), "audit")

    @app.get("/metrics")
    async def metrics(request: Request) -> HTTPResponse:
        """Prometheus scrape (counts per hotel, no guest data). With STAFF_METRICS_TOKEN set it needs
        ``?token=`` or ``Authorization: Bearer``; without, it is open like the other services' /metrics."""
        import hmac

        if config.metrics_token:
            given = request.args.get("token") or request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), config.metrics_token.encode()):
                return response.text("forbidden", status=403)
        body = await asyncio.to_thread(console.metrics.render)
        return response.raw(body, content_type="text/plain; version=0.0.4; charset=utf-8")

    @app.post("/handoffs/<request_id:int>/resume")
    @staff_only
    async def resume(request: Request, request_id: int) -> HTTPResponse:
        user = request.ctx.staff.user
        try:
            done = await console.handoffs.resume(request_id, user)
        except RequestNotFound:
            return outcome("/handoffs", "not_found", f"#{request_id}")
        except RequestAlreadyResolved:
            return outcome("/handoffs", "already", f"#{request_id}")
        except RasaAPIError as exc:
            logger.error("staff %r: resume of request #%s failed: %s", user, request_id, exc)
            return outcome("/handoffs", "rasa", f"#{request_id}")
        logger.info("staff %r resumed the bot for %r (requests %s)", user, done.sender_id, done.resolved_ids)
        audit_log.record(user, done.sender_id, "", "resumed", f"requests {done.resolved_ids}")
        return outcome("/handoffs", "resumed", ", ".join(f"#{i}" for i in done.resolved_ids))

    @app.post("/handoffs/<request_id:int>/resolve")
    @staff_only
    async def resolve(request: Request, request_id: int) -> HTTPResponse:
        user = request.ctx.staff.user
        try:
            await asyncio.to_thread(console.handoffs.resolve, request_id, user)
        except RequestNotFound:
            return outcome("/handoffs", "not_found", f"#{request_id}")
        except RequestAlreadyResolved:
            return outcome("/handoffs", "already", f"#{request_id}")
        logger.info("staff %r marked request #%s done", user, request_id)
        audit_log.record(user, "", "", "request_resolved", f"request #{request_id}")
        return outcome("/handoffs", "resolved", f"#{request_id}")

    @app.get("/dlq")
    @staff_only
    async def dlq(request: Request) -> HTTPResponse:
        message, is_error = message_of(request)
        csrf = signer.csrf_token(request.ctx.staff)
        try:
            overview = await (await dead_letters()).overview(100)
        except Exception as exc:  # Redis, the permanent table or the DLQ settings
            logger.error("staff console: dead-letter queue unavailable: %s", type(exc).__name__)
            body = pages.dlq_body(None, csrf, zone, f"The dead-letter queue does not answer ({type(exc).__name__}).", True)
            return await page(request, "Dead letters", body, "dlq", status=503)
        return await page(request, "Dead letters", pages.dlq_body(overview, csrf, zone, message, is_error), "dlq")

    @app.post("/dlq/<entry_id:str>/retry")
    @staff_only
    async def retry(request: Request, entry_id: str) -> HTTPResponse:
        try:
            check_entry_id(entry_id)
        except ValueError as exc:
            return error(400, str(exc))
        user = request.ctx.staff.user
        try:
            entry = await (await dead_letters()).retry(entry_id)
        except EntryNotFound:
            return outcome("/dlq", "not_found", entry_id)
        except Exception as exc:
            logger.error("staff %r: retry of dead letter %s failed: %s", user, entry_id, type(exc).__name__)
            return outcome("/dlq", "dlq_down", entry_id)
        logger.info("staff %r retried dead letter %s (%s)", user, entry.id, entry.kind)
        audit_log.record(user, entry.conversation_id or "", "", "dead_letter_retried", f"{entry.kind} {entry.id}")
        return outcome("/dlq", "retried", entry_id)

    from staff import journey_page  # the proactive journey's page (docs/journey.md)

    journey_page.register(app, staff_only, page, zone, hotels_of)
    return app


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m staff.web", description="Staff web console")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5060)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = StaffConfig.from_env()
        from staff.reception import receptions

        receptions()  # a malformed reception section stops the start, not the first notification
        app = create_app(config, background=True)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logger.info("staff console on http://%s:%d, %d staff user(s)", args.host, args.port, len(config.users))
    app.run(host=args.host, port=args.port, access_log=True, motd=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
