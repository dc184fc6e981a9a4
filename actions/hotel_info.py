"""Rooms with photos, the hotel's location and the desk's opening hours."""
from __future__ import annotations

import datetime as dt
from typing import List, Text

from babel.dates import format_datetime, get_day_names
from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

from actions.business_hours import desk_status
from actions.config import HotelConfig
from actions.context import count_phrase, hotel_for, hotel_now, language_of, money, show_time
from actions.pms.base import PMSUnavailable
from actions.pms.gateway import gateway


class ActionShowRoomOptions(Action):
    def name(self) -> Text:
        return "action_show_room_options"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        language = language_of(tracker)
        try:
            pms = gateway(hotel_for(tracker).id)
            rooms = await pms.call(pms.pms.list_room_types, language)
        except PMSUnavailable:
            dispatcher.utter_message(response="utter_pms_unavailable")
            return []
        dispatcher.utter_message(response="utter_room_options_intro")
        for room in rooms:
            dispatcher.utter_message(
                response="utter_room_option",
                room_name=room.name,
                description=room.description,
                max_guests=room.max_guests,
                max_guests_text=count_phrase(room.max_guests, "guest", language),
                nightly=money(room.nightly_rate),
                currency=room.currency,
                image=room.photos[0] if room.photos else None,
            )
        return []


class ActionShareLocation(Action):
    def name(self) -> Text:
        return "action_share_location"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        hotel = hotel_for(tracker)
        dispatcher.utter_message(
            response="utter_hotel_location",
            hotel_name=hotel.name,
            address=hotel.address,
            maps_url=hotel.maps_url,
            # Channels that can send a map pin (WhatsApp) use this; others show the text.
            json_message={
                "location": {
                    "latitude": hotel.latitude,
                    "longitude": hotel.longitude,
                    "name": hotel.name,
                    "address": hotel.address,
                }
            },
        )
        return []


def weekly_schedule(hotel: HotelConfig, language: str) -> str:
    """'lun–jue 08:00–22:00; vie 08:00–23:00; ...' grouping equal consecutive days."""
    names = get_day_names("abbreviated", locale=language)  # 0 = Monday
    closed = "cerrado" if language == "es" else "closed"

    def hours(day: int) -> str:
        intervals = hotel.business_hours.get(day, ())
        return ", ".join(f"{show_time(a, language)}–{show_time(b, language)}" for a, b in intervals) or closed

    groups: list[tuple[int, int, str]] = []
    for day in range(7):
        text = hours(day)
        if groups and groups[-1][2] == text:
            groups[-1] = (groups[-1][0], day, text)
        else:
            groups.append((day, day, text))
    return "; ".join(
        f"{names[a]}{'–' + names[b] if b != a else ''} {text}" for a, b, text in groups
    )


def describe_opening(moment: dt.datetime | None, now: dt.datetime, language: str) -> str:
    """'hoy a las 08:00' / 'tomorrow at 8:00 AM' / 'el lunes 24 nov a las 08:00'."""
    if moment is None:
        return "—"
    time_text = show_time(moment.timetz().replace(tzinfo=None), language)
    days = (moment.date() - now.date()).days
    if language == "es":
        if days == 0:
            return f"hoy a las {time_text}"
        if days == 1:
            return f"mañana a las {time_text}"
        return f"el {format_datetime(moment, 'EEEE d MMM', locale='es')} a las {time_text}"
    if days == 0:
        return f"today at {time_text}"
    if days == 1:
        return f"tomorrow at {time_text}"
    return f"on {format_datetime(moment, 'EEEE, MMM d', locale='en')} at {time_text}"


class ActionBusinessHours(Action):
    def name(self) -> Text:
        return "action_business_hours"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain) -> List[EventType]:
        hotel, language = hotel_for(tracker), language_of(tracker)
        now = hotel_now(hotel)
        status = desk_status(hotel, now)
        schedule = weekly_schedule(hotel, language)
        if status.is_open:
            closes = show_time(status.closes_at.timetz().replace(tzinfo=None), language)
            dispatcher.utter_message(response="utter_desk_open", closes_at=closes, schedule=schedule)
        else:
            dispatcher.utter_message(
                response="utter_desk_closed", next_opening=describe_opening(status.next_opening, now, language),
                schedule=schedule,
            )
        return []
