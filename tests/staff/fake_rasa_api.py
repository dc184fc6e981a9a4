"""A local fake of the part of Rasa's HTTP API the staff console calls,
shaped like ``rasa run --enable-api --auth-token TOKEN``:

    POST /conversations/{conversation_id}/tracker/events?token=TOKEN
         body: one event or a list of events -> the tracker as JSON
    GET  /conversations/{conversation_id}/tracker?token=TOKEN
         -> {"sender_id", "events", "paused", "latest_input_channel"}: the events
         ``tracker_of(conversation_id)`` gives (default: those ``seed``ed plus
         those posted); a conversation never seen has no events, as Rasa's
         fresh tracker

A wrong or missing token gets Rasa's 401 answer. Requests are recorded;
``fail_next(status)`` makes the next call fail; ``on_events`` lets a test
apply the events somewhere (e.g. append them to a real tracker store), as
Rasa would.

    server = FakeRasaAPI(token="t").start(); ...; server.stop()
"""
from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qs, unquote, urlsplit

EVENTS_PATH = re.compile(r"^/conversations/([^/]+)/tracker/events$")
TRACKER_PATH = re.compile(r"^/conversations/([^/]+)/tracker$")


@dataclass
class Call:
    conversation_id: str
    events: List[Dict[str, Any]]
    query: Dict[str, List[str]]


class FakeRasaAPI:
    def __init__(self, token: str, on_events: Optional[Callable[[str, List[Dict[str, Any]]], None]] = None) -> None:
        self.token = token
        self.on_events = on_events
        self.calls: List[Call] = []
        self.rejected: List[str] = []  # paths of calls refused for their token
        self.events: Dict[str, List[Dict[str, Any]]] = {}  # conversation -> events (seeded and posted)
        self.tracker_of: Optional[Callable[[str], List[Dict[str, Any]]]] = None
        self._failures: List[int] = []
        self._changed = threading.Condition()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeRasaAPI":
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-rasa", daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def seed(self, conversation_id: str, events: List[Dict[str, Any]]) -> None:
        with self._changed:
            self.events.setdefault(conversation_id, []).extend(events)

    def posted(self, conversation_id: str) -> List[Dict[str, Any]]:
        """Every event posted to the conversation, in order."""
        with self._changed:
            return [e for c in self.calls if c.conversation_id == conversation_id for e in c.events]

    def fail_next(self, status: int, times: int = 1) -> None:
        with self._changed:
            self._failures.extend([status] * times)

    def resumed(self) -> List[str]:
        """Conversations that received a ``resume`` event, in order."""
        with self._changed:
            return self._resumed_unlocked()

    def _resumed_unlocked(self) -> List[str]:
        return [c.conversation_id for c in self.calls if any(e.get("event") == "resume" for e in c.events)]

    def wait_for_resume(self, conversation_id: str, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._changed:
            while conversation_id not in self._resumed_unlocked():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return True

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _refused(self, parts, query) -> bool:
                if query.get("token") == [fake.token]:
                    return False
                with fake._changed:
                    fake.rejected.append(parts.path)
                self._answer(401, {"version": "3.6.21", "status": "failure", "reason": "NotAuthenticated",
                                   "message": "User is not authenticated.", "code": 401})
                return True

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                match = TRACKER_PATH.match(parts.path)
                if not match:
                    self._answer(404, {"status": "failure", "reason": "NotFound", "code": 404})
                    return
                if self._refused(parts, query):
                    return
                conversation_id = unquote(match.group(1))
                if fake.tracker_of is not None:
                    events = list(fake.tracker_of(conversation_id) or [])
                else:
                    with fake._changed:
                        events = list(fake.events.get(conversation_id, []))
                paused = False
                for event in events:
                    paused = {"pause": True, "resume": False}.get(event.get("event"), paused)
                channels = [e.get("input_channel") for e in events if e.get("event") == "user"]
                self._answer(200, {"sender_id": conversation_id, "events": events, "paused": paused,
                                   "latest_input_channel": channels[-1] if channels else None})

            def do_POST(self) -> None:
                parts = urlsplit(self.path)
                query = parse_qs(parts.query)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = EVENTS_PATH.match(parts.path)
                if not match:
                    self._answer(404, {"status": "failure", "reason": "NotFound", "code": 404})
                    return
                if self._refused(parts, query):
                    return
                with fake._changed:
                    failure = fake._failures.pop(0) if fake._failures else None
                if failure:
                    self._answer(failure, {"status": "failure", "reason": "ConversationError", "code": failure})
                    return
                parsed = json.loads(body or b"[]")
                events = parsed if isinstance(parsed, list) else [parsed]
                conversation_id = unquote(match.group(1))
                if fake.on_events is not None:
                    fake.on_events(conversation_id, events)
                with fake._changed:
                    fake.calls.append(Call(conversation_id, events, query))
                    fake.events.setdefault(conversation_id, []).extend(events)
                    fake._changed.notify_all()
                self._answer(200, {"sender_id": conversation_id, "paused": False, "events": events})

        return Handler
