"""A fake QloApps 1.6.1 webservice: a real HTTP server on 127.0.0.1 (ephemeral port).

It answers like a stock QloApps 1.6.1 shop (``docs/qloapps.md`` has the facts and
where each comes from): request/response shapes of PrestaShop 1.6's webservice
(``classes/webservice``), ``room_types``, ``hotel_ari``, ``bookings``, ``orders``,
``customers`` and ``configurations``. Where QloApps is less kind than a naive
fake, the fake is unkind too; each such point is a switch of :class:`Behaviour`,
QloApps' default on, so a test can show what the client does with and without it:

1. ``phone_required``: ``PS_ONE_PHONE_AT_LEAST=1``; a booking without
   ``customer_detail.phone`` is refused 400 "Please provide a valid phone number."
2. ``name_validation_fatal``: a first/last name failing ``Validate::isName``
   (a digit or one of ``!<>,;?=+()@#"°{}_$%:¤|``) makes PHP stop: HTTP 500, empty body.
3. ``auto_services_dropped``: ``hotel_ari`` prices the room plus the room type's
   auto-added services; ``POST bookings`` removes the auto-added services the
   request does not list (``removeAutoAddedServicesFromCart``).
4. ``put_without_rooms_drops_services``: ``PUT bookings`` whose room types carry
   no per-room lines removes the rooms' services; per-room lines replace them
   with the ones listed (``handlePutRequest``).
5. QloApps has no idempotency key: the same request twice makes two orders
   (nothing to switch).
6. Shapes: ``single_language`` (``name``/``description`` plain strings),
   ``ari_shapes`` (``id_room_type``/ids as strings, rooms with extra fields,
   ``booked``/``partially_available``/``unavailable`` only when asked),
   ``integer_amounts`` (3000, not 3000.0), ``orders_bookings_association``
   (``orders/{id}`` has ``associations.bookings``, no ``order_rows``), order
   states are PrestaShop's/QloApps' defaults (:data:`DEFAULT_STATES`; a shop may
   have others: pass ``order_states``), a malformed key gets 401 "Invalid
   authentication key format", ``PSWS-Version: 1.6.1.23``.

State (room types, services, rooms, orders, messages) lives in memory; every
request is recorded in :attr:`FakeQloApps.requests`; failures can be injected
with :meth:`FakeQloApps.fail_next`, :meth:`FakeQloApps.delay_next` and
:meth:`FakeQloApps.garbage_next`.

Simplification (enforced): PUT bookings cannot change a booking's rooms or dates
(400), only its status, remarks and the rooms' services.
"""
from __future__ import annotations

import base64
import json
import re
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

PSWS_VERSION = "1.6.1.23"

# QloApps 1.6.1's default order states (install data: PS_OS_* configuration values).
DEFAULT_STATES = {
    "PS_OS_AWAITING_PAYMENT": 1,
    "PS_OS_PAYMENT_ACCEPTED": 2,
    "PS_OS_PROCESSING": 3,
    "PS_OS_CANCELED": 4,
    "PS_OS_REFUND": 5,
    "PS_OS_ERROR": 6,
    "PS_OS_PARTIAL_PAYMENT_ACCEPTED": 8,
    "PS_OS_AWAITING_REMOTE_PAYMENT": 9,
    "PS_OS_REMOTE_PAYMENT_ACCEPTED": 10,
}
STATE_AWAITING_PAYMENT = DEFAULT_STATES["PS_OS_AWAITING_PAYMENT"]
STATE_PAYMENT_ACCEPTED = DEFAULT_STATES["PS_OS_PAYMENT_ACCEPTED"]
STATE_PARTIAL_PAYMENT = DEFAULT_STATES["PS_OS_PARTIAL_PAYMENT_ACCEPTED"]
STATE_REMOTE_PAYMENT_ACCEPTED = DEFAULT_STATES["PS_OS_REMOTE_PAYMENT_ACCEPTED"]
STATE_CANCELED = DEFAULT_STATES["PS_OS_CANCELED"]
STATE_REFUND = DEFAULT_STATES["PS_OS_REFUND"]
# A shop whose states were renumbered (the client must read them from ``configurations``).
CUSTOM_STATES = {**DEFAULT_STATES, "PS_OS_AWAITING_PAYMENT": 10, "PS_OS_PARTIAL_PAYMENT_ACCEPTED": 11,
                 "PS_OS_CANCELED": 6, "PS_OS_REFUND": 7, "PS_OS_ERROR": 8, "PS_OS_REMOTE_PAYMENT_ACCEPTED": 12}
LANGUAGES = (1, 2)  # 1 = en, 2 = es (when the shop has two languages)
CENT = Decimal("0.01")
# Validate::isName (PrestaShop 1.6): no digits and none of these characters.
_NOT_A_NAME = re.compile(r'[0-9!<>,;?=+()@#"\u00b0{}_$%:\u00a4|]')
_KEY_FORMAT = re.compile(r"^[A-Z0-9]{32}$")


@dataclass
class Behaviour:
    """What this fake does that a kind fake would not; QloApps 1.6.1's defaults on."""

    phone_required: bool = True
    name_validation_fatal: bool = True
    auto_services_dropped: bool = True
    put_without_rooms_drops_services: bool = True
    single_language: bool = True
    ari_shapes: bool = True
    integer_amounts: bool = True
    orders_bookings_association: bool = True


