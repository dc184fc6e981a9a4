"""QloApps payloads <-> the PMS protocol's values (docs/qloapps.md).

Pure functions: no HTTP here. QloApps answers with loose types (ids as strings
or integers, amounts as "3000.000000", 3000 or 3000.5, names as plain strings or
per-language lists); they are read as they come. Money that is missing or not a
number raises ``PMSError``: a price never silently becomes 0.
"""
from __future__ import annotations

import hashlib
import html
import re
from datetime import date, time
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from actions.pms.base import PMSError, RoomType

MARKER = "guest-assistant"
_REFERENCE_RE = re.compile(r"^\s*BK[\s_-]?(\d{6,})\s*$", re.I)
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_RE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_TAG_RE = re.compile(r"<[^>]+>")
# Validate::isName (PrestaShop 1.6) refuses digits and these characters.
_NOT_IN_NAMES = re.compile(r'[0-9!<>,;?=+()@#"\u00b0{}_$%:\u00a4|]')
_LATE_RE = re.compile(
    r"\[" + MARKER + r" (?P<ts>[^\]]+)\] Late checkout until (?P<until>\d{1,2}:\d{2}),"
    r" fee (?P<fee>\d+(?:\.\d+)?)"
)
_CENT = Decimal("0.01")

# Checked in this order, so "Family Double Room" is family and "Double Suite" a suite.
CODE_KEYWORDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("suite", re.compile(r"\bsuites?\b", re.I)),
    ("family", re.compile(r"\bfamil", re.I)),
    ("single", re.compile(r"\b(single|individual|sencilla|simple)\b", re.I)),
    ("double", re.compile(r"\b(double|doble|twin|matrimonial)\b", re.I)),
)


# -- references -------------------------------------------------------------------
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


# -- loose JSON ----------------------------------------------------------------------
def objects(payload: Any, node: str) -> list[dict]:
    """List answer of PrestaShop's JSON output ({node: [...]}, or [] when empty)."""
    if isinstance(payload, dict):
        items = payload.get(node) or []
    elif isinstance(payload, list):
        items = payload
    else:
        items = []
    return [item for item in as_list(items) if isinstance(item, dict)]


def as_list(value: Any) -> list:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return value
    if isinstance(value, dict):
        return list(value.values())
    return [value]


def items(value: Any) -> list[tuple[Any, Any]]:
    if isinstance(value, dict):
        return list(value.items())
    if isinstance(value, list):
        return [(None, item) for item in value]
    return []


def to_int(value: Any, default: int = 0) -> int:
    """An id or a count ("12", 12, "12.000000"); ``default`` when absent or not a number."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        try:
            return int(Decimal(str(value).strip()))
        except (InvalidOperation, ValueError):
            return default


def id_set(value: Any) -> frozenset[int]:
    values = value if isinstance(value, (list, tuple, set, frozenset)) else (value,)
    return frozenset(int(v) for v in values)


def truthy(value: Any) -> bool:
    return str(value).strip().lower() not in ("0", "false", "")


def amount(value: Any, what: str) -> Decimal:
    """Money from QloApps ("90.000000", 3000, 3000.5). Missing or malformed raises:
    reading it as 0 would sell a free room."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise PMSError(f"QloApps answered no {what}")
    try:
        result = Decimal(str(value).strip())
    except InvalidOperation:
        raise PMSError(f"QloApps answered a malformed {what}: {str(value)[:30]!r}") from None
    if not result.is_finite():
        raise PMSError(f"QloApps answered a malformed {what}: {str(value)[:30]!r}")
    return result


def money(value: Decimal) -> Decimal:
    return value.quantize(_CENT, rounding=ROUND_HALF_UP)


def day(value: Any) -> date:
    try:
        return date.fromisoformat(str(value).strip()[:10])
    except ValueError:
        raise PMSError(f"QloApps answered an invalid date {str(value)[:30]!r}") from None


def strip_html(text: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_TAG_RE.sub(" ", text or ""))).strip()


# -- catalogue -----------------------------------------------------------------------
def all_values(value: Any) -> list[str]:
    """Every language's text of a multilingual field (or the plain string)."""
    if isinstance(value, list):
        return [str(item.get("value") or "") for item in value if isinstance(item, dict)]
    return [str(value or "")]


def localise(value: Any, language: str, language_ids: Mapping[str, int], default_language: str) -> str:
    """A multilingual field in ``language`` (then the default, then any); a
    single-language shop answers a plain string."""
    if value is None:
        return ""
    if not isinstance(value, list):
        return str(value)
    by_lang = {}
    for item in value:
        if isinstance(item, dict):
            by_lang[to_int(item.get("id"))] = "" if item.get("value") is None else str(item.get("value"))
    for lang in (language, default_language):
        lang_id = language_ids.get(lang)
        if lang_id is not None and by_lang.get(lang_id):
            return by_lang[lang_id]
    return next((text for text in by_lang.values() if text), "")


