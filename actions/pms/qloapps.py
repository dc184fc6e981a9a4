"""QloApps webservice backend (``PMS`` implementation).

QloApps (open-source hotel booking built on PrestaShop 1.6) exposes PrestaShop's
webservice at ``{base_url}/api/<resource>``. Authentication is HTTP Basic with the
webservice key as user name and an empty password; the key is only ever sent in
that header (never as the ``ws_key`` query parameter, which would leak it into
URLs, proxies and logs). Every request asks for ``output_format=JSON``.

Resources used (shapes read from the QloApps sources, see the report):

``GET room_types?display=full``
    The room-type catalogue (PrestaShop ``Product``; QloApps renames the node to
    ``room_types``/``room_type``). Per room type: ``id``, ``id_hotel``, ``adults``,
    ``children``, ``price`` (base rate, tax excluded), ``active``, multilingual
    ``name``/``description``/``description_short`` (a list of
    ``{"id": <id_lang>, "value": ...}``, or a plain string when the shop has a
    single language) and ``associations.images`` (``[{"id": ...}]``). ``id_hotel``
    is a computed field the webservice cannot filter on, so the catalogue is
    filtered by ``hotel_id`` here.
``POST hotel_ari`` (XML body, JSON answer)
    Availability/rates/inventory search: ``<hotel_ari>`` with ``id_hotel``,
    ``date_from``, ``date_to``, optional ``id_room_type``, ``get_available_rooms``
    and ``associations/room_occupancies/room_occupancy/{adults,children}``. The
    answer ``{"hotel_ari": {..., "room_types": [{"id_room_type", "total_price",
    "total_price_with_tax", "rooms": {"available": {<id_room>: {"id_room",
    "room_num"}}, ...}}]}}`` gives free rooms and the stay price for one room.
``POST bookings`` / ``GET bookings/{id}`` / ``PUT bookings/{id}`` (QloApps 1.6.1+)
    ``{"booking": {"id_property", "currency", "booking_status", "payment_status",
    "source", "remark", "associations": {"customer_detail": {...},
    "room_types": [{"id_room_type", "checkin_date", "checkout_date",
    "number_of_rooms", "rooms": [...]}]}}}``. The GET/POST/PUT answer adds
    ``price_details`` (``total_paid`` = amount actually paid,
    ``total_price_without_tax``, ``total_tax``) and ``remarks`` (the order's
    messages). A ``booking`` id is the PrestaShop order id. ``booking_status`` 3
    cancels (order state ``PS_OS_CANCELED``); a ``remark`` on PUT adds an order
    message (identical texts are not stored twice).
``GET orders/{id}``
    The bookings resource does not return the order state, so the status comes
    from the order: ``current_state``, ``total_paid_tax_incl`` and
    ``total_paid_real``.
``GET configurations?display=full&filter[name]=[...]``
    Resolves the order-state ids ``PS_OS_CANCELED``, ``PS_OS_REFUND`` and
    ``PS_OS_PAYMENT_ACCEPTED`` (unless ``order_state_ids`` is given).

Booking references
    QloApps orders have a numeric id and a 9-letter ``reference``; our NLU only
    recognises ``BK`` + 6 digits, so guests see ``reference = f"BK{id:06d}"``
    (order 42 -> ``BK000042``) and :func:`parse_reference` turns it back into the
    order id (``bk-000042`` and ``BK 000042`` are accepted too). Orders above
    999999 produce 7+ digits that the NLU regex will not extract.

Status
    ``CANCELLED`` when the order state is cancelled or refunded; ``CONFIRMED``
    (paid) only when QloApps says so: state ``PS_OS_PAYMENT_ACCEPTED`` or amount
    paid (``total_paid_real``) >= order total; otherwise ``PENDING_PAYMENT``.
    ``confirm_payment`` only records the guest's notice as an order message and
    re-reads the state: the guest's word never marks a booking paid.

Late checkout
    ``late_checkout_available`` runs ``hotel_ari`` for the checkout night
    (``checkout`` -> ``checkout + 1``) restricted to the booking's room type and
    answers True when the booked room itself (``rooms[].id_room``) is free that
    night, i.e. no arrival needs it (if the booking carries no room id: any room
    of that type free). QloApps has no late-checkout field, so
    ``set_late_checkout`` writes an order message
    ``[guest-assistant <UTC timestamp>] Late checkout until HH:MM, fee X CUR``;
    the newest such message is read back into ``late_checkout_until``/``_fee``.

Prices
    With ``prices_include_tax`` (default) availability totals use
    ``total_price_with_tax`` and booking totals ``total_price_without_tax +
    total_tax``. ``list_room_types`` shows the catalogue base rate (tax excluded;
    the resource carries no tax-inclusive price).

Room types
    ``room_type_map`` maps the canonical codes (single/double/suite/family) to
    QloApps room type ids. Without it, active room types of the hotel are matched
    by name keywords in any language (suite, famil*, single/individual/sencilla,
    double/doble/twin/matrimonial); the lowest id wins. QloApps' demo names
    ("Delux Rooms"...) match nothing, so real deployments should pass the map.

Guests
    QloApps requires first name, last name and e-mail. A one-word name is sent as
    both first and last name (and read back once); a contact that is not an
    e-mail becomes ``guest-<hash>@<guest_email_domain>`` and, when it looks like
    a phone number, is also sent as ``phone``. The contact is kept in the booking
    remark.

Retried bookings (idempotency)
    QloApps has no idempotency key, so the request id travels in the booking
    remark (``...; request <id>``). A retried request (``BookingRequest.replay``,
    set by the saved-request worker) first looks for it: ``GET customers``
    filtered by the guest's e-mail, then that customer's 10 newest ``orders``,
    each loaded (``bookings/{id}``) and matched on hotel, room type, dates and
    the request id in its remarks. Limitations: it costs 2 + up to 10x2
    requests; the key needs GET permission on ``customers`` (without it a
    warning is logged and the booking is made, so a duplicate is possible);
    a booking whose remark QloApps did not store is not recognised.

Errors
    Connection errors, timeouts, HTTP 429 and 5xx -> ``PMSUnavailable``; 404 or a
    booking of another hotel -> ``BookingNotFound``; no free room ->
    ``NoAvailability``; cancelling a cancelled/finished stay ->
    ``InvalidBookingState``; 401/403 and other 4xx -> ``PMSError``. Messages never
    contain the webservice key (it is also scrubbed from any server text).
"""
from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
import time as _time
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Callable, Mapping

