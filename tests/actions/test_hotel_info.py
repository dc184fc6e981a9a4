"""Room options with photos, location pin, desk opening hours."""
from __future__ import annotations

import dataclasses
import datetime as dt
from urllib.parse import urlparse

from actions.config import PROJECT_ROOT
from actions.hotel_info import (
    ActionBusinessHours,
    ActionShareLocation,
    ActionShowRoomOptions,
    describe_opening,
    weekly_schedule,
)
from tests.conftest import TODAY, at_hotel_time, make_tracker, run_action


async def test_room_options_with_photos():
    result = await run_action(ActionShowRoomOptions(), make_tracker(intent="room_options"))
    assert result.responses == ["utter_room_options_intro"] + ["utter_room_option"] * 4
    options = result.messages[1:]
    assert [(o["room_name"], o["max_guests"], o["nightly"], o["currency"]) for o in options] == [
        ("Habitación individual", 1, "70.00", "EUR"),
        ("Habitación doble", 2, "95.00", "EUR"),
        ("Habitación familiar", 4, "140.00", "EUR"),
        ("Suite con vistas al mar", 3, "180.00", "EUR"),
    ]
    assert [o["image"] for o in options] == [
        f"http://media.test/static/rooms/{code}-1.jpg" for code in ("single", "double", "family", "suite")
    ]
    for option in options:
        assert option["description"]
        # the URL path is served by the action server's /static route from the project's static/ folder
        path = PROJECT_ROOT / urlparse(option["image"]).path.lstrip("/")
        assert path.is_file() and path.stat().st_size > 0
        assert path.read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG


async def test_room_options_in_english():
    result = await run_action(ActionShowRoomOptions(), make_tracker(language="en"))
    names = [m["room_name"] for m in result.messages[1:]]
    assert names == ["Single room", "Double room", "Family room", "Sea-view suite"]
    assert result.message("utter_room_option")["description"].startswith("105 cm bed")


async def test_location_sends_a_map_pin(hotel):
    result = await run_action(ActionShareLocation(), make_tracker(intent="hotel_location"))
    assert result.responses == ["utter_hotel_location"]
    message = result.message("utter_hotel_location")
    assert message["custom"] == {
        "location": {
            "latitude": 36.7196,
            "longitude": -4.4165,
            "name": "Hotel Mirador del Puerto",
            "address": "Calle del Puerto 12, 29016 Málaga, España",
        }
    }
    assert message["hotel_name"] == hotel.name
    assert message["maps_url"] == "https://www.google.com/maps/search/?api=1&query=36.7196,-4.4165"


async def test_desk_open(now):
    now(at_hotel_time(TODAY, 10))  # Monday 10:00
    result = await run_action(ActionBusinessHours(), make_tracker(intent="business_hours"))
    assert result.responses == ["utter_desk_open"]
    message = result.message("utter_desk_open")
    assert message["closes_at"] == "22:00"
    assert message["schedule"] == "lun–jue 08:00–22:00; vie 08:00–23:00; sáb 09:00–14:00, 16:00–23:00; dom 09:00–14:00"


async def test_desk_open_in_english(now):
    now(at_hotel_time(TODAY + dt.timedelta(days=4), 22, 30))  # Friday 22:30, open until 23:00
    message = (await run_action(ActionBusinessHours(), make_tracker(language="en"))).message("utter_desk_open")
    assert message["closes_at"] == "11:00 PM"
    assert message["schedule"].startswith("Mon–Thu 8:00 AM–10:00 PM; Fri 8:00 AM–11:00 PM")


async def test_desk_closed_tonight(now):
    now(at_hotel_time(TODAY, 23))  # Monday 23:00
    result = await run_action(ActionBusinessHours(), make_tracker())
    assert result.responses == ["utter_desk_closed"]
    assert result.message("utter_desk_closed")["next_opening"] == "mañana a las 08:00"
    english = await run_action(ActionBusinessHours(), make_tracker(language="en"))
    assert english.message("utter_desk_closed")["next_opening"] == "tomorrow at 8:00 AM"


async def test_desk_closed_after_midnight_opens_today(now):
    now(at_hotel_time(TODAY + dt.timedelta(days=1), 1, 30))  # Tuesday 01:30
    message = (await run_action(ActionBusinessHours(), make_tracker())).message("utter_desk_closed")
    assert message["next_opening"] == "hoy a las 08:00"


async def test_desk_closed_at_saturday_lunch(now):
    now(at_hotel_time(dt.date(2026, 11, 28), 14, 30))
    message = (await run_action(ActionBusinessHours(), make_tracker())).message("utter_desk_closed")
    assert message["next_opening"] == "hoy a las 16:00"


async def test_desk_closed_over_christmas(now):
    now(at_hotel_time(dt.date(2026, 12, 24), 22, 30))  # Thursday night; Friday 25 is a holiday
    message = (await run_action(ActionBusinessHours(), make_tracker())).message("utter_desk_closed")
    assert message["next_opening"] == "el sábado 26 dic a las 09:00"
    english = (await run_action(ActionBusinessHours(), make_tracker(language="en"))).message("utter_desk_closed")
    assert english["next_opening"] == "on Saturday, Dec 26 at 9:00 AM"


def test_describe_opening_without_a_next_opening():
    assert describe_opening(None, at_hotel_time(TODAY, 10), "es") == "—"


def test_weekly_schedule_groups_equal_days(hotel):
    always = dataclasses.replace(hotel, business_hours={day: ((dt.time(9), dt.time(17)),) for day in range(7)})
    assert weekly_schedule(always, "es") == "lun–dom 09:00–17:00"
    weekdays = dataclasses.replace(hotel, business_hours={day: ((dt.time(9), dt.time(17)),) for day in range(5)})
    assert weekly_schedule(weekdays, "en") == "Mon–Fri 9:00 AM–5:00 PM; Sat–Sun closed"