@dataclass
class FakeService:
    """A service product (QloApps "Manage Service Products"), priced per night or per stay."""

    id: int
    name: str
    price: Decimal  # tax excluded
    per_night: bool = True
    auto_add: bool = False


@dataclass
class FakeRoomType:
    id: int
    hotel_id: int
    names: dict[int, str]
    descriptions: dict[int, str]
    price: Decimal  # per night, tax excluded
    adults: int
    children: int
    rooms: list[tuple[int, str]]  # (id_room, room_num)
    images: list[int] = field(default_factory=list)
    active: bool = True
    services: list[int] = field(default_factory=list)  # linked service product ids


@dataclass
class FakeOrder:
    id: int
    hotel_id: int
    currency: str
    id_customer: int
    room_type_id: int
    date_from: date
    date_to: date
    # {"id_room", "id_hotel_booking", "adults", "child", "services": [{"id_service", "name",
    #  "quantity", "total_excl", "total_tax", "per_night"}]}
    rooms: list[dict]
    room_excl: Decimal  # rooms only, tax excluded
    room_tax: Decimal
    current_state: int
    source: str = ""
    messages: list[str] = field(default_factory=list)
    total_paid_real: Decimal = Decimal("0")
    reference: str = ""
    date_add: str = "2031-01-01 10:00:00"
    history: list[int] = field(default_factory=list)  # order states set through order_histories

    @property
    def services_excl(self) -> Decimal:
        return sum((s["total_excl"] for room in self.rooms for s in room.get("services", ())), Decimal("0"))

    @property
    def services_tax(self) -> Decimal:
        return sum((s["total_tax"] for room in self.rooms for s in room.get("services", ())), Decimal("0"))

    @property
    def total_excl(self) -> Decimal:
        return self.room_excl + self.services_excl

    @property
    def total_tax(self) -> Decimal:
        return self.room_tax + self.services_tax

    @property
    def total_incl(self) -> Decimal:
        return self.total_excl + self.total_tax


@dataclass
class RecordedRequest:
    method: str
    path: str  # e.g. /api/bookings/3
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    authorized: bool

    @property
    def resource(self) -> str:
        parts = self.path.split("/")
        return "/".join(parts[2:]) if len(parts) > 2 else ""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


class _PhpFatal(Exception):
    """A PHP fatal error in QloApps: HTTP 500 with an empty body."""


class _WsError(Exception):
    def __init__(self, status: int, message: str, code: int = 0) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


