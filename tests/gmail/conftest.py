"""Fixtures of the Gmail channel tests: the fake Gmail API and mails to send it."""
from __future__ import annotations

import uuid
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any, Dict, List, Optional

import pytest

from connectors.gmail.config import GmailConfig
from dlq import DLQSettings, build_queue
from tests.fakes.gmail_server import GmailServer
from tests.stack_common import redis_prefix, redis_url  # noqa: F401  (fixtures)

CLIENT_ID = "unit-client.apps.googleusercontent.com"
CLIENT_SECRET = "unit-client-secret-do-not-log"
REFRESH_TOKEN = "unit-refresh-token-do-not-log"
HOTEL_ADDRESS = "reservas@hotel-mirador.example"


def mail(text: str = "", sender: str = "lucia@example.com", subject: str = "Consulta", html: Optional[str] = None,
         references: Optional[List[str]] = None, attachments: Optional[List[tuple]] = None,
         headers: Optional[Dict[str, str]] = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = f"Lucía García <{sender}>"
    message["To"] = HOTEL_ADDRESS
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="mail.example.com")
    if references:
        message["In-Reply-To"] = references[-1]
        message["References"] = " ".join(references)
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for data, maintype, subtype, filename in attachments or []:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def guest_address() -> str:
    return f"guest-{uuid.uuid4().hex[:10]}@example.com"


@pytest.fixture
def gmail():
    server = GmailServer(CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, address=HOTEL_ADDRESS).start()
    yield server
    server.stop()


def make_config(server: GmailServer, **overrides: Any) -> GmailConfig:
    env = {
        "GMAIL_CLIENT_ID": CLIENT_ID,
        "GMAIL_CLIENT_SECRET": CLIENT_SECRET,
        "GMAIL_REFRESH_TOKEN": REFRESH_TOKEN,
        "GMAIL_API_URL": server.url,
        "GMAIL_TOKEN_URL": f"{server.url}/token",
        "GMAIL_RETRY_BASE_SECONDS": "0.01",
        "GMAIL_POLL_SECONDS": "0.2",
    }
    env.update({f"GMAIL_{k.upper()}": str(v) for k, v in overrides.items()})
    return GmailConfig.from_sources({}, env)


@pytest.fixture
def dlq_settings(tmp_path, redis_url, redis_prefix) -> DLQSettings:
    """The dead-letter queue in real Redis under this test's prefix; fast backoff."""
    return DLQSettings(redis_url=redis_url, database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}", max_retries=3,
                       retry_backoff_base=0.3, worker_interval=0.05, lease_seconds=5, prefix=f"{redis_prefix}:dlq")


@pytest.fixture
async def dlq_queue(dlq_settings):
    queue = build_queue(dlq_settings)
    yield queue
    await queue.close()
