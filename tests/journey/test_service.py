"""The journey as the action server runs it: built from the environment and
the hotel file, APScheduler ticking it, started and stopped cleanly."""
from __future__ import annotations

import asyncio

import yaml

from actions import config
from actions.pms import gateway
from journey import config as journey_config
from journey.service import JourneyService
from journey.store import SKIPPED
from tests.stack_common import ROOT


def use_hotel_file(tmp_path, monkeypatch, enabled: bool):
    raw = yaml.safe_load((ROOT / "hotel.yml").read_text(encoding="utf-8"))
    raw["journey"]["enabled"] = enabled
    path = tmp_path / "hotel.yml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    monkeypatch.setenv("HOTEL_CONFIG", str(path))
    monkeypatch.setenv("PMS_DATABASE_URL", f"sqlite:///{tmp_path / 'pms.sqlite3'}")
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", f"sqlite:///{tmp_path / 'assistant.sqlite3'}")
    monkeypatch.setenv("JOURNEY_TICK_SECONDS", "0.05")
    for cached in (config.settings, config.hotels, journey_config.journeys):
        cached.cache_clear()
    gateway.use_gateway(None)


def teardown_function():
    for cached in (config.settings, config.hotels, journey_config.journeys):
        cached.cache_clear()
    gateway.use_gateway(None)


async def test_off_in_every_hotel_file_means_no_service(tmp_path, monkeypatch):
    use_hotel_file(tmp_path, monkeypatch, enabled=False)
    assert JourneyService.from_env() is None


async def test_the_scheduler_ticks_the_journey_until_stopped(tmp_path, monkeypatch):
    use_hotel_file(tmp_path, monkeypatch, enabled=True)
    service = JourneyService.from_env()
    service.start()
    store = service.runner.store
    for _ in range(100):  # the demo bookings carry no contact: planned, then skipped
        await asyncio.sleep(0.05)
        if any(row.detail == "no contact to write to" for row in store.list_steps(None, [SKIPPED])):
            break
    await service.stop()
    skipped = store.list_steps(None, [SKIPPED])
    assert {row.booking_ref for row in skipped if row.detail == "no contact to write to"}
    assert not service.scheduler.running
