"""The inbox with the real assistant: signed WhatsApp webhooks into ``rasa run``
(trained model, WhatsApp channel, real action server: the handoff request is
written by ``action_handoff``), and ``python -m staff.web`` over the same
tracker store, staff requests and Rasa HTTP API. Reception signs in, replies
through Rasa's API (the reply reaches the fake Graph API for that number and
is in Rasa's tracker with the author), and the guest's next message, which
Rasa records while the bot stays paused, shows up on /api/live.

Trains nothing: skipped, saying why, when models/hotel.tar.gz is missing.
"""
from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from tests.stack_common import free_port, stop_process, wait_http
from tests.staff.conftest import PASSWORD, SESSION_SECRET, USER
from tests.whatsapp import payloads
from tests.whatsapp.stack import APP_SECRET, AUTH_TOKEN, MODEL, PHONE_NUMBER_ID, ROOT, Stack

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first (these tests train nothing)"),
]
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, password_hashes):
    import redis

    redis_url = "redis://127.0.0.1:6379/0"
    prefix = f"staff-e2e-{uuid.uuid4().hex[:12]}"
    workdir = tmp_path_factory.mktemp("staff-e2e")
    stack = Stack(workdir, redis_url=redis_url, redis_prefix=prefix, extra_env={"DLQ_REDIS_URL": redis_url, "DLQ_PREFIX": prefix}).start()
    port = free_port()
    env = dict(stack.rasa_environment(), RASA_URL=stack.rasa_url, RASA_TOKEN=AUTH_TOKEN,
               STAFF_USERS=",".join(f"{n}:{h}" for n, h in password_hashes.items()), STAFF_SESSION_SECRET=SESSION_SECRET,
               STAFF_USER_HOTELS=f"{USER}=demo", STAFF_NOTIFY_POLL_SECONDS="0.5", WHATSAPP_SEND_RETRIES="0")
    log = workdir / "staff-web.log"
    with open(log, "wb") as out:
        web = subprocess.Popen([sys.executable, "-m", "staff.web", "--port", str(port)], cwd=ROOT, env=env,
                               stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/staff.css", web, log, 60)
        yield stack, f"http://127.0.0.1:{port}"
    finally:
        stop_process(web)
        stack.stop()
        client = redis.Redis.from_url(redis_url)
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
        client.close()


def post(stack, wa_id: str, text: str) -> str:
    message = payloads.text(wa_id, text)
    body = payloads.encode(payloads.webhook([message], PHONE_NUMBER_ID, names={wa_id: "Lucía"}))
    answer = requests.post(stack.webhook_url, data=body, headers=payloads.signed_headers(body, APP_SECRET), timeout=10)
    assert answer.status_code == 200, answer.text
    return message["id"]


def wait(predicate, timeout: float = 60, what: str = ""):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_reception_answers_a_guest_the_bot_handed_over(assistant):
    stack, console = assistant
    wa_id = f"34{uuid.uuid4().int % 10**9:09d}"
    conversation = f"{wa_id}@{PHONE_NUMBER_ID}"
    post(stack, wa_id, "quiero hablar con una persona de recepción")
    wait(lambda: any(e["event"] == "action" and e.get("name") == "action_handoff"
                     for e in stack.tracker(conversation)["events"]), what="action_handoff")

    staff = requests.Session()
    login = staff.get(f"{console}/login", timeout=10)
    answer = staff.post(f"{console}/login", data={"csrf": CSRF.search(login.text).group(1), "username": USER,
                                                   "password": PASSWORD, "next": "/handoffs"}, timeout=30)
    assert answer.status_code == 200 and conversation in answer.text  # the action server's handoff request
    page = staff.get(f"{console}/conversation", params={"id": conversation}, timeout=10)
    assert "normal message (inside the 24-hour window)" in page.text
    before = len(stack.graph.delivered(wa_id))
    sent = staff.post(f"{console}/conversation/reply", timeout=30, data={
        "csrf": CSRF.search(page.text).group(1), "id": conversation, "text": "Hola Lucía, soy Alice de recepción."})
    assert "Sent to the guest" in sent.text
    [reply] = stack.graph.delivered(wa_id)[before:]
    assert reply["type"] == "text" and reply["text"]["body"] == "Hola Lucía, soy Alice de recepción."
    tracker = stack.tracker(conversation)
    staff_event = [e for e in tracker["events"] if e["event"] == "bot" and (e.get("metadata") or {}).get("author") == USER]
    assert staff_event and staff_event[0]["text"] == "Hola Lucía, soy Alice de recepción."
    assert tracker["paused"] is True  # the bot stays out while reception talks to the guest

    last = int(re.search(r'data-last="(\d+)"', sent.text).group(1))
    quiet = len(stack.graph.delivered(wa_id))
    post(stack, wa_id, "perfecto, ¿me podéis subir toallas?")
    live = wait(lambda: (lambda d: d if "toallas" in d.get("html", "") else None)(
        staff.get(f"{console}/api/live", params={"id": conversation, "after": last}, timeout=10).json()), what="live line")
    assert live["paused"] is True
    time.sleep(1)
    assert len(stack.graph.delivered(wa_id)) == quiet  # the bot did not answer the guest behind reception's back
