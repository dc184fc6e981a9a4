"""The whole saved-request path with the trained model: ``rasa run
--enable-api`` (the project's endpoints and credentials) and the action server,
both real processes. A Spanish guest books over the REST channel while the PMS
database is away; the bot says it saved the request; the PMS comes back; the
action server's worker books and calls Rasa's real trigger_intent endpoint;
Rasa runs action_report_saved_request and the guest's conversation gets the
reference, in Spanish."""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from actions.config import PROJECT_ROOT
from actions.pms.local import LocalPMS
from actions.references import canonical_reference
from tests.actions.test_saved_requests_restart import ActionServer
from tests.stack_common import free_port

pytestmark = pytest.mark.model
MODEL = PROJECT_ROOT / "models" / "hotel.tar.gz"
TOKEN = "e2e-rasa-token"
SENDER = "guest-saved-e2e"


class RasaServer:
    def __init__(self, env: dict, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(log, "w")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "rasa"), "run", "--enable-api", "--auth-token", TOKEN,
             "--model", str(MODEL), "--credentials", "credentials.yml", "--endpoints", "endpoints.yml",
             "--port", str(self.port), "--interface", "127.0.0.1"],
            cwd=PROJECT_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(Path(log).read_text()[-3000:])
            try:
                if requests.get(f"{self.url}/status", params={"token": TOKEN}, timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(1)
        raise RuntimeError("rasa run did not load the model in 300 s")

    def say(self, text: str) -> str:
        reply = requests.post(f"{self.url}/webhooks/rest/webhook", json={"sender": SENDER, "message": text}, timeout=60)
        reply.raise_for_status()
        return "\n".join(m.get("text") or "" for m in reply.json())

    def bot_texts(self) -> list[str]:
        tracker = requests.get(f"{self.url}/conversations/{SENDER}/tracker", params={"token": TOKEN}, timeout=10).json()
        return [event.get("text") or "" for event in tracker["events"] if event["event"] == "bot"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@pytest.fixture
def stack(tmp_path):
    if not MODEL.exists():
        pytest.fail(f"{MODEL} is missing: run `make train` (make test does it first)")
    pms_path = tmp_path / "pms.sqlite3"
    LocalPMS(f"sqlite:///{pms_path}")
    action_port = free_port()
    env = dict(
        os.environ,
        PMS_DATABASE_URL=f"sqlite:///{pms_path}",
        ASSISTANT_DATABASE_URL=f"sqlite:///{tmp_path / 'assistant.sqlite3'}",
        TRACKER_STORE_URL=f"sqlite:///{tmp_path / 'tracker.sqlite3'}",
        ACTION_ENDPOINT_URL=f"http://127.0.0.1:{action_port}/webhook",
        DLQ_RETRY_BACKOFF_BASE="0.5", DLQ_WORKER_INTERVAL="0.2", DLQ_MAX_RETRIES="50",
        QR_SECRET="e2e-secret",
    )
    for name in ("REDIS_URL", "DLQ_REDIS_URL", "PMS_BREAKER_REDIS_URL", "LOCK_STORE_URL"):
        env.pop(name, None)  # one process each: in-memory queue and lock store
    rasa = RasaServer(env, tmp_path / "rasa.log")
    env.update(RASA_URL=rasa.url, RASA_TOKEN=TOKEN)
    actions = ActionServer(env, tmp_path / "actions.log")
    actions.port, actions.url = action_port, f"http://127.0.0.1:{action_port}"
    actions.start()
    yield rasa, pms_path
    actions.stop()
    rasa.stop()


def test_guest_hears_about_the_saved_booking_in_spanish(stack):
    rasa, pms_path = stack
    shutil.move(pms_path, pms_path.with_suffix(".away"))  # the PMS database goes away
    pms_path.mkdir()

    assert "Hola" in rasa.say("hola buenas")
    assert "¿Qué día llegarías?" in rasa.say("quiero reservar una habitacion")
    assert "¿Cuántas personas" in rasa.say("mañana, 3 noches")
    rasa.say("somos 2")
    assert "¿A nombre de quién" in rasa.say('/inform{"room_type":"double"}')
    saved = rasa.say("a nombre de lucia fernandez")
    assert "he guardado tu petición" in saved

    pms_path.rmdir()
    shutil.move(pms_path.with_suffix(".away"), pms_path)  # and comes back
    deadline = time.monotonic() + 60
    while not any("tu reserva está hecha" in text for text in rasa.bot_texts()):
        assert time.monotonic() < deadline, f"no notification; bot said {rasa.bot_texts()}"
        time.sleep(0.5)
    told = next(text for text in rasa.bot_texts() if "tu reserva está hecha" in text)
    reference = canonical_reference(told)
    assert "Habitación doble" in told and "2 personas" in told
    with sqlite3.connect(pms_path) as db:
        rows = db.execute("SELECT reference FROM bookings WHERE guest_name = 'Lucia Fernandez'").fetchall()
    assert rows == [(reference,)]
    # the conversation goes on, and knows the new booking
    assert reference in rasa.say("cual es el estado de mi reserva?")