import requests

from actions.pms.base import (
    PMS,
    Availability,
    Booking,
    BookingNotFound,
    BookingRequest,
    BookingStatus,
    InvalidBookingState,
    NoAvailability,
    PMSError,
    PMSUnavailable,
    RoomType,
)

logger = logging.getLogger(__name__)

CANONICAL_CODES = ("single", "double", "suite", "family")

# Checked in this order, so "Family Double Room" is family and "Double Suite" a suite.
_CODE_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("suite", re.compile(r"\bsuites?\b", re.I)),
    ("family", re.compile(r"\bfamil", re.I)),
    ("single", re.compile(r"\b(single|individual|sencilla|simple)\b", re.I)),
    ("double", re.compile(r"\b(double|doble|twin|matrimonial)\b", re.I)),
)

# QloApps booking API constants (WebserviceSpecificManagementBookings).
BOOKING_STATUS_NEW = 1
BOOKING_STATUS_CANCELLED = 3
PAYMENT_STATUS_AWAITING = 3

# Configuration keys of the order states we need.
_STATE_KEYS = {
    "cancelled": "PS_OS_CANCELED",
    "refunded": "PS_OS_REFUND",
    "payment_accepted": "PS_OS_PAYMENT_ACCEPTED",
}

_REFERENCE_RE = re.compile(r"^\s*BK[\s_-]?(\d{6,})\s*$", re.I)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_TAG_RE = re.compile(r"<[^>]+>")
_MARKER = "guest-assistant"
_LATE_RE = re.compile(
    r"\[" + _MARKER + r" (?P<ts>[^\]]+)\] Late checkout until (?P<until>\d{1,2}:\d{2}),"
    r" fee (?P<fee>\d+(?:\.\d+)?)"
)
_CENT = Decimal("0.01")


def format_reference(booking_id: int) -> str:
    """QloApps booking (order) id -> guest-facing reference, e.g. 42 -> BK000042."""
    return f"BK{int(booking_id):06d}"


def parse_reference(reference: str) -> int | None:
    """Guest-facing reference -> QloApps booking id (None when malformed)."""
    match = _REFERENCE_RE.match(reference or "")
    if not match:
        return None
    booking_id = int(match.group(1))
    return booking_id or None


class _NotFound(PMSError):
    """HTTP 404 from QloApps (internal; mapped by the caller)."""


