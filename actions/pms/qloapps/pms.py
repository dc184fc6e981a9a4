"""``QloAppsPMS``: the PMS protocol on one hotel of a QloApps 1.6.1 shop.

How each operation maps to the webservice, and what QloApps really does that
shapes it (phones, names, auto-added services, updates that drop services,
request ids), is in docs/qloapps.md.
"""
from __future__ import annotations

import logging
import threading
import time as _time
from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable, Mapping, Sequence

import requests

from actions.pms.base import (
    PMS,
    ROOM_TYPE_CODES,
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
    listed_bookings_limit,
)
from actions.pms.qloapps import mapping as m
from actions.pms.qloapps.transport import NotFound, QloAppsTransport, Rejected

logger = logging.getLogger(__name__)

# QloApps booking API constants (WebserviceSpecificManagementBookings).
BOOKING_STATUS_NEW = 1
BOOKING_STATUS_CANCELLED = 3
PAYMENT_STATUS_AWAITING = 3

LIST_PAGE = 50  # orders per GET orders page of list_bookings

# Configuration keys of the order states we need.
STATE_KEYS = {
    "cancelled": "PS_OS_CANCELED",
    "refunded": "PS_OS_REFUND",
    "payment_accepted": "PS_OS_PAYMENT_ACCEPTED",
}


