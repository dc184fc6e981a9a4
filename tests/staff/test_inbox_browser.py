"""The staff inbox end to end in headless Chromium, one stack for the module:

``python -m staff.web`` (its real entry point, background work on) over a
PostgreSQL tracker store written by Rasa's own SQLTrackerStore; a fake Rasa
HTTP API that serves and appends to that store as Rasa does; the fake Graph
and Gmail APIs; a real SMTP server (aiosmtpd) and a webhook sink for reception
notifications; the action server's QR endpoint (the project's renderer); the
embedded PMS; the machine's Redis for dead letters. Two hotels: alice works at
"demo", bob at "playa".

The guest side is what Rasa and the action server write when a guest asks for
a person: the guest's message (channel, hotel and Gmail thread in its
metadata), the bot's answer, the pause, and the handoff staff request.
Screenshots go to results/staff/ (with STAFF_DOCS_SCREENSHOTS=1 to docs/img/,
the ones docs/staff.md shows).
"""
from __future__ import annotations

import asyncio
import datetime as dt
import io
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
import zxingcpp
from PIL import Image
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationPaused, Event, UserUttered

from actions.pms.base import BookingRequest
from actions.qr import verify_token
from actions.staff_requests import StaffRequestStore
from tests.fakes.gmail_server import GmailServer
from tests.fakes.graph_server import GraphServer
from tests.stack_common import free_port, fresh_postgres_database, wait_http
from tests.staff import scenario
from tests.staff.conftest import OTHER_PASSWORD, OTHER_USER, PASSWORD, RASA_TOKEN, SESSION_SECRET, USER
from tests.staff.fake_rasa_api import FakeRasaAPI
from tests.staff.fakes import QRServer, SMTPSink, WebhookSink
from tests.staff.test_browser import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, wait_for

ROOT = Path(__file__).resolve().parents[2]
# STAFF_DOCS_SCREENSHOTS=1 refreshes the screenshots docs/staff.md shows; otherwise they go to results/
IMAGES = ROOT / ("docs/img" if os.environ.get("STAFF_DOCS_SCREENSHOTS") == "1" else "results/staff")
PHONE_ID = "1234567890"
GRAPH_TOKEN = "graph-token-staff-inbox"
DUTY_PHONE = "34600999000"
RECEPTION_MAIL, HOTEL_MAIL = "recepcion@demo.example", "reservas@hotelmirador.example"
REPLY_TEMPLATE = "reception_reply"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def hotel_files(folder: Path, webhook_url: str) -> Path:
    base = yaml.safe_load((ROOT / "hotel.yml").read_text(encoding="utf-8"))
    base.pop("reception", None)
    demo = dict(base, id="demo", reception={
        "notify_emails": [RECEPTION_MAIL], "notify_webhook": webhook_url, "duty_phone": DUTY_PHONE,
        "duty_template": {"name": "urgent_incident", "language": "es"},
        "reply_template": {"name": REPLY_TEMPLATE, "language": "es"},
    })
    playa = dict(base, id="playa", name="Hotel Playa Azul")
    folder.mkdir()
    (folder / "a_demo.yml").write_text(yaml.safe_dump(demo, allow_unicode=True), encoding="utf-8")
    (folder / "b_playa.yml").write_text(yaml.safe_dump(playa, allow_unicode=True), encoding="utf-8")
    return folder


