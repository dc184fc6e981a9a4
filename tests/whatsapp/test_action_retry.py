"""connectors/action_retry.py (installed by the WhatsApp and Gmail channels):
Rasa's own ``RemoteAction`` against the real action server subprocess, which
is killed and started again while the action call is in flight."""
from __future__ import annotations

import asyncio
import logging
import socket
import threading

import pytest
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig

from actions.webhook_auth import action_server_token, authorization_header
from connectors import action_retry
from connectors.action_retry import DEFAULT_POLICY, ActionRetrySeamMissing, RetryingActionEndpoint
from dlq.retry import RetryPolicy
from tests.stack_common import ROOT, ActionServer, free_port


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def tracker(domain: Domain) -> DialogueStateTracker:
    events = [UserUttered("¿dónde estáis?", {"name": "hotel_location", "confidence": 1.0})]
    return DialogueStateTracker.from_events("guest-retry", events, slots=domain.slots)


async def share_location(endpoint: EndpointConfig, domain: Domain):
    action = RemoteAction("action_share_location", endpoint)
    output = CollectingOutputChannel()
    return await action.run(output, TemplatedNaturalLanguageGenerator(domain.responses), tracker(domain), domain)


@pytest.fixture
def action_server(tmp_path):
    server = ActionServer(tmp_path).start()
    yield server
    server.stop()


def test_the_seam_exists_in_the_pinned_rasa_and_install_wraps_every_remote_action():
    action_retry.install()
    action_retry.install()  # twice is harmless
    action = RemoteAction("action_x", EndpointConfig(url="http://127.0.0.1:1/webhook", token="t"))
    assert isinstance(action.action_endpoint, RetryingActionEndpoint)
    assert action.action_endpoint.url == "http://127.0.0.1:1/webhook" and action.action_endpoint.token == "t"
    assert RemoteAction("action_y", None).action_endpoint is None
    assert action_retry.installed_policy() == DEFAULT_POLICY
    assert DEFAULT_POLICY.attempts == 5 and 9 <= DEFAULT_POLICY.window_seconds <= 10


def test_a_moved_seam_fails_loudly(monkeypatch):
    async def run(self, output_channel, nlg, tracker, domain):  # a future Rasa calling the server differently
        return await self.action_endpoint.post_json({})

    monkeypatch.setattr(RemoteAction, "run", run)
    with pytest.raises(ActionRetrySeamMissing, match="no longer calls self.action_endpoint.request"):
        action_retry.check_seam()
    monkeypatch.setattr("rasa.__version__", "3.7.0")
    with pytest.raises(ActionRetrySeamMissing, match="written for rasa 3.6.21, found 3.7.0"):
        action_retry.check_seam()


async def test_an_action_call_survives_an_action_server_restart_in_flight(action_server, domain, caplog):
    action_retry.install()
    caplog.set_level(logging.WARNING)
    # the action server only serves Rasa: the shared secret it reads too (actions/webhook_auth.py)
    endpoint = EndpointConfig(url=f"{action_server.url}/webhook",
                              headers={"Authorization": authorization_header(action_server_token())})
    before = await share_location(endpoint, domain)
    assert "Calle del Puerto 12" in before[0].text
    action_server.kill()  # kill -9: the port refuses connections until the new process listens
    call = asyncio.ensure_future(share_location(endpoint, domain))
    await asyncio.sleep(0.8)
    assert not call.done()  # refused, retrying
    await asyncio.get_running_loop().run_in_executor(None, action_server.spawn)
    events = await asyncio.wait_for(call, 30)
    assert [type(e) for e in events] == [BotUttered] and events[0] == before[0]
    assert "not reachable (ClientConnectorError); nothing was sent, try 2/5" in caplog.text
    await asyncio.get_running_loop().run_in_executor(None, action_server.wait_ready)


async def test_a_server_that_never_comes_back_fails_after_every_try(domain):
    endpoint = RetryingActionEndpoint(EndpointConfig(url=f"http://127.0.0.1:{free_port()}/webhook"),
                                      RetryPolicy(retries=2, first_delay=0.05))
    started = asyncio.get_running_loop().time()
    with pytest.raises(RasaException, match="Couldn't connect"):
        await share_location(endpoint, domain)
    assert 0.14 <= asyncio.get_running_loop().time() - started < 2


class DroppingServer:
    """Accepts each connection, reads the request, closes without answering:
    the action may have run, so the call must not be repeated."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.connections = 0
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/webhook"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.recv(65536)
            conn.close()


async def test_a_connection_dropped_after_the_request_was_sent_is_not_retried(domain):
    server = DroppingServer()
    endpoint = RetryingActionEndpoint(EndpointConfig(url=server.url), RetryPolicy(retries=4, first_delay=0.05))
    try:
        with pytest.raises(RasaException):
            await share_location(endpoint, domain)
        assert server.connections == 1
    finally:
        server.sock.close()
