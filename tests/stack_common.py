"""Test scaffolding shared by the WhatsApp and Gmail channel tests.

- ``free_port``, ``wait_http``: local ports and waiting for a process to answer;
- ``redis_url`` / ``redis_prefix`` fixtures: the machine's Redis (a private
  ``redis-server`` when none answers) and a key prefix of the test's own,
  deleted afterwards (conftest files import them);
- ``PrivateRedis``: a ``redis-server`` of the test's own (restartable, AOF on)
  for the processes of an end-to-end stack, so their dead-letter queue never
  meets another test's;
- ``ActionServer``: the real action server as a subprocess, restartable on
  the same port;
- ``RasaStack``: that action server plus ``rasa run`` with the trained model,
  the channels of a credentials file and the project's tracker store class
  (``TRACKER_STORE_URL``: SQLite in the workdir unless given); the channel
  stacks (tests/whatsapp/stack.py, tests/gmail/stack.py) add their fake API;
- ``TcpProxy`` (a service that goes down or slows down while it runs) and
  ``PostgresDatabase`` (a database of the test's own): fault injection.

Trains nothing: the model must be at models/hotel.tar.gz.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Dict, Iterator, List, Optional

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "models" / "hotel.tar.gz"
RASA = Path(sys.executable).with_name("rasa")
AUTH_TOKEN = "e2e-rasa-api-token"
MACHINE_REDIS = "redis://127.0.0.1:6379/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    """Until ``url`` answers 2xx; raise with the log's tail when ``proc`` dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url} process exited:\n{log.read_text(errors='replace')[-4000:]}")
        try:
            if requests.get(url, timeout=1).ok:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s:\n{log.read_text(errors='replace')[-4000:]}")


def stop_process(proc: Optional[subprocess.Popen], timeout: float = 20) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


# -- Redis -----------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def delete_keys(url: str, prefix: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


def unique_prefix(name: str) -> str:
    """A Redis key prefix no other test run shares."""
    return f"{name}-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def running(stack: "RasaStack") -> Iterator["RasaStack"]:
    """A channel stack started for a module's tests, stopped after them, its Redis keys deleted."""
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()
        delete_keys(stack.redis_url, stack.redis_prefix)


class PrivateRedis:
    """A ``redis-server`` of our own on a free port, data in ``workdir`` (AOF), restartable."""

    def __init__(self, workdir: Path) -> None:
        self.workdir, self.port = workdir, free_port()
        self.proc: Optional[subprocess.Popen] = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> "PrivateRedis":
        server = shutil.which("redis-server")
        if not server:
            raise RuntimeError("redis-server is not installed")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen(
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
             "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not redis_answers(self.url):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.stop()
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        """SIGTERM: Redis flushes its append-only file and exits (a clean restart)."""
        stop_process(self.proc, 10)
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: the server is gone at once (an outage)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The machine's Redis (127.0.0.1:6379), or a private redis-server when none answers."""
    if redis_answers(MACHINE_REDIS):
        yield MACHINE_REDIS
        return
    server = PrivateRedis(tmp_path_factory.mktemp("redis")).start()
    yield server.url
    server.stop()


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"test-conn-{uuid.uuid4().hex[:12]}"
    yield prefix
    delete_keys(redis_url, prefix)


# -- processes ---------------------------------------------------------------------


def base_env(workdir: Path, action_url: str) -> Dict[str, str]:
    """The environment both processes share: their own embedded PMS and staff store."""
    return dict(
        os.environ,
        PMS_DATABASE_URL=f"sqlite:///{workdir / 'pms.sqlite3'}",
        ASSISTANT_DATABASE_URL=f"sqlite:///{workdir / 'assistant.sqlite3'}",
        ACTION_SERVER_PUBLIC_URL=action_url,
        QR_SECRET="e2e-qr-secret",
        # channel tests follow a paid booking to its QR code: make run's demo setting
        # (the default, a payment check by staff, is shown by tests/security)
        DEMO_AUTO_CONFIRM_PAYMENTS="1",
        PYTHONPATH=str(ROOT),
        SQLALCHEMY_SILENCE_UBER_WARNING="1",
        TF_CPP_MIN_LOG_LEVEL="2",
    )


class ActionServer:
    """``python -m actions.server`` on a fixed port; ``kill`` + ``start`` is a restart."""

    def __init__(self, workdir: Path, env: Optional[Dict[str, str]] = None, port: Optional[int] = None) -> None:
        self.workdir, self.port = workdir, port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = env or base_env(workdir, self.url)
        self.proc: Optional[subprocess.Popen] = None
        self.starts = 0
        self._logs: List = []

    def spawn(self) -> subprocess.Popen:
        """Start the process without waiting for it to answer."""
        self.starts += 1
        log = open(self.workdir / f"action-server-{self.starts}.log", "w")
        self._logs.append(log)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "actions.server", "--port", str(self.port), "--host", "127.0.0.1"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )
        return self.proc

    def wait_ready(self, timeout: float = 90) -> None:
        assert self.proc is not None
        wait_http(f"{self.url}/health", self.proc, self.workdir / f"action-server-{self.starts}.log", timeout)

    def start(self) -> "ActionServer":
        self.spawn()
        self.wait_ready()
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        stop_process(self.proc)
        for log in self._logs:
            log.close()


