"""A local fake of the Gmail REST API and Google's OAuth token endpoint, with
the documented request and response shapes:

    POST /token                                          refresh_token grant, or the JWT-bearer grant of a service
                                                         account (``trust_service_account``) -> {"access_token", "expires_in", "token_type"}
    GET  /gmail/v1/users/me/profile                      -> {"emailAddress", "messagesTotal", "historyId"}
    GET  /gmail/v1/users/me/messages?q=&labelIds=        -> {"messages": [{"id", "threadId"}], "resultSizeEstimate"}
    GET  /gmail/v1/users/me/messages/{id}?format=minimal|raw|full|metadata
    POST /gmail/v1/users/me/messages/send                {"raw", "threadId"} -> {"id", "threadId", "labelIds"}
    POST /gmail/v1/users/me/messages/{id}/modify         {"addLabelIds", "removeLabelIds"}
    GET|POST /gmail/v1/users/me/labels
    POST /gmail/v1/users/me/watch                        {"topicName", "labelIds"} -> {"historyId", "expiration"}
    GET  /gmail/v1/users/me/history?startHistoryId=&historyTypes=messageAdded&labelId=&pageToken=
                                                         -> {"history": [{"id", "messages", "messagesAdded"}], "historyId", "nextPageToken"}
                                                            (404 when startHistoryId is older than ``history_floor``)

``q`` understands the terms the channel uses: ``in:inbox``, ``is:unread``,
``label:x`` and ``-label:x``. Every Gmail call needs the bearer token the
token endpoint issued. Failures can be queued with ``fail_next``. Each
delivered or sent message adds a history record (``messagesAdded`` with the
labels it got); ``push_notification()`` builds the Pub/Sub push body Gmail
would send after a change.
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
        self.history: List[Dict[str, Any]] = []  # records, oldest first
        self.history_id = 1000  # the mailbox's current history id
        self.history_floor = 0  # startHistoryId below this answers 404 (records expired)
        self.watches: List[Dict[str, Any]] = []  # users.watch request bodies
        self.history_page_size = 100
        self.service_accounts: Dict[str, Any] = {}  # client_email -> public key (trust_service_account)
        self.assertions: List[Dict[str, Any]] = []  # verified JWT claims
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
        self._started = True
        return self

    def stop(self) -> None:
        if getattr(self, "_started", False):  # shutdown() would wait forever for a loop that never ran
            self._server.shutdown()
            self._started = False
        self._server.server_close()

    # -- test helpers --------------------------------------------------------

    def deliver(self, raw: bytes, thread_id: Optional[str] = None) -> StoredMessage:
        with self._lock:
            message_id = format(next(self._ids), "x")
            stored = StoredMessage(message_id, thread_id or message_id, raw)
            self.messages[message_id] = stored
            self._added(stored)
            return stored

    def _added(self, stored: StoredMessage) -> None:
        self.history_id += 1
        reference = {"id": stored.id, "threadId": stored.thread_id}
        self.history.append({"id": str(self.history_id), "messages": [reference],
                             "messagesAdded": [{"message": dict(reference, labelIds=list(stored.label_ids))}]})

    def push_notification(self) -> Dict[str, Any]:
        """The Pub/Sub push body Gmail sends to the subscription's endpoint after a change."""
        data = json.dumps({"emailAddress": self.address, "historyId": self.history_id}).encode()
        return {"message": {"data": base64.b64encode(data).decode(), "messageId": str(self.history_id),
                            "publishTime": "2026-11-23T10:00:00.000Z"},
                "subscription": "projects/hotel/subscriptions/gmail-push"}

    def trust_service_account(self, client_email: str, public_key) -> None:
        """Accept JWT-bearer assertions from this account, signed with the key pair of ``public_key``."""
        self.service_accounts[client_email] = public_key

    def fail_next(self, endpoint: str, status: int, times: int = 1) -> None:
        self.failures.extend([(endpoint, status)] * times)

    def sent_to(self, address: str) -> List[Dict[str, Any]]:
        return [s for s in self.sent if address.lower() in str(s["message"]["To"]).lower()]

    def label_names(self, message_id: str) -> List[str]:
        return [self.labels.get(label, label) for label in self.messages[message_id].label_ids]

    # -- behaviour -------------------------------------------------------------

    def _matches(self, stored: StoredMessage, query: str, label_ids: List[str]) -> bool:
        names = {self.labels.get(label, label).lower().replace("/", "-").replace(" ", "-") for label in stored.label_ids}
        if any(label not in stored.label_ids for label in label_ids):
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
                path = None
                for prefix in (PREFIX, f"/gmail/v1/users/{fake.address}"):  # "me" or the mailbox's address
                    if url.path.startswith(prefix + "/"):
                        path = url.path[len(prefix):]
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
                if one.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                    return self._jwt_bearer(one.get("assertion", ""))
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
                    return self._send(200, {"emailAddress": fake.address, "messagesTotal": len(fake.messages),
                                            "historyId": str(fake.history_id)})
                if path == "/watch" and method == "POST":
                    topic = str(payload.get("topicName") or "")
                    if not re.fullmatch(r"projects/[^/]+/topics/[^/]+", topic):
                        return self._error(400, "Invalid topicName")
                    fake.watches.append(payload)
                    expiration = int(time.time() * 1000) + 7 * 24 * 3600 * 1000
                    return self._send(200, {"historyId": str(fake.history_id), "expiration": str(expiration)})
                if path == "/history" and method == "GET":
                    return self._history(args)
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
                    fake._added(fake.messages[message_id])
                    fake.sent.append({"raw": raw, "threadId": payload.get("threadId"),
                                      "message": email.message_from_bytes(raw, policy=email.policy.default)})
                    return self._send(200, {"id": message_id, "threadId": thread_id, "labelIds": ["SENT"]})
                match = re.fullmatch(r"/messages/([^/]+)(/modify)?", path)
                if not match or match.group(1) not in fake.messages:
                    return self._error(404, "Requested entity was not found.")
                stored = fake.messages[match.group(1)]
                if match.group(2) and method == "POST":
                    stored.label_ids = [label for label in stored.label_ids if label not in payload.get("removeLabelIds", [])]
                    stored.label_ids += [label for label in payload.get("addLabelIds", []) if label not in stored.label_ids]
                    return self._send(200, {"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.label_ids})
                fmt = (args.get("format") or ["full"])[0]
                base = {"id": stored.id, "threadId": stored.thread_id, "labelIds": stored.label_ids, "sizeEstimate": len(stored.raw)}
                if fmt == "minimal":
                    return self._send(200, base)
                if fmt == "raw":
                    return self._send(200, dict(base, raw=b64url(stored.raw)))
                return self._send(200, fake._full(stored))

            def _jwt_bearer(self, assertion: str) -> None:
                import jwt

                try:
                    issuer = jwt.decode(assertion, options={"verify_signature": False}).get("iss", "")
                    key = fake.service_accounts[issuer]
                    claims = jwt.decode(assertion, key, algorithms=["RS256"], audience=f"{fake.url}/token",
                                        options={"require": ["iss", "aud", "sub", "scope", "iat", "exp"]})
                except (jwt.PyJWTError, KeyError):
                    return self._send(400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."})
                if claims["exp"] - claims["iat"] > 3600 or "gmail.modify" not in claims["scope"]:
                    return self._send(400, {"error": "invalid_grant", "error_description": "Invalid JWT claims."})
                fake.assertions.append(claims)
                token = f"ya29.fake-sa-{len(fake.access_tokens)}-{time.time_ns()}"
                fake.access_tokens.append(token)
                self._send(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})

            def _history(self, args) -> None:
                try:
                    start = int((args.get("startHistoryId") or [""])[0])
                except ValueError:
                    return self._error(400, "Invalid startHistoryId")
                if start < fake.history_floor:
                    return self._error(404, "Requested entity was not found.")
                label = (args.get("labelId") or [None])[0]
                records = [r for r in fake.history if int(r["id"]) > start]
                if label:
                    records = [dict(r, messagesAdded=[a for a in r["messagesAdded"] if label in a["message"]["labelIds"]])
                               for r in records]
                    records = [r for r in records if r["messagesAdded"]]
                offset = int((args.get("pageToken") or ["0"])[0])
                page = records[offset:offset + fake.history_page_size]
                body: Dict[str, Any] = {"historyId": str(fake.history_id)}
                if page:
                    body["history"] = page
                if offset + fake.history_page_size < len(records):
                    body["nextPageToken"] = str(offset + fake.history_page_size)
                return self._send(200, body)

        return Handler
