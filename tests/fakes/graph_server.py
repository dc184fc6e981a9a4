"""A local fake of the parts of Meta's Graph API the WhatsApp channel uses,
with the documented request and response shapes:

    POST /{version}/{phone_number_id}/messages  JSON -> {"messaging_product", "contacts", "messages": [{"id"}]}
    POST /{version}/{phone_number_id}/media     multipart (file, type, messaging_product) -> {"id"}
    GET  /{version}/{media_id}                  -> {"messaging_product", "url", "mime_type", "sha256", "file_size", "id"}
    GET  /download/{media_id}                   -> the bytes (the "lookaside" media URL)

Every call needs ``Authorization: Bearer <token>`` (else Graph's OAuth error,
code 190). Requests are recorded for assertions (``messages``: every attempt,
``delivered``: the ones answered 200); failures can be queued (``fail_next``)
to exercise retries, the dead-letter path and code 131047 ("messages" failures
never hit read receipts / typing indicators: those fail as "read"). A message
is addressed by ``to`` (phone number) or ``recipient`` (business-scoped user
id; ``to`` wins when both are given), as the Cloud API takes them; read receipts can
be slowed down (``read_delay_seconds``) to hold a turn in flight.

    server = GraphServer(token="t").start(); ...; server.stop()
    python -m tests.fakes.graph_server --port 8999 --token t     # by hand
"""
from __future__ import annotations

import argparse
import email.parser
import email.policy
import hashlib
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional

VERSIONED = re.compile(r"^/(v\d+\.\d+)/([^/]+)(?:/(messages|media))?$")


@dataclass
class Recorded:
    method: str
    path: str
    json: Optional[Dict[str, Any]] = None
    form: Dict[str, Any] = field(default_factory=dict)  # multipart fields; "file" holds bytes
    authorization: str = ""
    at: float = field(default_factory=time.monotonic)
    status: Optional[int] = None  # what the fake answered (None: not answered yet)

    @property
    def is_message(self) -> bool:
        return self.method == "POST" and self.path.endswith("/messages")


@dataclass
class Failure:
    endpoint: str  # "messages" | "read" (read receipts, typing) | "media" | "media_info" | "download"
    status: int
    code: Optional[int] = None
    retry_after: Optional[str] = None
    to: Optional[str] = None  # only messages to this recipient


