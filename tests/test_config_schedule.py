"""The config's warm_schedule and dashboard: read, checked, and a bad window named with its key."""

from __future__ import annotations

import tomllib
from typing import Any

import pytest

from tests.conftest import EXAMPLE_CONFIG
from warmkeeper.config import ConfigError, parse_config


def example(**staging: Any) -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"].update(staging)
    return data


def test_the_example_staging_is_warm_on_working_mornings_without_a_dashboard() -> None:
    settings = parse_config(example(), EXAMPLE_CONFIG).environment("staging")
    assert [window.text for window in settings.warm_windows] == ["Mon-Fri 08:30-09:00 Europe/Paris"]
    assert settings.has_dashboard is False and settings.has_alarm_topic is False
    production = parse_config(example(), EXAMPLE_CONFIG).environment("production")
    assert production.has_dashboard is True and production.has_alarm_topic is True


def test_asking_for_them_brings_the_dashboard_and_the_topic_back() -> None:
    settings = parse_config(
        example(dashboard=True, alarm_email="ops@example.org"), EXAMPLE_CONFIG
    ).environment("staging")
    assert settings.has_dashboard and settings.has_alarm_topic


def test_a_bad_window_names_the_key_and_what_is_wrong() -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(example(warm_schedule=["Mon-Fri 08:30-19:00 Paris"]), EXAMPLE_CONFIG)
    message = str(refused.value)
    assert "warm_schedule" in message and "unknown time zone 'Paris'" in message


def test_a_schedule_needs_scale_to_zero() -> None:
    with pytest.raises(ConfigError, match="warm_schedule needs scale_to_zero"):
        parse_config(
            example(scale_to_zero=False, min_tasks=1, warm_schedule=["Mon 09:00-10:00 UTC"]), EXAMPLE_CONFIG
        )


def test_skip_dates_are_read_as_iso_text_or_toml_dates() -> None:
    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8") + "\n")
    data["environments"]["staging"]["warm_schedule_skip"] = tomllib.loads(
        "skip = [2026-12-25, '2027-01-01']"
    )["skip"]
    settings = parse_config(data, EXAMPLE_CONFIG).environment("staging")
    assert settings.warm_schedule_skip == ["2026-12-25", "2027-01-01"]
    assert {day.isoformat() for day in settings.warm_skip_dates} == {"2026-12-25", "2027-01-01"}


@pytest.mark.parametrize(
    ("skip", "says"),
    [
        (["2026-12-25", "25/12/2026"], "entry 1 ('25/12/2026') is not a date"),
        (["2026-02-30"], "entry 0 ('2026-02-30') is not a day of the calendar"),
    ],
)
def test_a_bad_skip_date_names_the_key_and_the_entry(skip: list[str], says: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(example(warm_schedule_skip=skip), EXAMPLE_CONFIG)
    message = str(refused.value)
    assert "environments.staging.warm_schedule_skip" in message and says in message


def test_skip_dates_without_a_schedule_are_refused() -> None:
    with pytest.raises(ConfigError, match="warm_schedule_skip is set but warm_schedule is not"):
        parse_config(example(warm_schedule=[], warm_schedule_skip=["2026-12-25"]), EXAMPLE_CONFIG)
