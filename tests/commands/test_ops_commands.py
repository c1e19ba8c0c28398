"""`warmkeeper status`: `--port` picks which twin to ask (refused for an AWS environment), and the
report names the next warm window (and the one under way), in text and in --json."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from tests.conftest import EXAMPLE_CONFIG, run_cli
from warmkeeper.commands.ops_commands import schedule_lines, warm_schedule_status
from warmkeeper.config import load_config

STAGING = load_config(EXAMPLE_CONFIG).environment("staging")
FRIDAY_EVENING = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # 19:00 in Paris
MONDAY_IN_THE_WINDOW = datetime(2026, 12, 7, 7, 40, tzinfo=UTC)  # 08:40 in Paris


def test_status_port_is_for_the_local_twin_only() -> None:
    result = run_cli(["status", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--port", "8090"])
    assert result.returncode == 2
    assert result.stderr.strip() == "error: --port: only with --env local (the twin's public port)"


def test_status_port_looks_for_the_twin_on_that_port(tmp_path: Path) -> None:
    config = tmp_path / "warmkeeper.toml"
    config.write_text(EXAMPLE_CONFIG.read_text(encoding="utf-8"), encoding="utf-8")
    result = run_cli(["status", "--config", str(config), "--env", "local", "--port", "45678"])
    assert result.returncode == 2
    assert "twin-45678.json: no local twin is running" in result.stderr
    assert "Traceback" not in result.stderr


def test_status_names_the_next_window_after_the_weekend() -> None:
    assert schedule_lines(STAGING, FRIDAY_EVENING) == [
        "  schedule    next window Mon 2026-12-07 08:30-09:00 Europe/Paris"
        " (in 61 h 30 min, woken just before)"
    ]


def test_status_says_when_the_window_is_under_way() -> None:
    assert schedule_lines(STAGING, MONDAY_IN_THE_WINDOW) == [
        "  schedule    in the window Mon 2026-12-07 08:30-09:00 Europe/Paris (held warm 20 min more)"
    ]


def test_status_json_carries_the_window_in_utc() -> None:
    document = warm_schedule_status(STAGING, FRIDAY_EVENING)
    assert document["windows"] == ["Mon-Fri 08:30-09:00 Europe/Paris"]
    assert document["next_window"] == {
        "window": "Mon-Fri 08:30-09:00 Europe/Paris",
        "start": "2026-12-07T07:30:00+00:00",
        "end": "2026-12-07T08:00:00+00:00",
        "local": "Mon 2026-12-07 08:30-09:00 Europe/Paris",
        "under_way": False,
    }


def test_without_a_schedule_status_says_so() -> None:
    production = load_config(EXAMPLE_CONFIG).environment("production")
    assert schedule_lines(production) == ["  schedule    none (warm_schedule is not set)"]
    assert warm_schedule_status(production)["next_window"] is None


HOLIDAY_STAGING = STAGING.model_copy(
    update={"warm_schedule_skip": ["2026-12-25", "2027-01-01", "2026-12-26"]}
)
THURSDAY_EVENING = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)  # Christmas eve, 19:00 in Paris


def test_status_names_the_next_window_after_the_skipped_dates() -> None:
    # Friday 25 is skipped, 26 is a Saturday (no window to skip): Monday 28 is next.
    assert schedule_lines(HOLIDAY_STAGING, THURSDAY_EVENING) == [
        "  schedule    next window Mon 2026-12-28 08:30-09:00 Europe/Paris"
        " (in 85 h 30 min, woken just before)",
        "              skipped before it: 2026-12-25 (warm_schedule_skip)",
    ]
    document = warm_schedule_status(HOLIDAY_STAGING, THURSDAY_EVENING)
    assert document["skip"] == ["2026-12-25", "2026-12-26", "2027-01-01"]
    assert isinstance(document["next_window"], dict)
    assert document["next_window"]["start"] == "2026-12-28T07:30:00+00:00"
    # Without the dates, Friday's window would be the next.
    assert "Fri 2026-12-25" in schedule_lines(STAGING, THURSDAY_EVENING)[0]


def test_status_on_a_skipped_morning_says_the_window_is_skipped() -> None:
    christmas_morning = datetime(2026, 12, 25, 7, 40, tzinfo=UTC)  # 08:40 in Paris
    lines = schedule_lines(HOLIDAY_STAGING, christmas_morning)
    assert lines[0].startswith("  schedule    next window Mon 2026-12-28 08:30-09:00")
    # The window that would be under way is the one left closed: status says why it is not.
    assert lines[1:] == ["              skipped before it: 2026-12-25 (warm_schedule_skip)"]
