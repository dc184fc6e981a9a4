"""Deployment settings of the PMS breaker and the Rasa API, read from the environment."""
from __future__ import annotations

import pytest

from actions.config import ConfigError, Settings

VARIABLES = ("PMS_BREAKER_FAIL_MAX", "PMS_BREAKER_RESET_SECONDS", "PMS_BREAKER_REDIS_URL", "REDIS_URL",
             "RASA_URL", "RASA_TOKEN", "PMS_BACKEND")


@pytest.fixture
def env(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(env):
    config = Settings.from_env()
    assert (config.pms_breaker_fail_max, config.pms_breaker_reset_seconds) == (5, 30.0)
    assert config.pms_breaker_redis_url == ""  # in-memory breaker
    assert (config.rasa_url, config.rasa_token) == ("http://localhost:5005", "")


def test_values_and_redis_url_fallback(env):
    env.setenv("PMS_BREAKER_FAIL_MAX", "3")
    env.setenv("PMS_BREAKER_RESET_SECONDS", "2.5")
    env.setenv("REDIS_URL", "redis://:s3cret@redis:6379/0")
    env.setenv("RASA_URL", "http://rasa:5005/")
    env.setenv("RASA_TOKEN", "tok-123")
    config = Settings.from_env()
    assert (config.pms_breaker_fail_max, config.pms_breaker_reset_seconds) == (3, 2.5)
    assert config.pms_breaker_redis_url == "redis://:s3cret@redis:6379/0"
    assert config.rasa_url == "http://rasa:5005"
    assert "s3cret" not in repr(config) and "tok-123" not in repr(config)
    env.setenv("PMS_BREAKER_REDIS_URL", "redis://breaker:6379/2")
    assert Settings.from_env().pms_breaker_redis_url == "redis://breaker:6379/2"


@pytest.mark.parametrize("name, value, message", [
    ("PMS_BREAKER_FAIL_MAX", "five", "PMS_BREAKER_FAIL_MAX: expected a whole number"),
    ("PMS_BREAKER_FAIL_MAX", "0", "PMS_BREAKER_FAIL_MAX: must be at least 1"),
    ("PMS_BREAKER_FAIL_MAX", "2.5", "PMS_BREAKER_FAIL_MAX: expected a whole number"),
    ("PMS_BREAKER_RESET_SECONDS", "soon", "PMS_BREAKER_RESET_SECONDS: expected a number"),
    ("PMS_BREAKER_RESET_SECONDS", "nan", "PMS_BREAKER_RESET_SECONDS: expected a number"),
    ("PMS_BREAKER_RESET_SECONDS", "-1", "PMS_BREAKER_RESET_SECONDS: must be at least 0.1"),
])
def test_bad_values_name_the_variable(env, name, value, message):
    env.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        Settings.from_env()
