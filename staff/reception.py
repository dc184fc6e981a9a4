"""Each hotel's reception settings: who is told about new handoffs, and the
WhatsApp templates staff messages use. The ``reception`` section of the
hotel's file (the files HOTEL_CONFIG names, as actions/config.py reads them):

    reception:
      notify_emails: [recepcion@hotel.example]      # SMTP (STAFF_SMTP_URL) on every new handoff / urgent incident
      notify_webhook: https://chat.example/hooks/x  # generic JSON POST (chat tools)
      duty_phone: "34600000112"                     # urgent incidents also by WhatsApp template
      duty_template: {name: urgent_incident, language: es}   # body parameter: the summary
      reply_template: {name: reception_reply, language: es}  # staff replies outside the 24-hour window

Every key is optional; a hotel without the section notifies nobody outside
the console. Malformed values raise ``ConfigError`` at start.
"""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

import yaml

from connectors.outreach import TemplateRef
from core.settings import ConfigError

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE = re.compile(r"^\+?[0-9]{6,15}$")


@dataclass(frozen=True)
class Reception:
    hotel_id: str
    hotel_name: str
    notify_emails: Tuple[str, ...] = ()
    notify_webhook: str = ""
    duty_phone: str = ""
    duty_template: Optional[TemplateRef] = None
    reply_template: Optional[TemplateRef] = None


def _template(raw: Any, where: str) -> Optional[TemplateRef]:
    if raw in (None, ""):
        return None
    if not isinstance(raw, Mapping) or not str(raw.get("name") or "").strip():
        raise ConfigError(f"{where}: expected {{name: ..., language: ...}}")
    return TemplateRef(str(raw["name"]).strip(), str(raw.get("language") or "es").strip())


def reception_from_mapping(raw: Mapping[str, Any], where: str = "hotel file") -> Reception:
    section = raw.get("reception") or {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{where}: reception must be a mapping")
    unknown = set(section) - {"notify_emails", "notify_webhook", "duty_phone", "duty_template", "reply_template"}
    if unknown:
        raise ConfigError(f"{where}: unknown reception settings {', '.join(sorted(unknown))}")
    emails = section.get("notify_emails") or []
    if isinstance(emails, str):
        emails = [emails]
    for address in emails:
        if not EMAIL.match(str(address)):
            raise ConfigError(f"{where}: reception.notify_emails: {address!r} is not an e-mail address")
    webhook = str(section.get("notify_webhook") or "").strip()
    if webhook and not webhook.startswith(("http://", "https://")):
        raise ConfigError(f"{where}: reception.notify_webhook must be an http(s) URL")
    phone = str(section.get("duty_phone") or "").replace(" ", "")
    if phone and not PHONE.match(phone):
        raise ConfigError(f"{where}: reception.duty_phone {phone!r} is not a phone number")
    duty_template = _template(section.get("duty_template"), f"{where}: reception.duty_template")
    if phone and duty_template is None:
        raise ConfigError(f"{where}: reception.duty_phone needs reception.duty_template (WhatsApp only delivers "
                          "templates to a number that has not written first)")
    return Reception(
        hotel_id=str(raw.get("id") or ""),
        hotel_name=str(raw.get("name") or ""),
        notify_emails=tuple(str(e) for e in emails),
        notify_webhook=webhook,
        duty_phone=phone.lstrip("+"),
        duty_template=duty_template,
        reply_template=_template(section.get("reply_template"), f"{where}: reception.reply_template"),
    )


@functools.lru_cache(maxsize=4)
def _load(path: str) -> Dict[str, Reception]:
    base = Path(path)
    files = sorted(base.glob("*.yml")) if base.is_dir() else [base]
    found: Dict[str, Reception] = {}
    for file in files:
        try:
            raw = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"{file}: {exc}") from None
        reception = reception_from_mapping(raw, str(file))
        found[reception.hotel_id] = reception
    return found


def receptions() -> Dict[str, Reception]:
    """Every configured hotel's reception settings, by hotel id."""
    from actions.config import settings

    return _load(str(settings().hotel_config_path))


def reception_of(hotel_id: str) -> Reception:
    found = receptions()
    if hotel_id in found:
        return found[hotel_id]
    return next(iter(found.values())) if found else Reception(hotel_id, hotel_id)


def default_hotel_id() -> str:
    """Conversations whose messages name no hotel belong to the first configured one."""
    from actions.config import hotel

    return hotel().id