class GraphServer:
    def __init__(self, token: str = "test-access-token", host: str = "127.0.0.1", port: int = 0) -> None:
        self.token = token
        self.requests: List[Recorded] = []
        self.media: Dict[str, tuple[bytes, str]] = {}
        self.failures: List[Failure] = []
        self.delay_seconds = 0.0  # added to every /messages answer (benchmarks)
        self.read_delay_seconds = 0.0  # added to read receipts only (a turn held before Rasa)
        self._ids = itertools.count(1)
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle --------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "GraphServer":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-graph", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:  # shutdown() would wait forever for a loop that never ran
            self._server.shutdown()
            self._thread = None
        self._server.server_close()

    # -- test helpers -------------------------------------------------------------

    def add_media(self, data: bytes, mime_type: str) -> str:
        media_id = f"media{next(self._ids)}"
        self.media[media_id] = (data, mime_type)
        return media_id

    def fail_next(
        self, endpoint: str, status: int, code: Optional[int] = None, times: int = 1,
        retry_after: Optional[str] = None, to: Optional[str] = None,
    ) -> None:
        """The next ``times`` calls of ``endpoint`` (to ``to`` only, if given) fail."""
        with self._changed:
            self.failures.extend(Failure(endpoint, status, code, retry_after, to) for _ in range(times))

    def messages(self, to: Optional[str] = None) -> List[Dict[str, Any]]:
        """Message bodies sent (read receipts excluded), optionally to one guest."""
        with self._changed:
            return self._messages_unlocked(to)

    def delivered(self, to: Optional[str] = None) -> List[Dict[str, Any]]:
        """Message bodies the fake accepted (answered 200), optionally to one guest."""
        with self._changed:
            found = [r.json for r in self.requests if r.is_message and r.status == 200 and r.json and r.json.get("type")]
        return [m for m in found if to is None or _addressed_to(m, to)]

    def wait_for(self, predicate: Callable[["GraphServer"], bool], timeout: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def wait_for_messages(self, to: str, count: int, timeout: float = 30.0) -> List[Dict[str, Any]]:
        if not self.wait_for(lambda s: len(s._messages_unlocked(to)) >= count, timeout):
            raise AssertionError(f"expected {count} messages to {to}, got {self.messages(to)}")
        return self.messages(to)

    def _messages_unlocked(self, to: Optional[str] = None) -> List[Dict[str, Any]]:
        """``messages`` for predicates of ``wait_for``, which already hold the lock."""
        found = [r.json for r in self.requests if r.is_message and r.json and r.json.get("type")]
        return [m for m in found if to is None or _addressed_to(m, to)]

    def reads(self) -> List[Dict[str, Any]]:
        """Read receipts and typing indicators, in order."""
        with self._changed:
            return [r.json for r in self.requests if r.is_message and r.json and r.json.get("status") == "read"]

    def reset(self) -> None:
        with self._changed:
            self.requests.clear()
            self.failures.clear()

    # -- HTTP -----------------------------------------------------------------------

    def _record(self, recorded: Recorded) -> None:
        with self._changed:
            self.requests.append(recorded)
            self._changed.notify_all()

    def _take_failure(self, endpoint: str, to: Optional[str] = None) -> Optional[Failure]:
        with self._changed:
            for index, failure in enumerate(self.failures):
                if failure.endpoint == endpoint and failure.to in (None, to):
                    return self.failures.pop(index)
        return None

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def _send(self, status: int, body: Any, content_type: str = "application/json", headers: Optional[dict] = None) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, code: int, retry_after: Optional[str] = None) -> None:
                body = {"error": {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "FAKE"}}
                self._send(status, body, headers={"Retry-After": retry_after} if retry_after else None)

            def _authorized(self) -> bool:
                if self.headers.get("Authorization") != f"Bearer {fake.token}":
                    self._error(401, "Invalid OAuth access token.", 190)
                    return False
                return True

            def _fail_if_queued(self, endpoint: str, to: Optional[str] = None) -> bool:
                failure = fake._take_failure(endpoint, to)
                if failure is None:
                    return False
                code = failure.code or (4 if failure.status == 429 else 2)
                self._error(failure.status, f"fake failure {failure.status}", code, failure.retry_after)
                return True

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_POST(self) -> None:
                body = self._body()
                match = VERSIONED.match(self.path)
                if not match or not match.group(3):
                    return self._error(404, f"Unknown path {self.path}", 100)
                recorded = Recorded("POST", self.path, authorization=self.headers.get("Authorization", ""))
                if match.group(3) == "messages":
                    try:
                        recorded.json = json.loads(body)
                    except ValueError:
                        return self._error(400, "Invalid JSON", 100)
                    fake._record(recorded)
                    recorded.status = 0  # refused unless answered 200 below
                    is_read = recorded.json.get("status") == "read"  # read receipt / typing indicator
                    address = str(recorded.json.get("to") or recorded.json.get("recipient") or "")
                    if not self._authorized() or self._fail_if_queued("read" if is_read else "messages", address):
                        return
                    if fake.delay_seconds:
                        time.sleep(fake.delay_seconds)
                    message = recorded.json
                    if message.get("messaging_product") != "whatsapp":
                        return self._error(400, "messaging_product is required", 100)
                    if message.get("status") == "read":
                        time.sleep(fake.read_delay_seconds)
                        return self._send(200, {"success": True})
                    to, recipient = str(message.get("to") or ""), str(message.get("recipient") or "")
                    if not (to or recipient):
                        return self._error(400, "(#100) The parameter to or recipient is required.", 100)
                    with fake._changed:
                        recorded.status = 200
                        fake._changed.notify_all()
                    # "to" wins when both are given; a user-id send answers with user_id, not wa_id
                    contact = {"input": to, "wa_id": to} if to else {"input": recipient, "user_id": recipient}
                    return self._send(200, {
                        "messaging_product": "whatsapp",
                        "contacts": [contact],
                        "messages": [{"id": f"wamid.FAKE{next(fake._ids)}"}],
                    })
                recorded.form = _parse_multipart(self.headers.get("Content-Type", ""), body)
                fake._record(recorded)
                if not self._authorized() or self._fail_if_queued("media"):
                    return
                if recorded.form.get("messaging_product") != "whatsapp" or not isinstance(recorded.form.get("file"), bytes):
                    return self._error(400, "file and messaging_product are required", 100)
                media_id = fake.add_media(recorded.form["file"], str(recorded.form.get("type") or ""))
                return self._send(200, {"id": media_id})

            def do_GET(self) -> None:
                fake._record(Recorded("GET", self.path, authorization=self.headers.get("Authorization", "")))
                if not self._authorized():
                    return
                if self.path.startswith("/download/"):
                    if self._fail_if_queued("download"):
                        return
                    item = fake.media.get(self.path.rsplit("/", 1)[-1])
                    if item is None:
                        return self._error(404, "Unknown media", 100)
                    return self._send(200, item[0], content_type=item[1] or "application/octet-stream")
                match = VERSIONED.match(self.path)
                if not match or match.group(3):
                    return self._error(404, f"Unknown path {self.path}", 100)
                if self._fail_if_queued("media_info"):
                    return
                media_id = match.group(2)
                item = fake.media.get(media_id)
                if item is None:
                    return self._error(404, f"Unsupported get request. Object with ID '{media_id}' does not exist", 100)
                data, mime_type = item
                return self._send(200, {
                    "messaging_product": "whatsapp",
                    "url": f"{fake.url}/download/{media_id}",
                    "mime_type": mime_type,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "file_size": str(len(data)),
                    "id": media_id,
                })

        return Handler


def _addressed_to(message: Dict[str, Any], guest: str) -> bool:
    """Sent to ``guest``: by phone number (``to``) or business-scoped user id (``recipient``)."""
    return message.get("to") == guest or (not message.get("to") and message.get("recipient") == guest)


def _parse_multipart(content_type: str, body: bytes) -> Dict[str, Any]:
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    form: Dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if part.get_filename():
            form[name] = payload
            form[f"{name}_filename"] = part.get_filename()
            form[f"{name}_content_type"] = part.get_content_type()
        else:
            form[name] = payload.decode("utf-8")
    return form


def main() -> None:
    parser = argparse.ArgumentParser(description="fake Graph API for the WhatsApp channel")
    parser.add_argument("--port", type=int, default=8999)
    parser.add_argument("--token", default="test-access-token")
    args = parser.parse_args()
    server = GraphServer(token=args.token, port=args.port)
    print(f"fake Graph API on {server.url}", flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