class _Rejected(PMSError):
    """HTTP 4xx with QloApps error messages (internal subclass of PMSError)."""

    def __init__(self, message: str, status: int, messages: list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.messages = messages


class QloAppsPMS(PMS):
    """PMS backed by a QloApps hotel (one ``hotel_id``) through its webservice."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        hotel_id: int,
        currency: str = "EUR",
        timeout: float = 5.0,
        session: requests.Session | None = None,
        room_type_map: Mapping[str, int] | None = None,
        *,
        language_ids: Mapping[str, int] | None = None,
        default_language: str = "en",
        prices_include_tax: bool = True,
        order_state_ids: Mapping[str, int | list[int] | tuple[int, ...]] | None = None,
        booking_source: str = "Guest assistant",
        guest_email_domain: str = "guest-assistant.invalid",
        catalog_ttl: float = 300.0,
        clock: Callable[[], date] = date.today,
    ) -> None:
        if not base_url:
            raise ValueError("QloApps base_url is required")
        if not api_key:
            raise ValueError("QloApps webservice key is required")
        base = base_url.rstrip("/")
        if base.endswith("/api"):
            base = base[: -len("/api")]
        self._base_url = base
        self._api_url = f"{base}/api"
        self.__key = api_key
        self.hotel_id = int(hotel_id)
        self.currency = currency
        self.timeout = timeout
        self._session = session or requests.Session()
        self._owns_session = session is None
        self._explicit_map = {code: int(rt_id) for code, rt_id in room_type_map.items()} if room_type_map else None
        if self._explicit_map:
            unknown = set(self._explicit_map) - set(CANONICAL_CODES)
            if unknown:
                raise ValueError(f"unknown room type codes in room_type_map: {sorted(unknown)}")
        self.language_ids = dict(language_ids or {"en": 1, "es": 2})
        self.default_language = default_language
        self.prices_include_tax = prices_include_tax
        self.booking_source = booking_source
        self.guest_email_domain = guest_email_domain
        self.catalog_ttl = catalog_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._catalog_cache: tuple[float, list[dict]] | None = None
        self._state_ids: dict[str, frozenset[int]] | None = None
        if order_state_ids is not None:
            states = {name: _id_set(order_state_ids.get(name, ())) for name in _STATE_KEYS}
            if not states["cancelled"] or not states["payment_accepted"]:
                raise ValueError("order_state_ids needs at least 'cancelled' and 'payment_accepted'")
            self._state_ids = states

    def __repr__(self) -> str:  # never show the key
        return f"QloAppsPMS(base_url={self._base_url!r}, hotel_id={self.hotel_id})"

    def close(self) -> None:
        if self._owns_session:
            self._session.close()

    # -- HTTP ----------------------------------------------------------------
    def _scrub(self, text: str) -> str:
        return text.replace(self.__key, "***") if self.__key else text

    def _request(
        self,
        method: str,
        resource: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        xml_body: str | None = None,
    ) -> Any:
        query = {"output_format": "JSON"}
        query.update(params or {})
        headers = {"Accept": "application/json"}
        data = None
        if xml_body is not None:
            headers["Content-Type"] = "application/xml"
            data = xml_body.encode("utf-8")
        what = f"QloApps {method} {resource}"
        started = _time.monotonic()
        try:
            response = self._session.request(
                method,
                f"{self._api_url}/{resource}",
                params=query,
                json=json_body,
                data=data,
                headers=headers,
                auth=(self.__key, ""),
                timeout=self.timeout,
            )
        except requests.Timeout as exc:
            logger.warning("%s timed out after %ss", what, self.timeout)
            raise PMSUnavailable(f"{what} timed out after {self.timeout}s") from exc
        except requests.RequestException as exc:
            logger.warning("%s failed: %s", what, type(exc).__name__)
            raise PMSUnavailable(f"{what} failed: {type(exc).__name__}") from exc
        status = response.status_code
        logger.debug("%s -> HTTP %s in %.0f ms", what, status, (_time.monotonic() - started) * 1000)
        if status == 429 or status >= 500:
            raise PMSUnavailable(f"{what}: HTTP {status}")
        if status == 404:
            raise _NotFound(f"{what}: not found")
        if status in (401, 403):
            raise PMSError(f"{what}: HTTP {status}, the webservice key was rejected or lacks permission")
        if status >= 400:
            messages = self._error_messages(response)
            detail = "; ".join(messages) or "no detail"
            raise _Rejected(f"{what}: HTTP {status}: {detail}", status, messages)
        if not response.content or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise PMSError(f"{what}: answer is not JSON (HTTP {status})") from None

    def _error_messages(self, response: requests.Response) -> list[str]:
        try:
            payload = response.json()
        except ValueError:
            return []
        errors = payload.get("errors") if isinstance(payload, dict) else None
        messages = []
        for err in errors or []:
            if isinstance(err, dict) and err.get("message"):
                messages.append(self._scrub(str(err["message"]))[:300])
        return messages

    # -- catalogue -------------------------------------------------------------
    def _catalog(self) -> list[dict]:
        with self._lock:
            cached = self._catalog_cache
        if cached and _time.monotonic() - cached[0] < self.catalog_ttl:
            return cached[1]
        payload = self._request("GET", "room_types", params={"display": "full"})
        items = [
            rt
            for rt in _objects(payload, "room_types")
            if _int(rt.get("id_hotel")) == self.hotel_id and _truthy(rt.get("active", "1"))
        ]
        items.sort(key=lambda rt: _int(rt.get("id")))
        with self._lock:
            self._catalog_cache = (_time.monotonic(), items)
        return items

    def _code_map(self, catalog: list[dict]) -> dict[str, dict]:
        """Canonical code -> raw room type of this hotel."""
        by_id = {_int(rt.get("id")): rt for rt in catalog}
        result: dict[str, dict] = {}
        if self._explicit_map is not None:
            for code, rt_id in self._explicit_map.items():
                if rt_id in by_id:
                    result[code] = by_id[rt_id]
                else:
                    logger.warning("room_type_map: QloApps room type %s (%s) is not an active room type of hotel %s",
                                   rt_id, code, self.hotel_id)
            return result
        for rt in catalog:
            names = " | ".join(_all_values(rt.get("name")))
            for code, pattern in _CODE_KEYWORDS:
                if pattern.search(names):
                    result.setdefault(code, rt)
                    break
        return result

    def _localise(self, value: Any, language: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, list):
            return str(value)
        by_lang = {}
        for item in value:
            if isinstance(item, dict):
                by_lang[_int(item.get("id"))] = "" if item.get("value") is None else str(item.get("value"))
        for lang in (language, self.default_language):
            lang_id = self.language_ids.get(lang)
            if lang_id is not None and by_lang.get(lang_id):
                return by_lang[lang_id]
        return next((text for text in by_lang.values() if text), "")

    def _photos(self, rt: dict) -> tuple[str, ...]:
        ids: list[int] = []
        default = _int(rt.get("id_default_image"))
        if default:
            ids.append(default)
        for image in ((rt.get("associations") or {}).get("images") or []):
            image_id = _int(image.get("id") if isinstance(image, dict) else image)
            if image_id and image_id not in ids:
                ids.append(image_id)
        # PrestaShop's public image path: /img/p/1/2/12.jpg for image 12.
        return tuple(f"{self._base_url}/img/p/{'/'.join(str(i))}/{i}.jpg" for i in ids)

    def _room_type(self, code: str, rt: dict, language: str) -> RoomType:
        description = self._localise(rt.get("description_short"), language) or self._localise(
            rt.get("description"), language
        )
        max_guests = _int(rt.get("max_guests")) or (_int(rt.get("adults")) + _int(rt.get("children")))
        return RoomType(
            code=code,
            name=self._localise(rt.get("name"), language),
            description=_strip_html(description),
            max_guests=max_guests or 1,
            nightly_rate=_money(_dec(rt.get("price"))),
            currency=self.currency,
            photos=self._photos(rt),
        )

    def _room_types(self, language: str) -> dict[str, RoomType]:
        mapping = self._code_map(self._catalog())
        return {code: self._room_type(code, mapping[code], language) for code in CANONICAL_CODES if code in mapping}

    # -- order states ------------------------------------------------------------
    def _order_states(self) -> dict[str, frozenset[int]]:
        with self._lock:
            if self._state_ids is not None:
                return self._state_ids
        names = "|".join(_STATE_KEYS.values())
        try:
            payload = self._request(
                "GET", "configurations", params={"display": "full", "filter[name]": f"[{names}]"}
            )
        except _NotFound:
            payload = None
        found: dict[str, set[int]] = {name: set() for name in _STATE_KEYS}
        for item in _objects(payload, "configurations"):
            for name, key in _STATE_KEYS.items():
                if item.get("name") == key and _int(item.get("value")):
                    found[name].add(_int(item.get("value")))
        if not found["cancelled"] or not found["payment_accepted"]:
            raise PMSError(
                "QloApps order states PS_OS_CANCELED/PS_OS_PAYMENT_ACCEPTED could not be read; "
                "allow GET on 'configurations' for the webservice key or pass order_state_ids"
            )
        states = {name: frozenset(ids) for name, ids in found.items()}
        with self._lock:
            self._state_ids = states
        return states

    def _status(self, order: dict) -> BookingStatus:
        states = self._order_states()
        state = _int(order.get("current_state"))
        if state in states["cancelled"] or state in states["refunded"]:
            return BookingStatus.CANCELLED
        total = _dec(order.get("total_paid_tax_incl") or order.get("total_paid"))
        paid = _dec(order.get("total_paid_real"))
        if state in states["payment_accepted"] or (total > 0 and paid >= total):
            return BookingStatus.CONFIRMED
        return BookingStatus.PENDING_PAYMENT

    # -- bookings ----------------------------------------------------------------
    def _load(self, reference: str) -> tuple[dict, dict]:
        booking_id = parse_reference(reference)
        if booking_id is None:
            raise BookingNotFound(reference)
        try:
            payload = self._request("GET", f"bookings/{booking_id}")
            detail = payload.get("booking") if isinstance(payload, dict) else None
            if not isinstance(detail, dict) or not self._is_ours(detail):
                raise BookingNotFound(reference)
            order_payload = self._request("GET", f"orders/{booking_id}")
        except _NotFound:
            raise BookingNotFound(reference) from None
        order = order_payload.get("order") if isinstance(order_payload, dict) else None
        if not isinstance(order, dict):
            raise BookingNotFound(reference)
        return detail, order

    def _is_ours(self, detail: dict) -> bool:
        return _int(detail.get("id_property")) == self.hotel_id and bool(
            (detail.get("associations") or {}).get("room_types")
        )

    def _to_booking(self, detail: dict, status: BookingStatus) -> Booking:
        assoc = detail.get("associations") or {}
        customer = assoc.get("customer_detail") or {}
        room_types = assoc.get("room_types") or []
        first = room_types[0]
        checkin = _day(first.get("checkin_date"))
        checkout = _day(first.get("checkout_date"))
        rooms = _as_list(first.get("rooms"))
        guests = sum(_int(r.get("adults")) + _int(r.get("child")) for r in rooms if isinstance(r, dict))
        prices = assoc.get("price_details") or {}
        total = _dec(prices.get("total_price_without_tax"))
        if self.prices_include_tax:
            total += _dec(prices.get("total_tax"))
        nights = max((checkout - checkin).days, 1)
        firstname = str(customer.get("firstname") or "").strip()
        lastname = str(customer.get("lastname") or "").strip()
        guest_name = firstname if firstname == lastname else f"{firstname} {lastname}".strip()
        until, fee = self._late_checkout(assoc.get("remarks"))
        return Booking(
            reference=format_reference(_int(detail.get("id"))),
            guest_name=guest_name,
            room_type=self._code_for(_int(first.get("id_room_type"))),
            checkin=checkin,
            checkout=checkout,
            guests=guests or 1,
            status=status,
            nightly_rate=_money(total / nights),
            total_price=_money(total),
            currency=str(detail.get("currency") or self.currency),
            late_checkout_until=until,
            late_checkout_fee=fee,
        )

    def _code_for(self, room_type_id: int) -> str:
        if self._explicit_map is not None:
            codes = {rt_id: code for code, rt_id in self._explicit_map.items()}
        else:
            codes = {_int(rt.get("id")): code for code, rt in self._code_map(self._catalog()).items()}
        return codes.get(room_type_id, str(room_type_id))

    @staticmethod
    def _late_checkout(remarks: Any) -> tuple[time | None, Decimal | None]:
        best: tuple[str, time, Decimal] | None = None
        for remark in _as_list(remarks):
            text = remark.get("message") if isinstance(remark, dict) else remark
            for match in _LATE_RE.finditer(str(text or "")):
                hours, minutes = (int(x) for x in match.group("until").split(":"))
                if hours > 23 or minutes > 59:
                    continue
                candidate = (match.group("ts"), time(hours, minutes), Decimal(match.group("fee")))
                if best is None or candidate[0] >= best[0]:
                    best = candidate
        return (best[1], best[2]) if best else (None, None)

    def _put(self, detail: dict, reference: str, **fields: Any) -> dict:
        """PUT bookings/{id} changing only ``fields`` (rooms are echoed unchanged).

        Room types are sent without per-room lines: QloApps then keeps the rooms,
        their prices, services and facilities untouched (per-room lines would make
        it rewrite services/facilities from the request)."""
        assoc = detail.get("associations") or {}
        customer = assoc.get("customer_detail") or {}
        room_types = []
        for rt in assoc.get("room_types") or []:
            room_types.append(
                {
                    "id_room_type": _int(rt.get("id_room_type")),
                    "checkin_date": rt.get("checkin_date"),
                    "checkout_date": rt.get("checkout_date"),
                    "number_of_rooms": _int(rt.get("number_of_rooms")) or len(_as_list(rt.get("rooms"))) or 1,
                }
            )
        body = {
            "booking": {
                "id": _int(detail.get("id")),
                "id_property": _int(detail.get("id_property")),
                "currency": detail.get("currency") or self.currency,
                **fields,
                "associations": {
                    "customer_detail": {
                        key: customer[key]
                        for key in ("id_customer", "firstname", "lastname", "email")
                        if customer.get(key) not in (None, "")
                    },
                    "room_types": room_types,
                },
            }
        }
        try:
            payload = self._request("PUT", f"bookings/{_int(detail.get('id'))}", json_body=body)
        except _NotFound:
            raise BookingNotFound(reference) from None
        except _Rejected as exc:
            if any("not found" in m.lower() for m in exc.messages):
                raise BookingNotFound(reference) from None
            raise
        updated = payload.get("booking") if isinstance(payload, dict) else None
        return updated if isinstance(updated, dict) and updated.get("associations") else detail

    def _order_status(self, booking_id: int, reference: str) -> BookingStatus:
        try:
            payload = self._request("GET", f"orders/{booking_id}")
        except _NotFound:
            raise BookingNotFound(reference) from None
        order = payload.get("order") if isinstance(payload, dict) else None
        if not isinstance(order, dict):
            raise BookingNotFound(reference)
        return self._status(order)

    def _stamp(self) -> str:
        return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    # -- availability ------------------------------------------------------------
    def _ari(
        self, date_from: date, date_to: date, *, room_type_id: int | None = None, adults: int | None = None
    ) -> dict[int, dict]:
        """hotel_ari search -> {id_room_type: {"available": [id_room...], "total": Decimal}}."""
        parts = [
            f"<id_hotel>{self.hotel_id}</id_hotel>",
            f"<date_from>{date_from.isoformat()}</date_from>",
            f"<date_to>{date_to.isoformat()}</date_to>",
        ]
        if room_type_id is not None:
            parts.append(f"<id_room_type>{int(room_type_id)}</id_room_type>")
        parts.append("<get_available_rooms>1</get_available_rooms>")
        if adults is not None:
            parts.append(
                "<associations><room_occupancies><room_occupancy>"
                f"<adults>{int(adults)}</adults><children>0</children>"
                "</room_occupancy></room_occupancies></associations>"
            )
        xml = '<?xml version="1.0" encoding="UTF-8"?>\n<qloapps><hotel_ari>' + "".join(parts) + "</hotel_ari></qloapps>"
        payload = self._request("POST", "hotel_ari", xml_body=xml)
        ari = payload.get("hotel_ari") if isinstance(payload, dict) else None
        result: dict[int, dict] = {}
        if not isinstance(ari, dict):
            return result
        for rt in _as_list(ari.get("room_types")):
            if not isinstance(rt, dict):
                continue
            rooms = rt.get("rooms") if isinstance(rt.get("rooms"), dict) else {}
            available = [
                _int(room.get("id_room")) if isinstance(room, dict) else _int(key)
                for key, room in _items(rooms.get("available"))
            ]
            total_key = "total_price_with_tax" if self.prices_include_tax else "total_price"
            result[_int(rt.get("id_room_type"))] = {
                "available": available,
                "total": _dec(rt.get(total_key, rt.get("total_price"))),
            }
        return result

    # -- PMS interface -------------------------------------------------------------
    def list_room_types(self, language: str) -> list[RoomType]:
        return list(self._room_types(language).values())

    def check_availability(self, checkin: date, checkout: date, guests: int, language: str) -> list[Availability]:
        if checkout <= checkin:
            raise ValueError("checkout must be after checkin")
        nights = (checkout - checkin).days
        room_types = {code: rt for code, rt in self._room_types(language).items() if rt.max_guests >= guests}
        if not room_types:
            return []
        ids = {code: self._room_type_id(code) for code in room_types}
        ari = self._ari(checkin, checkout, adults=guests)
        result = []
        for code, room_type in room_types.items():
            info = ari.get(ids[code])
            if not info or not info["available"]:
                continue
            total = _money(info["total"])
            priced = replace(room_type, nightly_rate=_money(total / nights))
            result.append(Availability(room_type=priced, rooms_left=len(info["available"]), nights=nights,
                                       total_price=total))
        return result

    def _room_type_id(self, code: str) -> int:
        mapping = self._code_map(self._catalog())
        if code not in mapping:
            raise NoAvailability(code)
        return _int(mapping[code].get("id"))

    def create_booking(self, request: BookingRequest) -> Booking:
        if request.checkout <= request.checkin:
            raise ValueError("checkout must be after checkin")
        if request.guests < 1:
            raise ValueError("guests must be at least 1")
        mapping = self._code_map(self._catalog())
        raw = mapping.get(request.room_type)
        if raw is None:
            raise NoAvailability(request.room_type)
        room_type = self._room_type(request.room_type, raw, self.default_language)
        if request.guests > room_type.max_guests:
            raise NoAvailability(request.room_type)
        room_type_id = _int(raw.get("id"))
        firstname, lastname = _split_name(request.guest_name)
        contact = (request.contact or "").strip()
        customer: dict[str, Any] = {"firstname": firstname, "lastname": lastname}
        if _EMAIL_RE.match(contact):
            customer["email"] = contact
        else:
            digest = hashlib.sha256((contact or request.guest_name).encode("utf-8")).hexdigest()[:16]
            customer["email"] = f"guest-{digest}@{self.guest_email_domain}"
            if contact and _PHONE_RE.match(contact):
                customer["phone"] = contact
        if request.replay and request.request_id:
            # before the availability check: an earlier attempt may hold the last room
            earlier = self._booking_of_request(request, customer["email"], room_type_id)
            if earlier is not None:
                logger.info("QloApps booking %s already made for this request; not booking again", earlier.reference)
                return earlier
        ari = self._ari(request.checkin, request.checkout, room_type_id=room_type_id, adults=request.guests)
        if not (ari.get(room_type_id) or {}).get("available"):
            raise NoAvailability(request.room_type)
        remark = f"[{_MARKER} {self._stamp()}] Booked via the guest assistant for {request.guests} guest(s)"
        if contact:
            remark += f"; contact: {contact}"
        if request.request_id:
            remark += f"; {_request_mark(request.request_id)}"
        body = {
            "booking": {
                "id_property": self.hotel_id,
                "currency": self.currency,
                "booking_status": BOOKING_STATUS_NEW,
                "payment_status": PAYMENT_STATUS_AWAITING,
                "source": self.booking_source,
                "remark": remark,
                "associations": {
                    "customer_detail": customer,
                    "room_types": [
                        {
                            "id_room_type": room_type_id,
                            "checkin_date": request.checkin.isoformat(),
                            "checkout_date": request.checkout.isoformat(),
                            "number_of_rooms": 1,
                            # The schema names the field "adults" but QloApps' occupancy parser
                            # (formatOccupancyInRequestData) reads "adult": send both.
                            "rooms": [{"adults": request.guests, "adult": request.guests, "child": 0}],
                        }
                    ],
                },
            }
        }
        try:
            payload = self._request("POST", "bookings", json_body=body)
        except _Rejected as exc:
            if any("not available" in m.lower() for m in exc.messages):
                raise NoAvailability(request.room_type) from None
            raise
        detail = payload.get("booking") if isinstance(payload, dict) else None
        if not isinstance(detail, dict) or not _int(detail.get("id")):
            raise PMSError("QloApps POST bookings: answer carries no booking id")
        prices = (detail.get("associations") or {}).get("price_details") or {}
        total = _dec(prices.get("total_price_without_tax")) + _dec(prices.get("total_tax"))
        status = (
            BookingStatus.CONFIRMED
            if total > 0 and _dec(prices.get("total_paid")) >= total
            else BookingStatus.PENDING_PAYMENT
        )
        booking = self._to_booking(detail, status)
        logger.info("QloApps booking %s created (%s, %s -> %s)", booking.reference, booking.room_type,
                    booking.checkin, booking.checkout)
        return booking

    def _booking_of_request(self, request: BookingRequest, email: str, room_type_id: int) -> Booking | None:
        """The booking an earlier attempt of ``request`` made, if it reached QloApps:
        among the customer's 10 newest orders, one of this hotel, room type and
        dates whose remark carries the request id. Without permission to list
        customers/orders it logs a warning and answers None (a duplicate is then
        possible)."""
        try:
            customers = _objects(
                self._request("GET", "customers", params={"display": "[id]", "filter[email]": f"[{email}]"}),
                "customers",
            )
            for customer in customers:
                orders = _objects(
                    self._request("GET", "orders", params={
                        "display": "[id]", "filter[id_customer]": f"[{_int(customer.get('id'))}]",
                        "sort": "[id_DESC]", "limit": "10",
                    }),
                    "orders",
                )
                for order_ref in orders:
                    try:
                        detail, order = self._load(format_reference(_int(order_ref.get("id"))))
                    except BookingNotFound:
                        continue
                    if self._made_by(detail, request, room_type_id):
                        return self._to_booking(detail, self._status(order))
        except _NotFound:
            return None
        except PMSUnavailable:
            raise
        except PMSError as exc:
            logger.warning("QloApps: cannot look for an earlier attempt of a retried booking (%s); booking anyway", exc)
        return None

    @staticmethod
    def _made_by(detail: dict, request: BookingRequest, room_type_id: int) -> bool:
        assoc = detail.get("associations") or {}
        stays = assoc.get("room_types") or []
        if not stays:
            return False
        stay = stays[0]
        same_stay = (
            _int(stay.get("id_room_type")) == room_type_id
            and str(stay.get("checkin_date"))[:10] == request.checkin.isoformat()
            and str(stay.get("checkout_date"))[:10] == request.checkout.isoformat()
        )
        mark = _request_mark(request.request_id)
        remarks = (r.get("message") if isinstance(r, dict) else r for r in _as_list(assoc.get("remarks")))
        return same_stay and any(mark in str(text or "") for text in remarks)

    def get_booking(self, reference: str) -> Booking:
        detail, order = self._load(reference)
        return self._to_booking(detail, self._status(order))

    def cancel_booking(self, reference: str) -> Booking:
        detail, order = self._load(reference)
        if self._status(order) is BookingStatus.CANCELLED:
            raise InvalidBookingState("already cancelled")
        current = self._to_booking(detail, BookingStatus.PENDING_PAYMENT)
        if current.checkout <= self._clock():
            raise InvalidBookingState("stay already over")
        updated = self._put(detail, reference, booking_status=BOOKING_STATUS_CANCELLED)
        status = self._order_status(_int(detail.get("id")), reference)
        if status is not BookingStatus.CANCELLED:
            raise PMSError(f"QloApps did not cancel booking {current.reference}")
        logger.info("QloApps booking %s cancelled", current.reference)
        return self._to_booking(updated, status)

    def confirm_payment(self, reference: str) -> Booking:
        detail, order = self._load(reference)
        status = self._status(order)
        if status is BookingStatus.CANCELLED:
            raise InvalidBookingState("cancelled")
        if status is BookingStatus.CONFIRMED:
            return self._to_booking(detail, status)
        remark = (
            f"[{_MARKER} {self._stamp()}] The guest reports having paid; "
            "please verify the payment and update the order"
        )
        updated = self._put(detail, reference, remark=remark)
        return self._to_booking(updated, self._order_status(_int(detail.get("id")), reference))

    def late_checkout_available(self, reference: str) -> bool:
        detail, order = self._load(reference)
        if self._status(order) is BookingStatus.CANCELLED:
            return False
        first = ((detail.get("associations") or {}).get("room_types") or [])[0]
        checkout = _day(first.get("checkout_date"))
        if checkout < self._clock():
            return False
        room_type_id = _int(first.get("id_room_type"))
        ari = self._ari(checkout, checkout + timedelta(days=1), room_type_id=room_type_id)
        free = set((ari.get(room_type_id) or {}).get("available") or [])
        booked_rooms = {_int(r.get("id_room")) for r in _as_list(first.get("rooms")) if isinstance(r, dict)}
        booked_rooms.discard(0)
        if booked_rooms:
            return booked_rooms <= free
        return bool(free)

    def set_late_checkout(self, reference: str, until: time, fee: Decimal) -> Booking:
        detail, order = self._load(reference)
        status = self._status(order)
        if status is BookingStatus.CANCELLED:
            raise InvalidBookingState("cancelled")
        current = self._to_booking(detail, status)
        if current.checkout < self._clock():
            raise InvalidBookingState("stay already over")
        fee = _money(Decimal(fee))
        remark = (
            f"[{_MARKER} {self._stamp()}] Late checkout until {until.strftime('%H:%M')}, "
            f"fee {fee} {current.currency}"
        )
        updated = self._put(detail, reference, remark=remark)
        booking = self._to_booking(updated, status)
        if booking.late_checkout_until != until.replace(second=0, microsecond=0):
            # QloApps did not echo the message back: report what we wrote.
            booking = replace(booking, late_checkout_until=until.replace(second=0, microsecond=0),
                              late_checkout_fee=fee)
        return booking


# -- helpers ---------------------------------------------------------------------
def _objects(payload: Any, node: str) -> list[dict]:
    """List answer of PrestaShop's JSON output ({node: [...]}, or [] when empty)."""
    if isinstance(payload, dict):
        items = payload.get(node) or []
    elif isinstance(payload, list):
        items = payload
    else:
        items = []
    return [item for item in _as_list(items) if isinstance(item, dict)]


def _id_set(value: Any) -> frozenset[int]:
    values = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    return frozenset(int(v) for v in values)


def _as_list(value: Any) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def _items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return [(None, item) for item in value]
    return []


def _all_values(value: Any) -> list[str]:
    if isinstance(value, list):
        return [str(item.get("value") or "") for item in value if isinstance(item, dict)]
    return [str(value or "")]


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        try:
            return int(Decimal(str(value).strip()))
        except (InvalidOperation, ValueError):
            return default


def _dec(value: Any) -> Decimal:
    if value is None or value == "":
        return Decimal("0")
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return Decimal("0")


def _money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def _truthy(value: Any) -> bool:
    return str(value).strip().lower() not in ("0", "false", "")


def _day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise PMSError(f"QloApps answered an invalid date {str(value)[:30]!r}") from None


def _strip_html(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAG_RE.sub(" ", text or ""))).strip()


def _request_mark(request_id: str) -> str:
    return f"request {request_id}"


def _split_name(name: str) -> tuple[str, str]:
    parts = (name or "").split()
    if not parts:
        return "Guest", "Guest"
    if len(parts) == 1:
        return parts[0], parts[0]
    return parts[0], " ".join(parts[1:])


__all__ = ["QloAppsPMS", "format_reference", "parse_reference", "CANONICAL_CODES"]
