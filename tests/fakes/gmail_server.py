"""A local fake of the Gmail REST API and Google's OAuth token endpoint, with
the documented request and response shapes:

    POST /token                                          refresh_token grant -> {"access_token", "expires_in", "token_type"}
    GET  /gmail/v1/users/me/profile                      -> {"emailAddress", "messagesTotal", "historyId"}
    GET  /gmail/v1/users/me/messages?q=&labelIds=        -> {"messages": [{"id", "threadId"}], "resultSizeEstimate"}
    GET  /gmail/v1/users/me/messages/{id}?format=minimal|raw|full|metadata
    POST /gmail/v1/users/me/messages/send                {"raw", "threadId"} -> {"id", "threadId", "labelIds"}
    POST /gmail/v1/users/me/messages/{id}/modify         {"addLabelIds", "removeLabelIds"}
    GET|POST /gmail/v1/users/me/labels

``q`` understands the terms the channel uses: ``in:inbox``, ``is:unread``,
``label:x`` and ``-label:x``. Every Gmail call needs the bearer token the
token endpoint issued. Failures can be queued with ``fail_next``.
"""
from __future__ import annotations

import base64
import email
import email.policy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional
from urllib.parse import parse_qs, urlparse

PREFIX = "/gmail/v1/users/me"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


@dataclass
class StoredMessage:
    id: str
    thread_id: str
    raw: bytes
    label_ids: List[str] = field(default_factory=lambda: ["INBOX", "UNREAD"])


