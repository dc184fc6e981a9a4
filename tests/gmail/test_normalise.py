"""Normalisation: MIME -> the text the guest wrote; replies built with threading headers."""
from __future__ import annotations

from email import message_from_bytes, policy

import pytest

from connectors.gmail import compose, normalise
from connectors.gmail.config import ConfigError, GmailConfig
from connectors.gmail.outbound import GmailOutput, resolve_choice
from tests.gmail.conftest import mail


def test_plain_text_is_preferred_over_html():
    raw = mail("Hola, ¿tenéis parking?", html="<p>HTML version</p>").as_bytes()
    parsed = normalise.parse_raw(raw, "m1", "t1")
    assert parsed.text == "Hola, ¿tenéis parking?"
    assert parsed.sender == "lucia@example.com" and parsed.sender_name == "Lucía García"
    assert parsed.message_id.startswith("<") and (parsed.gmail_id, parsed.thread_id) == ("m1", "t1")


def test_html_only_is_stripped_with_quotes_scripts_and_entities_removed():
    message = mail("x")
    message.set_content(
        "<html><head><style>p{color:red}</style></head><body><div>Hola&nbsp;&amp; buenas</div>"
        "<p>¿Hay <b>desayuno</b>?</p><script>alert(1)</script>"
        '<div class="gmail_quote">El lun escribió:<blockquote>viejo</blockquote></div></body></html>',
        subtype="html",
    )
    parsed = normalise.parse_raw(message.as_bytes())
    assert parsed.text == "Hola & buenas\n\n¿Hay desayuno?"


@pytest.mark.parametrize(
    "body",
    [
        "Quiero reservar\n\nEl lun, 3 mar 2025 a las 10:00, Hotel <h@x.com> escribió:\n> ¿Algo más?\n> Gracias",
        "Quiero reservar\n\nOn Mon, 3 Mar 2025 at 10:00, Hotel\n<h@x.com> wrote:\n> Anything else?",
        "Quiero reservar\n> citado\n-- \nLucía García\nDirectora de compras",
        "Quiero reservar\n\nEnviado desde mi iPhone",
        "Quiero reservar\nSent from my iPhone\n\nOn Mon wrote:\n> x",
        "Quiero reservar\n\n-----Original Message-----\nFrom: hotel\nviejo",
    ],
)
def test_quoted_replies_and_signatures_are_removed(body):
    assert normalise.clean_text(body) == "Quiero reservar"


def test_text_after_a_closed_quote_is_kept():
    html = "<div>Arriba</div><div class='gmail_quote'><div>citado</div></div><p>Abajo<br>fin</p>"
    assert normalise.html_to_text(html) == "Arriba\n\nAbajo\nfin"


def test_attachments_are_listed_not_read_as_text():
    raw = mail("Adjunto el justificante", attachments=[(b"%PDF-1.4 x", "application", "pdf", "recibo.pdf")]).as_bytes()
    parsed = normalise.parse_raw(raw)
    assert parsed.text == "Adjunto el justificante"
    assert [(a.filename, a.mime_type, a.size) for a in parsed.attachments] == [("recibo.pdf", "application/pdf", 10)]


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage without headers",
        b"From: a@example.com\r\nContent-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhola sin cierre",
        b"From: a@example.com\r\nContent-Type: text/plain; charset=x-unknown-charset\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64",
        b"From: =?utf-8?q?broken\r\nSubject: =?x?y?z?=\r\nMessage-ID: <<<\r\nContent-Type: multipart/alternative\r\n\r\nno boundary",
        b"From: a@example.com\r\nContent-Type: text/html\r\n\r\n<div><p>unclosed <b>tags &bogus; <",
    ],
)
def test_malformed_mime_never_raises(raw):
    parsed = normalise.parse_raw(raw)
    assert isinstance(parsed.text, str)


def test_malformed_multipart_still_yields_the_text():
    raw = (b"From: Ana <ana@example.com>\r\nMessage-ID: <a1@example.com>\r\n"
           b"Content-Type: multipart/mixed; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\nhola sin cierre")
    parsed = normalise.parse_raw(raw)
    assert parsed.sender == "ana@example.com" and "hola sin cierre" in parsed.text and parsed.defects


def test_automatic_mail_is_flagged():
    assert normalise.parse_raw(mail("x", headers={"Auto-Submitted": "auto-replied"}).as_bytes()).auto_submitted
    assert normalise.parse_raw(mail("x", headers={"Precedence": "bulk"}).as_bytes()).auto_submitted
    assert not normalise.parse_raw(mail("x").as_bytes()).auto_submitted


def test_reply_threading_headers_and_attachment():
    original = normalise.parse_raw(mail("hola", subject="Reserva", references=["<a@x>", "<b@x>"]).as_bytes())
    reply = compose.Reply(
        to=original.sender, subject=compose.reply_subject(original.subject), text="¡Hola! ¿En qué te ayudo?",
        in_reply_to=original.message_id, references=compose.thread_references(original.references, original.message_id),
        images=[compose.ReplyImage(b"\x89PNG\r\n\x1a\n...", "image/png", "qr-BK1.png")], sender="h@hotel.example",
    )
    raw, message_id = compose.build(reply)
    built = message_from_bytes(raw, policy=policy.default)
    assert built["Subject"] == "Re: Reserva" and built["In-Reply-To"] == original.message_id
    assert built["References"].split() == ["<a@x>", "<b@x>", original.message_id]
    assert built["Message-ID"] == message_id and built["Auto-Submitted"] == "auto-replied"
    assert built.get_body(("plain",)).get_content().strip() == "¡Hola! ¿En qué te ayudo?"
    (attachment,) = list(built.iter_attachments())
    assert attachment.get_filename() == "qr-BK1.png" and attachment.get_content().startswith(b"\x89PNG")
    assert compose.reply_subject("RE: Reserva") == "RE: Reserva"


async def test_buttons_become_a_numbered_list_answered_by_number():
    output = GmailOutput()
    await output.send_text_message("g", "Hola")
    await output.send_text_with_buttons("g", "¿Qué habitación?", [
        {"title": "Doble", "payload": '/inform{"room_type":"double"}'}, {"title": "Suite", "payload": "/suite"}])
    assert output.text == "Hola\n\n¿Qué habitación?\n  1. Doble\n  2. Suite\n(Responde con el número / Reply with the number)"
    assert resolve_choice("2.", output.buttons) == "/suite"
    assert resolve_choice("doble", output.buttons) == '/inform{"room_type":"double"}'
    assert resolve_choice("quiero la doble", output.buttons) is None


def test_config_disabled_partial_and_secrets_hidden():
    assert not GmailConfig.from_sources({}, {}).enabled
    with pytest.raises(ConfigError, match="GMAIL_REFRESH_TOKEN"):
        GmailConfig.from_sources({}, {"GMAIL_CLIENT_ID": "a", "GMAIL_CLIENT_SECRET": "b"})
    config = GmailConfig.from_sources({}, {"GMAIL_CLIENT_ID": "a", "GMAIL_CLIENT_SECRET": "sekrit", "GMAIL_REFRESH_TOKEN": "rtok"})
    assert config.enabled and "sekrit" not in repr(config) and "rtok" not in repr(config)
    with pytest.raises(ConfigError):
        GmailConfig.from_sources({"nope": 1}, {})
