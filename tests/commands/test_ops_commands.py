"""`warmkeeper status` names the next warm window (and the one under way), in text and in --json."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import EXAMPLE_CONFIG
from warmkeeper.commands.ops_commands import schedule_lines, warm_schedule_status
from warmkeeper.config import load_config

STAGING = load_config(EXAMPLE_CONFIG).environment("staging")
FRIDAY_EVENING = datetime(2026, 12, 4, 18, 0, tzinfo=UTC)  # 19:00 in Paris
MONDAY_IN_THE_WINDOW = datetime(2026, 12, 7, 7, 40, tzinfo=UTC)  # 08:40 in Paris


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