class QloAppsPMS(PMS):
    """PMS backed by a QloApps hotel (one ``hotel_id``) through its webservice.

    ``auto_services``: QloApps service product ids sent with every booking so
    QloApps keeps them (a list for every room type, or per room type code);
    ``fallback_phone``: sent when the guest gave no phone number."""

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
        auto_services: Sequence[int] | Mapping[str, Sequence[int]] = (),
        fallback_phone: str = "",
    ) -> None:
        self._http = QloAppsTransport(base_url, api_key, timeout=timeout, session=session)
        self.hotel_id = int(hotel_id)
        self.currency = currency
        self._explicit_map = {code: int(rt_id) for code, rt_id in room_type_map.items()} if room_type_map else None
        if self._explicit_map:
            unknown = set(self._explicit_map) - set(ROOM_TYPE_CODES)
            if unknown:
                raise ValueError(f"unknown room type codes in room_type_map: {sorted(unknown)}")
        if isinstance(auto_services, Mapping):
            unknown = set(auto_services) - set(ROOM_TYPE_CODES)
            if unknown:
                raise ValueError(f"unknown room type codes in auto_services: {sorted(unknown)}")
            self._auto_services = {code: tuple(int(i) for i in ids) for code, ids in auto_services.items()}
        else:
            self._auto_services = {code: tuple(int(i) for i in auto_services) for code in ROOM_TYPE_CODES}
        if fallback_phone and not m.phone_number(fallback_phone):
            raise ValueError("fallback_phone is not a phone number")
        self.fallback_phone = fallback_phone
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
            states = {name: m.id_set(order_state_ids.get(name, ())) for name in STATE_KEYS}
            if not states["cancelled"] or not states["payment_accepted"]:
                raise ValueError("order_state_ids needs at least 'cancelled' and 'payment_accepted'")
            self._state_ids = states

    def __repr__(self) -> str:  # never show the key
        return f"QloAppsPMS(base_url={self._http.base_url!r}, hotel_id={self.hotel_id})"

    def close(self) -> None:
        self._http.close()

    @property
    def server_version(self) -> str:
        """The shop's webservice version (PSWS-Version), once it has answered."""
        return self._http.server_version

    def _request(self, method: str, resource: str, **kwargs: Any) -> Any:
        return self._http.request(method, resource, **kwargs)

    # -- catalogue -------------------------------------------------------------
    def _catalog(self) -> list[dict]:
        with self._lock:
            cached = self._catalog_cache
        if cached and _time.monotonic() - cached[0] < self.catalog_ttl:
            return cached[1]
        payload = self._request("GET", "room_types", params={"display": "full"})
        catalog = [
            rt
            for rt in m.objects(payload, "room_types")
            if m.to_int(rt.get("id_hotel")) == self.hotel_id and m.truthy(rt.get("active", "1"))
        ]
        catalog.sort(key=lambda rt: m.to_int(rt.get("id")))
        with self._lock:
            self._catalog_cache = (_time.monotonic(), catalog)
        return catalog

    def _code_map(self) -> dict[str, dict]:
        """Our room type code -> raw QloApps room type of this hotel."""
        mapping, missing = m.code_map(self._catalog(), self._explicit_map)
        for code in missing:
            logger.warning("room_type_map: QloApps room type %s (%s) is not an active room type of hotel %s",
                           self._explicit_map[code], code, self.hotel_id)
        return mapping

    def _room_type(self, code: str, rt: dict, language: str) -> RoomType:
        return m.room_type(code, rt, language=language, language_ids=self.language_ids,
                           default_language=self.default_language, currency=self.currency,
                           base_url=self._http.base_url)

    def _room_types(self, language: str) -> dict[str, RoomType]:
        mapping = self._code_map()
        return {code: self._room_type(code, mapping[code], language) for code in ROOM_TYPE_CODES if code in mapping}

    def _code_for(self, room_type_id: int) -> str:
        if self._explicit_map is not None:
            codes = {rt_id: code for code, rt_id in self._explicit_map.items()}
        else:
            codes = {m.to_int(rt.get("id")): code for code, rt in self._code_map().items()}
        return codes.get(room_type_id, str(room_type_id))

    # -- order states ------------------------------------------------------------
    def _order_states(self) -> dict[str, frozenset[int]]:
        with self._lock:
            if self._state_ids is not None:
                return self._state_ids
        names = "|".join(STATE_KEYS.values())
        try:
            payload = self._request("GET", "configurations", params={"display": "full", "filter[name]": f"[{names}]"})
        except NotFound:
            payload = None
        found: dict[str, set[int]] = {name: set() for name in STATE_KEYS}
        for item in m.objects(payload, "configurations"):
            for name, key in STATE_KEYS.items():
                if item.get("name") == key and m.to_int(item.get("value")):
                    found[name].add(m.to_int(item.get("value")))
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
        """Paid only in PS_OS_PAYMENT_ACCEPTED: "remote payment accepted" and
        "partial payment" orders are not paid, whatever total_paid_real says."""
        states = self._order_states()
        state = m.to_int(order.get("current_state"))
        if state in states["cancelled"] or state in states["refunded"]:
            return BookingStatus.CANCELLED
        if state in states["payment_accepted"]:
            return BookingStatus.CONFIRMED
        return BookingStatus.PENDING_PAYMENT

    # -- bookings ----------------------------------------------------------------
    def _load(self, reference: str) -> tuple[dict, dict]:
        booking_id = m.parse_reference(reference)
        if booking_id is None:
            raise BookingNotFound(reference)
        try:
            payload = self._request("GET", f"bookings/{booking_id}")
            detail = payload.get("booking") if isinstance(payload, dict) else None
            if not isinstance(detail, dict) or not self._is_ours(detail):
                raise BookingNotFound(reference)
            order_payload = self._request("GET", f"orders/{booking_id}")
        except NotFound:
            raise BookingNotFound(reference) from None
        order = order_payload.get("order") if isinstance(order_payload, dict) else None
        if not isinstance(order, dict):
            raise BookingNotFound(reference)
        return detail, order

    def _is_ours(self, detail: dict) -> bool:
        return m.to_int(detail.get("id_property")) == self.hotel_id and bool(
            (detail.get("associations") or {}).get("room_types")
        )

    def _to_booking(self, detail: dict, status: BookingStatus) -> Booking:
        assoc = detail.get("associations") or {}
        stay = m.first_stay(detail)
        checkin = m.day(stay.get("checkin_date"))
        checkout = m.day(stay.get("checkout_date"))
        total = m.booking_total(detail, self.prices_include_tax)
        nights = max((checkout - checkin).days, 1)
        until, fee = m.late_checkout(assoc.get("remarks"))
        return Booking(
            reference=m.format_reference(m.to_int(detail.get("id"))),
            guest_name=m.guest_name(assoc.get("customer_detail") or {}),
            room_type=self._code_for(m.to_int(stay.get("id_room_type"))),
            checkin=checkin,
            checkout=checkout,
            guests=m.guests_of(stay) or 1,
            status=status,
            nightly_rate=m.money(total / nights),
            total_price=m.money(total),
            currency=str(detail.get("currency") or self.currency),
            late_checkout_until=until,
            late_checkout_fee=fee,
            contact=m.contact_of(assoc.get("customer_detail") or {}, email_domain=self.guest_email_domain,
                                 fallback_phone=self.fallback_phone),
            made_by_assistant=m.made_by_assistant(assoc.get("remarks")),
            party=m.party_of(stay),
        )

    def _put(self, detail: dict, reference: str, **fields: Any) -> dict:
        """PUT bookings/{id} changing only ``fields``. The room types go with their
        per-room lines and each room's current services: QloApps removes the
        services of rooms sent without them (docs/qloapps.md point 4)."""
        assoc = detail.get("associations") or {}
        customer = assoc.get("customer_detail") or {}
        room_types = []
        for stay in assoc.get("room_types") or []:
            lines = m.room_lines(stay)
            room_types.append({
                "id_room_type": m.to_int(stay.get("id_room_type")),
                "checkin_date": stay.get("checkin_date"),
                "checkout_date": stay.get("checkout_date"),
                "number_of_rooms": len(lines) or m.to_int(stay.get("number_of_rooms")) or 1,
                "rooms": lines,
            })
        body = {
            "booking": {
                "id": m.to_int(detail.get("id")),
                "id_property": m.to_int(detail.get("id_property")),
                "currency": detail.get("currency") or self.currency,
                **fields,
                "associations": {
                    "customer_detail": {
                        key: customer[key]
                        for key in ("id_customer", "firstname", "lastname", "email", "phone")
                        if customer.get(key) not in (None, "")
                    },
                    "room_types": room_types,
                },
            }
        }
        try:
            payload = self._request("PUT", f"bookings/{m.to_int(detail.get('id'))}", json_body=body)
        except NotFound:
            raise BookingNotFound(reference) from None
        except Rejected as exc:
            if any("not found" in msg.lower() for msg in exc.messages):
                raise BookingNotFound(reference) from None
            raise
        updated = payload.get("booking") if isinstance(payload, dict) else None
        if not (isinstance(updated, dict) and updated.get("associations")):
            return detail
        before = sorted(m.service_ids(m.first_stay(detail)))
        after = sorted(m.service_ids(m.first_stay(updated)))
        if before != after:
            logger.error("QloApps changed the services of booking %s on an update (%s -> %s); check the order",
                         reference, before, after)
        return updated

    def _order_status(self, booking_id: int, reference: str) -> BookingStatus:
        try:
            payload = self._request("GET", f"orders/{booking_id}")
        except NotFound:
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
        """hotel_ari search -> {id_room_type: {"available", "total", "nightly_room"}}."""
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
        return m.ari_room_types(self._request("POST", "hotel_ari", xml_body=xml), self.prices_include_tax)

    def _quote(self, code: str, info: dict, nights: int) -> Decimal:
        """What the booking will cost: hotel_ari's total includes the auto-added
        services, which QloApps keeps only when the booking lists them."""
        if self._auto_services.get(code):
            return m.money(info["total"])
        return m.money(info["nightly_room"] * nights)

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
            total = self._quote(code, info, nights)
            priced = replace(room_type, nightly_rate=m.money(total / nights))
            result.append(Availability(room_type=priced, rooms_left=len(info["available"]), nights=nights,
                                       total_price=total))
        return result

    def _room_type_id(self, code: str) -> int:
        mapping = self._code_map()
        if code not in mapping:
            raise NoAvailability(code)
        return m.to_int(mapping[code].get("id"))

    def create_booking(self, request: BookingRequest) -> Booking:
        if request.checkout <= request.checkin:
            raise ValueError("checkout must be after checkin")
        if request.guests < 1:
            raise ValueError("guests must be at least 1")
        raw = self._code_map().get(request.room_type)
        if raw is None:
            raise NoAvailability(request.room_type)
        room_type = self._room_type(request.room_type, raw, self.default_language)
        if request.guests > room_type.max_guests:
            raise NoAvailability(request.room_type)
        room_type_id = m.to_int(raw.get("id"))
        customer = m.customer_detail(request.guest_name, request.contact, request.phone,
                                     email_domain=self.guest_email_domain, fallback_phone=self.fallback_phone)
        if request.request_id:
            # whatever ``replay`` says (base.PMS: a request id never makes two bookings),
            # and before the availability check: an earlier attempt may hold the last room
            earlier = self._booking_of_request(request, customer["email"], room_type_id)
            if earlier is not None:
                logger.info("QloApps booking %s already made for this request; not booking again", earlier.reference)
                return earlier
        ari = self._ari(request.checkin, request.checkout, room_type_id=room_type_id, adults=request.guests)
        if not (ari.get(room_type_id) or {}).get("available"):
            raise NoAvailability(request.room_type)
        contact = (request.contact or "").strip()
        remark = f"[{m.MARKER} {self._stamp()}] {m.BOOKED_REMARK} for {request.guests} guest(s)"
        if contact:
            remark += f"; contact: {contact}"
        if request.phone:
            remark += f"; phone: {request.phone}"
        if request.request_id:
            remark += f"; {m.request_mark(request.request_id)}"
        # The schema names the field "adults" but QloApps' occupancy parser
        # (formatOccupancyInRequestData) reads "adult": send both.
        room: dict[str, Any] = {"adults": request.guests, "adult": request.guests, "child": 0}
        services = self._auto_services.get(request.room_type) or ()
        if services:
            room["services"] = [{"id_service": service_id, "quantity": 1} for service_id in services]
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
                    "room_types": [{
                        "id_room_type": room_type_id,
                        "checkin_date": request.checkin.isoformat(),
                        "checkout_date": request.checkout.isoformat(),
                        "number_of_rooms": 1,
                        "rooms": [room],
                    }],
                },
            }
        }
        try:
            payload = self._request("POST", "bookings", json_body=body)
        except Rejected as exc:
            if any("not available" in msg.lower() for msg in exc.messages):
                raise NoAvailability(request.room_type) from None
            raise
        detail = payload.get("booking") if isinstance(payload, dict) else None
        if not isinstance(detail, dict) or not m.to_int(detail.get("id")):
            raise PMSError("QloApps POST bookings: answer carries no booking id")
        # a new booking is awaiting payment (payment_status 3): not paid
        booking = self._to_booking(detail, BookingStatus.PENDING_PAYMENT)
        quoted = self._quote(request.room_type, ari[room_type_id], (request.checkout - request.checkin).days)
        if booking.total_price != quoted:
            # e.g. an auto-added service missing from auto_services: the guest was quoted
            # another amount than QloApps booked; reception must know (docs/qloapps.md point 3)
            logger.error("QloApps booking %s costs %s but the quote for it was %s; check auto_services",
                         booking.reference, booking.total_price, quoted)
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
            customers = m.objects(
                self._request("GET", "customers", params={"display": "[id]", "filter[email]": f"[{email}]"}),
                "customers",
            )
            for customer in customers:
                orders = m.objects(
                    self._request("GET", "orders", params={
                        "display": "[id]", "filter[id_customer]": f"[{m.to_int(customer.get('id'))}]",
                        "sort": "[id_DESC]", "limit": "10",
                    }),
                    "orders",
                )
                for order_ref in orders:
                    try:
                        detail, order = self._load(m.format_reference(m.to_int(order_ref.get("id"))))
                    except BookingNotFound:
                        continue
                    if self._made_by(detail, request, room_type_id):
                        return self._to_booking(detail, self._status(order))
        except NotFound:
            return None
        except PMSUnavailable:
            raise
        except PMSError as exc:
            logger.warning("QloApps: cannot look for an earlier attempt of a booking request (%s); booking anyway", exc)
        return None

    @staticmethod
    def _made_by(detail: dict, request: BookingRequest, room_type_id: int) -> bool:
        stays = (detail.get("associations") or {}).get("room_types") or []
        if not stays:
            return False
        stay = stays[0]
        same_stay = (
            m.to_int(stay.get("id_room_type")) == room_type_id
            and str(stay.get("checkin_date"))[:10] == request.checkin.isoformat()
            and str(stay.get("checkout_date"))[:10] == request.checkout.isoformat()
        )
        mark = m.request_mark(request.request_id)
        return same_stay and m.contains_any(m.remark_texts((detail.get("associations") or {}).get("remarks")), mark)

    def get_booking(self, reference: str) -> Booking:
        detail, order = self._load(reference)
        return self._to_booking(detail, self._status(order))

    def list_bookings(self, checkout_from: date, limit: int = 500) -> list[Booking]:
        """The newest ``limit`` orders of the shop, in pages of LIST_PAGE
        (``GET orders?sort=[id_DESC]&limit=offset,n``; the stay dates live in
        the booking, not the order, so they cannot be filtered on): each one's
        booking and order are read, other hotels' are skipped. Cost: 1 + 2 requests
        per order read; an order past ``limit`` is not seen (logged)."""
        limit = listed_bookings_limit(limit)
        found: list[Booking] = []
        read = 0
        while read < limit:
            size = min(LIST_PAGE, limit - read)
            page = m.objects(self._request("GET", "orders", params={
                "display": "[id]", "sort": "[id_DESC]", "limit": f"{read},{size}"}), "orders")
            for order_ref in page:
                try:
                    detail, order = self._load(m.format_reference(m.to_int(order_ref.get("id"))))
                except BookingNotFound:  # another hotel's order, or gone meanwhile
                    continue
                booking = self._to_booking(detail, self._status(order))
                if booking.checkout >= checkout_from:
                    found.append(booking)
            read += len(page)
            if len(page) < size:
                return found
        logger.warning("QloApps list_bookings read only the newest %s orders; older ones were not looked at", limit)
        return found

    def cancel_booking(self, reference: str) -> Booking:
        detail, order = self._load(reference)
        if self._status(order) is BookingStatus.CANCELLED:
            raise InvalidBookingState("already cancelled")
        current = self._to_booking(detail, BookingStatus.PENDING_PAYMENT)
        if current.checkout <= self._clock():
            raise InvalidBookingState("stay already over")
        updated = self._put(detail, reference, booking_status=BOOKING_STATUS_CANCELLED)
        status = self._order_status(m.to_int(detail.get("id")), reference)
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
            f"[{m.MARKER} {self._stamp()}] The guest reports having paid; "
            "please verify the payment and update the order"
        )
        updated = self._put(detail, reference, remark=remark)
        return self._to_booking(updated, self._order_status(m.to_int(detail.get("id")), reference))

    def accept_payment(self, reference: str) -> Booking:
        """Reception checked the payment (staff console): the order moves to
        PS_OS_PAYMENT_ACCEPTED the way QloApps' back office does it, a new
        ``order_histories`` entry (``OrderHistory::changeIdOrderState``, which also
        records the unpaid rest as a payment). Not ``PUT bookings``: the booking's
        rooms and services stay as they are, and no e-mail is sent (no ``sendemail``)."""
        detail, order = self._load(reference)
        status = self._status(order)
        if status is BookingStatus.CANCELLED:
            raise InvalidBookingState("cancelled")
        if status is BookingStatus.CONFIRMED:
            return self._to_booking(detail, status)
        booking_id = m.to_int(detail.get("id"))
        state = min(self._order_states()["payment_accepted"])
        xml = ('<?xml version="1.0" encoding="UTF-8"?>\n<prestashop><order_history>'
               f"<id_order>{booking_id}</id_order><id_order_state>{state}</id_order_state>"
               "</order_history></prestashop>")
        try:
            self._request("POST", "order_histories", xml_body=xml)
        except NotFound:
            raise BookingNotFound(reference) from None
        after, order = self._load(reference)
        status = self._status(order)
        if status is not BookingStatus.CONFIRMED:
            raise PMSError(f"QloApps did not mark order {booking_id} paid (state {m.to_int(order.get('current_state'))})")
        before_services = sorted(m.service_ids(m.first_stay(detail)))
        if sorted(m.service_ids(m.first_stay(after))) != before_services:
            logger.error("QloApps changed the services of booking %s when its payment was accepted", reference)
        logger.info("QloApps booking %s: payment accepted (order state %s)", reference, state)
        return self._to_booking(after, status)

    def late_checkout_available(self, reference: str) -> bool:
        detail, order = self._load(reference)
        if self._status(order) is BookingStatus.CANCELLED:
            return False
        stay = m.first_stay(detail)
        checkout = m.day(stay.get("checkout_date"))
        if checkout < self._clock():
            return False
        room_type_id = m.to_int(stay.get("id_room_type"))
        ari = self._ari(checkout, checkout + timedelta(days=1), room_type_id=room_type_id)
        free = set((ari.get(room_type_id) or {}).get("available") or [])
        booked_rooms = {m.to_int(r.get("id_room")) for r in m.as_list(stay.get("rooms")) if isinstance(r, dict)}
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
        fee = m.money(Decimal(fee))
        remark = (
            f"[{m.MARKER} {self._stamp()}] Late checkout until {until.strftime('%H:%M')}, "
            f"fee {fee} {current.currency}"
        )
        updated = self._put(detail, reference, remark=remark)
        booking = self._to_booking(updated, status)
        if booking.late_checkout_until != until.replace(second=0, microsecond=0):
            # QloApps did not echo the message back: report what we wrote.
            booking = replace(booking, late_checkout_until=until.replace(second=0, microsecond=0),
                              late_checkout_fee=fee)
        return booking