def photos(rt: dict, base_url: str) -> tuple[str, ...]:
    ids: list[int] = []
    default = to_int(rt.get("id_default_image"))
    if default:
        ids.append(default)
    for image in ((rt.get("associations") or {}).get("images") or []):
        image_id = to_int(image.get("id") if isinstance(image, dict) else image)
        if image_id and image_id not in ids:
            ids.append(image_id)
    # PrestaShop's public image path: /img/p/1/2/12.jpg for image 12.
    return tuple(f"{base_url}/img/p/{'/'.join(str(i))}/{i}.jpg" for i in ids)


def code_map(catalog: list[dict], explicit: Mapping[str, int] | None) -> tuple[dict[str, dict], list[str]]:
    """Our code -> raw QloApps room type, and the codes of ``explicit`` that name no
    room type of the catalogue. Without ``explicit``: by name keywords, lowest id wins."""
    by_id = {to_int(rt.get("id")): rt for rt in catalog}
    result: dict[str, dict] = {}
    if explicit is not None:
        missing = []
        for code, rt_id in explicit.items():
            if rt_id in by_id:
                result[code] = by_id[rt_id]
            else:
                missing.append(code)
        return result, missing
    for rt in catalog:
        names = " | ".join(all_values(rt.get("name")))
        for code, pattern in CODE_KEYWORDS:
            if pattern.search(names):
                result.setdefault(code, rt)
                break
    return result, []


def room_type(code: str, rt: dict, *, language: str, language_ids: Mapping[str, int], default_language: str,
              currency: str, base_url: str) -> RoomType:
    def text(value: Any) -> str:
        return localise(value, language, language_ids, default_language)

    description = text(rt.get("description_short")) or text(rt.get("description"))
    max_guests = to_int(rt.get("max_guests")) or (to_int(rt.get("adults")) + to_int(rt.get("children")))
    return RoomType(
        code=code,
        name=text(rt.get("name")),
        description=strip_html(description),
        max_guests=max_guests or 1,
        nightly_rate=money(amount(rt.get("price"), f"price of room type {to_int(rt.get('id'))}")),
        currency=currency,
        photos=photos(rt, base_url),
    )


# -- guests ----------------------------------------------------------------------------
def clean_name(name: str) -> str:
    """The guest's name as QloApps accepts it: what ``Validate::isName`` refuses
    becomes a space, whitespace is collapsed; nothing left -> "Guest"."""
    cleaned = " ".join(_NOT_IN_NAMES.sub(" ", name or "").split())
    return cleaned[:64].strip() or "Guest"


def split_name(name: str) -> tuple[str, str]:
    parts = clean_name(name).split()
    if len(parts) == 1:
        return parts[0], parts[0]
    return parts[0], " ".join(parts[1:])


def phone_number(value: str) -> str:
    """A phone number as sent to QloApps ("" when ``value`` is not one)."""
    value = (value or "").strip()
    if not _PHONE_RE.match(value):
        return ""
    digits = re.sub(r"\D", "", value)
    if not 7 <= len(digits) <= 15:
        return ""
    return value


def is_email(value: str) -> bool:
    return bool(_EMAIL_RE.match(value or ""))


def customer_detail(guest_name: str, contact: str, phone: str, *, email_domain: str,
                    fallback_phone: str = "") -> dict[str, Any]:
    """QloApps ``customer_detail``: first/last name, an e-mail (the guest's, or a
    stable placeholder derived from the contact) and a phone when one is known."""
    firstname, lastname = split_name(guest_name)
    contact = (contact or "").strip()
    customer: dict[str, Any] = {"firstname": firstname, "lastname": lastname}
    if is_email(contact):
        customer["email"] = contact
    else:
        digest = hashlib.sha256((contact or guest_name).encode("utf-8")).hexdigest()[:16]
        customer["email"] = f"guest-{digest}@{email_domain}"
    number = phone_number(phone) or phone_number(contact) or phone_number(fallback_phone)
    if number:
        customer["phone"] = number
    return customer


# -- bookings ----------------------------------------------------------------------------
def request_mark(request_id: str) -> str:
    return f"request {request_id}"


def remark_texts(remarks: Any) -> list[str]:
    return [str((r.get("message") if isinstance(r, dict) else r) or "") for r in as_list(remarks)]


BOOKED_REMARK = "Booked via the guest assistant"


def made_by_assistant(remarks: Any) -> bool:
    """The booking remark ``create_booking`` writes is among the order's messages."""
    return any(f"[{MARKER} " in text and BOOKED_REMARK in text for text in remark_texts(remarks))


def late_checkout(remarks: Any) -> tuple[time | None, Decimal | None]:
    """The newest late checkout written by the assistant in the order messages."""
    best: tuple[str, time, Decimal] | None = None
    for text in remark_texts(remarks):
        for match in _LATE_RE.finditer(text):
            hours, minutes = (int(x) for x in match.group("until").split(":"))
            if hours > 23 or minutes > 59:
                continue
            candidate = (match.group("ts"), time(hours, minutes), Decimal(match.group("fee")))
            if best is None or candidate[0] >= best[0]:
                best = candidate
    return (best[1], best[2]) if best else (None, None)


