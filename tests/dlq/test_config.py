"""DLQSettings: defaults, the contract's fallbacks, clear errors, no secrets in repr."""
import pytest

from dlq import DLQConfigError, DLQSettings
from dlq.config import DEFAULT_DATABASE_URL, masked_url


def test_defaults_are_the_embedded_setup():
    settings = DLQSettings.from_env({})
    assert settings.backend == "memory"
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert DEFAULT_DATABASE_URL.endswith("/var/assistant.sqlite3")
    assert (settings.max_retries, settings.retry_backoff_base, settings.ttl_days) == (3, 60, 7)
    assert (settings.worker_interval, settings.lease_seconds, settings.prefix) == (5, 300, "dlq")
    assert settings.ttl_seconds == 7 * 86400


def test_falls_back_to_the_shared_redis_and_assistant_database():
    settings = DLQSettings.from_env({"REDIS_URL": "redis://cache:6379/0", "ASSISTANT_DATABASE_URL": "postgresql://db/assistant"})
    assert (settings.redis_url, settings.database_url, settings.backend) == ("redis://cache:6379/0", "postgresql://db/assistant", "redis")


def test_own_variables_win_over_the_shared_ones():
    settings = DLQSettings.from_env({
        "REDIS_URL": "redis://cache:6379/0", "DLQ_REDIS_URL": "redis://dlq:6379/2",
        "ASSISTANT_DATABASE_URL": "sqlite:///a.db", "DLQ_DATABASE_URL": "postgresql://db/dlq",
        "DLQ_MAX_RETRIES": "5", "DLQ_RETRY_BACKOFF_BASE": "2.5", "DLQ_TTL_DAYS": "1", "DLQ_WORKER_INTERVAL": "1",
        "DLQ_LEASE_SECONDS": "30", "DLQ_PREFIX": "hotel:dlq",
    })
    assert settings.redis_url == "redis://dlq:6379/2"
    assert settings.database_url == "postgresql://db/dlq"
    assert (settings.max_retries, settings.retry_backoff_base, settings.ttl_days) == (5, 2.5, 1)
    assert (settings.worker_interval, settings.lease_seconds, settings.prefix) == (1, 30, "hotel:dlq")


@pytest.mark.parametrize("name, value, message", [
    ("DLQ_MAX_RETRIES", "three", "DLQ_MAX_RETRIES must be a whole number"),
    ("DLQ_MAX_RETRIES", "0", "DLQ_MAX_RETRIES must be at least 1"),
    ("DLQ_RETRY_BACKOFF_BASE", "-1", "DLQ_RETRY_BACKOFF_BASE must be a positive"),
    ("DLQ_TTL_DAYS", "nan", "DLQ_TTL_DAYS must be a positive"),
    ("DLQ_WORKER_INTERVAL", "0", "DLQ_WORKER_INTERVAL must be a positive"),
    ("DLQ_LEASE_SECONDS", "soon", "DLQ_LEASE_SECONDS must be a number"),
    ("DLQ_PREFIX", "dlq with spaces", "DLQ_PREFIX must be"),
    ("DLQ_REDIS_URL", "http://cache:6379", "DLQ_REDIS_URL must start with redis://"),
])
def test_bad_values_name_the_variable(name, value, message):
    with pytest.raises(DLQConfigError, match=message):
        DLQSettings.from_env({name: value})


def test_passwords_stay_out_of_repr_and_errors():
    settings = DLQSettings.from_env({"DLQ_REDIS_URL": "redis://:s3cret@cache:6379/0", "DLQ_DATABASE_URL": "postgresql://u:pw9@db/x"})
    assert "s3cret" not in repr(settings) and "pw9" not in repr(settings)
    assert masked_url("redis://:s3cret@cache:6379/0") == "redis://:***@cache:6379/0"
    with pytest.raises(DLQConfigError) as error:
        DLQSettings(redis_url="http://user:s3cret@cache")
    assert "s3cret" not in str(error.value)
