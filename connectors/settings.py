"""How a channel reads its settings: the channel's section of credentials.yml
first, then ``<PREFIX>_<NAME>`` environment variables. Shared by the WhatsApp
and Gmail channels so both validate the same way."""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from core.settings import ConfigError


class SettingsSource:
    def __init__(self, prefix: str, credentials: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self.prefix, self.credentials, self.environ = prefix, credentials, environ

    def variable(self, name: str) -> str:
        return f"{self.prefix}_{name.upper()}"

    def get(self, name: str, default: str = "") -> str:
        value = self.credentials.get(name)
        if value is None or str(value).strip() == "":
            value = self.environ.get(self.variable(name), "")
        value = str(value).strip()
        return value if value else default

    def number(self, name: str, default: Any, kind=int) -> Any:
        raw = self.get(name)
        if raw == "":
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise ConfigError(f"{self.variable(name)} must be a number, got {raw!r}") from None
        if value < 0:
            raise ConfigError(f"{self.variable(name)} must not be negative")
        return value

    def url(self, name: str, default: str) -> str:
        value = self.get(name, default).rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ConfigError(f"{self.variable(name)} must be an http(s) URL")
        return value

    def all_or_none(self, names: Iterable[str], channel: str) -> dict[str, str]:
        """The required settings: all set (channel on) or none (channel off)."""
        values = {name: self.get(name) for name in names}
        missing = [self.variable(name) for name, value in values.items() if not value]
        if missing and len(missing) != len(values):
            raise ConfigError(f"{channel} channel is partly configured; missing {', '.join(missing)}")
        return values