class FakeQloApps:
    """In-memory QloApps shop with one HTTP server. Use :meth:`start` / :meth:`stop`."""

    def __init__(self, api_key: str = "FAKEKEY0123456789ABCDEFGHIJKLMNO", tax_rate: str = "0.10", *,
                 behaviour: Behaviour | None = None, order_states: dict[str, int] | None = None) -> None:
        self.api_key = api_key
        self.tax_rate = Decimal(tax_rate)
        self.behaviour = behaviour or Behaviour()
        self.states = dict(order_states or DEFAULT_STATES)
        self.hotels: set[int] = {1, 2}
        self.room_types: dict[int, FakeRoomType] = {}
        self.services: dict[int, FakeService] = {}
        self.orders: dict[int, FakeOrder] = {}
        self.customers: dict[int, dict] = {}
        self.requests: list[RecordedRequest] = []
        self.next_order_id = 1
        self.next_booking_line_id = 1
        self._faults: list[dict] = []
        self._lock = threading.RLock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------
    def start(self) -> "FakeQloApps":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body are separate writes

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_PUT(self) -> None:
                fake._handle(self, "PUT")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-qloapps", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # wake delayed handlers
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- seeding and back-office helpers -------------------------------------------
    def add_room_type(self, rt: FakeRoomType) -> FakeRoomType:
        with self._lock:
            self.room_types[rt.id] = rt
        return rt

    def add_service(self, service: FakeService, room_type_ids: list[int]) -> FakeService:
        with self._lock:
            self.services[service.id] = service
            for rt_id in room_type_ids:
                self.room_types[rt_id].services.append(service.id)
        return service

    def seed_demo(self) -> "FakeQloApps":
        """Hotel 1: single(11), double(12), suite(13), family(14), an inactive single (15);
        hotel 2: a double (21). Services: "Room Maintenance Fees" (1, auto-added,
        25/night) on the suite and the family room, "Breakfast" (2, 15/night) on
        every room type of hotel 1."""
        self.add_room_type(FakeRoomType(
            11, 1, {1: "Single Room", 2: "Habitación individual"},
            {1: "<p>Cosy room for <b>one</b> &amp; a desk.</p>", 2: "<p>Habitación acogedora para una persona.</p>"},
            Decimal("60.00"), 1, 0, [(101, "101"), (102, "102")], images=[5, 12]))
        self.add_room_type(FakeRoomType(
            12, 1, {1: "Double Room", 2: "Habitación doble"},
            {1: "<p>Two guests, queen bed.</p>", 2: "<p>Dos huéspedes, cama de matrimonio.</p>"},
            Decimal("90.00"), 2, 0, [(201, "201"), (202, "202")], images=[7]))
        self.add_room_type(FakeRoomType(
            13, 1, {1: "Junior Suite", 2: "Suite júnior"},
            {1: "<p>Suite with living room.</p>", 2: "<p>Suite con salón.</p>"},
            Decimal("180.00"), 2, 1, [(301, "301")]))
        self.add_room_type(FakeRoomType(
            14, 1, {1: "Family Room", 2: "Habitación familiar"},
            {1: "<p>Two adults and two children.</p>", 2: "<p>Dos adultos y dos niños.</p>"},
            Decimal("140.00"), 2, 2, [(401, "401")]))
        self.add_room_type(FakeRoomType(
            15, 1, {1: "Single Economy", 2: "Individual económica"}, {1: "", 2: ""},
            Decimal("40.00"), 1, 0, [(501, "501")], active=False))
        self.add_room_type(FakeRoomType(
            21, 2, {1: "Double Room", 2: "Habitación doble"}, {1: "Other hotel", 2: "Otro hotel"},
            Decimal("70.00"), 2, 0, [(901, "901")]))
        self.add_service(FakeService(1, "Room Maintenance Fees", Decimal("25.00"), auto_add=True), [13, 14])
        self.add_service(FakeService(2, "Breakfast", Decimal("15.00")), [11, 12, 13, 14])
        return self

    def mark_paid(self, order_id: int, amount: Decimal | None = None, state: int | None = None) -> None:
        """Back office: register a payment (full by default) and move the order state."""
        with self._lock:
            order = self.orders[order_id]
            paid = order.total_incl if amount is None else Decimal(amount)
            order.total_paid_real += paid
            if state is not None:
                order.current_state = state
            elif order.total_paid_real >= order.total_incl:
                order.current_state = self.states["PS_OS_PAYMENT_ACCEPTED"]
            else:
                order.current_state = self.states["PS_OS_PARTIAL_PAYMENT_ACCEPTED"]

    def occupies_rooms(self, order: FakeOrder) -> bool:
        return order.current_state not in (self.states["PS_OS_CANCELED"], self.states["PS_OS_REFUND"])

    def set_state(self, order_id: int, state: int) -> None:
        with self._lock:
            self.orders[order_id].current_state = state

    # -- fault injection -------------------------------------------------------------
    def fail_next(self, status: int = 500, times: int = 1, *, resource: str | None = None,
                  method: str | None = None, body: str | None = None,
                  headers: dict[str, str] | None = None) -> None:
        """Answer the next ``times`` requests (optionally only those with that HTTP
        ``method`` and whose resource path starts with ``resource``) with ``status``
        and ``body`` (default: a QloApps-style error document)."""
        with self._lock:
            self._faults.append({"kind": "status", "status": status, "times": times, "resource": resource,
                                 "method": method, "body": body, "headers": headers or {}})

    def delay_next(self, seconds: float, times: int = 1, *, resource: str | None = None,
                   method: str | None = None) -> None:
        """Sleep ``seconds`` before answering the next ``times`` matching requests."""
        with self._lock:
            self._faults.append({"kind": "delay", "seconds": seconds, "times": times, "resource": resource,
                                 "method": method})

    def garbage_next(self, times: int = 1, *, resource: str | None = None, method: str | None = None) -> None:
        """Answer HTTP 200 with an HTML page instead of JSON."""
        with self._lock:
            self._faults.append({"kind": "garbage", "times": times, "resource": resource, "method": method})

    def _take_fault(self, method: str, resource: str) -> dict | None:
        with self._lock:
            for fault in self._faults:
                if fault["method"] not in (None, method):
                    continue
                if fault["resource"] is None or resource.startswith(fault["resource"]):
                    fault["times"] -= 1
                    if fault["times"] <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def calls(self, method: str | None = None, resource: str | None = None) -> list[RecordedRequest]:
        """Recorded requests filtered by method and resource prefix (e.g. "bookings")."""
        with self._lock:
            return [
                r for r in self.requests
                if (method is None or r.method == method) and (resource is None or r.resource.startswith(resource))
            ]

    # -- HTTP plumbing ---------------------------------------------------------------
    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        split = urlsplit(handler.path)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        authorized = self._authorized(handler.headers.get("Authorization"))
        record = RecordedRequest(method, split.path, query, dict(handler.headers.items()), body, authorized)
        with self._lock:
            self.requests.append(record)
        resource = record.resource

        fault = self._take_fault(method, resource)
        if fault is not None and fault["kind"] == "delay":
            self._release.wait(fault["seconds"])
            fault = None
        if fault is not None and fault["kind"] == "status":
            payload = fault["body"] if fault["body"] is not None else json.dumps(
                {"errors": [{"code": 0, "message": f"Injected HTTP {fault['status']}"}]})
            self._send(handler, fault["status"], payload, "application/json", fault["headers"])
            return
        if fault is not None and fault["kind"] == "garbage":
            self._send(handler, 200, "<html><body>Maintenance</body></html>", "text/html")
            return

        if not authorized:
            message = "Invalid authentication key" if self._well_formed_key(handler.headers.get("Authorization")) \
                else "Invalid authentication key format"
            self._send(handler, 401, json.dumps({"errors": [{"code": 18, "message": message}]}),
                       "application/json",
                       {"WWW-Authenticate": 'Basic realm="Welcome to QloApps Webservice, please enter the '
                                            'authentication key as the login. No password required."'})
            return
        if "ws_key" in query:
            self._send(handler, 400, json.dumps({"errors": [{"code": 0, "message": "fake: ws_key in URL"}]}),
                       "application/json")
            return
        if query.get("output_format") != "JSON" and query.get("io_format") != "JSON" \
                and handler.headers.get("Output-Format") != "JSON" and handler.headers.get("Io-Format") != "JSON":
            self._send(handler, 200, '<?xml version="1.0" encoding="UTF-8"?>\n<qloapps></qloapps>', "text/xml")
            return
        try:
            status, payload = self._route(method, resource, query, body)
        except _PhpFatal:
            self._send(handler, 500, "", "text/html")
            return
        except _WsError as err:
            status, payload = err.status, {"errors": [{"code": err.code, "message": err.message}]}
        text = "" if payload is None else json.dumps(self._amounts(payload), ensure_ascii=False)
        self._send(handler, status, text, "application/json")

    @staticmethod
    def _key_of(header: str | None) -> str | None:
        if not header or not header.startswith("Basic "):
            return None
        try:
            return base64.b64decode(header[6:]).decode("utf-8").partition(":")[0]
        except (ValueError, UnicodeDecodeError):
            return None

    def _authorized(self, header: str | None) -> bool:
        return self._key_of(header) == self.api_key

    def _well_formed_key(self, header: str | None) -> bool:
        """WebserviceRequest::authenticate: a key is 32 capital letters or digits."""
        return bool(_KEY_FORMAT.match(self._key_of(header) or ""))

    def _amounts(self, value: Any) -> Any:
        """PHP's json_encode writes a whole float as an integer (3000, not 3000.0)."""
        if not self.behaviour.integer_amounts:
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, dict):
            return {k: self._amounts(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._amounts(v) for v in value]
        return value

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, text: str, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        data = text.encode("utf-8")
        try:
            handler.send_response(status)
            handler.send_header("Content-Type", f"{content_type}; charset=utf-8")
            handler.send_header("Content-Length", str(len(data)))
            handler.send_header("PSWS-Version", PSWS_VERSION)
            for key, value in (headers or {}).items():
                handler.send_header(key, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # client gave up (timeout tests)
            pass

    def _route(self, method: str, resource: str, query: dict, body: bytes) -> tuple[int, Any]:
        parts = [p for p in resource.split("/") if p]
        name = parts[0] if parts else ""
        object_id = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        with self._lock:
            if name == "room_types" and method == "GET":
                return self._get_room_types(query, object_id)
            if name == "configurations" and method == "GET":
                return self._get_configurations(query)
            if name == "hotel_ari" and method == "POST":
                return self._post_hotel_ari(body)
            if name == "hotel_ari":
                raise _WsError(405, f"Method {method} is not valid", 23)
            if name == "bookings" and method == "GET" and object_id is not None:
                order = self.orders.get(object_id)
                return (200, {"booking": self._booking_details(order)}) if order else (404, None)
            if name == "bookings" and method == "POST":
                return self._post_booking(body)
            if name == "bookings" and method == "PUT":
                return self._put_booking(body)
            if name == "orders" and method == "GET" and object_id is not None:
                order = self.orders.get(object_id)
                return (200, {"order": self._order_fields(order)}) if order else (404, None)
            if name == "orders" and method == "GET":
                return self._list(query, "orders", {o.id: {"id_customer": o.id_customer} for o in self.orders.values()})
            if name == "order_histories" and method == "POST":
                return self._post_order_history(body)
            if name == "customers" and method == "GET" and object_id is None:
                return self._list(query, "customers", {cid: {"email": c["email"]} for cid, c in self.customers.items()})
        raise _WsError(400, f"Resource of type \"{name}\" does not exists. Did you mean: ...?", 16)

    # -- resources -------------------------------------------------------------------
    def _lang(self, values: dict[int, str]) -> list[dict] | str:
        if self.behaviour.single_language:  # a one-language shop answers plain strings
            return values.get(1, "")
        return [{"id": lang, "value": values.get(lang, "")} for lang in LANGUAGES]

    def _room_type_fields(self, rt: FakeRoomType) -> dict:
        return {
            "id": rt.id,
            "id_hotel": str(rt.hotel_id),
            "adults": str(rt.adults),
            "children": str(rt.children),
            "id_default_image": str(rt.images[0]) if rt.images else "",
            "price": f"{rt.price:.6f}",
            "active": "1" if rt.active else "0",
            "name": self._lang(rt.names),
            "description": self._lang(rt.descriptions),
            "description_short": self._lang(rt.descriptions),
            "associations": {
                "images": [{"id": str(i)} for i in rt.images],
                "hotel_rooms": [{"id": str(room_id)} for room_id, _ in rt.rooms],
            },
        }

    def _get_room_types(self, query: dict, object_id: int | None) -> tuple[int, Any]:
        if object_id is not None:
            rt = self.room_types.get(object_id)
            return (200, {"room_type": self._room_type_fields(rt)}) if rt else (404, None)
        items = sorted(self.room_types.values(), key=lambda r: r.id)
        if "display" not in query:
            return 200, ({"room_types": [{"id": rt.id} for rt in items]} if items else [])
        full = [self._room_type_fields(rt) for rt in items]
        return 200, ({"room_types": full} if full else [])

    @staticmethod
    def _list(query: dict, node: str, rows: dict[int, dict]) -> tuple[int, Any]:
        """A list with PrestaShop's ``filter[field]=[value]``, ``sort=[id_ASC|id_DESC]``
        and ``limit=N``; only ids are returned (``display=[id]`` or no display)."""
        ids = sorted(rows)
        for key, wanted in query.items():
            if not key.startswith("filter["):
                continue
            field_name = key[len("filter["):-1]
            if not (wanted.startswith("[") and wanted.endswith("]")):
                raise _WsError(400, f"The \"{field_name}\" field filter is not valid", 0)
            if any(field_name not in row for row in rows.values()) and rows:
                raise _WsError(400, f"Unable to filter by unavailable field: {field_name}", 0)
            ids = [i for i in ids if str(rows[i][field_name]) == wanted[1:-1]]
        if query.get("sort") == "[id_DESC]":
            ids.reverse()
        limit = query.get("limit", "")
        if limit.isdigit():
            ids = ids[: int(limit)]
        elif limit:  # PrestaShop's "offset,count"
            offset, _, count = limit.partition(",")
            if not (offset.isdigit() and count.isdigit()):
                raise _WsError(400, "The \"limit\" value has to be formatted as \"nb\" or \"offset,nb\"", 0)
            ids = ids[int(offset): int(offset) + int(count)]
        if query.get("display") not in (None, "[id]"):
            raise _WsError(400, "fake: only display=[id] is supported on this list", 0)
        return 200, ({node: [{"id": i} for i in ids]} if ids else [])

    def _post_order_history(self, body: bytes) -> tuple[int, Any]:
        """PrestaShop's generic resource (XML body): ``OrderHistory::addWs`` runs
        ``changeIdOrderState``; a paid state records the rest of the order as an
        OrderPayment. The booking's rooms and services are not touched."""
        try:
            node = ET.fromstring(body).find("order_history")
        except ET.ParseError:
            raise _WsError(400, "HTTP XML response is not parsable", 0) from None
        if node is None:
            raise _WsError(400, "fake: no order_history in the request", 0)
        order_id, state = (node.findtext(tag, "").strip() for tag in ("id_order", "id_order_state"))
        for field_name, value in (("id_order", order_id), ("id_order_state", state)):
            if not value.isdigit():
                raise _WsError(400, f"Validation error: \"{field_name}\" is required", 0)
        order = self.orders.get(int(order_id))
        if order is None or int(state) not in self.states.values():
            raise _WsError(400, "fake: unknown order or order state", 0)
        order.current_state = int(state)
        order.history.append(int(state))
        if int(state) == self.states["PS_OS_PAYMENT_ACCEPTED"] and order.total_paid_real < order.total_incl:
            order.total_paid_real = order.total_incl
        return 201, {"order_history": {"id": len(order.history), "id_order": order.id, "id_order_state": int(state)}}

    def _get_configurations(self, query: dict) -> tuple[int, Any]:
        wanted = query.get("filter[name]")
        configuration = {**self.states, "PS_LANG_DEFAULT": 1,
                         "PS_ONE_PHONE_AT_LEAST": int(self.behaviour.phone_required)}
        names = list(configuration)
        if wanted:
            if not (wanted.startswith("[") and wanted.endswith("]")):
                raise _WsError(400, "The \"name\" field filter is not valid", 0)
            names = [n for n in wanted[1:-1].split("|") if n in configuration]
        items = [
            {"id": index + 1, "value": str(configuration[n]), "name": n, "id_shop_group": "", "id_shop": "",
             "date_add": "2031-01-01 00:00:00", "date_upd": "2031-01-01 00:00:00"}
            for index, n in enumerate(names)
        ]
        if "display" not in query:
            items = [{"id": item["id"]} for item in items]
        return 200, ({"configurations": items} if items else [])

    def _free_rooms(self, rt: FakeRoomType, date_from: date, date_to: date, exclude: int | None = None) -> list[tuple[int, str]]:
        busy: set[int] = set()
        for order in self.orders.values():
            if order.id == exclude or not self.occupies_rooms(order) or order.room_type_id != rt.id:
                continue
            if order.date_from < date_to and date_from < order.date_to:
                busy.update(room["id_room"] for room in order.rooms)
        return [(room_id, num) for room_id, num in rt.rooms if room_id not in busy]

    def _stay_price(self, rt: FakeRoomType, nights: int, rooms: int = 1) -> tuple[Decimal, Decimal]:
        excl = (rt.price * nights * rooms).quantize(CENT, ROUND_HALF_UP)
        tax = (excl * self.tax_rate).quantize(CENT, ROUND_HALF_UP)
        return excl, tax

    def _service_line(self, service: FakeService, nights: int, quantity: int = 1,
                      total_excl: Decimal | None = None) -> dict:
        if total_excl is None:
            total_excl = service.price * quantity * (nights if service.per_night else 1)
        excl = Decimal(total_excl).quantize(CENT, ROUND_HALF_UP)
        return {"id_service": service.id, "name": service.name, "quantity": quantity, "total_excl": excl,
                "total_tax": (excl * self.tax_rate).quantize(CENT, ROUND_HALF_UP), "per_night": service.per_night}

    def _auto_services(self, rt: FakeRoomType) -> list[FakeService]:
        return [self.services[i] for i in rt.services if self.services[i].auto_add]

    def _post_hotel_ari(self, body: bytes) -> tuple[int, Any]:
        if not body:
            raise _WsError(400, "Validation error: ARI search parameters are missing.", 85)
        try:
            root = ET.fromstring(body)
        except ET.ParseError:
            raise _WsError(400, "Validation error: Invalid ARI search parameters found.", 85) from None
        node = root.find("hotel_ari")
        if node is None:
            raise _WsError(400, "Validation error: Invalid request XML", 85)

        def text(tag: str) -> str | None:
            el = node.find(tag)
            return None if el is None or el.text is None else el.text.strip()

        for required in ("id_hotel", "date_from", "date_to"):
            if not text(required):
                raise _WsError(400, f'parameter "{required}" required', 41)
        hotel_id = int(text("id_hotel"))
        date_from = date.fromisoformat(text("date_from")[:10])
        date_to = date.fromisoformat(text("date_to")[:10])
        if date_to <= date_from:
            raise _WsError(400, 'Validation error: "Date to" must be after "date from"', 85)
        occupancies = [
            (int(o.findtext("adults") or 0), int(o.findtext("children") or 0))
            for o in node.findall("associations/room_occupancies/room_occupancy")
        ]
        for index, (adults, _children) in enumerate(occupancies):
            if adults < 1:
                raise _WsError(400, f"Validation error: Invalid value for number of adults for Room-{index + 1} "
                                    "occupancy(value must be greater than 0).", 85)
        asked = {key: text(f"get_{key}_rooms") == "1" for key in ("available", "booked", "partial_available",
                                                                   "unavailable")}
        if not any(asked.values()):
            asked["available"] = True  # no search type: available rooms only
        room_type_filter = int(text("id_room_type")) if text("id_room_type") else None
        nights = (date_to - date_from).days
        total_rooms = max(len(occupancies), 1)
        shapes = self.behaviour.ari_shapes
        room_types, total, free_total = [], 0, 0
        for rt in sorted(self.room_types.values(), key=lambda r: r.id):
            if rt.hotel_id != hotel_id or not rt.active:
                continue
            if room_type_filter is not None and rt.id != room_type_filter:
                continue
            free = self._free_rooms(rt, date_from, date_to)
            if any(a + c > rt.adults + rt.children for a, c in occupancies):
                free = []  # occupancy-wise search: the room type cannot host the guests
            total += len(rt.rooms)
            free_total += len(free)
            excl, tax = self._stay_price(rt, nights, total_rooms)
            # getRoomTypeTotalPrice adds the auto-added services to the room price
            for service in self._auto_services(rt):
                line = self._service_line(service, nights)
                excl += line["total_excl"] * total_rooms
                tax += line["total_tax"] * total_rooms
            if shapes:
                available = {str(room_id): {"id_room": str(room_id), "id_product": str(rt.id),
                                            "id_hotel": str(rt.hotel_id), "room_num": num, "id_status": "1",
                                            "comment": ""} for room_id, num in free}
            else:
                available = {str(room_id): {"id_room": room_id, "room_num": num} for room_id, num in free}
            rooms: dict[str, Any] = {}
            if asked["available"] or not shapes:
                rooms["available"] = available
            for key, node_name in (("partial_available", "partially_available"), ("booked", "booked"),
                                   ("unavailable", "unavailable")):
                if asked[key] or not shapes:
                    rooms[node_name] = []
            room_types.append({
                "id_room_type": str(rt.id) if shapes else rt.id,
                "base_price": float(rt.price),
                "base_price_with_tax": float((rt.price * (1 + self.tax_rate)).quantize(CENT)),
                "total_price": float(excl),
                "total_price_with_tax": float(excl + tax),
                "name": rt.names.get(1, ""),
                "rooms": rooms,
            })
        answer = {"id_hotel": str(hotel_id), "date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
                  "currency": "EUR"}
        if room_types:
            answer.update({"total_rooms": total, "total_available_rooms": free_total, "room_types": room_types})
        return 200, {"hotel_ari": answer}

    @staticmethod
    def _listish(value: Any, key: str) -> list:
        """Accept both JSON lists and XML-style {"room_type": {...}|[...]} wrappers."""
        if isinstance(value, list):
            return value
        if isinstance(value, dict) and key in value:
            inner = value[key]
            return inner if isinstance(inner, list) else [inner]
        return []

    def _customer_for(self, detail: dict) -> int:
        email = detail.get("email")
        for cid, customer in self.customers.items():
            if customer["email"] == email:
                customer.update({k: detail[k] for k in ("firstname", "lastname") if detail.get(k)})
                if detail.get("phone"):
                    customer["phone"] = detail["phone"]
                return cid
        cid = len(self.customers) + 1
        self.customers[cid] = {"firstname": detail["firstname"], "lastname": detail["lastname"], "email": email,
                               "phone": detail.get("phone", "")}
        return cid

    def _requested_services(self, rt: FakeRoomType, room: dict, nights: int) -> list[dict]:
        """The services a per-room line lists (existing service products by ``id_service``)."""
        lines = []
        for wanted in self._listish(room.get("services"), "service"):
            service = self.services.get(int(wanted.get("id_service") or 0))
            if service is None:
                raise _WsError(400, "Invalid request for service.", 404)
            if service.id not in rt.services:
                raise _WsError(400, "Service is not linked with the requested room type.", 404)
            quantity = int(wanted.get("quantity") or 1)
            total = wanted.get("total_price_without_tax")
            lines.append(self._service_line(service, nights, quantity, None if total in (None, "") else Decimal(str(total))))
        return lines

    def _post_booking(self, body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise _WsError(500, "Invalid request.", 127) from None
        params = data.get("booking") if isinstance(data, dict) else None
        if not isinstance(params, dict):
            raise _WsError(500, "Invalid request.", 127)
        params = {**params, **(params.pop("associations", None) or {})}
        if "id" in params:
            raise _WsError(400, "id is forbidden when adding a new resource", 404)
        if params.get("currency") not in ("EUR", "USD"):
            raise _WsError(400, "Please provide valid currency.", 404)
        customer = params.get("customer_detail")
        if not customer:
            raise _WsError(400, "Customer details not found.", 404)
        if int(params.get("id_property") or 0) not in self.hotels:
            raise _WsError(400, "Please provide a valid id_property.", 404)
        for key, label in (("firstname", "first name"), ("lastname", "last name"), ("email", "email")):
            if not str(customer.get(key) or "").strip():
                raise _WsError(400, f"Please provide a valid {label}.", 404)
        if self.behaviour.phone_required and not str(customer.get("phone") or "").strip():
            raise _WsError(400, "Please provide a valid phone number.", 404)
        room_types = self._listish(params.get("room_types"), "room_type")
        if len(room_types) != 1:
            raise _WsError(400, "Requested room(s) not available.", 404)  # fake: one stay per booking
        req = room_types[0]
        rt = self.room_types.get(int(req.get("id_room_type") or 0))
        try:
            date_from = date.fromisoformat(str(req["checkin_date"])[:10])
            date_to = date.fromisoformat(str(req["checkout_date"])[:10])
            wanted = int(req["number_of_rooms"])
        except (KeyError, ValueError):
            raise _WsError(400, "Invalid check in date in the request", 404) from None
        if rt is None or not rt.active:
            raise _WsError(400, "Invalid room type in the request", 404)
        rooms_req = self._listish(req.get("rooms"), "room")
        if rooms_req and len(rooms_req) != wanted:
            raise _WsError(400, "Room count does not matches with the number of rooms", 404)
        free = self._free_rooms(rt, date_from, date_to)
        if rt.hotel_id != int(params["id_property"]) or date_to <= date_from or len(free) < wanted:
            raise _WsError(400, "Requested room(s) not available.", 404)
        if "payment_status" in params and int(params["payment_status"]) not in (1, 2, 3):
            raise _WsError(400, "Invalid payment status.", 404)
        nights = (date_to - date_from).days
        services_per_room = [self._requested_services(rt, rooms_req[i] if i < len(rooms_req) else {}, nights)
                             for i in range(wanted)]
        if self.behaviour.name_validation_fatal and any(
                _NOT_A_NAME.search(str(customer.get(key) or "")) for key in ("firstname", "lastname")):
            raise _PhpFatal()  # Customer::add() validates the name and PHP dies with a fatal error
        cid = self._customer_for(customer)
        excl, tax = self._stay_price(rt, nights, wanted)
        order_rooms = []
        for index in range(wanted):
            occupancy = rooms_req[index] if index < len(rooms_req) else {}
            services = services_per_room[index]
            if not self.behaviour.auto_services_dropped:  # a kind shop keeps them; QloApps removes them
                listed = {line["id_service"] for line in services}
                services += [self._service_line(s, nights) for s in self._auto_services(rt) if s.id not in listed]
            order_rooms.append({
                "id_room": free[index][0],
                "id_hotel_booking": self.next_booking_line_id,
                # QloApps reads the occupancy from "adult"/"child" (falls back to the base occupancy).
                "adults": int(occupancy.get("adult") or rt.adults),
                "child": int(occupancy.get("child") or 0),
                "services": services,
            })
            self.next_booking_line_id += 1
        state = {1: self.states["PS_OS_PAYMENT_ACCEPTED"], 2: self.states["PS_OS_PARTIAL_PAYMENT_ACCEPTED"]}.get(
            int(params.get("payment_status") or 3), self.states["PS_OS_AWAITING_PAYMENT"])
        order = FakeOrder(
            id=self.next_order_id, hotel_id=rt.hotel_id, currency=params["currency"], id_customer=cid,
            room_type_id=rt.id, date_from=date_from, date_to=date_to, rooms=order_rooms, room_excl=excl,
            room_tax=tax, current_state=state, source=str(params.get("source") or ""),
            reference=f"FAKE{self.next_order_id:05d}",
            date_add=datetime(2031, 1, 1, 10, 0).strftime("%Y-%m-%d %H:%M:%S"),
        )
        if params.get("remark"):
            order.messages.append(str(params["remark"]))
        self.orders[order.id] = order
        self.next_order_id += 1
        return 200, {"booking": self._booking_details(order)}

    def _put_booking(self, body: bytes) -> tuple[int, Any]:
        try:
            data = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise _WsError(500, "Invalid request.", 127) from None
        params = data.get("booking") if isinstance(data, dict) else None
        if not isinstance(params, dict):
            raise _WsError(500, "Invalid request.", 127)
        params = {**params, **(params.pop("associations", None) or {})}
        if not params.get("id"):
            raise _WsError(400, "id is required with PUT requests.", 404)
        order = self.orders.get(int(params["id"]))
        if order is None:
            raise _WsError(400, "Booking not found.", 404)
        status = params.get("booking_status")
        if status is not None and int(status) not in (1, 2, 3, 4):
            raise _WsError(400, "Invalid booking status.", 404)
        room_types = self._listish(params.get("room_types"), "room_type")
        if not room_types:
            raise _WsError(400, "Rooms not found in the request.", 404)
        if int(params.get("id_property") or 0) not in self.hotels:
            raise _WsError(400, "Please provide a valid id_property.", 404)
        email = (params.get("customer_detail") or {}).get("email")
        if not any(c["email"] == email for c in self.customers.values()):
            raise _WsError(400, "Customer not found.", 404)
        rt = self.room_types[order.room_type_id]
        nights = (order.date_to - order.date_from).days
        new_services: dict[int, list[dict]] = {}
        for req in room_types:
            same = (
                int(req.get("id_room_type") or 0) == order.room_type_id
                and str(req.get("checkin_date"))[:10] == order.date_from.isoformat()
                and str(req.get("checkout_date"))[:10] == order.date_to.isoformat()
                and int(req.get("number_of_rooms") or 0) == len(order.rooms)
            )
            if not same:
                raise _WsError(400, "fake: changing the rooms of a booking is not supported", 404)
            rooms_req = self._listish(req.get("rooms"), "room")
            if rooms_req and len(rooms_req) != len(order.rooms):
                raise _WsError(400, "Room count does not matches with the number of rooms", 404)
            by_room = {int(r.get("id_room") or 0): r for r in rooms_req}
            for index, room in enumerate(order.rooms):
                if rooms_req:  # per-room lines: the room's services become the ones listed
                    line = by_room.get(room["id_room"]) or rooms_req[index]
                    new_services[index] = self._requested_services(rt, line, nights)
                elif self.behaviour.put_without_rooms_drops_services:
                    new_services[index] = []
        if status is not None:
            order.current_state = {1: self.states["PS_OS_AWAITING_PAYMENT"], 2: self.states["PS_OS_PAYMENT_ACCEPTED"],
                                   3: self.states["PS_OS_CANCELED"], 4: self.states["PS_OS_REFUND"]}[int(status)]
        for index, services in new_services.items():
            order.rooms[index]["services"] = services
        remark = str(params.get("remark") or "").strip()
        if remark and remark not in order.messages:  # QloApps skips identical messages
            order.messages.append(remark)
        return 200, {"booking": self._booking_details(order)}

    def add_services_to_order(self, order_id: int, service_id: int, quantity: int = 1) -> None:
        """Back office: add a service (e.g. breakfast) to every room of an order."""
        with self._lock:
            order = self.orders[order_id]
            nights = (order.date_to - order.date_from).days
            for room in order.rooms:
                room.setdefault("services", []).append(self._service_line(self.services[service_id], nights, quantity))

    def _booking_details(self, order: FakeOrder) -> dict:
        customer = self.customers[order.id_customer]
        rt = self.room_types[order.room_type_id]
        nights = (order.date_to - order.date_from).days
        per_room_excl, per_room_tax = self._stay_price(rt, nights)
        rooms = []
        for room in order.rooms:
            line = {key: room[key] for key in ("id_room", "id_hotel_booking", "adults", "child")}
            line.update({"unit_price_without_tax": float(per_room_excl), "total_tax": float(per_room_tax)})
            if room.get("services"):
                line["services"] = [{
                    "id_service": s["id_service"], "name": s["name"], "quantity": s["quantity"],
                    "unit_price_without_tax": float((s["total_excl"] / s["quantity"]).quantize(CENT)),
                    "total_price_without_tax": float(s["total_excl"]), "total_tax": float(s["total_tax"]),
                    "per_night": int(s["per_night"]), "price_mode": 2 if s["per_night"] else 1,
                } for s in room["services"]]
            rooms.append(line)
        return {
            "id": order.id,
            "id_property": order.hotel_id,
            "currency": order.currency,
            "source": order.source,
            "booking_date": order.date_add,
            "id_language": 1,
            "associations": {
                "customer_detail": {
                    "id_customer": order.id_customer,
                    "firstname": customer["firstname"],
                    "lastname": customer["lastname"],
                    "email": customer["email"],
                    "phone": customer.get("phone", ""),
                },
                "price_details": {
                    "total_paid": float(order.total_paid_real),
                    "total_price_without_tax": float(order.total_excl),
                    "total_tax": float(order.total_tax),
                },
                "cart_rules": [],
                # Message::getMessagesByOrderId orders by date_add DESC: newest first.
                "remarks": list(reversed(order.messages)),
                "room_types": [{
                    "id_room_type": order.room_type_id,
                    "checkin_date": f"{order.date_from.isoformat()} 00:00:00",
                    "checkout_date": f"{order.date_to.isoformat()} 00:00:00",
                    "total_tax": float(order.room_tax),
                    "number_of_rooms": len(order.rooms),
                    "name": rt.names.get(1, ""),
                    "rooms": rooms,
                }],
            },
        }

    def _order_fields(self, order: FakeOrder) -> dict:
        paid_states = (self.states["PS_OS_PAYMENT_ACCEPTED"], self.states["PS_OS_PARTIAL_PAYMENT_ACCEPTED"],
                       self.states["PS_OS_REMOTE_PAYMENT_ACCEPTED"])
        if self.behaviour.orders_bookings_association:
            associations: dict = {"bookings": [{"id": str(room["id_hotel_booking"])} for room in order.rooms]}
        else:
            associations = {"order_rows": []}
        return {
            "id": order.id,
            "id_currency": "1",
            "id_lang": "1",
            "id_customer": str(order.id_customer),
            "current_state": str(order.current_state),
            "module": "wsorder",
            "valid": "1" if order.current_state in paid_states else "0",
            "date_add": order.date_add,
            "payment": "Webservice",
            "total_paid": f"{order.total_incl:.6f}",
            "total_paid_tax_incl": f"{order.total_incl:.6f}",
            "total_paid_tax_excl": f"{order.total_excl:.6f}",
            "total_paid_real": f"{order.total_paid_real:.6f}",
            "total_products": f"{order.total_excl:.6f}",
            "total_products_wt": f"{order.total_incl:.6f}",
            "reference": order.reference,
            "associations": associations,
        }
