"""ASSISTANT_TEST_FIXED_NOW: the benchmark-only clock override of actions/context.py."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = "from actions import config, context; print(context.hotel_today(config.hotel(None)).isoformat())"


def run_probe(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ASSISTANT_TEST_FIXED_NOW"}
    if value is not None:
        env["ASSISTANT_TEST_FIXED_NOW"] = value
    return subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_fixed_moment_is_today_in_the_hotel_time_zone():
    # 23:30 UTC on 2 March is already 3 March in Madrid
    probe = run_probe("2027-03-02T23:30:00+00:00")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "2027-03-03"
    assert "tests and benchmarks only" in probe.stderr


def test_unset_means_the_real_clock():
    import datetime as dt

    probe = run_probe(None)
    assert probe.returncode == 0, probe.stderr
    assert abs((dt.date.fromisoformat(probe.stdout.strip()) - dt.date.today()).days) <= 1


def test_a_moment_without_offset_or_malformed_refuses_to_start():
    for value in ("2027-03-03T10:00:00", "next wednesday"):
        probe = run_probe(value)
        assert probe.returncode != 0
        assert "ASSISTANT_TEST_FIXED_NOW" in probe.stderr or "isoformat" in probe.stderr
