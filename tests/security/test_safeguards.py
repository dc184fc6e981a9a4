"""The pure decisions behind connectors/safeguards.py, the action-server secret
(actions/webhook_auth.py) and the PMS input checks (actions/pms/base.py)."""
from __future__ import annotations

import datetime as dt
import zlib

import pytest

from actions.pms.base import BookingRequest, InvalidStay, StayLimits, check_booking_request, check_stay
from actions.server import inflated_size_ok
from actions.webhook_auth import action_server_token, authorization_header, is_authorized
from connectors import safeguards
from core.settings import ConfigError

OFFERED = [{"event": "bot", "data": {"buttons": [{"title": "Double", "payload": '/inform{"room_type":"double"}'}]}}]


@pytest.mark.parametrize("text, allowed", [
    ('/inform{"room_type":"double"}', True),              # the button the bot offered
    ('  /inform{"room_type":"double"} ', True),
    ('/inform{"room_type":"suite"}', False),              # not offered
    ('/inform{"guest_name":"Mallory"}', False),
    ("/restart", True),
    ('/EXTERNAL_saved_request{"outcome":"done"}', False),
    ("/hotel_location", True),                            # the WhatsApp channel's payloads
    ('/payment_confirmation{"booking_ref":"BK100002"}', True),
    ('/payment_confirmation{"booking_ref":"BK100002","guest_name":"x"}', False),
    ('/payment_confirmation{"booking_ref":{"a":1}}', False),
    ("/greet", False),
])
def test_only_offered_payloads_are_honoured(text, allowed):
    assert safeguards.is_command(text)
    assert safeguards.command_allowed(text, safeguards.offered_payloads(OFFERED)) is allowed


def test_external_intents_never_even_as_a_button():
    forged = "/EXTERNAL_saved_request"
    assert not safeguards.command_allowed(forged, {forged})


def test_refused_payloads_become_plain_text():
    assert safeguards.neutralised('//EXTERNAL_x{"a":1}') == 'EXTERNAL_x{"a":1}'
    assert not safeguards.is_command("I paid /BK100002")


@pytest.mark.parametrize("sender, forged", [
    ("guest-123", False), ("3f2a9c0e1b7d4e8f", False), ("web:abc.def_1", False),
    ("34600111222@106540352242922", True), ("lucia@example.com", True), ("+34600111222", True),
    ("", True), (None, True), ("x" * 65, True), ("a b", True),
])
def test_rest_sender_ids_cannot_take_another_channels_form(sender, forged):
    assert safeguards.forged_rest_sender(sender) is forged


def test_seams_are_where_the_guards_expect_them():
    safeguards.check_seams()  # raises SafeguardSeamMissing after a Rasa upgrade


def test_production_needs_a_strong_action_server_token(monkeypatch, tmp_path):
    monkeypatch.setenv("ASSISTANT_ENV", "production")
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="ACTION_SERVER_TOKEN"):
        action_server_token(tmp_path / "token")
    monkeypatch.setenv("ACTION_SERVER_TOKEN", "short")
    with pytest.raises(ConfigError, match="at least 32"):
        action_server_token(tmp_path / "token")
    assert not (tmp_path / "token").exists()  # never generated in production


def test_development_generates_one_token_both_processes_read(monkeypatch, tmp_path):
    monkeypatch.delenv("ASSISTANT_ENV", raising=False)
    monkeypatch.delenv("ACTION_SERVER_TOKEN", raising=False)
    first = action_server_token(tmp_path / "var" / "token")
    assert len(first) >= 32 and action_server_token(tmp_path / "var" / "token") == first
    assert (tmp_path / "var" / "token").stat().st_mode & 0o077 == 0
    assert is_authorized(authorization_header(first), first)
    assert not is_authorized(None, first) and not is_authorized("Bearer " + first + "x", first)


def test_deflate_bombs_are_found_without_inflating_them():
    assert inflated_size_ok(zlib.compress(b"{}" * 1000))
    assert not inflated_size_ok(zlib.compress(b" " * (20 * 1024 * 1024)))


TODAY = dt.date(2026, 11, 23)
LIMITS = StayLimits(max_nights=30, horizon_days=365, max_guests=8)


@pytest.mark.parametrize("checkin, checkout, guests", [
    (dt.date(2026, 12, 10), dt.date(2026, 12, 5), 2),
    (dt.date(2026, 12, 10), dt.date(2026, 12, 10), 2),
    (dt.date(2020, 1, 1), dt.date(2020, 1, 5), 2),
    (dt.date(2099, 1, 1), dt.date(2099, 1, 5), 2),
    (dt.date(2026, 12, 1), dt.date(9999, 12, 31), 2),
    (dt.date(2026, 12, 1), dt.date(2026, 12, 3), -5),
    (dt.date(2026, 12, 1), dt.date(2026, 12, 3), 0),
    (dt.date(2026, 12, 1), dt.date(2026, 12, 3), 9),
    (dt.date(2026, 12, 1), dt.date(2026, 12, 3), True),
])
def test_stays_out_of_bounds_are_refused(checkin, checkout, guests):
    with pytest.raises(InvalidStay):
        check_stay(checkin, checkout, guests, TODAY, LIMITS)


@pytest.mark.parametrize("name", ["<script>alert(1)</script>", "x", "A" * 81, "Ana\nLópez", "12345"])
def test_names_that_are_not_names_are_refused(name):
    request = BookingRequest(name, "double", dt.date(2026, 12, 1), dt.date(2026, 12, 3), 2)
    with pytest.raises(InvalidStay):
        check_booking_request(request, TODAY, LIMITS)


def test_a_sensible_booking_passes():
    check_booking_request(BookingRequest("Lucía Fernández-Ruiz", "double", TODAY, TODAY + dt.timedelta(days=30), 8),
                          TODAY, LIMITS)


def test_the_public_media_app_serves_media_and_nothing_else():
    from actions.server import create_media_app

    app = create_media_app()
    paths = {route.path.rstrip("/") for route in app.router.routes}
    assert paths <= {"health", "static/<__file_uri__:path>", "static", "qr/<token:str>", "verify/<token:str>"}, paths
    assert not any("webhook" in path or "metrics" in path or "actions" in path for path in paths)


def test_a_new_x_forwarded_for_per_try_does_not_bypass_the_staff_sign_in_limit():
    from staff.rate_limit import LoginRateLimiter

    now = [1000.0]
    limiter = LoginRateLimiter(max_failures=5, window_seconds=600, clock=lambda: now[0])
    for n in range(50):  # 50 tries, each from a "new" forwarded address
        assert limiter.retry_after(f"203.0.113.{n}") == 0
        limiter.record_failure(f"203.0.113.{n}")
    assert limiter.retry_after("198.51.100.7") > 0  # everyone waits now
    now[0] += 601
    assert limiter.retry_after("198.51.100.7") == 0
