"""Demo hotel for the embedded PMS: room types, rates, photos and two bookings."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from sqlalchemy.orm import Session

ROOM_TYPES = [
    dict(
        code="single", name_es="Habitación individual", name_en="Single room",
        description_es="Cama de 105 cm, escritorio y ducha. Ideal para viajes de trabajo.",
        description_en="105 cm bed, desk and shower. Ideal for business trips.",
        max_guests=1, nightly_rate=Decimal("70.00"), inventory=4,
    ),
    dict(
        code="double", name_es="Habitación doble", name_en="Double room",
        description_es="Cama de matrimonio o dos camas, balcón a la ciudad y baño completo.",
        description_en="Double bed or twin beds, city-view balcony and full bathroom.",
        max_guests=2, nightly_rate=Decimal("95.00"), inventory=8,
    ),
    dict(
        code="family", name_es="Habitación familiar", name_en="Family room",
        description_es="Dos ambientes, cama de matrimonio y litera, para 4 personas.",
        description_en="Two areas, double bed and bunk beds, sleeps 4.",
        max_guests=4, nightly_rate=Decimal("140.00"), inventory=3,
    ),
    dict(
        code="suite", name_es="Suite con vistas al mar", name_en="Sea-view suite",
        description_es="Salón, terraza con vistas al puerto y bañera de hidromasaje.",
        description_en="Lounge, terrace overlooking the harbour and a whirlpool bath.",
        max_guests=3, nightly_rate=Decimal("180.00"), inventory=2,
    ),
]


def photo_paths(code: str) -> list[str]:
    return [f"static/rooms/{code}-{n}.jpg" for n in (1, 2)]


def seed_demo_hotel(session: Session, today: dt.date) -> None:
    """Idempotent: inserts what is missing, never overwrites."""
    from actions.pms.local import BookingRow, RoomTypeRow

    with session.begin():
        for spec in ROOM_TYPES:
            if session.get(RoomTypeRow, spec["code"]) is None:
                session.add(RoomTypeRow(photos=json.dumps(photo_paths(spec["code"])), **spec))
        session.flush()
        demo_bookings = [
            # In house now, paid: late checkout and QR demos.
            dict(reference="BK100001", guest_name="Lucía Fernández", room_type="double",
                 checkin=today - dt.timedelta(days=1), checkout=today + dt.timedelta(days=2),
                 guests=2, status="confirmed", nightly_rate=Decimal("95.00")),
            # Future stay waiting for payment: payment and cancellation demos.
            dict(reference="BK100002", guest_name="John Smith", room_type="suite",
                 checkin=today + dt.timedelta(days=14), checkout=today + dt.timedelta(days=17),
                 guests=2, status="pending_payment", nightly_rate=Decimal("180.00")),
        ]
        for spec in demo_bookings:
            if session.get(BookingRow, spec["reference"]) is None:
                nights = (spec["checkout"] - spec["checkin"]).days
                session.add(BookingRow(total_price=spec["nightly_rate"] * nights, currency="EUR", **spec))
