"""One action server, several hotels: the channel names the hotel in the
message metadata and the actions answer for that hotel."""
from __future__ import annotations

import pytest
import yaml

from actions import config
from actions.hotel_info import ActionShareLocation
from actions.session import ActionSessionStart
from tests.conftest import make_tracker, run_action


@pytest.fixture
def two_hotels(tmp_path, monkeypatch):
    base = yaml.safe_load((config.PROJECT_ROOT / "hotel.yml").read_text(encoding="utf-8"))
    playa = dict(base, id="playa", name="Hotel Playa Azul", address="Paseo Marítimo 1, Cádiz", latitude=36.52, longitude=-6.29)
    (tmp_path / "a_demo.yml").write_text(yaml.safe_dump(base, allow_unicode=True), encoding="utf-8")
    (tmp_path / "b_playa.yml").write_text(yaml.safe_dump(playa, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("HOTEL_CONFIG", str(tmp_path))
    config.settings.cache_clear()
    config.hotels.cache_clear()
    yield
    config.settings.cache_clear()
    config.hotels.cache_clear()


def tracker_for(hotel_id):
    tracker = make_tracker(text="donde estan?", intent="hotel_location")
    tracker.latest_message["metadata"] = {"hotel": {"id": hotel_id, "config": "/etc/passwd"}}
    return tracker


async def test_location_is_the_hotel_named_in_the_metadata(two_hotels):
    result = await run_action(ActionShareLocation(), tracker_for("playa"))
    message = result.message("utter_hotel_location")
    assert message["hotel_name"] == "Hotel Playa Azul"
    assert message["custom"]["location"]["latitude"] == 36.52


async def test_unknown_hotel_id_falls_back_to_the_first_configured_hotel(two_hotels):
    result = await run_action(ActionShareLocation(), tracker_for("nonexistent"))
    assert result.message("utter_hotel_location")["hotel_name"] == "Hotel Mirador del Puerto"


async def test_session_start_names_the_hotel(two_hotels):
    result = await run_action(ActionSessionStart(), tracker_for("playa"))
    assert result.slot("hotel_name") == "Hotel Playa Azul"


def test_duplicate_hotel_ids_are_refused(tmp_path, monkeypatch):
    base = (config.PROJECT_ROOT / "hotel.yml").read_text(encoding="utf-8")
    (tmp_path / "one.yml").write_text(base, encoding="utf-8")
    (tmp_path / "two.yml").write_text(base, encoding="utf-8")
    monkeypatch.setenv("HOTEL_CONFIG", str(tmp_path))
    config.settings.cache_clear()
    config.hotels.cache_clear()
    try:
        with pytest.raises(config.ConfigError, match="used twice"):
            config.hotels()
    finally:
        config.settings.cache_clear()
        config.hotels.cache_clear()
