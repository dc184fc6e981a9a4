"""End to end: mail in the fake Gmail mailbox, ``rasa run`` with the trained
model and the Gmail channel from credentials.yml, the real action server and
Redis; the replies come out at the fake's messages.send.

Trains nothing: skipped when models/hotel.tar.gz is missing.
"""
from __future__ import annotations

import email
import io
import time

import pytest

from tests.gmail.conftest import CLIENT_SECRET, REFRESH_TOKEN, guest_address, mail
from tests.gmail.stack import MODEL, GmailStack
from tests.stack_common import running, unique_prefix

pytestmark = [
    pytest.mark.model,
    pytest.mark.skipif(not MODEL.exists(), reason=f"{MODEL} is missing: run `make train` first (these tests train nothing)"),
]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, redis_url):
    with running(GmailStack(tmp_path_factory.mktemp("gmail-e2e"), redis_url=redis_url,
                            redis_prefix=unique_prefix("test-gmail-e2e"),
                            extra_env={"GMAIL_MAX_RAW_BYTES": str(1024 * 1024)})) as stack:
        yield stack


def message_id_of(raw: bytes) -> str:
    return email.message_from_bytes(raw)["Message-ID"]


def test_a_spanish_mail_gets_a_spanish_reply_in_the_same_thread(stack):
    guest = guest_address()
    html = "<p>Hola buenas</p><div class='gmail_quote'>El lun escribió:<blockquote>otra cosa</blockquote></div>"
    sent_mail = mail("Hola buenas\n\nEl lun, 3 mar 2025, Hotel <h@x> escribió:\n> otra cosa\n\nEnviado desde mi iPhone",
                     sender=guest, subject="Consulta", html=html, references=["<first@mail.example.com>"])
    stored = stack.gmail.deliver(sent_mail.as_bytes(), thread_id="thread-es-1")
    (reply,) = stack.wait_reply(guest)
    stack.wait_labelled(stored.id)
    message = reply["message"]
    assert reply["threadId"] == "thread-es-1"
    assert message["In-Reply-To"] == sent_mail["Message-ID"]
    assert message["References"].split() == ["<first@mail.example.com>", sent_mail["Message-ID"]]
    assert message["Subject"] == "Re: Consulta" and message["To"] == guest
    body = message.get_body(("plain",)).get_content()
    assert "Soy el asistente virtual de Hotel Mirador del Puerto" in body, body
    assert "Enviado desde" not in body and "otra cosa" not in body
    (event,) = [e for e in stack.tracker(guest)["events"] if e["event"] == "user"]
    assert event["text"] == "Hola buenas" and event["input_channel"] == "gmail"
    assert event["metadata"]["hotel"]["id"] == "demo" and event["metadata"]["gmail"]["thread_id"] == "thread-es-1"


def test_an_english_mail_gets_an_english_reply(stack):
    guest = guest_address()
    stack.gmail.deliver(mail("Hello there, good morning\n\n-- \nJohn Smith\nACME Ltd", sender=guest, subject="Question").as_bytes())
    (reply,) = stack.wait_reply(guest)
    body = reply["message"].get_body(("plain",)).get_content()
    assert "I'm the virtual assistant of Hotel Mirador del Puerto" in body, body


def test_paying_yields_a_reply_with_the_qr_png_attached(stack):
    import sqlite3

    guest = guest_address()
    stack.gmail.deliver(mail("Ya hice la transferencia de la reserva BK100002", sender=guest, subject="Pago").as_bytes())
    (asked,) = stack.wait_reply(guest)
    assert "apellido de la reserva" in asked["message"].get_body(("plain",)).get_content()  # the second factor (#9)
    with sqlite3.connect(stack.workdir / "pms.sqlite3") as db:
        checkin = db.execute("SELECT checkin FROM bookings WHERE reference='BK100002'").fetchone()[0]
    stack.gmail.deliver(mail("Smith", sender=guest, subject="Re: Pago").as_bytes())
    stack.wait_reply(guest, count=2)
    stack.gmail.deliver(mail(checkin, sender=guest, subject="Re: Pago").as_bytes())
    reply = stack.wait_reply(guest, count=3)[-1]  # the demo setting (DEMO_AUTO_CONFIRM_PAYMENTS=1) takes it as paid
    message = reply["message"]
    body = message.get_body(("plain",)).get_content()
    assert "BK100002" in body, body
    (png,) = [p for p in message.iter_attachments() if p.get_content_type() == "image/png"]
    data = png.get_content()
    assert data.startswith(b"\x89PNG") and png.get_filename() == "qr-BK100002.png"
    zxingcpp = pytest.importorskip("zxingcpp")
    from PIL import Image

    from actions import qr

    (code,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(data)))
    assert qr.verify_token(code.text, "e2e-qr-secret")["ref"] == "BK100002"


