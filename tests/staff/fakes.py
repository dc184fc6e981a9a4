"""Local stand-ins for what reception notifications reach and what the
action server serves, for the staff inbox tests:

- ``SMTPSink``: a real SMTP server (aiosmtpd) on a free port keeping each
  message it accepts (parsed);
- ``WebhookSink``: an HTTP server keeping each JSON body POSTed to it (a chat
  tool's incoming webhook), answering 200, or ``fail_next`` statuses first;
- ``QRServer``: the action server's ``GET /qr/<token>.png``, rendered by the
  project's own ``actions.qr.render_png``.
"""
from __future__ import annotations

import email
import email.policy
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List

from tests.stack_common import free_port


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


class SMTPSink:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: List[email.message.EmailMessage] = []
        self.envelopes: List[Dict[str, Any]] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.envelopes.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos)})
                sink.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                return "250 Message accepted for delivery"

        self.port = free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> "SMTPSink":
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def wait_for(self, predicate: Callable[[email.message.EmailMessage], bool], timeout: float = 20) -> email.message.EmailMessage:
        if not _wait(lambda: any(predicate(m) for m in list(self.messages)), timeout):
            raise AssertionError(f"no matching e-mail; got {[m['Subject'] for m in self.messages]}")
        return next(m for m in list(self.messages) if predicate(m))


class _JSONServer:
    def __init__(self) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class WebhookSink(_JSONServer):
    def __init__(self) -> None:
        self.received: List[Dict[str, Any]] = []
        self.failures: List[int] = []
        super().__init__()

    def fail_next(self, status: int, times: int = 1) -> None:
        self.failures.extend([status] * times)

    def wait_for(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 20) -> Dict[str, Any]:
        if not _wait(lambda: any(predicate(b) for b in list(self.received)), timeout):
            raise AssertionError(f"no matching webhook call; got {self.received}")
        return next(b for b in list(self.received) if predicate(b))

    def _handler(self):
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = sink.failures.pop(0) if sink.failures else 200
                if status == 200:
                    assert self.headers.get("Content-Type", "").startswith("application/json")
                    sink.received.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        return Handler


class QRServer(_JSONServer):
    PATH = re.compile(r"^/qr/([A-Za-z0-9_.-]+)\.png$")

    def __init__(self) -> None:
        self.fetched: List[str] = []
        super().__init__()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                from actions.qr import render_png

                match = QRServer.PATH.match(self.path)
                if not match:
                    self.send_response(404)
                    self.end_headers()
                    return
                server.fetched.append(match.group(1))
                data = render_png(match.group(1))
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler
