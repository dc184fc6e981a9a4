"""The pieces of the web console's authentication on their own: password
hashes, STAFF_USERS, signed tokens and CSRF, the login rate limiter, and the
console's settings."""
from __future__ import annotations

import pytest

from staff.config import ConfigError, StaffConfig, parse_users
from staff.passwords import (
    DEFAULT_ITERATIONS,
    PasswordChecker,
    PasswordHashError,
    hash_password,
    parse_hash,
    verify_password,
)
from staff.rate_limit import LoginRateLimiter
from staff.sessions import LOGIN_FORM, SESSION, TokenSigner


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- passwords --------------------------------------------------------------------------


def test_hash_verifies_only_its_password():
    encoded = hash_password("s3cret pass", iterations=2_000)
    assert verify_password("s3cret pass", encoded)
    assert not verify_password("s3cret pasS", encoded)
    assert not verify_password("", encoded)
    assert hash_password("s3cret pass", iterations=2_000) != encoded  # a fresh salt each time


def test_hash_format_is_shell_safe_and_defaults_to_strong_iterations():
    encoded = hash_password("x", salt=b"0123456789abcdef")
    assert encoded.startswith(f"pbkdf2_sha256.{DEFAULT_ITERATIONS}.")
    assert not set(encoded) & set("$:,'\" ")
    assert parse_hash(encoded).salt == b"0123456789abcdef"


@pytest.mark.parametrize("bad", ["", "plain", "md5.1000.a.b", "pbkdf2_sha256.10.c2FsdA.AAAA", "pbkdf2_sha256.1000.c2FsdA.c2hvcnQ"])
def test_malformed_hashes_are_refused(bad):
    with pytest.raises(PasswordHashError):
        parse_hash(bad)


def test_refuses_empty_and_huge_passwords():
    with pytest.raises(ValueError):
        hash_password("")
    encoded = hash_password("a" * 10, iterations=2_000)
    assert not verify_password("a" * 100_000, encoded)


def test_checker_knows_users_and_passwords():
    checker = PasswordChecker({"alice": hash_password("pw-alice", 2_000)})
    assert checker.check("alice", "pw-alice")
    assert not checker.check("alice", "pw-bob")
    assert not checker.check("mallory", "pw-alice")  # an unknown user fails (after a full-cost check)
    assert checker.knows("alice") and not checker.knows("mallory")


def test_staff_users_parsing():
    alice, bob = hash_password("a", 2_000), hash_password("b", 2_000)
    assert parse_users(f" alice:{alice}, bob:{bob} ") == {"alice": alice, "bob": bob}
    assert parse_users("") == {}
    for bad in ("alice", f"alice:{alice},alice:{bob}", "alice:plaintext", f":{alice}"):
        with pytest.raises(ConfigError, match="STAFF_USERS"):
            parse_users(bad)


# -- tokens ------------------------------------------------------------------------------


def test_token_round_trip_and_expiry():
    clock = Clock()
    signer = TokenSigner("a" * 40, clock)
    value, issued = signer.issue(SESSION, "alice", 60)
    assert signer.read(SESSION, value) == issued
    clock.now += 59
    assert signer.read(SESSION, value) is not None
    clock.now += 1
    assert signer.read(SESSION, value) is None


def test_forged_tokens_are_refused():
    signer = TokenSigner("a" * 40)
    value, _ = signer.issue(SESSION, "alice", 60)
    payload, mac = value.split(".")
    other_key, _ = TokenSigner("b" * 40).issue(SESSION, "alice", 60)
    bob_payload = TokenSigner("a" * 40).issue(SESSION, "bob", 60)[0].split(".")[0]
    for forged in (other_key, f"{bob_payload}.{mac}", f"{payload}.{mac[:-2]}AA", payload, "", "x.y", f"{payload}.é"):
        assert signer.read(SESSION, forged) is None, forged
    assert signer.read(LOGIN_FORM, value) is None  # a session token is no login-form token


def test_csrf_token_belongs_to_one_token_and_logout_revokes():
    signer = TokenSigner("a" * 40)
    value, first = signer.issue(SESSION, "alice", 60)
    _, second = signer.issue(SESSION, "alice", 60)
    assert signer.csrf_matches(first, signer.csrf_token(first))
    assert not signer.csrf_matches(first, signer.csrf_token(second))
    assert not signer.csrf_matches(first, None) and not signer.csrf_matches(first, "")
    signer.revoke(first)
    assert signer.read(SESSION, value) is None


# -- rate limiter -----------------------------------------------------------------------------


def test_rate_limiter_blocks_after_max_failures_within_the_window():
    clock = Clock(0)
    limiter = LoginRateLimiter(max_failures=3, window_seconds=100, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.record_failure("10.0.0.1")
        clock.now += 10
    assert limiter.retry_after("10.0.0.1") == pytest.approx(70)  # first failure (t=0) leaves at t=100
    assert limiter.retry_after("10.0.0.2") == 0  # per address
    clock.now = 100.5
    assert limiter.retry_after("10.0.0.1") == 0
    limiter.record_failure("10.0.0.1")
    limiter.reset("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 0


def test_rate_limiter_memory_is_bounded():
    limiter = LoginRateLimiter(1, 100, clock=Clock(0), max_addresses=2)
    for address in ("a", "b", "c"):
        limiter.record_failure(address)
    assert limiter.retry_after("a") == 0  # the stalest address was dropped
    assert limiter.retry_after("c") > 0


# -- settings --------------------------------------------------------------------------------


def test_settings_from_env_and_web_requirements(password_hashes):
    env = {"STAFF_USERS": f"alice:{password_hashes['alice']}", "STAFF_SESSION_SECRET": "s" * 32,
           "STAFF_SESSION_HOURS": "0.5", "STAFF_TIMEZONE": "Europe/Madrid", "RASA_URL": "http://rasa:5005/",
           "RASA_TOKEN": "tok-123"}
    config = StaffConfig.from_env(env)
    config.check_web()
    assert (config.session_seconds, config.rasa_url, str(config.timezone)) == (1800, "http://rasa:5005", "Europe/Madrid")
    assert "tok-123" not in repr(config) and "s" * 32 not in repr(config) and "pbkdf2" not in repr(config)
    assert config.tracker_store_url.endswith("var/tracker.sqlite3")
    with pytest.raises(ConfigError, match="STAFF_SESSION_SECRET"):
        StaffConfig.from_env({**env, "STAFF_SESSION_SECRET": "short"}).check_web()
    with pytest.raises(ConfigError, match="STAFF_USERS"):
        StaffConfig.from_env({**env, "STAFF_USERS": ""}).check_web()
    for name, bad in (("STAFF_SESSION_HOURS", "soon"), ("STAFF_TIMEZONE", "Mars/Base"), ("STAFF_COOKIE_SECURE", "maybe"),
                      ("STAFF_LOGIN_MAX_FAILURES", "0")):
        with pytest.raises(ConfigError, match=name):
            StaffConfig.from_env({**env, name: bad})
