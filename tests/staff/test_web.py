"""The staff web console over HTTP: sign-in, sessions, CSRF, rate limiting,
escaping of guest text, resume and retry, and what it logs."""
from __future__ import annotations

import logging
import re
import time
from urllib.parse import parse_qs, urlsplit

import pytest

from dlq import DLQSettings, build_queue
from staff.sessions import SESSION, TokenSigner
from staff.web import SECURITY_HEADERS, SESSION_COOKIE
from tests.staff import scenario
from tests.staff.conftest import OTHER_PASSWORD, OTHER_USER, PASSWORD, RASA_TOKEN, SESSION_SECRET, USER
from tests.staff.scenario import GMAIL, WHATSAPP, XSS
from tests.staff.web_client import StaffClient, serve


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic():
    return Monotonic()


@pytest.fixture
async def web(staff_config, tracker_store, monotonic):
    served = await serve(staff_config, monotonic=monotonic)
    yield served
    await served.stop()


@pytest.fixture
async def client(web):
    client = StaffClient(web.url)
    yield client
    await client.close()


@pytest.fixture
async def alice(client):
    reply = await client.sign_in(USER, PASSWORD)
    assert reply.status == 303, reply.body
    return client


async def other_client(web) -> StaffClient:
    return StaffClient(web.url)


def conversation_ids(body: str) -> list[str]:
    return [m for m in re.findall(r'<tr class="conversation">.*?<a href="[^"]+">([^<]+)</a>', body)]


# -- anonymous ---------------------------------------------------------------------------


async def test_anonymous_visitors_are_sent_to_sign_in_or_refused(client):
    for path in ("/conversations", "/handoffs", "/dlq", f"/conversation?id={WHATSAPP}"):
        reply = await client.get(path)
        assert reply.status == 303 and reply.location.startswith("/login?next=")
        assert parse_qs(urlsplit(reply.location).query)["next"] == [path]
    for path in ("/handoffs/1/resume", "/handoffs/1/resolve", "/dlq/abc/retry", "/logout"):
        assert (await client.post(path, {"csrf": "x"})).status == 401
    assert (await client.get("/staff.css")).status == 200


async def test_sign_in_needs_the_forms_csrf_token(client):
    form_page = await client.get("/login")
    login_cookie = form_page.set_cookies["staff_login"]
    assert login_cookie["httponly"] and login_cookie["samesite"] == "Strict"
    no_token = await client.post("/login", {"username": USER, "password": PASSWORD})
    wrong_token = await client.post("/login", {"csrf": "forged", "username": USER, "password": PASSWORD})
    no_cookie = await client.post("/login", {"csrf": form_page.csrf, "username": USER, "password": PASSWORD}, cookies={})
    assert [r.status for r in (no_token, wrong_token, no_cookie)] == [403, 403, 403]
    assert SESSION_COOKIE not in client.cookies


async def test_wrong_password_or_unknown_user(client):
    for user, password in ((USER, "wrong password"), ("mallory", PASSWORD), (USER, "")):
        reply = await client.sign_in(user, password)
        assert reply.status == 401 and "Wrong user or password." in reply.body
        assert SESSION_COOKIE not in reply.set_cookies
    assert (await client.get("/conversations")).status == 303


async def test_sign_in_sets_a_hardened_session_cookie_and_goes_back(client, staff_config):
    reply = await client.sign_in(USER, PASSWORD, next_path="/handoffs")
    assert reply.status == 303 and reply.location == "/handoffs"
    cookie = reply.set_cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/"
    assert int(cookie["max-age"]) == staff_config.session_seconds == 8 * 3600
    assert "staff_login" not in client.cookies  # the pre-login cookie is cleared
    page = await client.get("/conversations")
    assert page.status == 200 and f'<b id="user">{USER}</b>' in page.body
    assert conversation_ids(page.body) == scenario.BY_RECENCY


async def test_sign_in_never_redirects_off_site(client):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"):
        fresh = StaffClient(client.base_url)
        reply = await fresh.sign_in(USER, PASSWORD, next_path=target)
        await fresh.close()
        assert reply.location == "/conversations", target


