"""A fake of Rasa's HTTP API (``rasa run --enable-api --auth-token T``), only
``POST /conversations/<id>/trigger_intent``: a real HTTP server on 127.0.0.1.

Shaped like Rasa 3.6's endpoint (rasa/server.py ``trigger_intent``): the token
in the ``token`` query parameter (401 without it), the body
``{"name": <intent>, "entities": {...}}`` (400 without ``name``), the
``output_channel`` query parameter, and the answer
``{"tracker": {...}, "messages": [...]}``. Every accepted call is recorded in
``calls``. ``down(status)`` makes it answer an error until ``up()``;
``hang_next(seconds)``: the next call gets no answer for that long and is not
recorded (a Rasa that stalls; ``hung`` is set while it does).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass
class TriggerCall:
    conversation_id: str
    intent: str
    entities: Dict[str, Any]
    output_channel: Optional[str]


@dataclass
class FakeRasaAPI:
    token: str = "rasa-test-token"
    calls: List[TriggerCall] = field(default_factory=list)
    _status: Optional[int] = None
    _hang: float = 0.0
    hung: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: Optional[ThreadingHTTPServer] = None

    def start(self, port: int = 0) -> "FakeRasaAPI":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def down(self, status: int = 503) -> None:
        self._status = status

    def up(self) -> None:
        self._status = None

    def hang_next(self, seconds: float) -> None:
        self._hang = seconds

    def wait_for_calls(self, count: int, timeout: float = 20.0) -> List[TriggerCall]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.calls) >= count:
                    return list(self.calls)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} trigger_intent calls in {timeout}s, got {self.calls}")

    # -- HTTP ------------------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query))
        parts = split.path.strip("/").split("/")
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        with self._lock:
            hang, self._hang = self._hang, 0.0
        if hang:
            self.hung.set()
            time.sleep(hang)
            return self._send(handler, 504, {"status": "failure", "message": "stalled", "code": 504})
        if self._status is not None:
            return self._send(handler, self._status, {"status": "failure", "message": "injected", "code": self._status})
        if query.get("token") != self.token:
            return self._send(handler, 401, {"status": "failure", "reason": "NotAuthenticated", "code": 401})
        if len(parts) != 3 or parts[0] != "conversations" or parts[2] != "trigger_intent":
            return self._send(handler, 404, {"status": "failure", "code": 404})
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            request = {}
        intent = request.get("name")
        if not intent:
            return self._send(handler, 400, {"status": "failure", "reason": "BadRequest",
                                             "message": "Name of the event not specified in the request body.",
                                             "code": 400})
        call = TriggerCall(unquote(parts[1]), intent, dict(request.get("entities") or {}), query.get("output_channel"))
        with self._lock:
            self.calls.append(call)
        self._send(handler, 200, {"tracker": {"sender_id": call.conversation_id}, "messages": [
            {"recipient_id": call.conversation_id, "text": f"(bot reply to {intent})"}]})

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, payload: Dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
