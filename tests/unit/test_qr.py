"""Signed QR tokens: round trip, tampering, wrong secret, malformed tokens, and a
rendered PNG that a real QR decoder (zxing-cpp) reads back to the token."""
from __future__ import annotations

import base64
import datetime as dt
import io
import json
from decimal import Decimal

import pytest
from PIL import Image

from actions import qr
from actions.pms.base import Booking, BookingStatus

zxingcpp = pytest.importorskip("zxingcpp")

SECRET = "unit-test-secret"


def booking(**overrides) -> Booking:
    fields = dict(
        reference="BK123456",
        guest_name="Lucía Fernández",
        room_type="double",
        checkin=dt.date(2026, 12, 5),
        checkout=dt.date(2026, 12, 8),
        guests=2,
        status=BookingStatus.CONFIRMED,
        nightly_rate=Decimal("95.00"),
        total_price=Decimal("285.00"),
        currency="EUR",
    )
    fields.update(overrides)
    return Booking(**fields)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def flip(text: str, index: int) -> str:
    replacement = "A" if text[index] != "A" else "B"
    return text[:index] + replacement + text[index + 1:]


def test_round_trip_claims():
    token = qr.sign_booking(booking(), SECRET)
    assert qr.verify_token(token, SECRET) == {
        "ref": "BK123456",
        "in": "2026-12-05",
        "out": "2026-12-08",
        "room": "double",
    }  # no guest name: the token travels in image URLs


def test_token_is_url_safe_and_deterministic():
    token = qr.sign_booking(booking(), SECRET)
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert token.count(".") == 1
    assert qr.sign_booking(booking(), SECRET) == token
    assert qr.sign_booking(booking(reference="BK654321"), SECRET) != token


def test_tampered_payload_is_rejected():
    token = qr.sign_booking(booking(), SECRET)
    payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["out"] = "2026-12-20"  # a guest trying to stay longer
    forged = b64(json.dumps(claims, separators=(",", ":"), ensure_ascii=False).encode())
    with pytest.raises(qr.InvalidToken, match="signature"):
        qr.verify_token(f"{forged}.{signature}", SECRET)
    with pytest.raises(qr.InvalidToken):
        qr.verify_token(f"{flip(payload, 5)}.{signature}", SECRET)


def test_tampered_signature_is_rejected():
    payload, signature = qr.sign_booking(booking(), SECRET).split(".")
    for index in (0, len(signature) - 1):
        with pytest.raises(qr.InvalidToken, match="signature"):
            qr.verify_token(f"{payload}.{flip(signature, index)}", SECRET)
    with pytest.raises(qr.InvalidToken):
        qr.verify_token(f"{payload}.{signature[:-2]}", SECRET)  # truncated


def test_wrong_secret_is_rejected():
    token = qr.sign_booking(booking(), SECRET)
    with pytest.raises(qr.InvalidToken):
        qr.verify_token(token, "another-secret")
    with pytest.raises(qr.InvalidToken):
        qr.verify_token(token, "")


def test_signed_with_the_empty_secret_does_not_verify_with_a_real_one():
    token = qr.sign_booking(booking(), "")
    with pytest.raises(qr.InvalidToken):
        qr.verify_token(token, SECRET)


@pytest.mark.parametrize(
    "token",
    ["", ".", "abc", "abc.", ".abc", "no-dot-at-all", "a.b.c", "😀.😀", "abc.é", "é.abc", "%%%.%%%"],
)
def test_malformed_tokens_are_rejected(token):
    with pytest.raises(qr.InvalidToken):
        qr.verify_token(token, SECRET)


def test_correctly_signed_garbage_payload_is_invalid_not_a_crash():
    # Someone who knows the secret signs something that is not base64url JSON.
    for payload in ("not-json", b64(b"\xff\xfe binary"), b64(b"[1, 2")):
        token = f"{payload}.{qr._signature(payload, SECRET)}"
        with pytest.raises(qr.InvalidToken, match="base64url JSON"):
            qr.verify_token(token, SECRET)


def test_image_url():
    assert qr.image_url("http://host:5055/", "abc.def") == "http://host:5055/qr/abc.def.png"
    assert qr.image_url("https://bot.example", "abc.def") == "https://bot.example/qr/abc.def.png"


def decode(png: bytes) -> list:
    return zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))


def test_render_png_decodes_back_to_the_token():
    token = qr.sign_booking(booking(), SECRET)
    png = qr.render_png(token)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG"
    results = decode(png)
    assert len(results) == 1
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode  # a full QR, not a Micro QR
    assert results[0].text == token
    # and what was scanned verifies offline with the secret
    assert qr.verify_token(results[0].text, SECRET)["ref"] == "BK123456"


def test_render_png_scale_and_long_names():
    token = qr.sign_booking(booking(guest_name="María José " + "de la Santísima Trinidad " * 3), SECRET)
    small, big = qr.render_png(token, scale=3), qr.render_png(token, scale=8)
    small_size, big_size = Image.open(io.BytesIO(small)).size, Image.open(io.BytesIO(big)).size
    assert big_size[0] > small_size[0]
    assert small_size[0] == small_size[1]  # square
    for png in (small, big):
        assert [r.text for r in decode(png)] == [token]