async def test_forged_expired_and_stale_cookies_are_refused(client):
    past = TokenSigner(SESSION_SECRET, clock=lambda: time.time() - 9 * 3600)
    forged = {
        "other secret": TokenSigner("some-other-secret-of-sufficient-length").issue(SESSION, USER, 3600)[0],
        "expired": past.issue(SESSION, USER, 8 * 3600)[0],
        "user not in STAFF_USERS": TokenSigner(SESSION_SECRET).issue(SESSION, "mallory", 3600)[0],
        "tampered": TokenSigner(SESSION_SECRET).issue(SESSION, USER, 3600)[0][:-3] + "abc",
        "garbage": "not-a-token",
    }
    for why, value in forged.items():
        reply = await client.get("/conversations", cookies={SESSION_COOKIE: value})
        assert reply.status == 303 and reply.location.startswith("/login"), why
    genuine = TokenSigner(SESSION_SECRET).issue(SESSION, USER, 3600)[0]
    assert (await client.get("/conversations", cookies={SESSION_COOKIE: genuine})).status == 200


async def test_posts_need_the_sessions_csrf_token(alice, web, requests_store, fake_rasa):
    request = requests_store.add("handoff", WHATSAPP, scenario.HANDOFF_TEXT)
    bob = StaffClient(web.url)
    await bob.sign_in(OTHER_USER, OTHER_PASSWORD)
    bobs_token = (await bob.get("/handoffs")).csrf
    await bob.close()
    for form in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": bobs_token}):
        reply = await alice.post(f"/handoffs/{request.id}/resume", form)
        assert reply.status == 403, form
    assert fake_rasa.calls == [] and requests_store.get(request.id).status == "open"
    assert (await alice.post("/logout", {})).status == 403