def test_malformed_mime_and_a_huge_attachment_are_handled(stack):
    guest = guest_address()
    broken = stack.gmail.deliver(
        f"From: {guest}\r\nSubject: =?x?y?z?=\r\nMessage-ID: <<<\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n"
        "--q\r\nContent-Type: text/plain; charset=klingon\r\n\r\nhola\r\n--q\r\nContent-Type: image/png\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n!!!not base64".encode()
    )
    stack.wait_labelled(broken.id)
    assert stack.wait_reply(guest)  # what could be read ("hola") was answered
    big_guest = guest_address()
    huge = stack.gmail.deliver(mail("hola, os mando las fotos", sender=big_guest,
                                    attachments=[(b"\x00" * (4 * 1024 * 1024), "application", "zip", "fotos.zip")]).as_bytes())
    (reply,) = stack.wait_reply(big_guest)
    stack.wait_labelled(huge.id)
    assert reply["message"].get_body(("plain",)).get_content().strip()
    assert stack.rasa.poll() is None  # the server survived both


def test_a_restarted_channel_does_not_reprocess_handled_mail(stack):
    guest = guest_address()
    stored = stack.gmail.deliver(mail("hola", sender=guest).as_bytes())
    stack.wait_reply(guest)
    stack.wait_labelled(stored.id)
    total_sent = len(stack.gmail.sent)
    stack.stop_rasa()
    stack.start_rasa()
    deadline = time.monotonic() + 30
    while stack.health()["polls"] < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert stack.health()["polls"] >= 3
    assert len(stack.gmail.sent) == total_sent and stack.health()["processed"] == 0
    # and new mail is still answered
    later = guest_address()
    stack.gmail.deliver(mail("hola otra vez", sender=later).as_bytes())
    stack.wait_reply(later)
    logs = "".join(p.read_text(errors="replace") for p in stack.workdir.glob("rasa-*.log"))
    for secret in stack.gmail.access_tokens + [CLIENT_SECRET, REFRESH_TOKEN]:
        assert secret not in logs


def test_a_saved_request_notice_reaches_the_email_guest_in_the_same_thread(stack):
    """Proactive: the saved-request worker's own notification through Rasa's real trigger_intent
    (output_channel=latest) comes out as a reply in the guest's thread, not into a collector."""
    import asyncio

    from actions.rasa_api import RasaAPI
    from actions.saved_request_worker import notification
    from tests.gmail.stack import AUTH_TOKEN

    guest = guest_address()
    sent_mail = mail("Hola, ¿seguís ahí?", sender=guest, subject="Cancelación")
    stored = stack.gmail.deliver(sent_mail.as_bytes(), thread_id="thread-notice-1")
    stack.wait_reply(guest)
    payload = notification(guest, "pms.cancel_booking", "done", "BK100007")
    asyncio.run(RasaAPI(stack.rasa_url, AUTH_TOKEN).trigger_intent(payload["conversation_id"], payload["intent"],
                                                                   payload["entities"]))
    _, notice = stack.wait_reply(guest, count=2)
    message = notice["message"]
    assert notice["threadId"] == stored.thread_id == "thread-notice-1"
    assert message["In-Reply-To"] == sent_mail["Message-ID"] and message["Subject"] == "Re: Cancelación"
    body = message.get_body(("plain",)).get_content()
    assert "la reserva BK100007 ya está cancelada" in body, body
    bot_texts = [e.get("text") or "" for e in stack.tracker(guest)["events"] if e["event"] == "bot"]
    assert any("BK100007" in text for text in bot_texts)  # and the conversation knows it said so


def test_a_staff_reply_through_outreach_reaches_the_email_guest_in_the_same_thread(stack):
    """connectors/outreach.py reads the thread from the metadata this channel wrote into Rasa's tracker."""
    import asyncio

    from actions.rasa_api import RasaAPI
    from connectors.outreach import Outreach
    from tests.gmail.conftest import make_config
    from tests.gmail.stack import AUTH_TOKEN

    guest = guest_address()
    sent_mail = mail("¿Podéis llamarme? Es sobre la factura", sender=guest, subject="Factura")
    stored = stack.gmail.deliver(sent_mail.as_bytes(), thread_id="thread-staff-1")
    stack.wait_reply(guest)

    async def staff_writes():
        outreach = Outreach(RasaAPI(stack.rasa_url, AUTH_TOKEN), gmail=make_config(stack.gmail))
        try:
            return await outreach.send_to_guest(guest, "Hola, soy Marta de recepción: le llamo en 5 minutos.", author="marta")
        finally:
            await outreach.close()

    delivery = asyncio.run(staff_writes())
    assert delivery.status == "sent" and delivery.channel == "gmail"
    _, staff_mail = stack.wait_reply(guest, count=2)
    assert staff_mail["threadId"] == stored.thread_id == "thread-staff-1"
    assert staff_mail["message"]["In-Reply-To"] == sent_mail["Message-ID"]
    assert "Marta de recepción" in staff_mail["message"].get_body(("plain",)).get_content()
