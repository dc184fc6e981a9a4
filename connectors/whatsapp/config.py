"""Typed configuration of the WhatsApp channel, read in one place.

Every setting comes from the channel's section in credentials.yml when given
there, otherwise from the ``WHATSAPP_*`` environment variable of the same
name (``app_secret`` <- ``WHATSAPP_APP_SECRET``). Keeping the section empty
and the values in the environment means credentials.yml holds no secret and
``rasa shell`` keeps working on machines without WhatsApp settings.

Secrets (app secret, access token, verify token) are excluded from ``repr``
so that logging the configuration never prints them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import yaml

from connectors.settings import ConfigError, SettingsSource

DEFAULT_GRAPH_API_URL = "https://graph.facebook.com"
DEFAULT_GRAPH_API_VERSION = "v21.0"
REQUIRED = ("verify_token", "app_secret", "access_token", "phone_number_id")


@dataclass(frozen=True)
class HotelRoute:
    """The hotel a receiving WhatsApp number belongs to."""

    phone_number_id: str
    hotel_id: str
    config_path: str  # the hotel file the action server should use

    def as_metadata(self) -> dict:
        return {"id": self.hotel_id, "config": self.config_path, "phone_number_id": self.phone_number_id}


@dataclass(frozen=True)
class WhatsAppConfig:
    verify_token: str = field(default="", repr=False)
    app_secret: str = field(default="", repr=False)
    access_token: str = field(default="", repr=False)
    phone_number_id: str = ""
    graph_api_url: str = DEFAULT_GRAPH_API_URL
    graph_api_version: str = DEFAULT_GRAPH_API_VERSION
    # phone_number_id -> hotel; always holds at least the default number
    hotels: Mapping[str, HotelRoute] = field(default_factory=dict)
    redis_url: str = ""  # WHATSAPP_REDIS_URL, else REDIS_URL; empty: in-process store (one process only)
    redis_prefix: str = "whatsapp"
    dedup_ttl_seconds: int = 7 * 24 * 3600  # Meta retries failed deliveries for up to 7 days
    max_body_bytes: int = 8 * 1024 * 1024  # a batch of 5,000 messages is ~2 MB
    max_media_bytes: int = 16 * 1024 * 1024  # WhatsApp's audio limit
    max_voice_seconds: int = 180
    vosk_model_path: str = ""  # empty: voice notes are answered with "please type it"
    template_name: str = ""  # approved template with one body parameter, used outside the 24 h window
    template_language: str = "es"
    image_upload: str = "qr"  # qr: upload QR codes, link other images; all: upload every image
    send_retries: int = 4
    retry_base_seconds: float = 0.5
    http_timeout_seconds: float = 20.0
    max_concurrency: int = 8  # conversations processed at once
    mark_read: bool = False  # mark guests' messages as read (blue ticks) even without the typing indicator
    typing_indicator: bool = True  # "typing…" (and the read ticks) while a turn runs
    turn_lease_seconds: float = 15.0  # a dead process's unfinished turn is taken over after at most this

    @property
    def enabled(self) -> bool:
        return all(getattr(self, name) for name in REQUIRED)

    def hotel_for(self, phone_number_id: str) -> Optional[HotelRoute]:
        return self.hotels.get(str(phone_number_id))

    @classmethod
    def from_sources(
        cls,
        credentials: Optional[Mapping[str, Any]] = None,
        environ: Optional[Mapping[str, str]] = None,
        base_dir: Optional[Path] = None,
    ) -> "WhatsAppConfig":
        credentials = dict(credentials or {})
        environ = os.environ if environ is None else environ
        base_dir = base_dir or Path.cwd()
        unknown = set(credentials) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise ConfigError(f"unknown WhatsApp settings in credentials.yml: {', '.join(sorted(unknown))}")

        source = SettingsSource("WHATSAPP", credentials, environ)
        get, number = source.get, source.number
        values = source.all_or_none(REQUIRED, "WhatsApp")
        graph_api_url = source.url("graph_api_url", DEFAULT_GRAPH_API_URL)
        image_upload = get("image_upload", "qr").lower()
        if image_upload not in ("qr", "all"):
            raise ConfigError("WHATSAPP_IMAGE_UPLOAD must be 'qr' or 'all'")
        vosk_model_path = get("vosk_model_path")
        if vosk_model_path and not Path(vosk_model_path).is_dir():
            raise ConfigError(f"WHATSAPP_VOSK_MODEL_PATH {vosk_model_path!r} is not a directory")

        default_hotel_file = environ.get("HOTEL_CONFIG", "").strip() or "hotel.yml"
        hotels = _parse_hotels(credentials.get("hotels") or environ.get("WHATSAPP_HOTELS", ""), base_dir)
        if values["phone_number_id"] and values["phone_number_id"] not in hotels:
            hotels[values["phone_number_id"]] = _route(values["phone_number_id"], default_hotel_file, base_dir, strict=False)

        return cls(
            **values,
            graph_api_url=graph_api_url,
            graph_api_version=get("graph_api_version", DEFAULT_GRAPH_API_VERSION).strip("/"),
            hotels=hotels,
            redis_url=get("redis_url") or environ.get("REDIS_URL", "").strip(),
            redis_prefix=get("redis_prefix", "whatsapp"),
            dedup_ttl_seconds=number("dedup_ttl_seconds", cls.dedup_ttl_seconds),
            max_body_bytes=number("max_body_bytes", cls.max_body_bytes),
            max_media_bytes=number("max_media_bytes", cls.max_media_bytes),
            max_voice_seconds=number("max_voice_seconds", cls.max_voice_seconds),
            vosk_model_path=vosk_model_path,
            template_name=get("template_name"),
            template_language=get("template_language", "es"),
            image_upload=image_upload,
            send_retries=number("send_retries", cls.send_retries),
            retry_base_seconds=number("retry_base_seconds", cls.retry_base_seconds, float),
            http_timeout_seconds=number("http_timeout_seconds", cls.http_timeout_seconds, float),
            max_concurrency=max(1, number("max_concurrency", cls.max_concurrency)),
            mark_read=_flag(get("mark_read", "false"), "WHATSAPP_MARK_READ"),
            typing_indicator=_flag(get("typing_indicator", "true"), "WHATSAPP_TYPING_INDICATOR"),
            turn_lease_seconds=max(1.0, number("turn_lease_seconds", cls.turn_lease_seconds, float)),
        )


def _flag(value: str, variable: str) -> bool:
    value = value.lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{variable} must be true or false, got {value!r}")


def _parse_hotels(raw: Any, base_dir: Path) -> dict[str, HotelRoute]:
    """``"111=hotel.yml,222=hotels/playa.yml"`` or a mapping from credentials.yml."""
    if isinstance(raw, Mapping):
        pairs = [(str(k), str(v)) for k, v in raw.items()]
    else:
        pairs = []
        for item in filter(None, (part.strip() for part in str(raw).split(","))):
            number, sep, path = item.partition("=")
            if not sep or not number.strip() or not path.strip():
                raise ConfigError(f"WHATSAPP_HOTELS: expected phone_number_id=hotel_file pairs, got {item!r}")
            pairs.append((number.strip(), path.strip()))
    return {number: _route(number, path, base_dir, strict=True) for number, path in pairs}


def _route(phone_number_id: str, path: str, base_dir: Path, strict: bool) -> HotelRoute:
    """The hotel id is the ``id`` field of the hotel file (its stem when absent)."""
    file = Path(path) if Path(path).is_absolute() else base_dir / path
    hotel_id = Path(path).stem
    if file.is_file():
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"hotel file {path} is not valid YAML: {exc}") from None
        hotel_id = str(data.get("id") or hotel_id)
    elif strict:
        raise ConfigError(f"WHATSAPP_HOTELS: hotel file {path} for number {phone_number_id} does not exist")
    return HotelRoute(phone_number_id=phone_number_id, hotel_id=hotel_id, config_path=path)