async def test_failed_sign_ins_are_rate_limited_per_address(client, monotonic):
    for _ in range(3):  # STAFF_LOGIN_MAX_FAILURES=3
        assert (await client.sign_in(USER, "guess")).status == 401
    blocked = await client.sign_in(USER, PASSWORD)  # even the right password waits
    assert blocked.status == 429 and int(blocked.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in blocked.body and SESSION_COOKIE not in blocked.set_cookies
    monotonic.now += 301  # STAFF_LOGIN_WINDOW_SECONDS default 300
    assert (await client.sign_in(USER, PASSWORD)).status == 303


async def test_guest_text_is_escaped_everywhere(alice, requests_store):
    requests_store.add("issue", XSS, scenario.XSS_TEXT)
    pages = [await alice.get(path) for path in ("/conversations", f"/conversation?id={XSS}", "/handoffs")]
    for page in pages:
        assert page.status == 200
        assert "<script>" not in page.body and "onerror=" not in page.body.replace("onerror=&quot;", "")
        assert "&lt;script&gt;alert(&quot;xss&quot;)&lt;/script&gt;" in page.body
        policy = page.headers["Content-Security-Policy"]
        # the console's own /staff.js only: no inline script, no eval, nothing from elsewhere
        assert "script-src 'self';" in policy and "unsafe" not in policy and "default-src 'none'" in policy


async def test_transcript_page(alice):
    page = await alice.get("/conversation?id=" + WHATSAPP.replace(":", "%3A"))
    assert page.status == 200
    assert page.body.index("hola") < page.body.index("¡Hola!") < page.body.index(scenario.HANDOFF_TEXT) < page.body.index("Handed to staff")
    assert '<span class="chip" title="/book_room">Reservar</span>' in page.body
    gmail = await alice.get(f"/conversation?id={GMAIL}")
    assert f'<img src="{scenario.PHOTO_URL}"' in gmail.body
    assert (await alice.get("/conversation?id=nobody")).status == 404
    assert (await alice.get("/conversation")).status == 400
    assert (await alice.get("/conversations?page=abc")).status == 400


async def test_search_and_pages(alice):
    page = await alice.get("/conversations?q=EXAMPLE")
    assert conversation_ids(page.body) == [GMAIL]
    empty = await alice.get("/conversations?q=%3Cb%3Enobody")
    assert "No conversations matching “&lt;b&gt;nobody”." in empty.body


async def test_resume_from_the_handoffs_page(alice, requests_store, fake_rasa):
    request = requests_store.add("handoff", WHATSAPP, scenario.HANDOFF_TEXT)
    feedback = requests_store.add("feedback", GMAIL, "lovely")
    page = await alice.get("/handoffs")
    assert f'action="/handoffs/{request.id}/resume"' in page.body
    assert f'action="/handoffs/{feedback.id}/resume"' not in page.body  # not paused: only "Mark done"
    reply = await alice.post(f"/handoffs/{request.id}/resume", {"csrf": page.csrf})
    assert reply.status == 303 and reply.location.startswith("/handoffs?msg=resumed")
    assert fake_rasa.resumed() == [WHATSAPP]
    assert requests_store.get(request.id).resolved_by == USER
    after = await alice.get(reply.location)
    assert f"resolved request(s) #{request.id}." in after.body and f'id="request-{request.id}"' not in after.body


async def test_resume_when_rasa_fails(alice, requests_store, fake_rasa):
    request = requests_store.add("handoff", WHATSAPP, scenario.HANDOFF_TEXT)
    fake_rasa.fail_next(500)
    page = await alice.get("/handoffs")
    reply = await alice.post(f"/handoffs/{request.id}/resume", {"csrf": page.csrf})
    assert "msg=rasa" in reply.location
    assert "nothing was marked" in (await alice.get(reply.location)).body
    assert requests_store.get(request.id).status == "open"


async def _permanent_entry():
    queue = build_queue(DLQSettings.from_env(), record_metrics=False)
    try:
        entry = await queue.enqueue("gmail.send", {"thread": "t-1"}, error="GmailError: 500",
                                    conversation_id=GMAIL, reason="send_failed")
        await queue.give_up(entry.id, "GmailError: 400 invalid")
        return queue, entry
    except BaseException:
        await queue.close()
        raise


async def test_dlq_page_and_retry(alice):
    queue, entry = await _permanent_entry()
    try:
        page = await alice.get("/dlq")
        assert page.status == 200 and "Failed for good (1)" in page.body and "GmailError: 400 invalid" in page.body
        reply = await alice.post(f"/dlq/{entry.id}/retry", {"csrf": page.csrf})
        assert reply.status == 303 and "msg=retried" in reply.location
        assert [e.id for e in await queue.list_queued(10)] == [entry.id]
        assert await queue.list_permanent(10) == []
        after = await alice.get(reply.location)
        assert "Waiting for a retry (1)" in after.body and "Failed for good (0)" in after.body
        missing = await alice.post("/dlq/" + "0" * 32 + "/retry", {"csrf": page.csrf})
        assert "msg=not_found" in missing.location
        assert (await alice.post("/dlq/bad.id/retry", {"csrf": page.csrf})).status == 400
    finally:
        await queue.close()


async def test_logout_ends_the_session_even_for_a_copied_cookie(alice):
    copied = dict(alice.cookies)
    page = await alice.get("/conversations")
    reply = await alice.post("/logout", {"csrf": page.csrf})
    assert reply.status == 303 and reply.location == "/login"
    assert reply.set_cookies[SESSION_COOKIE]["max-age"] == "0"
    assert (await alice.get("/conversations")).status == 303
    assert (await alice.get("/conversations", cookies=copied)).status == 303


async def test_security_headers_on_every_page(alice):
    for path in ("/conversations", "/login", "/staff.css", "/nothing-here"):
        reply = await alice.get(path)
        for header, value in SECURITY_HEADERS.items():
            assert reply.headers.get(header) == value, (path, header)


async def test_no_secrets_in_logs(client, requests_store, fake_rasa, caplog):
    caplog.set_level(logging.DEBUG)
    await client.sign_in(USER, "my-wrong-guess-123")
    await client.sign_in(USER, PASSWORD)
    request = requests_store.add("handoff", WHATSAPP, scenario.HANDOFF_TEXT)
    page = await client.get("/handoffs")
    await client.post(f"/handoffs/{request.id}/resume", {"csrf": page.csrf})
    fake_rasa.fail_next(500)
    request = requests_store.add("handoff", WHATSAPP, "again")
    await client.post(f"/handoffs/{request.id}/resume", {"csrf": page.csrf})
    logged = caplog.text
    assert "sign-in failed for user 'alice'" in logged and "'alice' signed in" in logged
    for secret in (PASSWORD, "my-wrong-guess-123", RASA_TOKEN, SESSION_SECRET, client.cookies[SESSION_COOKIE], page.csrf):
        assert secret not in logged
