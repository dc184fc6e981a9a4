"""Webhook signature and payload parsing (pure functions)."""
from __future__ import annotations

import hashlib
import hmac

import pytest

from connectors.whatsapp import inbound, signature
from tests.whatsapp import payloads

SECRET = "s3cret"


def test_signature_matches_meta_definition():
    body = b'{"object":"whatsapp_business_account"}'
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature.sign(body, SECRET) == expected
    assert signature.is_valid(body, expected, SECRET)
    assert signature.is_valid(body, expected.upper().replace("SHA256=", "sha256="), SECRET)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha1=abc", "sha256=" + "0" * 64, signature.sign(b"other body", SECRET), "sha256=zz\u00e9"],
)
def test_signature_rejects_missing_forged_and_malformed(header):
    assert not signature.is_valid(b"body", header, SECRET)


def test_no_secret_means_nothing_verifies():
    body = b"body"
    assert not signature.is_valid(body, signature.sign(body, ""), "")


def test_parses_every_supported_message_type_in_order():
    wa = "34600111222"
    messages = [
        payloads.text(wa, "hola"),
        payloads.button_reply(wa, "/affirm", "Sí"),
        payloads.list_reply(wa, '/inform{"room_type":"double"}', "Doble"),
        payloads.location(wa, 36.72, -4.42, "Casa", "Calle 1"),
        payloads.image(wa, "m1", caption="pago bk-100002"),
        payloads.voice(wa, "m2"),
        payloads.message(wa, "button", {"payload": "/affirm", "text": "Sí"}),
        payloads.message(wa, "sticker", {"id": "m3", "mime_type": "image/webp"}),
        payloads.message(wa, "reaction", {"message_id": "wamid.X", "emoji": "👍"}),
    ]
    for index, message in enumerate(messages):
        message["timestamp"] = str(1700000000 + index)
    batch = inbound.parse_webhook(payloads.webhook(list(reversed(messages)), "123", names={wa: "Lucía"}))
    parsed = batch.messages
    assert [m.type for m in parsed] == [
        "text", "interactive", "interactive", "location", "image", "audio", "button", "sticker", "reaction"
    ]
    assert parsed[0].text == "hola" and parsed[0].profile_name == "Lucía" and parsed[0].phone_number_id == "123"
    assert (parsed[1].reply_id, parsed[1].reply_title) == ("/affirm", "Sí")
    assert parsed[2].reply_id == '/inform{"room_type":"double"}'
    assert parsed[3].location == inbound.Location(36.72, -4.42, "Casa", "Calle 1")
    assert parsed[4].media.id == "m1" and parsed[4].media.caption == "pago bk-100002"
    assert parsed[5].media.voice and parsed[5].media.mime_type.startswith("audio/ogg")
    assert parsed[6].reply_id == "/affirm"
    assert parsed[0].sender_key == f"123:{wa}"


def test_status_callbacks_and_other_fields_are_counted_not_messages():
    batch = inbound.parse_webhook(payloads.status_callback("123", "34600111222"))
    assert batch.messages == [] and batch.statuses == 1
    other = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "account_update", "value": {}}]}]}
    assert inbound.parse_webhook(other).ignored_fields == 1


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[1,2]", b'{"object":"page","entry":[]}', b'{"object":"whatsapp_business_account"}',
     b'{"object":"whatsapp_business_account","entry":[{"changes":"x"}]}',
     b'{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":{"messages":[{"type":"text"}]}}]}]}',
     b"\xff\xfe"],
)
def test_malformed_bodies_are_rejected(body):
    with pytest.raises(inbound.MalformedPayload):
        inbound.parse_webhook(inbound.decode_json(body))


def test_booking_reference_and_intent_payload():
    assert inbound.booking_ref_in("pago de la reserva bk-100002, gracias") == "BK100002"
    assert inbound.booking_ref_in("BK 123456") == "BK123456"
    assert inbound.booking_ref_in("sin referencia") is None
    assert inbound.intent_payload("payment_confirmation", {"booking_ref": "BK100002"}) == '/payment_confirmation{"booking_ref":"BK100002"}'
    assert inbound.intent_payload("hotel_location") == "/hotel_location"