def booking_total(detail: dict, include_tax: bool) -> Decimal:
    prices = (detail.get("associations") or {}).get("price_details") or {}
    total = amount(prices.get("total_price_without_tax"), "booking total")
    if include_tax:
        total += amount(prices.get("total_tax"), "booking tax")
    return total


def room_lines(stay: dict) -> list[dict]:
    """A stay's per-room lines as ``PUT bookings`` must repeat them: the room and
    the services it has (so QloApps keeps them; docs/qloapps.md point 4)."""
    lines = []
    for room in as_list(stay.get("rooms")):
        if not isinstance(room, dict):
            continue
        line: dict[str, Any] = {"id_room": to_int(room.get("id_room"))}
        for key in ("adults", "child"):
            if room.get(key) not in (None, ""):
                line[key] = to_int(room.get(key))
        services = []
        for service in as_list(room.get("services")):
            if not isinstance(service, dict) or not to_int(service.get("id_service")):
                continue
            services.append({
                "id_service": to_int(service.get("id_service")),
                "quantity": to_int(service.get("quantity"), 1) or 1,
                # the total, not the unit price: QloApps multiplies a unit price by the nights again
                "total_price_without_tax": str(amount(service.get("total_price_without_tax"), "service price")),
            })
        line["services"] = services
        lines.append(line)
    return lines


def service_ids(stay: dict) -> list[int]:
    return [to_int(s.get("id_service")) for room in as_list(stay.get("rooms")) if isinstance(room, dict)
            for s in as_list(room.get("services")) if isinstance(s, dict)]


def ari_room_types(payload: Any, include_tax: bool) -> dict[int, dict]:
    """hotel_ari answer -> {id_room_type: {"available": [id_room...], "total": Decimal,
    "nightly_room": Decimal}} (``nightly_room``: the room rate per night, services excluded)."""
    ari = payload.get("hotel_ari") if isinstance(payload, dict) else None
    result: dict[int, dict] = {}
    if not isinstance(ari, dict):
        return result
    for rt in as_list(ari.get("room_types")):
        if not isinstance(rt, dict):
            continue
        rt_id = to_int(rt.get("id_room_type"))
        rooms = rt.get("rooms") if isinstance(rt.get("rooms"), dict) else {}
        available = [
            to_int(room.get("id_room")) if isinstance(room, dict) else to_int(key)
            for key, room in items(rooms.get("available"))
        ]
        total_key = "total_price_with_tax" if include_tax else "total_price"
        base_key = "base_price_with_tax" if include_tax else "base_price"
        result[rt_id] = {
            "available": available,
            "total": amount(rt.get(total_key), f"hotel_ari {total_key} of room type {rt_id}"),
            "nightly_room": amount(rt.get(base_key), f"hotel_ari {base_key} of room type {rt_id}"),
        }
    return result


def first_stay(detail: dict) -> dict:
    stays = (detail.get("associations") or {}).get("room_types") or []
    if not stays or not isinstance(stays[0], dict):
        raise PMSError("QloApps booking has no room types")
    return stays[0]


def guests_of(stay: dict) -> int:
    return sum(to_int(r.get("adults")) + to_int(r.get("child")) for r in as_list(stay.get("rooms"))
               if isinstance(r, dict))


def party_of(stay: dict) -> str:
    """"family" when a room of the stay has children (QloApps' per-room ``child``), else unknown."""
    return "family" if any(to_int(r.get("child")) > 0 for r in as_list(stay.get("rooms")) if isinstance(r, dict)) else ""


def guest_name(customer: Mapping[str, Any]) -> str:
    firstname = str(customer.get("firstname") or "").strip()
    lastname = str(customer.get("lastname") or "").strip()
    return firstname if firstname == lastname else f"{firstname} {lastname}".strip()


def contact_of(customer: Mapping[str, Any], *, email_domain: str, fallback_phone: str = "") -> str:
    """Who the booking belongs to (``Booking.contact``, read by actions/booking_access.py
    and the journey): the customer's phone, else their e-mail. The reception number
    sent as ``fallback_phone`` and the placeholder e-mails of ``customer_detail`` name
    nobody and are skipped. A phone or e-mail QloApps holds that is not one raises."""
    phone = str(customer.get("phone") or "").strip()
    email = str(customer.get("email") or "").strip()
    if phone and not phone_number(phone):
        raise PMSError(f"QloApps customer {to_int(customer.get('id_customer'))} has a malformed phone number")
    if email and not is_email(email):
        raise PMSError(f"QloApps customer {to_int(customer.get('id_customer'))} has a malformed e-mail address")
    digits = re.sub(r"\D", "", phone)
    if phone and not (fallback_phone and digits == re.sub(r"\D", "", fallback_phone)):
        return phone
    if email and not email.lower().endswith("@" + email_domain.lower()):
        return email
    return ""


def contains_any(texts: Iterable[str], needle: str) -> bool:
    return any(needle in text for text in texts)
