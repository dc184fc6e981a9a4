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
from staff import pages
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
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' http: https:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
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
}
REF = re.compile(r"^[A-Za-z0-9_#, -]{1,120}$")
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
) -> Sanic:
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

    def page(request: Request, title: str, body: str, here: str = "", refresh: int = 0, status: int = 200) -> HTTPResponse:
        token: Token = request.ctx.staff
        return html(pages.layout(title, body, token.user, signer.csrf_token(token), here, refresh), status)

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

    @app.after_server_stop
    async def close_services(app_: Sanic, loop) -> None:
        if app.ctx.dead_letters is not None:
            await app.ctx.dead_letters.close()
        console.close()

    @app.middleware("response")
    async def security_headers(request: Request, resp: HTTPResponse) -> None:
        for header, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(header, value)

    # -- public -----------------------------------------------------------------------

    @app.get("/staff.css")
    async def stylesheet(request: Request) -> HTTPResponse:
        return response.text(pages.STYLESHEET, content_type="text/css; charset=utf-8")

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
        found = await asyncio.to_thread(console.reader.conversations, int(raw_page), PAGE_SIZE, search)
        return page(request, "Conversations", pages.conversations_body(found, zone), "conversations", REFRESH_SECONDS)

    @app.get("/conversation")
    @staff_only
    async def conversation(request: Request) -> HTTPResponse:
        sender_id = request.args.get("id", "")
        if not sender_id:
            return error(400, "Which conversation? (?id=...)")
        try:
            transcript = await asyncio.to_thread(console.reader.transcript, sender_id)
        except ConversationNotFound:
            return error(404, f"No conversation {sender_id!r}.")
        return page(request, f"Conversation {sender_id}", pages.transcript_body(transcript, zone), "conversations")

    @app.get("/handoffs")
    @staff_only
    async def handoffs(request: Request) -> HTTPResponse:
        open_requests = await asyncio.to_thread(console.handoffs.open_requests)
        message, is_error = message_of(request)
        body = pages.handoffs_body(open_requests, signer.csrf_token(request.ctx.staff), zone, message, is_error)
        return page(request, "Open handoffs and staff requests", body, "handoffs", REFRESH_SECONDS)

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
            return page(request, "Dead letters", body, "dlq", status=503)
        return page(request, "Dead letters", pages.dlq_body(overview, csrf, zone, message, is_error), "dlq")

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
        return outcome("/dlq", "retried", entry_id)

    return app


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m staff.web", description="Staff web console")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5060)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = StaffConfig.from_env()
        app = create_app(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logger.info("staff console on http://%s:%d, %d staff user(s)", args.host, args.port, len(config.users))
    app.run(host=args.host, port=args.port, access_log=True, motd=False, workers=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
