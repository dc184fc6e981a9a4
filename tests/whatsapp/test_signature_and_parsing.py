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
     b'{"object":"whatsapp_business_account","entry":[{"changes":[{"field":"messages","value":[]}]}]}',
     b"\xff\xfe", b'{"object":"whatsapp_business_account","entry":' + b"[" * 100_000 + b"]" * 100_000 + b"}"],
)
def test_malformed_bodies_are_rejected(body):
    with pytest.raises(inbound.MalformedPayload):
        inbound.parse_webhook(inbound.decode_json(body))


def test_booking_reference_and_intent_payload():
    assert inbound.booking_ref_in("pago de la reserva bk-100002, gracias") == "BK100002"
    assert inbound.booking_ref_in("BK 123456") == "BK123456"
    assert inbound.booking_ref_in("sin referencia") is None
    # new bookings' references: BK + 10 random characters
    assert inbound.booking_ref_in("justificante bk-7qk2m9xrta.pdf") == "BK7QK2M9XRTA"
    assert inbound.intent_payload("payment_confirmation", {"booking_ref": "BK100002"}) == '/payment_confirmation{"booking_ref":"BK100002"}'
    assert inbound.intent_payload("hotel_location") == "/hotel_location"


def _value(messages, contacts=None, phone_number_id="123"):
    return {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "messages", "value": {
        "messaging_product": "whatsapp", "metadata": {"display_phone_number": "34952000000", "phone_number_id": phone_number_id},
        "contacts": contacts or [], "messages": messages}}]}]}


def test_each_message_stands_alone_bad_ones_are_rejected_with_their_reason():
    wa = "34600111222"
    good = payloads.text(wa, "hola")
    no_sender = payloads.text(wa, "sin remitente")
    del no_sender["from"]
    numeric_id = payloads.text(wa, "id numérico", message_id=12345)
    bad_place = payloads.location(wa, 36.7, -4.4)
    bad_place["location"]["latitude"] = "north"
    text_object = payloads.message(wa, "text", {"body": {"nested": "x"}})
    batch = inbound.parse_webhook(_value([good, no_sender, numeric_id, bad_place, text_object, "not an object"]))
    assert [m.text for m in batch.messages] == ["hola"]
    reasons = [r.error for r in batch.rejected]
    assert reasons == ["message without 'from' or 'from_user_id'", "message without an 'id' string",
                       "location without numeric latitude/longitude", "'text.body' is not a string",
                       "message is not an object"]
    assert batch.rejected[0].raw.startswith("{") and "sin remitente" in batch.rejected[0].raw
    assert batch.rejected[2].guest == wa and batch.rejected[2].phone_number_id == "123"
    no_number = inbound.parse_webhook(_value([good], phone_number_id=""))
    assert no_number.messages == [] and no_number.rejected[0].error == "message without metadata.phone_number_id"


def test_a_flow_answer_becomes_fields_and_text_a_form_can_read():
    answer = {"flow_token": "tok-1", "check_in": "2027-03-10", "guests": 2, "extras": ["cuna", "parking"], "late": True}
    raw = payloads.message("34600111222", "interactive", {"type": "nfm_reply", "nfm_reply": {
        "name": "flow", "body": "Sent", "response_json": __import__("json").dumps(answer)}})
    (message,) = inbound.parse_webhook(_value([raw])).messages
    assert message.type == "flow" and message.flow["token"] == "tok-1"
    assert message.flow["fields"] == {"check_in": "2027-03-10", "guests": "2", "extras": "cuna, parking", "late": "yes"}
    assert inbound.flow_text(message.flow) == "check in: 2027-03-10, guests: 2, extras: cuna, parking, late: yes"
    for bad in ("not json", "[1]", '{"a": {"b": 1}}', "[" * 50_000 + "]" * 50_000):
        raw["interactive"]["nfm_reply"]["response_json"] = bad
        raw["id"] = payloads.new_message_id()
        batch = inbound.parse_webhook(_value([raw]))
        assert batch.messages == [] and "nfm_reply" in batch.rejected[0].error


def test_call_permission_replies_revokes_and_edits():
    wa = "34600111222"
    accept = payloads.message(wa, "interactive", {"type": "call_permission_reply", "call_permission_reply": {
        "response": "accept", "expiration_timestamp": 1753186982, "response_source": "user_action"}})
    revoke = payloads.message(wa, "revoke", {"original_message_id": "wamid.OLD"})
    edit = payloads.message(wa, "edit", {"original_message_id": "wamid.OLD2", "message": {
        "type": "image", "image": {"id": "m1", "caption": "ahora con referencia BK100002"}}})
    for index, raw in enumerate((accept, revoke, edit)):
        raw["timestamp"] = str(1700000000 + index)
    parsed = inbound.parse_webhook(_value([accept, revoke, edit])).messages
    assert [(m.type, m.call_permission, m.original_id, m.text) for m in parsed] == [
        ("call_permission", "accept", "", ""), ("revoke", "", "wamid.OLD", ""),
        ("edit", "", "wamid.OLD2", "ahora con referencia BK100002")]


def test_business_scoped_user_ids_with_or_without_the_phone_number():
    both = payloads.text("34600111222", "con número", from_user_id="ES.123456789")
    only_id = payloads.text("x", "sin número")
    del only_id["from"]
    only_id["from_user_id"] = "ES.987654321"
    contacts = [{"profile": {"name": "Lucía"}, "wa_id": "34600111222", "user_id": "ES.123456789"},
                {"profile": {"name": "Ana", "username": "ana.viaja"}, "user_id": "ES.987654321"}]
    first, second = inbound.parse_webhook(_value([both, only_id], contacts)).messages
    assert (first.wa_id, first.user_id, first.profile_name) == ("34600111222", "ES.123456789", "Lucía")
    assert (second.wa_id, second.user_id, second.profile_name, second.guest) == ("", "ES.987654321", "Ana", "ES.987654321")
    assert first.sender_key == "123:ES.123456789"
    # the phone number only in contacts: the message is still the guest's with both ids
    from_contacts = payloads.text("34600111222", "hola")
    (message,) = inbound.parse_webhook(_value([from_contacts], contacts[:1])).messages
    assert message.user_id == "ES.123456789"


def test_marketing_preferences_are_returned_not_messages():
    body = {"object": "whatsapp_business_account", "entry": [{"id": "W", "changes": [{"field": "user_preferences", "value": {
        "messaging_product": "whatsapp", "metadata": {"phone_number_id": "123"},
        "user_preferences": [{"wa_id": "34600111222", "category": "marketing_messages", "value": "stop",
                              "timestamp": 1731705721}]}}]}]}
    batch = inbound.parse_webhook(body)
    assert batch.messages == [] and [(p.wa_id, p.value) for p in batch.preferences] == [("34600111222", "stop")]
