"""Service-account credentials (JWT-bearer grant, domain-wide delegation)
against the fake token endpoint, which verifies the RS256 signature with the
account's public key and the claims Google requires."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.gmail import GmailInput
from connectors.gmail.config import GmailConfig
from connectors.gmail.store import MemoryStore
from connectors.settings import ConfigError
from tests.gmail.conftest import guest_address, mail

MAILBOX = "reservas@hotel-mirador.example"
ACCOUNT = "hotel-bot@hotel-demo.iam.gserviceaccount.com"


def key_pair():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem.decode(), private.public_key()


@pytest.fixture
def key_file(tmp_path, gmail):
    pem, public = key_pair()
    gmail.trust_service_account(ACCOUNT, public)
    path = tmp_path / "service-account.json"
    path.write_text(json.dumps({
        "type": "service_account", "project_id": "hotel-demo", "private_key_id": "k1", "private_key": pem,
        "client_email": ACCOUNT, "client_id": "1234567890", "token_uri": "https://oauth2.googleapis.com/token",
    }))
    return path


def config(gmail, **env) -> GmailConfig:
    base = {"GMAIL_API_URL": gmail.url, "GMAIL_TOKEN_URL": f"{gmail.url}/token", "GMAIL_RETRY_BASE_SECONDS": "0.01"}
    return GmailConfig.from_sources({}, dict(base, **env))


async def echo(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


async def test_a_service_account_acting_for_the_mailbox_answers_mail(gmail, key_file, caplog):
    channel = GmailInput(config(gmail, GMAIL_SERVICE_ACCOUNT_FILE=str(key_file), GMAIL_USER_ID=MAILBOX), store=MemoryStore(60))
    assert channel.config.enabled
    guest = guest_address()
    gmail.deliver(mail("hola", sender=guest).as_bytes())
    try:
        await channel.poller.poll_once(echo)
    finally:
        await channel.client.close()
    assert gmail.sent_to(guest)[0]["message"].get_content().strip() == "echo: hola"
    (claims,) = gmail.assertions
    assert claims["iss"] == ACCOUNT and claims["sub"] == MAILBOX and claims["aud"] == f"{gmail.url}/token"
    assert claims["scope"] == "https://www.googleapis.com/auth/gmail.modify" and claims["exp"] - claims["iat"] == 3600
    assert gmail.token_requests[0]["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert "PRIVATE KEY" not in caplog.text and "PRIVATE KEY" not in repr(channel.client.tokens)
    assert all(token not in caplog.text for token in gmail.access_tokens)


async def test_a_key_the_token_endpoint_does_not_trust_is_refused(gmail, key_file, tmp_path):
    other_pem, _ = key_pair()
    forged = json.loads(key_file.read_text())
    forged["private_key"] = other_pem
    forged_file = tmp_path / "forged.json"
    forged_file.write_text(json.dumps(forged))
    channel = GmailInput(config(gmail, GMAIL_SERVICE_ACCOUNT_FILE=str(forged_file), GMAIL_USER_ID=MAILBOX), store=MemoryStore(60))
    gmail.deliver(mail("hola", sender=guest_address()).as_bytes())
    try:
        await channel.poller.poll_once(echo)
    finally:
        await channel.client.close()
    assert gmail.sent == [] and gmail.assertions == []


def test_service_account_settings_are_checked(gmail, key_file, tmp_path):
    with pytest.raises(ConfigError, match="GMAIL_USER_ID set to the mailbox address"):
        config(gmail, GMAIL_SERVICE_ACCOUNT_FILE=str(key_file))
    with pytest.raises(ConfigError, match="not both"):
        config(gmail, GMAIL_SERVICE_ACCOUNT_FILE=str(key_file), GMAIL_USER_ID=MAILBOX, GMAIL_CLIENT_ID="x",
               GMAIL_CLIENT_SECRET="y", GMAIL_REFRESH_TOKEN="z")
    (tmp_path / "user.json").write_text(json.dumps({"type": "authorized_user", "client_id": "x"}))
    for path, problem in ((tmp_path / "missing.json", "cannot be read"), (tmp_path / "user.json", "not a service-account key")):
        with pytest.raises(ConfigError, match=problem):
            GmailInput(config(gmail, GMAIL_SERVICE_ACCOUNT_FILE=str(path), GMAIL_USER_ID=MAILBOX))
