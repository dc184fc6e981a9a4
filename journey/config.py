"""Journey settings of one hotel: the ``journey:`` section of its hotel file.

Read next to ``actions.config`` (same files, same hotel ids) so the hotel file
stays the one place for a hotel's facts. Everything is validated here:
a wrong time, an unknown step or a template without a name raises
``JourneyConfigError`` naming the field, at start, never at send time.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Tuple

import yaml

from actions import config as hotel_config

# The steps, in the order of a stay; each is anchored to one date of the booking.
BOOKING_CONFIRMATION = "booking_confirmation"
PRE_ARRIVAL = "pre_arrival"
ARRIVAL_DAY = "arrival_day"
CHECKOUT_MORNING = "checkout_morning"
REVIEW_REQUEST = "review_request"
STEPS = (BOOKING_CONFIRMATION, PRE_ARRIVAL, ARRIVAL_DAY, CHECKOUT_MORNING, REVIEW_REQUEST)
ANCHORS = {PRE_ARRIVAL: "checkin", ARRIVAL_DAY: "checkin", CHECKOUT_MORNING: "checkout", REVIEW_REQUEST: "checkout"}
DEFAULT_DAYS = {PRE_ARRIVAL: -2, ARRIVAL_DAY: 0, CHECKOUT_MORNING: 0, REVIEW_REQUEST: 1}
DEFAULT_AT = {PRE_ARRIVAL: "10:00", ARRIVAL_DAY: "10:00", CHECKOUT_MORNING: "09:00", REVIEW_REQUEST: "11:00"}
# Template parameters a step can fill (WhatsApp templates take positional {{1}}, {{2}}...).
PARAMETERS = frozenset({
    "guest_name", "hotel_name", "reference", "checkin", "checkout", "checkin_time", "checkout_time",
    "late_checkout_until", "late_checkout_fee", "wifi_name", "wifi_password", "review_url", "address",
})


class JourneyConfigError(hotel_config.ConfigError):
    """The journey section of a hotel file is invalid; the message says which field."""


@dataclass(frozen=True)
class TemplateRef:
    """An approved WhatsApp template: name, language code and the step facts
    that fill its body parameters, in order."""

    name: str
    language: str
    parameters: Tuple[str, ...] = ()


@dataclass(frozen=True)
class StepConfig:
    name: str
    enabled: bool
    days: int = 0  # relative to the anchor date (checkin/checkout); unused for the confirmation
    at: dt.time = dt.time(10, 0)  # local time of the hotel
    templates: Mapping[str, TemplateRef] = field(default_factory=dict)  # language -> template

    def template(self, language: str) -> Optional[TemplateRef]:
        return self.templates.get(language)


@dataclass(frozen=True)
class JourneyConfig:
    hotel_id: str
    enabled: bool
    quiet_start: dt.time  # no message from this local time...
    quiet_end: dt.time  # ...until this one (may wrap midnight)
    steps: Mapping[str, StepConfig]
    whatsapp_phone_number_id: str = ""  # the hotel's number: conversation ids of guests who never wrote
    wifi_name: str = ""
    wifi_password: str = field(default="", repr=False)

    def step(self, name: str) -> StepConfig:
        return self.steps[name]

    def is_quiet(self, local: dt.time) -> bool:
        if self.quiet_start <= self.quiet_end:
            return self.quiet_start <= local < self.quiet_end
        return local >= self.quiet_start or local < self.quiet_end

    @classmethod
    def from_mapping(cls, hotel_id: str, raw: Optional[Mapping]) -> "JourneyConfig":
        raw = raw or {}
        if not isinstance(raw, Mapping):
            raise JourneyConfigError("journey: expected a mapping")
        quiet = raw.get("quiet_hours") or {"start": "21:00", "end": "09:00"}
        steps_raw = raw.get("steps") or {}
        unknown = set(steps_raw) - set(STEPS)
        if unknown:
            raise JourneyConfigError(f"journey.steps: unknown step(s) {sorted(unknown)}; known: {list(STEPS)}")
        steps = {name: _step(name, steps_raw.get(name) or {}) for name in STEPS}
        config = cls(
            hotel_id=hotel_id,
            enabled=bool(raw.get("enabled", False)),
            quiet_start=_clock(quiet.get("start"), "journey.quiet_hours.start"),
            quiet_end=_clock(quiet.get("end"), "journey.quiet_hours.end"),
            steps=steps,
            whatsapp_phone_number_id=str(raw.get("whatsapp_phone_number_id") or ""),
            wifi_name=str((raw.get("wifi") or {}).get("name") or ""),
            wifi_password=str((raw.get("wifi") or {}).get("password") or ""),
        )
        for step in steps.values():
            if step.name != BOOKING_CONFIRMATION and config.is_quiet(step.at):
                raise JourneyConfigError(f"journey.steps.{step.name}.at: {step.at:%H:%M} is inside the quiet hours")
        return config


def _clock(value, where: str) -> dt.time:
    try:
        return dt.time.fromisoformat(str(value))
    except ValueError:
        raise JourneyConfigError(f"{where}: {value!r} is not a HH:MM time") from None


def _step(name: str, raw: Mapping) -> StepConfig:
    where = f"journey.steps.{name}"
    if not isinstance(raw, Mapping):
        raise JourneyConfigError(f"{where}: expected a mapping")
    templates = {}
    for language, template in (raw.get("templates") or {}).items():
        if not isinstance(template, Mapping) or not str(template.get("name") or "").strip():
            raise JourneyConfigError(f"{where}.templates.{language}: needs a name")
        parameters = tuple(str(p) for p in template.get("parameters") or ())
        bad = [p for p in parameters if p not in PARAMETERS]
        if bad:
            raise JourneyConfigError(f"{where}.templates.{language}.parameters: unknown {bad}; known: {sorted(PARAMETERS)}")
        templates[str(language)] = TemplateRef(str(template["name"]).strip(), str(template.get("language") or language), parameters)
    days = raw.get("days", DEFAULT_DAYS.get(name, 0))
    if not isinstance(days, int) or isinstance(days, bool) or not -30 <= days <= 30:
        raise JourneyConfigError(f"{where}.days: expected a whole number of days between -30 and 30, got {days!r}")
    return StepConfig(
        name=name,
        enabled=bool(raw.get("enabled", True)),
        days=days,
        at=_clock(raw.get("at", DEFAULT_AT.get(name, "10:00")), f"{where}.at"),
        templates=templates,
    )


def load_file(path: Path) -> JourneyConfig:
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh) or {}
    return JourneyConfig.from_mapping(str(raw["id"]), raw.get("journey"))


@functools.lru_cache(maxsize=1)
def journeys() -> dict[str, JourneyConfig]:
    """Journey settings of every hotel the action server serves (HOTEL_CONFIG)."""
    path = hotel_config.settings().hotel_config_path
    files = sorted(path.glob("*.yml")) if path.is_dir() else [path]
    return {config.hotel_id: config for config in map(load_file, files)}
