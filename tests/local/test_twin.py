"""The twin's core policy: the local environment's settings with the twin's time overrides."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from warmkeeper.config import load_config
from warmkeeper.local import loopback
from warmkeeper.local.runtimes import ProcessRuntime
from warmkeeper.local.statefile import state_file
from warmkeeper.local.twin import PAGE_RETURN_SECONDS, twin_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "warmkeeper.toml"


def test_defaults_come_from_the_local_environment_and_the_policy_section() -> None:
    cfg = load_config(EXAMPLE)
    settings = cfg.environment("local")
    policy = twin_policy(cfg, settings)
    assert policy.scale_to_zero is True
    assert policy.idle_minutes == settings.idle_minutes == 1
    # min_warm_minutes (2 in the file) is capped at the idle time on the twin.
    assert policy.min_warm_minutes == 1
    assert policy.hold_seconds == cfg.scale_to_zero.hold_seconds == 25
    section = cfg.scale_to_zero
    assert policy.ignore_user_agents == (*section.ignore_user_agents, *section.ignore_user_agents_extra)
    assert "CityGuidedMonitor" in policy.ignore_user_agents
    assert (policy.min_tasks, policy.max_tasks) == (settings.min_tasks, settings.max_tasks)


def test_idle_override_is_in_seconds_and_caps_the_minimum_warm_time() -> None:
    cfg = load_config(EXAMPLE)
    policy = twin_policy(cfg, cfg.environment("local"), idle_seconds=20)
    assert policy.idle_minutes == pytest.approx(20 / 60)
    assert policy.min_warm_minutes == pytest.approx(20 / 60)


def test_a_wake_stays_warm_until_the_page_that_asked_can_come_back() -> None:
    # Below the waiting page's return time the cap would let a 3 s idle put the service back to
    # sleep before the page reloads: the browser's visitor would wake it once per page load.
    assert PAGE_RETURN_SECONDS > 3
    cfg = load_config(EXAMPLE)
    policy = twin_policy(cfg, cfg.environment("local"), idle_seconds=3)
    assert policy.idle_minutes == pytest.approx(3 / 60)
    assert policy.min_warm_minutes == pytest.approx(PAGE_RETURN_SECONDS / 60)


def test_explicit_minimum_warm_time_wins_over_the_cap() -> None:
    cfg = load_config(EXAMPLE)
    policy = twin_policy(cfg, cfg.environment("local"), idle_seconds=3, min_warm_seconds=30)
    assert policy.min_warm_minutes == pytest.approx(0.5)


def test_an_always_on_environment_keeps_its_task_counts() -> None:
    cfg = load_config(EXAMPLE)
    production = cfg.environment("production")
    policy = twin_policy(cfg, production)
    assert policy.scale_to_zero is False
    assert (policy.min_tasks, policy.max_tasks, policy.wake_count) == (1, 3, 1)


def test_state_file_lives_next_to_the_config() -> None:
    cfg = load_config(EXAMPLE)
    assert state_file(cfg, 8123) == EXAMPLE.parent / ".warmkeeper" / "twin-8123.json"


class _ReusingSocket:
    """A socket whose bind to port 0 gets the lowest port not bound right now: a kernel that hands a
    port it just gave out to the very next bind, as this machine's did once in CI."""

    bound: ClassVar[set[int]] = set()

    def __init__(self, *args: object) -> None:
        self.port = 0

    def __enter__(self) -> _ReusingSocket:
        return self

    def __exit__(self, *args: object) -> None:
        self.bound.discard(self.port)

    def setsockopt(self, *args: object) -> None:
        return None

    def bind(self, address: tuple[str, int]) -> None:
        self.port = address[1] or min(set(range(40_000, 40_100)) - self.bound)
        self.bound.add(self.port)

    def getsockname(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)


def test_a_task_gets_distinct_ports_for_its_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopback.socket, "socket", _ReusingSocket)
    cfg = load_config(EXAMPLE)
    ports, entry = ProcessRuntime(httpx.Client()).ports(cfg)
    # The three containers, and the caller site of the internal service osrm (`{port:osrm}`).
    assert len(set(ports.values())) == len(cfg.containers) + len(cfg.services) == 4
    assert entry == ports[cfg.entry_container.name]
    assert _ReusingSocket.bound == set()  # every socket was closed again


def test_the_twin_holds_no_lease_on_a_skip_date_and_says_why(tmp_path: Path) -> None:
    """The twin's schedule on a simulated clock set to Christmas morning in Paris, inside the lead:
    no lease, one line naming the window and the reason; the day before, the lease as usual. Nothing
    is started (the controller's step is called directly)."""
    from datetime import UTC, datetime, timedelta

    from warmkeeper.local.twin import Twin, TwinEvent, TwinOptions

    cfg = load_config(EXAMPLE)
    settings = cfg.environment("local").model_copy(
        update={"warm_schedule": ["Mon-Fri 08:30-09:00 Europe/Paris"], "warm_schedule_skip": ["2026-12-25"]}
    )
    opening = datetime(2026, 12, 25, 7, 30, tzinfo=UTC)  # Friday 08:30 in Paris
    clock = {"now": opening - timedelta(seconds=30)}
    options = TwinOptions(port=loopback.free_port(), state_dir=tmp_path, schedule_clock=lambda: clock["now"])
    events: list[TwinEvent] = []
    twin = Twin(cfg, settings, options, on_event=events.append)
    try:
        now = datetime.now(UTC)
        twin._hold_warm_window(now)
        twin._hold_warm_window(now)
        assert twin._memory.lease_until is None
        said = [event.message for event in events if "skipped" in event.message]
        assert said == [
            "warm window Fri 2026-12-25 08:30-09:00 Europe/Paris skipped: its date is in warm_schedule_skip"
        ]
        clock["now"] = opening - timedelta(days=1, seconds=30)  # Thursday: the window opens
        twin._hold_warm_window(now)
        assert twin._memory.lease_until is not None
        assert events[-1].message.startswith("warm window Thu 2026-12-24 08:30-09:00")
    finally:
        assert twin.stop() == []
