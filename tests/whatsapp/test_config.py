"""Typed configuration: environment, credentials.yml overrides, hotels by number, no secrets in repr."""
from __future__ import annotations

from pathlib import Path

import pytest

from connectors.whatsapp.config import ConfigError, WhatsAppConfig

ROOT = Path(__file__).resolve().parents[2]
BASE = {
    "WHATSAPP_VERIFY_TOKEN": "verify-me",
    "WHATSAPP_APP_SECRET": "app-secret-value",
    "WHATSAPP_ACCESS_TOKEN": "access-token-value",
    "WHATSAPP_PHONE_NUMBER_ID": "111",
}


def test_reads_environment_with_defaults_and_hides_secrets():
    config = WhatsAppConfig.from_sources(None, BASE, base_dir=ROOT)
    assert config.enabled and config.phone_number_id == "111"
    assert config.graph_api_url == "https://graph.facebook.com" and config.graph_api_version.startswith("v")
    assert config.redis_url == "" and config.image_upload == "qr" and config.max_body_bytes == 8 * 1024 * 1024
    assert config.typing_indicator and not config.mark_read
    text = repr(config)
    for secret in ("verify-me", "app-secret-value", "access-token-value"):
        assert secret not in text
    assert config.hotel_for("111").hotel_id == "demo"  # id read from hotel.yml
    assert config.hotel_for("999") is None


def test_credentials_override_environment():
    config = WhatsAppConfig.from_sources({"graph_api_url": "http://127.0.0.1:9/", "send_retries": 2}, BASE, base_dir=ROOT)
    assert config.graph_api_url == "http://127.0.0.1:9" and config.send_retries == 2


def test_nothing_configured_is_disabled_and_partial_configuration_is_an_error():
    assert not WhatsAppConfig.from_sources(None, {}, base_dir=ROOT).enabled
    with pytest.raises(ConfigError, match="WHATSAPP_ACCESS_TOKEN"):
        WhatsAppConfig.from_sources(None, {k: v for k, v in BASE.items() if "ACCESS" not in k}, base_dir=ROOT)


def test_hotels_by_receiving_number(tmp_path):
    (tmp_path / "playa.yml").write_text("id: playa\nname: Hotel Playa\n")
    env = dict(BASE, WHATSAPP_HOTELS=f"222={tmp_path / 'playa.yml'}")
    config = WhatsAppConfig.from_sources(None, env, base_dir=ROOT)
    assert config.hotel_for("222").as_metadata() == {"id": "playa", "config": str(tmp_path / "playa.yml"), "phone_number_id": "222"}
    assert config.hotel_for("111").hotel_id == "demo"
    with pytest.raises(ConfigError, match="does not exist"):
        WhatsAppConfig.from_sources(None, dict(BASE, WHATSAPP_HOTELS="333=missing.yml"), base_dir=ROOT)
    mapping = WhatsAppConfig.from_sources({"hotels": {"444": str(tmp_path / "playa.yml")}}, BASE, base_dir=ROOT)
    assert mapping.hotel_for("444").hotel_id == "playa"


@pytest.mark.parametrize(
    "override, message",
    [({"WHATSAPP_MAX_BODY_BYTES": "lots"}, "number"), ({"WHATSAPP_IMAGE_UPLOAD": "some"}, "qr"),
     ({"WHATSAPP_GRAPH_API_URL": "ftp://x"}, "http"), ({"WHATSAPP_VOSK_MODEL_PATH": "/nonexistent"}, "directory"),
     ({"WHATSAPP_HOTELS": "nonsense"}, "pairs")],
)
def test_invalid_values_name_the_setting(override, message):
    with pytest.raises(ConfigError, match=message):
        WhatsAppConfig.from_sources(None, dict(BASE, **override), base_dir=ROOT)


def test_unknown_credentials_key_is_an_error():
    with pytest.raises(ConfigError, match="apptoken"):
        WhatsAppConfig.from_sources({"apptoken": "x"}, BASE, base_dir=ROOT)


def test_the_done_marks_use_redis_url_when_the_channel_has_no_redis_of_its_own():
    shared = dict(BASE, REDIS_URL="redis://redis:6379/0")
    assert WhatsAppConfig.from_sources(None, shared, base_dir=ROOT).redis_url == "redis://redis:6379/0"
    own = dict(shared, WHATSAPP_REDIS_URL="redis://other:6379/2")
    assert WhatsAppConfig.from_sources(None, own, base_dir=ROOT).redis_url == "redis://other:6379/2"
    with pytest.raises(ConfigError, match="WHATSAPP_TYPING_INDICATOR"):
        WhatsAppConfig.from_sources(None, dict(BASE, WHATSAPP_TYPING_INDICATOR="maybe"), base_dir=ROOT)


def test_docker_compose_gives_the_rasa_service_a_redis_for_the_done_marks():
    import yaml

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    environment = {str(k): str(v) for k, v in compose["services"]["rasa"]["environment"].items()
                   if "${" not in str(v)}  # variables left to the operator's .env are unset here
    environment.update(BASE)  # the four required values, as an operator's .env provides them
    config = WhatsAppConfig.from_sources(None, environment, base_dir=ROOT)
    assert config.redis_url.startswith("redis://redis:")
