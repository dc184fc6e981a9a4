"""Typed configuration of the Gmail channel, read in one place.

Each setting comes from the channel's section in credentials.yml when given
there, otherwise from the ``GMAIL_*`` environment variable of the same name
(``client_secret`` <- ``GMAIL_CLIENT_SECRET``). Secrets are excluded from
``repr`` so logging the configuration never prints them.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from connectors.settings import ConfigError, SettingsSource

DEFAULT_API_URL = "https://gmail.googleapis.com"
DEFAULT_TOKEN_URL = "https://oauth2.googleapis.com/token"
REQUIRED = ("client_id", "client_secret", "refresh_token")


@dataclass(frozen=True)
class GmailConfig:
    client_id: str = ""
    client_secret: str = field(default="", repr=False)
    refresh_token: str = field(default="", repr=False)
    service_account_file: str = ""  # instead of the three above: a service-account key with domain-wide delegation
    user_id: str = "me"  # the mailbox (service accounts with delegation: the address)
    address: str = ""  # the bot's own address; its mail is never answered (empty: asked from the API)
    api_url: str = DEFAULT_API_URL
    token_url: str = DEFAULT_TOKEN_URL
    query: str = "in:inbox is:unread"  # which messages are new (the handled label is excluded too)
    handled_label: str = "HotelBot/Handled"
    poll_seconds: float = 30.0  # 0: no polling, only the push endpoint
    push_token: str = field(default="", repr=False)  # ?token= the Pub/Sub push subscription must carry
    push_topic: str = ""  # projects/<p>/topics/<t>: users.watch publishes there; polls then read history
    watch_renew_seconds: float = 24 * 3600.0  # users.watch again this often (Gmail stops after 7 days)
    redis_url: str = ""
    redis_prefix: str = "gmail"
    dedup_ttl_seconds: int = 30 * 24 * 3600
    max_raw_bytes: int = 10 * 1024 * 1024  # beyond: read the structure (format=full), never the attachments
    max_body_chars: int = 20_000  # beyond: a polite "too long" reply, Rasa is not asked
    max_attachment_bytes: int = 5 * 1024 * 1024  # images attached to replies
    max_messages_per_poll: int = 50
    send_retries: int = 4
    retry_base_seconds: float = 0.5
    http_timeout_seconds: float = 20.0
    hotel_config: str = ""  # hotel file for the action server (metadata), default HOTEL_CONFIG / hotel.yml

    @property
    def enabled(self) -> bool:
        return bool(self.service_account_file) or all(getattr(self, name) for name in REQUIRED)

    @classmethod
    def from_sources(
        cls, credentials: Optional[Mapping[str, Any]] = None, environ: Optional[Mapping[str, str]] = None
    ) -> "GmailConfig":
        credentials = dict(credentials or {})
        environ = os.environ if environ is None else environ
        unknown = set(credentials) - set(cls.__dataclass_fields__)
        if unknown:
            raise ConfigError(f"unknown Gmail settings in credentials.yml: {', '.join(sorted(unknown))}")

        source = SettingsSource("GMAIL", credentials, environ)
        get = source.get

        def number(name: str, kind=int) -> Any:
            return source.number(name, getattr(cls, name), kind)

        values = source.all_or_none(REQUIRED, "Gmail")
        service_account_file = get("service_account_file")
        if service_account_file and any(values.values()):
            raise ConfigError("set either GMAIL_SERVICE_ACCOUNT_FILE or GMAIL_CLIENT_ID/GMAIL_CLIENT_SECRET/"
                              "GMAIL_REFRESH_TOKEN, not both")
        if service_account_file and "@" not in get("user_id"):
            raise ConfigError("GMAIL_SERVICE_ACCOUNT_FILE needs GMAIL_USER_ID set to the mailbox address it acts for")
        urls = {name: source.url(name, default) for name, default in (("api_url", DEFAULT_API_URL), ("token_url", DEFAULT_TOKEN_URL))}
        return cls(
            **values,
            **urls,
            service_account_file=service_account_file,
            user_id=get("user_id", "me"),
            address=get("address").lower(),
            query=get("query", cls.query),
            handled_label=get("handled_label", cls.handled_label),
            poll_seconds=number("poll_seconds", float),
            push_token=get("push_token"),
            push_topic=_topic(get("push_topic")),
            watch_renew_seconds=max(60.0, number("watch_renew_seconds", float)),
            redis_url=get("redis_url"),
            redis_prefix=get("redis_prefix", "gmail"),
            dedup_ttl_seconds=number("dedup_ttl_seconds"),
            max_raw_bytes=number("max_raw_bytes"),
            max_body_chars=number("max_body_chars"),
            max_attachment_bytes=number("max_attachment_bytes"),
            max_messages_per_poll=max(1, number("max_messages_per_poll")),
            send_retries=number("send_retries"),
            retry_base_seconds=number("retry_base_seconds", float),
            http_timeout_seconds=number("http_timeout_seconds", float),
            hotel_config=get("hotel_config") or environ.get("HOTEL_CONFIG", "").strip() or "hotel.yml",
        )


def _topic(value: str) -> str:
    parts = value.split("/")
    if value and (len(parts) != 4 or parts[0] != "projects" or parts[2] != "topics" or not parts[1] or not parts[3]):
        raise ConfigError(f"GMAIL_PUSH_TOPIC must look like projects/<project>/topics/<topic>, got {value!r}")
    return value