class GmailServer:
    def __init__(self, client_id: str, client_secret: str, refresh_token: str, address: str = "hotel@example.com") -> None:
        self.client_id, self.client_secret, self.refresh_token, self.address = client_id, client_secret, refresh_token, address
        self.access_tokens: List[str] = []
        self.messages: Dict[str, StoredMessage] = {}
        self.labels: Dict[str, str] = {"INBOX": "INBOX", "UNREAD": "UNREAD", "SENT": "SENT"}  # id -> name
        self.sent: List[Dict[str, Any]] = []  # {"raw": bytes, "threadId", "message": EmailMessage}
        self.requests: List[tuple] = []  # (method, path, authorization)
        self.token_requests: List[Dict[str, str]] = []
        self.failures: List[tuple] = []  # (endpoint, status)
        self._ids = itertools.count(0x18c0000000)
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "GmailServer":
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test helpers --------------------------------------------------------

    def deliver(self, raw: bytes, thread_id: Optional[str] = None) -> StoredMessage:
        with self._lock:
            message_id = format(next(self._ids), "x")
            stored = StoredMessage(message_id, thread_id or message_id, raw)
            self.messages[message_id] = stored
            return stored

    def fail_next(self, endpoint: str, status: int, times: int = 1) -> None:
        self.failures.extend([(endpoint, status)] * times)

    def sent_to(self, address: str) -> List[Dict[str, Any]]:
        return [s for s in self.sent if address.lower() in str(s["message"]["To"]).lower()]

    def label_names(self, message_id: str) -> List[str]:
        return [self.labels.get(l, l) for l in self.messages[message_id].label_ids]

    # -- behaviour -------------------------------------------------------------

    def _matches(self, stored: StoredMessage, query: str, label_ids: List[str]) -> bool:
        names = {self.labels.get(l, l).lower().replace("/", "-").replace(" ", "-") for l in stored.label_ids}
        if any(l not in stored.label_ids for l in label_ids):
            return False
        for term in query.split():
            negate = term.startswith("-")
            term = term.lstrip("-").lower()
            key, _, value = term.partition(":")
            if key in ("in", "label"):
                hit = value in names
            elif key == "is":
                hit = value in names
            else:
                hit = True
            if hit == negate:
                return False
        return True

    def _full(self, stored: StoredMessage) -> Dict[str, Any]:
        message = email.message_from_bytes(stored.raw, policy=email.policy.compat32)
        counter = itertools.count()

        def part(node, part_id: str) -> Dict[str, Any]:
            headers = [{"name": k, "value": str(v)} for k, v in node.items()]
            result: Dict[str, Any] = {"partId": part_id, "mimeType": node.get_content_type(),
                                      "filename": node.get_filename() or "", "headers": headers}
            if node.is_multipart():
                result["body"] = {"size": 0}
                result["parts"] = [part(p, f"{part_id}.{i}" if part_id else str(i)) for i, p in enumerate(node.get_payload())]
            else:
                data = node.get_payload(decode=True) or b""
                if node.get_filename() or not node.get_content_type().startswith("text/"):
                    result["body"] = {"size": len(data), "attachmentId": f"att-{stored.id}-{next(counter)}"}
                else:
                    result["body"] = {"size": len(data), "data": b64url(data)}
            return result

        return {"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.label_ids,
                "sizeEstimate": len(stored.raw), "payload": part(message, "")}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str) -> None:
                self._send(status, {"error": {"code": status, "message": message, "status": "ERROR"}})

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def do_GET(self) -> None:
                self._route("GET")

            def do_POST(self) -> None:
                self._route("POST")

            def _route(self, method: str) -> None:
                url = urlparse(self.path)
                args = {k: v for k, v in parse_qs(url.query).items()}
                body = self._body() if method == "POST" else b""
                with fake._lock:
                    fake.requests.append((method, url.path, self.headers.get("Authorization", "")))
                if url.path == "/token" and method == "POST":
                    return self._token(parse_qs(body.decode()))
                if self.headers.get("Authorization", "").removeprefix("Bearer ") not in fake.access_tokens:
                    return self._error(401, "Request had invalid authentication credentials.")
                path = url.path[len(PREFIX):] if url.path.startswith(PREFIX) else None
                if path is None:
                    return self._error(404, "not found")
                endpoint = "send" if path == "/messages/send" else "modify" if path.endswith("/modify") else path.split("/")[1]
                for failure in list(fake.failures):
                    if failure[0] == endpoint:
                        fake.failures.remove(failure)
                        return self._error(failure[1], "injected failure")
                payload = json.loads(body or b"{}") if method == "POST" else {}
                with fake._lock:
                    return self._gmail(method, path, args, payload)

            def _token(self, form: Dict[str, List[str]]) -> None:
                one = {k: v[0] for k, v in form.items()}
                fake.token_requests.append(one)
                if one.get("grant_type") != "refresh_token":
                    return self._send(400, {"error": "unsupported_grant_type"})
                if (one.get("client_id"), one.get("client_secret"), one.get("refresh_token")) != (
                    fake.client_id, fake.client_secret, fake.refresh_token
                ):
                    return self._send(400, {"error": "invalid_grant", "error_description": "Bad Request"})
                token = f"ya29.fake-{len(fake.access_tokens)}-{time.time_ns()}"
                fake.access_tokens.append(token)
                self._send(200, {"access_token": token, "expires_in": 3599, "scope": "https://www.googleapis.com/auth/gmail.modify", "token_type": "Bearer"})

            def _gmail(self, method: str, path: str, args, payload) -> None:
                if path == "/profile":
                    return self._send(200, {"emailAddress": fake.address, "messagesTotal": len(fake.messages), "historyId": "1"})
                if path == "/labels":
                    if method == "GET":
                        return self._send(200, {"labels": [{"id": i, "name": n, "type": "system" if i == n else "user"} for i, n in fake.labels.items()]})
                    label_id = f"Label_{len(fake.labels)}"
                    fake.labels[label_id] = payload["name"]
                    return self._send(200, {"id": label_id, "name": payload["name"], "type": "user"})
                if path == "/messages" and method == "GET":
                    query = (args.get("q") or [""])[0]
                    found = [m for m in fake.messages.values() if fake._matches(m, query, args.get("labelIds") or [])]
                    found.reverse()  # newest first, like Gmail
                    limit = int((args.get("maxResults") or ["100"])[0])
                    return self._send(200, {"messages": [{"id": m.id, "threadId": m.thread_id} for m in found[:limit]],
                                            "resultSizeEstimate": len(found)})
                if path == "/messages/send" and method == "POST":
                    raw = base64.urlsafe_b64decode(payload["raw"] + "=" * (-len(payload["raw"]) % 4))
                    message_id = format(next(fake._ids), "x")
                    thread_id = payload.get("threadId") or message_id
                    fake.messages[message_id] = StoredMessage(message_id, thread_id, raw, ["SENT"])
                    fake.sent.append({"raw": raw, "threadId": payload.get("threadId"),
                                      "message": email.message_from_bytes(raw, policy=email.policy.default)})
                    return self._send(200, {"id": message_id, "threadId": thread_id, "labelIds": ["SENT"]})
                match = re.fullmatch(r"/messages/([^/]+)(/modify)?", path)
                if not match or match.group(1) not in fake.messages:
                    return self._error(404, "Requested entity was not found.")
                stored = fake.messages[match.group(1)]
                if match.group(2) and method == "POST":
                    stored.label_ids = [l for l in stored.label_ids if l not in payload.get("removeLabelIds", [])]
                    stored.label_ids += [l for l in payload.get("addLabelIds", []) if l not in stored.label_ids]
                    return self._send(200, {"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.label_ids})
                fmt = (args.get("format") or ["full"])[0]
                base = {"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.label_ids, "sizeEstimate": len(stored.raw)}
                if fmt == "minimal":
                    return self._send(200, base)
                if fmt == "raw":
                    return self._send(200, dict(base, raw=b64url(stored.raw)))
                return self._send(200, fake._full(stored))

        return Handler