class Stack:
    """Everything the console talks to, and the console itself."""

    def __init__(self, tmp: Path, postgres_url: str, password_hashes, redis_prefix: str) -> None:
        self.tmp = tmp
        self.domain = scenario.load_domain()
        self.store = scenario.open_store(postgres_url, self.domain)
        self.rasa = FakeRasaAPI(token=RASA_TOKEN)
        self.rasa.on_events = self._append  # Rasa appends what the API gets to the tracker store
        self.rasa.tracker_of = self._events
        self.graph = GraphServer(token=GRAPH_TOKEN)
        self.gmail = GmailServer("cid", "csecret", "refresh", address=HOTEL_MAIL)
        self.smtp, self.webhook, self.qr = SMTPSink(), WebhookSink(), QRServer()
        self.assistant_url = f"sqlite:///{tmp / 'assistant.sqlite3'}"
        self.pms_url = f"sqlite:///{tmp / 'pms.sqlite3'}"
        self.hotels = hotel_files(tmp / "hotels", self.webhook.url)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "TRACKER_STORE_URL": postgres_url, "ASSISTANT_DATABASE_URL": self.assistant_url,
            "RASA_URL": self.rasa.url, "RASA_TOKEN": RASA_TOKEN,
            "STAFF_USERS": ",".join(f"{n}:{h}" for n, h in password_hashes.items()),
            "STAFF_USER_HOTELS": f"{USER}=demo,{OTHER_USER}=playa", "STAFF_SESSION_SECRET": SESSION_SECRET,
            "STAFF_TIMEZONE": "Europe/Madrid", "STAFF_PUBLIC_URL": self.url, "STAFF_NOTIFY_POLL_SECONDS": "0.3",
            "STAFF_SMTP_URL": self.smtp.url, "STAFF_SMTP_FROM": "console@hotelmirador.example",
            "HOTEL_CONFIG": str(self.hotels), "PMS_BACKEND": "local", "PMS_DATABASE_URL": self.pms_url,
            "QR_SECRET": "staff-inbox-qr-secret", "ACTION_SERVER_PUBLIC_URL": self.qr.url,
            "WHATSAPP_VERIFY_TOKEN": "v", "WHATSAPP_APP_SECRET": "s", "WHATSAPP_ACCESS_TOKEN": GRAPH_TOKEN,
            "WHATSAPP_PHONE_NUMBER_ID": PHONE_ID, "WHATSAPP_GRAPH_API_URL": self.graph.url,
            "WHATSAPP_TEMPLATE_NAME": "channel_default", "WHATSAPP_SEND_RETRIES": "0",
            "GMAIL_CLIENT_ID": "cid", "GMAIL_CLIENT_SECRET": "csecret", "GMAIL_REFRESH_TOKEN": "refresh",
            "GMAIL_API_URL": self.gmail.url, "GMAIL_TOKEN_URL": f"{self.gmail.url}/token", "GMAIL_SEND_RETRIES": "0",
            "DLQ_REDIS_URL": "redis://127.0.0.1:6379/0", "DLQ_PREFIX": redis_prefix,
            "DLQ_DATABASE_URL": f"sqlite:///{tmp / 'dlq.sqlite3'}",
        }
        self.requests = StaffRequestStore(self.assistant_url)
        self.process = None

    # -- what Rasa does with the tracker store -----------------------------------------------

    def _append(self, sender_id, events) -> None:
        asyncio.run(scenario.save(self.store, sender_id, [Event.from_parameters(e) for e in events]))

    def _events(self, sender_id):
        async def read():
            tracker = await self.store.retrieve_full_tracker(sender_id)
            return [e.as_dict() for e in tracker.events] if tracker else []

        return asyncio.run(read())

    def guest_writes(self, sender_id: str, text: str, channel: str, metadata: dict, at: float = 0.0,
                     asks_for_person: bool = False, kind: str = "handoff", urgent: bool = False, **request_fields):
        at = at or time.time()
        events = [UserUttered(text, intent={"name": "human_handoff" if asks_for_person else "inform", "confidence": 0.93},
                              input_channel=channel, metadata=metadata, timestamp=at)]
        if asks_for_person:
            events += [ActionExecuted("action_handoff", timestamp=at + 0.1),
                       BotUttered("Te paso con recepción; te responderán aquí enseguida.", timestamp=at + 0.1),
                       ConversationPaused(timestamp=at + 0.1)]
        asyncio.run(scenario.save(self.store, sender_id, events))
        if asks_for_person:
            return self.requests.add(kind, sender_id, text, urgent=urgent, **request_fields)
        return None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> "Stack":
        for server in (self.rasa, self.graph, self.gmail, self.smtp, self.webhook, self.qr):
            server.start()
        self.log = self.tmp / "staff-web.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "staff.web", "--port", str(self.port)], cwd=ROOT,
                                            env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT)
        wait_http(f"{self.url}/staff.css", self.process, self.log, 60)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        for server in (self.rasa, self.graph, self.gmail, self.smtp, self.webhook, self.qr):
            server.stop()
        self.store.engine.dispose()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, password_hashes):
    import redis

    prefix = f"staffinbox:{os.getpid()}:{int(time.time())}"
    with fresh_postgres_database("staff_inbox") as database:
        built = Stack(tmp_path_factory.mktemp("inbox"), database.url(), password_hashes, prefix)
        try:
            yield built.start()
        finally:
            built.stop()
            client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
            keys = list(client.scan_iter(match=f"{prefix}:*"))
            if keys:
                client.delete(*keys)
            client.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        pytest.fail(f"{', '.join(missing)} missing: run scripts/ensure_system_tools.sh (Debian packages chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium') / 'profile'}")
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def sign_in(browser, stack, user: str, password: str) -> None:
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{stack.url}/handoffs")
    wait_for(browser, "form.login")
    browser.find_element(By.ID, "username").send_keys(user)
    browser.find_element(By.ID, "password").send_keys(password)
    browser.find_element(By.ID, "sign-in").click()
    wait_for(browser, "#waiting-count")


