"""A running action server (subprocess, own temp databases) and the trained
model loaded in-process: whole conversations, as a guest would have them."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.stack_common import free_port, wait_http

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "hotel.tar.gz"


@pytest.fixture(scope="session")
def action_server(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("action-server")
    port = free_port()
    env = dict(
        os.environ,
        PMS_DATABASE_URL=f"sqlite:///{workdir / 'pms.sqlite3'}",
        ASSISTANT_DATABASE_URL=f"sqlite:///{workdir / 'assistant.sqlite3'}",
        ACTION_SERVER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        QR_SECRET="integration-test-secret",
        DEMO_AUTO_CONFIRM_PAYMENTS="1",  # make run's demo: "I paid" confirms (the default is a staff check, tests/security)
    )
    log = open(workdir / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "actions.server", "--port", str(port), "--host", "127.0.0.1"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, workdir / "server.log", 60)
    yield {"url": url, "workdir": workdir, "env": env}
    proc.terminate()
    proc.wait(10)
    log.close()


@pytest.fixture(scope="session")
def agent(action_server):
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it first)")
    import asyncio

    from rasa.core.agent import load_agent

    from connectors import safeguards

    safeguards.install()  # what `rasa run` gets from the tracker store class: action-server secret, input guards
    from rasa.core.utils import AvailableEndpoints
    from rasa.utils.endpoints import EndpointConfig

    endpoints = AvailableEndpoints(action=EndpointConfig(url=f"{action_server['url']}/webhook"))
    loop = asyncio.new_event_loop()
    agent = loop.run_until_complete(load_agent(model_path=str(MODEL), endpoints=endpoints))
    agent.test_loop = loop
    yield agent
    loop.close()


class Guest:
    """One guest chatting with the bot; ``say`` returns the bot's messages."""

    def __init__(self, agent, sender_id: str) -> None:
        self.agent, self.sender_id = agent, sender_id

    def say(self, text: str) -> list[dict]:
        return self.agent.test_loop.run_until_complete(self.agent.handle_text(text, sender_id=self.sender_id))

    def tracker(self):
        return self.agent.test_loop.run_until_complete(self.agent.tracker_store.retrieve(self.sender_id))


@pytest.fixture
def guest(agent, request):
    return Guest(agent, f"guest-{request.node.name}")
