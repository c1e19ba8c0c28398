"""The twin honours a warm schedule, read on a simulated clock (``warmkeeper up --schedule-start``):
it wakes before the window opens, the first visitor inside the window gets the app (200, no waiting
page), and the window holds the service whatever the traffic, past the idle time."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.e2e.support import BROWSER_HEADERS, TwinProcess, example_config, run_cli

# A Monday, 30 s before the window: the twin's lead (its wake estimate, rounded up to a minute) has
# begun, so the schedule asks for the wake as soon as the twin runs.
SCHEDULE_START = "2026-12-07T08:29:30+01:00"
WINDOW = "Mon 08:30-09:00 Europe/Paris"
IDLE_SECONDS = 3


@pytest.fixture
def scheduled_twin(tmp_path: Path) -> Iterator[tuple[TwinProcess, float]]:
    config = example_config(
        tmp_path, "1.0.0", local_settings=cast(dict[str, Any], {"warm_schedule": [WINDOW]})
    )
    started = time.monotonic()
    twin = TwinProcess(
        config, idle=IDLE_SECONDS, log_dir=tmp_path, extra=["--schedule-start", SCHEDULE_START]
    )
    try:
        yield twin, started
    finally:
        code = twin.stop()
        assert code == 0, twin.log()
        assert twin.leftovers() == [], twin.log()


def test_a_visitor_inside_the_window_gets_the_app_at_once(scheduled_twin: tuple[TwinProcess, float]) -> None:
    twin, started = scheduled_twin
    # Nobody asked: the schedule woke the service, and holds it until the window's end.
    report = twin.wait_state("WARM", timeout=30)
    assert report.lease_until is not None
    assert "warm window Mon 2026-12-07 08:30-09:00 Europe/Paris" in twin.log()
    # Into the window (30 s after the simulated start), and well past the idle time without a request.
    time.sleep(max(0.0, 31.0 - (time.monotonic() - started)))
    assert twin.status().state == "WARM"
    page = twin.client.get("/", headers=BROWSER_HEADERS)
    assert page.status_code == 200, page.text[:200]
    assert "is waking up" not in page.text
    assert 'id="places"' in page.text
    assert twin.details()["tasks_started"] == 1  # the schedule's wake, and no other
    # Still warm after several idle times without traffic: the window holds it.
    time.sleep(3 * IDLE_SECONDS)
    assert twin.status().state == "WARM"
    assert twin.status().lease_until is not None
    # `warmkeeper status` names the window (on the real clock: the next Monday's, or today's).
    shown = run_cli("status", "--config", str(twin.config), "--env", "local")
    assert shown.returncode == 0, shown.stderr
    assert "08:30-09:00 Europe/Paris" in shown.stdout
    assert any(line.startswith("  schedule    ") for line in shown.stdout.splitlines())