def wait_text(browser, css: str, text: str, timeout: float = 20) -> None:
    """Until an element matching ``css`` shows ``text`` (across the navigation a form POST starts)."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(
        lambda d: any(text in e.text for e in d.find_elements(By.CSS_SELECTOR, css)))


def shoot(browser, name: str) -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(IMAGES / f"staff-{name}.png"))


def reply_from_page(browser, text: str) -> None:
    from selenium.webdriver.common.by import By

    browser.find_element(By.ID, "reply-text").send_keys(text)
    browser.find_element(By.ID, "send-reply").click()
    wait_text(browser, ".flash", "")


def whatsapp_meta(wa_id: str, hotel: str = "demo") -> dict:
    return {"channel": "whatsapp", "hotel": {"id": hotel, "phone_number_id": PHONE_ID},
            "whatsapp": {"wa_id": wa_id, "phone_number_id": PHONE_ID, "type": "text"}}


def test_whatsapp_guest_handoff_reply_and_live_update(stack, browser):
    from selenium.webdriver.common.by import By

    wa_id = "34600111222"
    conversation = f"{wa_id}@{PHONE_ID}"
    sign_in(browser, stack, USER, PASSWORD)
    assert browser.find_element(By.ID, "waiting-count").text == "0"

    # the guest asks for a person while alice looks at the (empty) inbox: it appears by itself
    request = stack.guest_writes(conversation, "quiero hablar con una persona", "whatsapp", whatsapp_meta(wa_id),
                                 asks_for_person=True)
    row = wait_for(browser, f"#request-{request.id}", timeout=20)
    assert conversation in row.text and "paused" in row.text
    assert browser.find_element(By.ID, "waiting-count").text == "1"
    assert row.find_element(By.CSS_SELECTOR, ".wait .waiting").text.endswith("s")
    shoot(browser, "inbox")

    # reception hears about it outside the page: e-mail and webhook, with the last messages and a link
    mail = stack.smtp.wait_for(lambda m: f"#{request.id}" in m["Subject"])
    assert mail["To"] == RECEPTION_MAIL and "guest asks for a person" in mail["Subject"]
    body = mail.get_content()
    assert "quiero hablar con una persona" in body and f"{stack.url}/conversation?id={wa_id}%40{PHONE_ID}" in body
    hook = stack.webhook.wait_for(lambda b: b["id"] == request.id)
    assert hook["conversation"] == conversation and hook["hotel"]["id"] == "demo" and hook["channel"] == "whatsapp"
    assert hook["last_messages"][0] == {"who": "guest", "text": "quiero hablar con una persona", "at": hook["last_messages"][0]["at"]}
    assert hook["link"].startswith(stack.url) and "quiero hablar" in hook["text"]

    # alice opens it and replies; the fake Graph API gets exactly that text for that number
    row.find_element(By.LINK_TEXT, conversation).click()
    wait_for(browser, "#transcript")
    assert "normal message" in browser.find_element(By.ID, "route-note").text
    reply_from_page(browser, "Hola, soy Alice de recepción. ¿En qué te ayudo?")
    assert "Sent to the guest" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    [sent] = stack.graph.delivered(wa_id)
    assert sent["type"] == "text" and sent["text"]["body"] == "Hola, soy Alice de recepción. ¿En qué te ayudo?"
    assert stack.graph.requests[-1].path.endswith(f"/{PHONE_ID}/messages")
    wait_text(browser, "#transcript .staffmsg", f"Staff · {USER}")
    shoot(browser, "conversation")

    # the guest writes again: the line appears on the open page without a reload
    browser.execute_script("window.notReloaded = true;")
    stack.guest_writes(conversation, "la ducha de la 204 no tiene agua caliente", "whatsapp", whatsapp_meta(wa_id))
    wait_text(browser, "#transcript .guest", "la ducha de la 204 no tiene agua caliente")
    assert browser.execute_script("return window.notReloaded === true;")
    assert "paused" in browser.find_element(By.ID, "state").text  # the bot stays out of it

    # an urgent incident also goes to the duty phone as the WhatsApp template
    urgent = stack.guest_writes(conversation, "hay humo en el pasillo, fuego", "whatsapp", whatsapp_meta(wa_id),
                                asks_for_person=True, kind="issue", urgent=True)
    assert stack.graph.wait_for(lambda g: bool(g.delivered(DUTY_PHONE)), timeout=20)
    [duty] = stack.graph.delivered(DUTY_PHONE)
    assert duty["type"] == "template" and duty["template"]["name"] == "urgent_incident"
    assert "fuego" in duty["template"]["components"][0]["parameters"][0]["text"]
    assert stack.smtp.wait_for(lambda m: f"#{urgent.id}" in m["Subject"])["Subject"].startswith("URGENT")

    # claim it, leave a note, give it back to the bot
    browser.find_element(By.CSS_SELECTOR, "button[name=claim]").click()
    wait_text(browser, "#assignee", USER)
    browser.find_element(By.ID, "note-text").send_keys("Avisado mantenimiento (ducha 204)")
    browser.find_element(By.CSS_SELECTOR, "button[name=add-note]").click()
    wait_text(browser, "#notes", "Avisado mantenimiento")
    browser.find_element(By.CSS_SELECTOR, "button[name=give-back]").click()
    wait_text(browser, ".flash", "The bot answers this guest again")
    assert stack.rasa.wait_for_resume(conversation)
    assert stack.requests.get(request.id).status == "resolved" and stack.requests.get(request.id).resolved_by == USER
    assert stack.requests.get(urgent.id).status == "open"  # the incident itself is not fixed by resuming
    browser.get(f"{stack.url}/audit?conversation={wa_id}%40{PHONE_ID}")
    actions = [r.find_elements(By.TAG_NAME, "td")[2].text for r in browser.find_elements(By.CSS_SELECTOR, "tr.audit-entry")]
    assert actions == ["staff_bot_resumed", "staff_note_added", "staff_claimed", "staff_reply"]  # newest first


def test_gmail_guest_reply_lands_in_the_same_thread(stack, browser):
    from selenium.webdriver.common.by import By

    guest = "lucia.garcia@example.com"
    meta = {"channel": "gmail", "hotel": {"id": "demo"}, "gmail": {
        "id": "18c0000abc", "thread_id": "thread-lucia-1", "message_id": "<CAF-lucia-1@mail.example.com>",
        "subject": "Reserva de agosto", "from_name": "Lucía García"}}
    sign_in(browser, stack, USER, PASSWORD)
    request = stack.guest_writes(guest, "Quiero hablar con alguien de recepción, por favor", "gmail", meta,
                                 asks_for_person=True)
    wait_for(browser, f"#request-{request.id}", timeout=20).find_element(By.LINK_TEXT, guest).click()
    wait_for(browser, "#transcript")
    assert "e-mail, in the guest's thread" in browser.find_element(By.ID, "route-note").text
    reply_from_page(browser, "Hola Lucía, soy Alice. Te confirmo la reserva de agosto.")
    [sent] = stack.gmail.sent_to(guest)
    assert sent["threadId"] == "thread-lucia-1"
    message = sent["message"]
    assert message["In-Reply-To"] == "<CAF-lucia-1@mail.example.com>" and message["Subject"] == "Re: Reserva de agosto"
    assert "Te confirmo la reserva de agosto." in message.get_content()
    browser.execute_script("window.notReloaded = true;")
    stack.guest_writes(guest, "¡Gracias! ¿Y el parking?", "gmail", dict(meta, gmail=dict(meta["gmail"], id="18c0000abd")))
    wait_text(browser, "#transcript .guest", "¿Y el parking?")
    assert browser.execute_script("return window.notReloaded === true;")


def test_a_reply_outside_the_24_hour_window_goes_as_the_hotels_template(stack, browser):
    from selenium.webdriver.common.by import By

    wa_id = "34611222333"
    conversation = f"{wa_id}@{PHONE_ID}"
    stack.guest_writes(conversation, "necesito ayuda con mi reserva", "whatsapp", whatsapp_meta(wa_id),
                       at=time.time() - 26 * 3600, asks_for_person=True)
    sign_in(browser, stack, USER, PASSWORD)
    browser.get(f"{stack.url}/conversation?id={wa_id}%40{PHONE_ID}")
    note = wait_for(browser, "#route-note").text
    assert "more than 24 hours ago" in note and REPLY_TEMPLATE in note  # said before sending
    shoot(browser, "template-notice")
    reply_from_page(browser, "Buenos días, le escribimos de recepción sobre su reserva.")
    assert "as the WhatsApp template" in browser.find_element(By.CSS_SELECTOR, ".flash").text
    [sent] = stack.graph.delivered(wa_id)
    assert sent["type"] == "template" and sent["template"]["name"] == REPLY_TEMPLATE
    assert sent["template"]["components"][0]["parameters"][0]["text"] == "Buenos días, le escribimos de recepción sobre su reserva."
    wait_text(browser, "#transcript .staffmsg", "sent as WhatsApp template")


def test_approving_a_payment_check_confirms_it_in_the_pms_and_sends_the_qr(stack, browser):
    from selenium.webdriver.common.by import By

    from actions.pms.local import LocalPMS

    pms = LocalPMS(stack.pms_url, auto_confirm_payments=False)
    checkin = dt.date.today() + dt.timedelta(days=20)
    booking = pms.create_booking(BookingRequest("Marta Ruiz", "double", checkin, checkin + dt.timedelta(days=2), 2))
    assert not booking.is_paid
    wa_id = "34622333444"
    conversation = f"{wa_id}@{PHONE_ID}"
    from actions.qr import render_png

    receipt_png = render_png("transferencia-ES12-3456")  # any PNG stands for the guest's photo of the receipt
    media_id = stack.graph.add_media(receipt_png, "image/png")
    request = stack.guest_writes(conversation, f"ya he pagado la reserva {booking.reference}", "whatsapp",
                                 whatsapp_meta(wa_id), asks_for_person=True, kind="payment_check",
                                 booking_ref=booking.reference, media_ref=f"whatsapp:{media_id}")
    sign_in(browser, stack, USER, PASSWORD)
    row = wait_for(browser, f"#request-{request.id}")
    shoot(browser, "payment-check")
    # the receipt opens from the row (fetched from WhatsApp with the channel's token)
    receipt_url = row.find_element(By.ID, f"receipt-{request.id}").get_attribute("href")
    browser.get(receipt_url)
    assert browser.find_element(By.TAG_NAME, "img").size["width"] > 0
    browser.back()
    row = wait_for(browser, f"#request-{request.id}")
    row.find_element(By.CSS_SELECTOR, "button[name=approve]").click()
    wait_text(browser, ".flash", "confirmed in the PMS")
    assert pms.get_booking(booking.reference).is_paid
    sent = stack.graph.delivered(wa_id)
    assert [m["type"] for m in sent] == ["text", "image"] and booking.reference in sent[0]["text"]["body"]
    qr_media = sent[1]["image"]["id"]  # the QR code was fetched from the action server and uploaded
    data, mime = stack.graph.media[qr_media]
    assert mime == "image/png" and data.startswith(b"\x89PNG")
    [code] = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
    assert verify_token(code.text, "staff-inbox-qr-secret")["ref"] == booking.reference
    assert stack.requests.get(request.id).status == "resolved"
    # the approval is in the audit log, with who did it and the booking
    browser.get(f"{stack.url}/audit")
    wait_text(browser, "#audit", "staff_payment_approved")
    row = next(r for r in browser.find_elements(By.CSS_SELECTOR, "tr.audit-entry") if "staff_payment_approved" in r.text)
    assert f"staff:{USER}" in row.text and booking.reference in row.text and conversation in row.text
    assert "staff_receipt_viewed" in browser.find_element(By.ID, "audit").text


def test_a_gmail_receipt_opens_and_reject_sends_the_reason_in_the_thread(stack, browser):
    from email.message import EmailMessage

    from selenium.webdriver.common.by import By

    from actions.pms.local import LocalPMS
    from actions.qr import render_png

    pms = LocalPMS(stack.pms_url, auto_confirm_payments=False)
    checkin = dt.date.today() + dt.timedelta(days=30)
    booking = pms.create_booking(BookingRequest("Pablo Gil", "single", checkin, checkin + dt.timedelta(days=1), 1))
    guest = "pablo.gil@example.com"
    mail = EmailMessage()
    mail["From"], mail["To"], mail["Subject"] = f"Pablo <{guest}>", HOTEL_MAIL, f"Pago {booking.reference}"
    mail["Message-ID"] = "<pago-pablo-1@example.com>"
    mail.set_content(f"Adjunto el justificante del pago de {booking.reference}.")
    mail.add_attachment(render_png("justificante"), maintype="image", subtype="png", filename="justificante.png")
    stored = stack.gmail.deliver(mail.as_bytes(), thread_id="thread-pablo")
    meta = {"channel": "gmail", "hotel": {"id": "demo"}, "gmail": {
        "id": stored.id, "thread_id": "thread-pablo", "message_id": "<pago-pablo-1@example.com>",
        "subject": f"Pago {booking.reference}",
        "attachments": [{"filename": "justificante.png", "mime_type": "image/png", "size": 100}]}}
    request = stack.guest_writes(guest, f"Adjunto el justificante del pago de {booking.reference}.", "gmail", meta,
                                 asks_for_person=True, kind="payment_check", booking_ref=booking.reference)
    sign_in(browser, stack, USER, PASSWORD)
    row = wait_for(browser, f"#request-{request.id}")
    browser.get(row.find_element(By.ID, f"receipt-{request.id}").get_attribute("href"))
    assert browser.find_element(By.TAG_NAME, "img").size["width"] > 0  # the attachment, read from Gmail
    browser.back()
    row = wait_for(browser, f"#request-{request.id}")
    row.find_element(By.NAME, "reason").send_keys("el importe recibido no coincide con la reserva")
    row.find_element(By.CSS_SELECTOR, "button[name=reject]").click()
    wait_text(browser, ".flash", "rejected")
    [sent] = stack.gmail.sent_to(guest)
    assert sent["threadId"] == "thread-pablo" and sent["message"]["In-Reply-To"] == "<pago-pablo-1@example.com>"
    assert "el importe recibido no coincide con la reserva" in sent["message"].get_content()
    assert not pms.get_booking(booking.reference).is_paid
    assert stack.requests.get(request.id).status == "resolved"


def test_a_user_of_hotel_b_cannot_open_hotel_a_conversations(stack, browser):
    from selenium.webdriver.common.by import By

    wa_id = "34633444555"
    conversation = f"{wa_id}@{PHONE_ID}"
    stack.guest_writes(conversation, "hola, una persona por favor", "whatsapp", whatsapp_meta(wa_id), asks_for_person=True)
    playa_guest = "34644555666@9876543210"
    playa = stack.guest_writes(playa_guest, "hola desde la playa", "whatsapp", whatsapp_meta("34644555666", "playa"),
                               asks_for_person=True)
    sign_in(browser, stack, OTHER_USER, OTHER_PASSWORD)
    ids = [r.get_attribute("id") for r in browser.find_elements(By.CSS_SELECTOR, "tr.request")]
    assert ids == [f"request-{playa.id}"]  # only playa's request
    browser.get(f"{stack.url}/conversations")
    listed = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "tr.conversation a")]
    assert listed == [playa_guest]
    browser.get(f"{stack.url}/conversation?id={wa_id}%40{PHONE_ID}")
    assert "404" in browser.find_element(By.TAG_NAME, "h1").text
    browser.get(f"{stack.url}/api/live?id={wa_id}%40{PHONE_ID}&after=0")
    assert "no such conversation" in browser.page_source
    browser.get(f"{stack.url}/conversation?id=34644555666%409876543210")
    wait_for(browser, "#transcript")
    log = stack.log.read_text(errors="replace")
    assert "outside their hotels" in log
    for secret in (PASSWORD, OTHER_PASSWORD, RASA_TOKEN, SESSION_SECRET, GRAPH_TOKEN):
        assert secret not in log
