"""The facts a step's message is written from: the booking as the PMS has it
now, the hotel file and the journey settings, formatted in the guest's language."""
from __future__ import annotations

from typing import Dict

from actions import qr
from actions.config import HotelConfig
from actions.context import money, show_date, show_time
from actions.late_checkout import late_checkout_fee
from actions.pms.base import Booking
from journey.config import JourneyConfig
from journey.links import review_url


def step_facts(booking: Booking, hotel: HotelConfig, journey: JourneyConfig, language: str, *,
               public_url: str, qr_secret: str, link_secret: str) -> Dict[str, str]:
    policies = hotel.policies
    first_name = (booking.guest_name or "").split()[0] if (booking.guest_name or "").split() else ""
    facts = {
        "guest_name": first_name,
        "hotel_name": hotel.name,
        "address": hotel.address,
        "maps_url": hotel.maps_url,
        "reference": booking.reference,
        "checkin": show_date(booking.checkin, language),
        "checkout": show_date(booking.checkout, language),
        "checkin_time": show_time(policies.checkin_time, language),
        "checkout_time": show_time(policies.checkout_time, language),
        "late_checkout_until": show_time(policies.late_checkout_until, language),
        "late_checkout_fee": money(late_checkout_fee(booking, hotel)),
        "currency": booking.currency,
        "wifi_name": journey.wifi_name,
        "wifi_password": journey.wifi_password,
        "qr_url": qr.image_url(public_url, qr.sign_booking(booking, qr_secret)) if booking.is_paid else "",
    }
    links = [
        f"{platform.title()}: {review_url(public_url, link_secret, hotel.id, booking.reference, platform)}"
        for platform in hotel.review_links
    ]
    facts["review_links"] = " · ".join(links)
    facts["review_url"] = review_url(public_url, link_secret, hotel.id, booking.reference, next(iter(hotel.review_links))) \
        if hotel.review_links else ""
    return facts
