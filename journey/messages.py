"""The words of each step, per language (and per party for the review
request), plus the values of its WhatsApp template's parameters.

Texts are the free-form version (inside WhatsApp's 24-hour window, e-mail);
outside the window the hotel's approved template for that step and language
goes out with the same facts as its parameters.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional

from journey.config import (
    ARRIVAL_DAY,
    BOOKING_CONFIRMATION,
    CHECKOUT_MORNING,
    PRE_ARRIVAL,
    REVIEW_REQUEST,
    TemplateRef,
)

OPT_OUT_HINT = {
    "es": "Si no quieres recibir más mensajes como este, responde BAJA.",
    "en": "If you'd rather not get messages like this, reply STOP.",
}

TEXTS: Mapping[str, Mapping[str, str]] = {
    BOOKING_CONFIRMATION: {
        "es": "Hola {guest_name}, confirmamos tu reserva {reference} en {hotel_name}: llegada el {checkin} (desde las "
              "{checkin_time}), salida el {checkout}. Puedes escribirnos aquí para cualquier cosa.",
        "en": "Hi {guest_name}, your booking {reference} at {hotel_name} is confirmed: arrival {checkin} (from "
              "{checkin_time}), departure {checkout}. Write to us here for anything you need.",
    },
    PRE_ARRIVAL: {
        "es": "Hola {guest_name}, te esperamos el {checkin} en {hotel_name} ({address}). El check-in es desde las "
              "{checkin_time}; cómo llegar: {maps_url}. ¿Necesitas parking o llegar antes? Respóndenos aquí.",
        "en": "Hi {guest_name}, we look forward to seeing you on {checkin} at {hotel_name} ({address}). Check-in is "
              "from {checkin_time}; directions: {maps_url}. Need parking or an early check-in? Just reply here.",
    },
    ARRIVAL_DAY: {
        "es": "¡Hoy es el día, {guest_name}! El check-in es desde las {checkin_time}.{qr}{wifi}",
        "en": "Today's the day, {guest_name}! Check-in is from {checkin_time}.{qr}{wifi}",
    },
    CHECKOUT_MORNING: {
        "es": "Buenos días {guest_name}. La salida es hoy a las {checkout_time}. ¿Quieres quedarte hasta las "
              "{late_checkout_until}? El late checkout cuesta {late_checkout_fee} {currency} (reserva {reference}). "
              "Responde «sí» y lo dejo hecho.",
        "en": "Good morning {guest_name}. Checkout is today at {checkout_time}. Would you like to stay until "
              "{late_checkout_until}? Late checkout is {late_checkout_fee} {currency} (booking {reference}). "
              "Reply \"yes\" and I'll arrange it.",
    },
}
QR_LINE = {"es": " Tu código QR de check-in: {qr_url}", "en": " Your check-in QR code: {qr_url}"}
WIFI_LINE = {"es": " Wi-Fi: {wifi_name} (clave {wifi_password}).", "en": " Wi-Fi: {wifi_name} (password {wifi_password})."}

# The review request by party: what the stay was likely about, then the same ask.
REVIEW_OPENING = {
    "solo": {"es": "Gracias por alojarte con nosotros, {guest_name}.",
             "en": "Thank you for staying with us, {guest_name}."},
    "couple": {"es": "Gracias por elegirnos para vuestra escapada, {guest_name}.",
               "en": "Thank you both for choosing us for your getaway, {guest_name}."},
    "family": {"es": "Gracias por venir en familia, {guest_name}; esperamos que todos lo pasarais bien.",
               "en": "Thank you for bringing the family, {guest_name}; we hope everyone had a great time."},
    "group": {"es": "Gracias por alojar a vuestro grupo con nosotros, {guest_name}.",
              "en": "Thank you for staying with us as a group, {guest_name}."},
    "business": {"es": "Gracias por alojarte con nosotros en tu viaje de trabajo, {guest_name}.",
                 "en": "Thank you for staying with us on your business trip, {guest_name}."},
}
REVIEW_ASK = {
    "es": "¿Qué nota le das a tu estancia en {hotel_name}, del 1 al 5? Responde con un número.{links}",
    "en": "How would you rate your stay at {hotel_name}, from 1 to 5? Reply with a number.{links}",
}
REVIEW_LINKS = {"es": " Y si te apetece contarlo: {links}", "en": " And if you'd like to share it: {links}"}
SUBJECTS = {
    BOOKING_CONFIRMATION: {"es": "Tu reserva {reference} en {hotel_name}", "en": "Your booking {reference} at {hotel_name}"},
    PRE_ARRIVAL: {"es": "Tu llegada a {hotel_name}", "en": "Your arrival at {hotel_name}"},
    ARRIVAL_DAY: {"es": "Hoy te esperamos en {hotel_name}", "en": "See you today at {hotel_name}"},
    CHECKOUT_MORNING: {"es": "¿Late checkout hoy?", "en": "Late checkout today?"},
    REVIEW_REQUEST: {"es": "¿Qué tal tu estancia en {hotel_name}?", "en": "How was your stay at {hotel_name}?"},
}


@dataclass(frozen=True)
class Message:
    text: str
    subject: str
    template: Optional[TemplateRef]
    template_parameters: List[str]


def compose(step: str, language: str, party: str, facts: Mapping[str, str], template: Optional[TemplateRef],
            first_message: bool) -> Message:
    """The message of ``step`` for this guest. ``facts``: every value a text or
    template may use (see journey.config.PARAMETERS plus currency, maps_url,
    qr_url, review_links); missing facts raise KeyError: a bug, not a guest's."""
    language = language if language in ("es", "en") else "en"
    values: Dict[str, str] = dict(facts)
    if step == REVIEW_REQUEST:
        links = values.get("review_links", "")
        values["links"] = REVIEW_LINKS[language].format(links=links) if links else ""
        text = REVIEW_OPENING[party if party in REVIEW_OPENING else "solo"][language] + " " + REVIEW_ASK[language]
    else:
        if step == ARRIVAL_DAY:
            values["qr"] = QR_LINE[language].format(**values) if values.get("qr_url") else ""
            values["wifi"] = WIFI_LINE[language].format(**values) if values.get("wifi_name") and values.get("wifi_password") else ""
        text = TEXTS[step][language]
    body = text.format(**values)
    if first_message:
        body = f"{body}\n\n{OPT_OUT_HINT[language]}"
    parameters = [str(values[name]) for name in template.parameters] if template else []
    return Message(body, SUBJECTS[step][language].format(**values), template, parameters)
