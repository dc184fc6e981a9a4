"""Typed configuration, read in one place.

``Settings`` comes from environment variables (deployment); ``HotelConfig``
comes from the hotel file (``hotel.yml``: name, address, hours, policies).
Every other module receives these objects instead of reading the environment.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from zoneinfo import ZoneInfo

import yaml

from core.settings import PROJECT_ROOT, ConfigError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
DEV_QR_SECRET = "dev-only-qr-secret-change-me"


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _int_map(name: str) -> dict[str, int]:
    """'single=1, double=2' -> {'single': 1, 'double': 2}."""
    result = {}
    for item in filter(None, (part.strip() for part in _env(name).split(","))):
        key, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise ConfigError(f"{name}: expected key=number pairs separated by commas, got {item!r}")
        result[key.strip()] = int(value)
    return result


def _int_list(name: str) -> tuple[int, ...]:
    """'1, 5' -> (1, 5)."""
    parts = [part.strip() for part in _env(name).split(",") if part.strip()]
    if not all(part.isdigit() for part in parts):
        raise ConfigError(f"{name}: expected numbers separated by commas, got {_env(name)!r}")
    return tuple(int(part) for part in parts)


def _number(name: str, default: float, kind: type = int, minimum: float = 0) -> float:
    """A numeric variable (``kind`` int or float) of at least ``minimum``."""
    raw = _env(name)
    if not raw:
        return default
    try:
        value = kind(raw)
        if not math.isfinite(value):
            raise ValueError(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected {'a whole number' if kind is int else 'a number'}, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name}: must be at least {minimum}, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    pms_backend: str = "local"  # local | qloapps
    pms_database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'pms.sqlite3'}"
    assistant_database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'assistant.sqlite3'}"
    qloapps_url: str = ""
    qloapps_api_key: str = field(default="", repr=False)
    qloapps_hotel_id: int = 1
    qloapps_room_types: Mapping[str, int] = field(default_factory=dict)  # our code -> QloApps room type id
    qloapps_language_ids: Mapping[str, int] = field(default_factory=dict)  # "es" -> QloApps language id
    qloapps_auto_services: tuple[int, ...] = ()  # QloApps service ids sent with every booking (docs/qloapps.md)
    qloapps_fallback_phone: str = ""  # sent when a guest has no phone number
    qr_secret: str = field(default=DEV_QR_SECRET, repr=False)
    public_url: str = "http://localhost:5055"  # where guests' clients fetch QR/photos
    hotel_config_path: Path = PROJECT_ROOT / "hotel.yml"
    # PMS circuit breaker; its state lives in Redis when a URL is set (shared by
    # every action-server process), in process memory otherwise.
    pms_breaker_fail_max: int = 5
    pms_breaker_reset_seconds: float = 30.0
    pms_breaker_redis_url: str = field(default="", repr=False)  # may carry a password
    # Rasa's HTTP API, for proactive messages (saved requests done or failed).
    rasa_url: str = "http://localhost:5005"
    rasa_token: str = field(default="", repr=False)
    # DEMO_AUTO_CONFIRM_PAYMENTS=1 (make run only): the embedded PMS takes a guest's
    # "I paid" as payment. Off by default: a staff payment check decides (issue #9).
    demo_auto_confirm_payments: bool = False

    @classmethod
    def from_env(cls) -> "Settings":
        backend = _env("PMS_BACKEND", "local").lower()
        if backend not in ("local", "qloapps"):
            raise ConfigError(f"PMS_BACKEND must be 'local' or 'qloapps', not {backend!r}")
        settings = cls(
            pms_backend=backend,
            pms_database_url=_env("PMS_DATABASE_URL") or cls.pms_database_url,
            assistant_database_url=_env("ASSISTANT_DATABASE_URL") or cls.assistant_database_url,
            qloapps_url=_env("QLOAPPS_URL").rstrip("/"),
            qloapps_api_key=_env("QLOAPPS_API_KEY"),
            qloapps_hotel_id=int(_env("QLOAPPS_HOTEL_ID", "1")),
            qloapps_room_types=_int_map("QLOAPPS_ROOM_TYPES"),
            qloapps_language_ids=_int_map("QLOAPPS_LANGUAGE_IDS"),
            qloapps_auto_services=_int_list("QLOAPPS_AUTO_SERVICES"),
            qloapps_fallback_phone=_env("QLOAPPS_FALLBACK_PHONE"),
            qr_secret=_env("QR_SECRET") or DEV_QR_SECRET,
            public_url=(_env("ACTION_SERVER_PUBLIC_URL") or cls.public_url).rstrip("/"),
            hotel_config_path=Path(_env("HOTEL_CONFIG") or cls.hotel_config_path),
            pms_breaker_fail_max=int(_number("PMS_BREAKER_FAIL_MAX", cls.pms_breaker_fail_max, int, 1)),
            pms_breaker_reset_seconds=float(
                _number("PMS_BREAKER_RESET_SECONDS", cls.pms_breaker_reset_seconds, float, 0.1)
            ),
            pms_breaker_redis_url=_env("PMS_BREAKER_REDIS_URL") or _env("REDIS_URL"),
            rasa_url=(_env("RASA_URL") or cls.rasa_url).rstrip("/"),
            rasa_token=_env("RASA_TOKEN"),
            demo_auto_confirm_payments=_env("DEMO_AUTO_CONFIRM_PAYMENTS", "0") == "1",
        )
        if backend == "qloapps" and not (settings.qloapps_url and settings.qloapps_api_key):
            raise ConfigError("PMS_BACKEND=qloapps needs QLOAPPS_URL and QLOAPPS_API_KEY")
        return settings


DEFAULT_PMS_KEY = "default"


@dataclass(frozen=True)
class PMSConfig:
    """The PMS a hotel books in: a hotel file's ``pms:`` block, or the process-wide
    settings (``PMS_BACKEND``, ``QLOAPPS_*``). ``key`` names its gateway and its
    circuit breaker: one of each per PMS (actions/pms/gateway.py)."""

    key: str = DEFAULT_PMS_KEY
    backend: str = "local"  # local | qloapps
    database_url: str = ""
    url: str = ""
    api_key: str = field(default="", repr=False)
    hotel_id: int = 1  # the hotel inside the PMS (QloApps id_hotel)
    room_types: Mapping[str, int] = field(default_factory=dict)
    language_ids: Mapping[str, int] = field(default_factory=dict)
    auto_services: tuple[int, ...] = ()
    fallback_phone: str = ""
    phone_required: bool = False  # QloApps' PS_ONE_PHONE_AT_LEAST (on by default there)

    @classmethod
    def from_settings(cls, config: "Settings") -> "PMSConfig":
        return cls(
            backend=config.pms_backend, database_url=config.pms_database_url, url=config.qloapps_url,
            api_key=config.qloapps_api_key, hotel_id=config.qloapps_hotel_id,
            room_types=dict(config.qloapps_room_types), language_ids=dict(config.qloapps_language_ids),
            auto_services=tuple(config.qloapps_auto_services), fallback_phone=config.qloapps_fallback_phone,
            phone_required=config.pms_backend == "qloapps",
        )

    @classmethod
    def from_mapping(cls, raw: Mapping, hotel_id: str) -> "PMSConfig":
        """A hotel file's ``pms:`` block. The webservice key is never in the file:
        ``api_key_env`` names the environment variable that holds it."""
        if not isinstance(raw, Mapping):
            raise ConfigError("pms: expected a mapping")
        unknown = set(raw) - {"backend", "database_url", "url", "api_key_env", "hotel_id", "room_types",
                              "language_ids", "auto_services", "fallback_phone", "phone_required"}
        if unknown:
            raise ConfigError(f"pms: unknown fields {sorted(unknown)}")
        backend = str(raw.get("backend", "local")).lower()
        if backend not in ("local", "qloapps"):
            raise ConfigError(f"pms.backend must be 'local' or 'qloapps', not {backend!r}")

        def ints(name: str) -> dict[str, int]:
            value = raw.get(name) or {}
            if not isinstance(value, Mapping) or not all(str(v).isdigit() for v in value.values()):
                raise ConfigError(f"pms.{name}: expected code: number pairs")
            return {str(k): int(v) for k, v in value.items()}

        services = raw.get("auto_services") or []
        if not isinstance(services, list) or not all(str(v).isdigit() for v in services):
            raise ConfigError("pms.auto_services: expected a list of QloApps service ids")
        key_env = str(raw.get("api_key_env") or "")
        api_key = _env(key_env) if key_env else ""
        url = str(raw.get("url") or "").rstrip("/")
        if backend == "qloapps" and not (url and api_key):
            raise ConfigError(f"pms: the qloapps backend needs url and api_key_env (a set variable), hotel {hotel_id!r}")
        try:
            pms_hotel_id = int(raw.get("hotel_id", 1))
        except (TypeError, ValueError):
            raise ConfigError("pms.hotel_id: expected a number") from None
        return cls(
            key=f"hotel:{hotel_id}", backend=backend,
            database_url=str(raw.get("database_url") or Settings.pms_database_url),
            url=url, api_key=api_key, hotel_id=pms_hotel_id, room_types=ints("room_types"),
            language_ids=ints("language_ids"), auto_services=tuple(int(v) for v in services),
            fallback_phone=str(raw.get("fallback_phone") or ""),
            phone_required=bool(raw.get("phone_required", backend == "qloapps")),
        )


def _parse_clock(value: str, where: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not a HH:MM time") from exc


@dataclass(frozen=True)
class Policies:
    checkin_time: dt.time
    checkout_time: dt.time
    late_checkout_until: dt.time
    late_checkout_fee_percent: int
    max_nights: int
    max_guests_per_booking: int
    booking_horizon_days: int


@dataclass(frozen=True)
class HotelConfig:
    id: str
    name: str
    address: str
    latitude: float
    longitude: float
    phone: str
    emergency_phone: str
    email: str
    timezone: ZoneInfo
    default_language: str
    currency: str
    # weekday index (0=Monday) -> list of (open, close) intervals
    business_hours: Mapping[int, tuple[tuple[dt.time, dt.time], ...]]
    holidays: frozenset[dt.date]
    urgent_keywords: Mapping[str, tuple[str, ...]]
    policies: Policies
    review_links: Mapping[str, str]
    pms: PMSConfig | None = None  # None: the process-wide PMS (Settings)

    @property
    def maps_url(self) -> str:
        return f"https://www.google.com/maps/search/?api=1&query={self.latitude},{self.longitude}"

    @classmethod
    def from_mapping(cls, raw: Mapping) -> "HotelConfig":
        try:
            hours: dict[int, tuple[tuple[dt.time, dt.time], ...]] = {}
            for name, intervals in (raw.get("business_hours") or {}).items():
                if name not in WEEKDAYS:
                    raise ConfigError(f"business_hours: unknown weekday {name!r}")
                parsed = []
                for start, end in intervals:
                    opens = _parse_clock(start, f"business_hours.{name}")
                    closes = _parse_clock(end, f"business_hours.{name}")
                    if closes <= opens:
                        raise ConfigError(f"business_hours.{name}: {start}-{end} closes before it opens")
                    parsed.append((opens, closes))
                hours[WEEKDAYS.index(name)] = tuple(sorted(parsed))
            pol = raw["policies"]
            policies = Policies(
                checkin_time=_parse_clock(pol["checkin_time"], "policies.checkin_time"),
                checkout_time=_parse_clock(pol["checkout_time"], "policies.checkout_time"),
                late_checkout_until=_parse_clock(pol["late_checkout_until"], "policies.late_checkout_until"),
                late_checkout_fee_percent=int(pol.get("late_checkout_fee_percent", 50)),
                max_nights=int(pol.get("max_nights", 30)),
                max_guests_per_booking=int(pol.get("max_guests_per_booking", 8)),
                booking_horizon_days=int(pol.get("booking_horizon_days", 365)),
            )
            return cls(
                id=str(raw["id"]),
                name=str(raw["name"]),
                address=str(raw["address"]),
                latitude=float(raw["latitude"]),
                longitude=float(raw["longitude"]),
                phone=str(raw.get("phone", "")),
                emergency_phone=str(raw.get("emergency_phone", raw.get("phone", ""))),
                email=str(raw.get("email", "")),
                timezone=ZoneInfo(str(raw["timezone"])),
                default_language=str(raw.get("default_language", "es")),
                currency=str(raw.get("currency", "EUR")),
                business_hours=hours,
                holidays=frozenset(dt.date.fromisoformat(str(d)) for d in raw.get("holidays") or ()),
                urgent_keywords={
                    lang: tuple(w.lower() for w in words)
                    for lang, words in (raw.get("urgent_keywords") or {}).items()
                },
                policies=policies,
                review_links=dict(raw.get("review_links") or {}),
                pms=PMSConfig.from_mapping(raw["pms"], str(raw["id"])) if raw.get("pms") is not None else None,
            )
        except KeyError as exc:
            raise ConfigError(f"hotel config is missing {exc.args[0]!r}") from exc

    @classmethod
    def load(cls, path: Path) -> "HotelConfig":
        with open(path, encoding="utf-8") as fh:
            return cls.from_mapping(yaml.safe_load(fh))


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    return Settings.from_env()


@functools.lru_cache(maxsize=1)
def hotels() -> dict[str, HotelConfig]:
    """Every configured hotel by id. HOTEL_CONFIG names one hotel file or a
    directory of them (one per hotel, e.g. for one WhatsApp number each)."""
    path = settings().hotel_config_path
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    loaded: dict[str, HotelConfig] = {}
    for file in files:
        config = HotelConfig.load(file)
        if config.id in loaded:
            raise ConfigError(f"{file}: hotel id {config.id!r} is used twice")
        loaded[config.id] = config
    if not loaded:
        raise ConfigError(f"no hotel configuration in {path}")
    return loaded


def pms_config(config: HotelConfig) -> PMSConfig:
    """The PMS ``config``'s bookings go to."""
    return config.pms if config.pms is not None else PMSConfig.from_settings(settings())


def hotel(hotel_id: str | None = None) -> HotelConfig:
    """The hotel with that id; the first configured one when id is None or unknown."""
    configured = hotels()
    if hotel_id is not None and hotel_id in configured:
        return configured[hotel_id]
    return next(iter(configured.values()))