class RasaStack:
    """The action server and ``rasa run`` (REST + one channel) with the trained model.

    ``channel_env`` configures the channel; ``health_path`` is polled until
    Rasa serves it. ``kill_rasa`` (SIGKILL) and ``start_rasa`` restart Rasa on
    the same port, keeping its tracker store (SQLite in ``workdir``).
    """

    channel_classes: tuple = ()  # e.g. ("connectors.whatsapp.WhatsAppInput",)
    health_path = ""  # e.g. "/webhooks/whatsapp/"

    def __init__(self, workdir: Path, extra_env: Optional[Dict[str, str]] = None) -> None:
        self.workdir = workdir
        self.extra_env = extra_env or {}
        self.action = ActionServer(workdir)
        self.rasa_port = free_port()
        self.rasa_url = f"http://127.0.0.1:{self.rasa_port}"
        self.rasa: Optional[subprocess.Popen] = None
        self.rasa_starts = 0
        self._logs: List = []
        self.model = MODEL  # another trained model (an experiment) may be set before start()

    # -- what a channel stack provides ---------------------------------------------

    def channel_env(self) -> Dict[str, str]:
        return {}

    def start_fakes(self) -> None:
        pass

    def stop_fakes(self) -> None:
        pass

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def action_url(self) -> str:
        return self.action.url

    def start(self) -> "RasaStack":
        """Everything up; whatever started is stopped again if a step fails (no leaked processes)."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.start_fakes()
        self.action.start()
        channels = "".join(f"{name}:\n" for name in self.channel_classes)
        (self.workdir / "credentials.yml").write_text(f"rest:\n{channels}connectors.metrics.MetricsInput:\n", encoding="utf-8")
        self.write_endpoints(self.action.url)
        self.start_rasa()

    def write_endpoints(self, action_url: str) -> None:
        """The action server Rasa calls (a ``TcpProxy`` in front of it, for instance)."""
        (self.workdir / "endpoints.yml").write_text(
            f'action_endpoint:\n  url: "{action_url}/webhook"\n'
            "tracker_store:\n  type: components.stores.EnvironmentSQLTrackerStore\n",
            encoding="utf-8",
        )

    def rasa_environment(self) -> Dict[str, str]:
        env = dict(self.action.env, TRACKER_STORE_URL=f"sqlite:///{self.workdir / 'tracker.sqlite3'}")
        env.update(self.channel_env())
        env.update(self.extra_env)
        return env

    def spawn_rasa(self) -> subprocess.Popen:
        self.rasa_starts += 1
        log = open(self.workdir / f"rasa-{self.rasa_starts}.log", "w")
        self._logs.append(log)
        self.rasa = subprocess.Popen(
            [str(RASA), "run", "--model", str(self.model), "--credentials", str(self.workdir / "credentials.yml"),
             "--endpoints", str(self.workdir / "endpoints.yml"), "--port", str(self.rasa_port), "-i", "127.0.0.1",
             "--enable-api", "--auth-token", AUTH_TOKEN],
            cwd=ROOT, env=self.rasa_environment(), stdout=log, stderr=subprocess.STDOUT,
        )
        return self.rasa

    def start_rasa(self, timeout: float = 240) -> None:
        proc = self.spawn_rasa()
        wait_http(f"{self.rasa_url}{self.health_path}", proc, self.workdir / f"rasa-{self.rasa_starts}.log", timeout)

    def stop_rasa(self) -> None:
        stop_process(self.rasa, 30)
        self.rasa = None

    def kill_rasa(self) -> None:
        """kill -9: no shutdown listener runs, in-flight turns are cut."""
        if self.rasa is not None and self.rasa.poll() is None:
            self.rasa.send_signal(signal.SIGKILL)
            self.rasa.wait(10)
        self.rasa = None

    def stop(self) -> None:
        self.stop_rasa()
        self.action.stop()
        for log in self._logs:
            log.close()
        self.stop_fakes()

    # -- looking inside ------------------------------------------------------------------

    def rasa_log(self, all_starts: bool = False) -> str:
        starts = range(1, self.rasa_starts + 1) if all_starts else [self.rasa_starts]
        return "".join((self.workdir / f"rasa-{n}.log").read_text(errors="replace") for n in starts)

    def tracker(self, conversation_id: str) -> dict:
        answer = requests.get(f"{self.rasa_url}/conversations/{conversation_id}/tracker",
                              params={"token": AUTH_TOKEN}, timeout=10)
        answer.raise_for_status()
        return answer.json()

    def user_events(self, conversation_id: str) -> list:
        return [e for e in self.tracker(conversation_id)["events"] if e["event"] == "user"]

    def metrics(self) -> str:
        return requests.get(f"{self.rasa_url}/webhooks/metrics/", timeout=10).text


# -- fault injection -------------------------------------------------------------------


class TcpProxy:
    """A TCP forwarder in front of a real service (PostgreSQL, the action server).

    ``cut()`` drops every open connection and refuses new ones (the service
    looks down to its clients while it keeps running); ``restore()`` listens
    again on the same port. ``delay_seconds`` holds each new connection that
    long before it is forwarded (a slow service).
    """

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self.delay_seconds = 0.0
        self._listener: Optional[socket.socket] = None
        self._open: List[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> "TcpProxy":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    restore = start

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, []
        if listener is not None:
            _close(listener)  # shutdown first: it wakes the thread blocked in accept(), freeing the port
        for sock in sockets:
            _close(sock)

    stop = cut

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._forward, args=(client,), daemon=True).start()

    def _forward(self, client: socket.socket) -> None:
        if self.delay_seconds:
            time.sleep(self.delay_seconds)
        try:
            upstream = socket.create_connection(self.target, timeout=5)
            upstream.settimeout(None)
        except OSError:
            _close(client)
            return
        with self._lock:
            if self._listener is None:  # cut meanwhile
                _close(client)
                _close(upstream)
                return
            self._open += [client, upstream]
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        _close(source)
        _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


class PostgresDatabase:
    """A database of the test's own on the machine's PostgreSQL (trust auth), dropped afterwards."""

    def __init__(self, host: str = "127.0.0.1", port: int = 5432, prefix: str = "conn_test") -> None:
        self.host, self.port = host, port
        self.name = f"{prefix}_{uuid.uuid4().hex[:12]}"

    def _admin(self):
        import psycopg2

        connection = psycopg2.connect(host=self.host, port=self.port, user="postgres", dbname="postgres", connect_timeout=5)
        connection.autocommit = True
        return connection

    def create(self) -> "PostgresDatabase":
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE DATABASE "{self.name}"')
        finally:
            connection.close()
        return self

    def url(self, port: Optional[int] = None) -> str:
        return f"postgresql://postgres@{self.host}:{port or self.port}/{self.name}"

    def drop(self) -> None:
        connection = self._admin()
        try:
            with connection.cursor() as cursor:
                cursor.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
        finally:
            connection.close()


@contextlib.contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[PostgresDatabase]:
    """``with fresh_postgres_database("dlq_test") as db: db.url()``: created, then dropped."""
    database = PostgresDatabase(prefix=prefix).create()
    try:
        yield database
    finally:
        database.drop()
