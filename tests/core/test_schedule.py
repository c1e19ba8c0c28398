"""Warm windows: parsing both forms, the window under way / next, the scheduler's expression."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from warmkeeper.core.schedule import (
    AWS_WAKE_LEAD_MINUTES,
    ScheduleError,
    keep_warm_until,
    next_window,
    parse_window,
    scheduler_trigger,
    wake_lead_minutes,
    warm_hours_per_month,
    window_at,
)

WORKING_HOURS = "Mon-Fri 08:30-19:00 Europe/Paris"


def test_a_window_reads_days_times_and_zone() -> None:
    window = parse_window(WORKING_HOURS)
    assert window.days == frozenset({0, 1, 2, 3, 4})
    assert window.start == time(8, 30)
    assert window.minutes == 10 * 60 + 30
    assert window.zone == "Europe/Paris"


def test_the_cron_form_is_the_same_window() -> None:
    cron = parse_window("cron(30 8 ? * MON-FRI *) for 10h30m Europe/Paris")
    plain = parse_window(WORKING_HOURS)
    assert (cron.days, cron.start, cron.minutes, cron.zone) == (
        plain.days,
        plain.start,
        plain.minutes,
        plain.zone,
    )
    numbered = parse_window("cron(0 9 ? * 2-6 *) for 1h Europe/Paris")  # 2 = Monday .. 6 = Friday
    assert numbered.days == plain.days


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("Mon-Fri 08:30-19:00 Europe/Atlantis", "unknown time zone"),
        ("Mon-Fri 19:00-08:30 Europe/Paris", "must be after the start"),
        ("Mon-Xyz 08:30-19:00 Europe/Paris", "not a day"),
        ("Fri-Mon 08:30-19:00 Europe/Paris", "runs backwards"),
        ("Mon-Fri 08:30-25:00 Europe/Paris", "not a time of day"),
        ("weekdays at nine", "not a warm window"),
        ("cron(30 8 * * ? *) for 1h Europe/Paris", "only day-of-week"),
        ("cron(*/5 8 ? * MON *) for 1h Europe/Paris", "single values"),
        ("cron(30 8 ? * MON *) for soon Europe/Paris", "not like 10h30m"),
        ("cron(30 20 ? * MON *) for 5h Europe/Paris", "end by midnight"),
    ],
)
def test_bad_windows_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_window(text)


def test_the_window_follows_the_zone_across_daylight_saving() -> None:
    window = parse_window(WORKING_HOURS)
    winter = next_window([window], datetime(2026, 1, 12, 5, 0, tzinfo=UTC))  # a Monday
    summer = next_window([window], datetime(2026, 7, 13, 5, 0, tzinfo=UTC))  # a Monday
    assert winter is not None and summer is not None
    assert winter.start == datetime(2026, 1, 12, 7, 30, tzinfo=UTC)  # 08:30 CET
    assert summer.start == datetime(2026, 7, 13, 6, 30, tzinfo=UTC)  # 08:30 CEST


def test_next_window_skips_the_weekend_and_names_the_one_under_way() -> None:
    windows = [parse_window(WORKING_HOURS)]
    friday_evening = datetime(2026, 12, 4, 19, 0, tzinfo=UTC)  # 20:00 in Paris, after the window
    upcoming = next_window(windows, friday_evening)
    assert upcoming is not None
    assert upcoming.start == datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # Monday 08:30 Paris
    assert upcoming.local().startswith("Mon 2026-12-07 08:30-19:00")
    tuesday_noon = datetime(2026, 12, 8, 11, 0, tzinfo=UTC)
    assert window_at(windows, tuesday_noon) == next_window(windows, tuesday_noon)
    assert window_at(windows, friday_evening) is None


def test_keep_warm_starts_the_lead_before_the_window_and_ends_with_it() -> None:
    windows = [parse_window(WORKING_HOURS)]
    opening = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)
    end = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)
    assert keep_warm_until(windows, datetime(2026, 12, 7, 7, 26, tzinfo=UTC), lead_minutes=3) is None
    assert keep_warm_until(windows, datetime(2026, 12, 7, 7, 27, tzinfo=UTC), lead_minutes=3) == end
    assert keep_warm_until(windows, opening, lead_minutes=3) == end
    assert keep_warm_until(windows, end, lead_minutes=3) is None


def test_the_scheduler_fires_the_lead_before_the_window_in_its_zone() -> None:
    trigger = scheduler_trigger(parse_window(WORKING_HOURS), lead_minutes=3)
    assert trigger.expression == "cron(27 8 ? * MON,TUE,WED,THU,FRI *)"
    assert trigger.timezone == "Europe/Paris"
    assert trigger.lease_minutes == 633
    # A lead that crosses midnight moves the days back by one.
    early = scheduler_trigger(parse_window("Mon 00:01-01:00 UTC"), lead_minutes=3)
    assert early.expression == "cron(58 23 ? * SUN *)"


def test_the_lead_covers_the_modelled_wake_the_delivery_and_the_routing() -> None:
    assert wake_lead_minutes(60.0) == 2
    assert wake_lead_minutes(61.0) == 3
    assert wake_lead_minutes(0.0, delivery_seconds=0.0) == 1
    assert wake_lead_minutes(60.0, routing_seconds=60.0) == AWS_WAKE_LEAD_MINUTES == 3


def test_warm_hours_a_month() -> None:
    hours = warm_hours_per_month([parse_window("Mon-Fri 08:30-09:00 Europe/Paris")])
    assert hours == pytest.approx(5 / 7 * 365 / 12 * 0.5)
