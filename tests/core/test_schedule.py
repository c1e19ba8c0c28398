"""Warm windows: parsing both forms, the window under way / next, the scheduler's expression."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from warmkeeper.core.schedule import (
    AWS_WAKE_LEAD_MINUTES,
    ScheduleError,
    keep_warm_until,
    next_window,
    openings_per_month,
    parse_skip_dates,
    parse_window,
    scheduler_trigger,
    wake_lead_minutes,
    warm_hours_per_month,
    warm_window_event,
    warm_window_skipped,
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


# --- skip dates -------------------------------------------------------------------------------------

CHRISTMAS = frozenset({date(2026, 12, 25)})  # a Friday


def test_skip_dates_read_iso_dates_and_name_a_bad_entry() -> None:
    assert parse_skip_dates(["2026-12-25", "2027-01-01", "2026-12-25"]) == {
        date(2026, 12, 25),
        date(2027, 1, 1),
    }
    with pytest.raises(ScheduleError, match=r"entry 1 \('25/12/2026'\) is not a date"):
        parse_skip_dates(["2026-12-24", "25/12/2026"])
    with pytest.raises(ScheduleError, match=r"entry 0 \('2026-02-30'\) is not a day of the calendar"):
        parse_skip_dates(["2026-02-30"])
    with pytest.raises(ScheduleError, match="at most 100"):
        parse_skip_dates([date.fromordinal(date(2026, 1, 1).toordinal() + n).isoformat() for n in range(101)])


def test_no_window_opens_on_a_skipped_date_and_the_next_is_named() -> None:
    window = parse_window("Mon-Fri 08:30-09:00 Europe/Paris")
    thursday_evening = datetime(2026, 12, 24, 18, 0, tzinfo=UTC)
    nxt = next_window([window], thursday_evening, CHRISTMAS)
    assert nxt is not None
    assert nxt.local() == "Mon 2026-12-28 08:30-09:00 Europe/Paris"  # Friday 25 passed over, then the weekend
    friday_in_window = datetime(2026, 12, 25, 7, 40, tzinfo=UTC)  # 08:40 in Paris
    assert window_at([window], friday_in_window, CHRISTMAS) is None
    assert window_at([window], friday_in_window) is not None  # without the date it would be under way
    friday_lead = datetime(2026, 12, 25, 7, 28, tzinfo=UTC)  # 08:28 in Paris, inside the lead
    assert keep_warm_until([window], friday_lead, 3, CHRISTMAS) is None
    assert keep_warm_until([window], friday_lead, 3) is not None


def test_a_skip_date_is_read_in_the_windows_zone() -> None:
    # 00:30-02:00 in Tokyo on 25 December is still 24 December in UTC.
    tokyo = parse_window("daily 00:30-02:00 Asia/Tokyo")
    at = datetime(2026, 12, 24, 15, 40, tzinfo=UTC)  # 00:40 on the 25th in Tokyo
    assert window_at([tokyo], at) is not None
    assert window_at([tokyo], at, CHRISTMAS) is None
    assert window_at([tokyo], at, frozenset({date(2026, 12, 24)})) is not None


def test_a_long_run_of_skipped_dates_still_finds_the_next_window() -> None:
    mondays = parse_window("Mon 09:00-10:00 Europe/Paris")
    skip = frozenset(date.fromordinal(date(2026, 12, 7).toordinal() + 7 * n) for n in range(10))
    nxt = next_window([mondays], datetime(2026, 12, 6, 12, 0, tzinfo=UTC), skip)
    assert nxt is not None
    assert nxt.start.date() == date(2027, 2, 15)


def test_the_event_carries_the_dates_and_the_handler_reads_the_opening_date() -> None:
    window = parse_window("Mon-Fri 08:30-09:00 Europe/Paris")
    event = warm_window_event(window, 3, CHRISTMAS)
    assert event["skip"] == ["2026-12-25"]
    assert "skip" not in warm_window_event(window, 3)  # no dates: the input is what it was
    # Delivered at 08:27 Paris on Christmas (the lead), or retried at 08:33: skipped.
    assert warm_window_skipped(event, datetime(2026, 12, 25, 7, 27, tzinfo=UTC)) == date(2026, 12, 25)
    assert warm_window_skipped(event, datetime(2026, 12, 25, 7, 33, tzinfo=UTC)) == date(2026, 12, 25)
    # A short window whose retry lands after it closed still checks that day's opening.
    short = warm_window_event(parse_window("Fri 08:30-08:32 Europe/Paris"), 3, CHRISTMAS)
    assert warm_window_skipped(short, datetime(2026, 12, 25, 7, 34, tzinfo=UTC)) == date(2026, 12, 25)
    # The day before and after: not skipped.
    assert warm_window_skipped(event, datetime(2026, 12, 24, 7, 27, tzinfo=UTC)) is None
    assert warm_window_skipped(event, datetime(2026, 12, 28, 7, 27, tzinfo=UTC)) is None
    # An event without dates skips nothing.
    assert (
        warm_window_skipped(
            {"warmkeeper": "warm-window", "minutes": 33}, datetime(2026, 12, 25, 7, 27, tzinfo=UTC)
        )
        is None
    )


def test_a_wake_on_the_evening_before_checks_the_windows_date() -> None:
    # Opening 00:02 Paris on the 25th, woken at 23:59 on the 24th: the 25th is the date checked.
    window = parse_window("daily 00:02-01:00 Europe/Paris")
    event = warm_window_event(window, 3, CHRISTMAS)
    assert warm_window_skipped(event, datetime(2026, 12, 24, 22, 59, tzinfo=UTC)) == date(2026, 12, 25)
    assert (
        warm_window_skipped(
            warm_window_event(window, 3, frozenset({date(2026, 12, 24)})),
            datetime(2026, 12, 24, 22, 59, tzinfo=UTC),
        )
        is None
    )


@pytest.mark.parametrize(
    ("event", "says"),
    [
        (
            {
                "warmkeeper": "warm-window",
                "minutes": 33,
                "window": "Mon 09:00-10:00 Europe/Paris",
                "skip": "2026-12-25",
            },
            "list of dates",
        ),
        (
            {
                "warmkeeper": "warm-window",
                "minutes": 33,
                "window": "Mon 09:00-10:00 Europe/Paris",
                "skip": ["Christmas"],
            },
            "is not a date",
        ),
        ({"warmkeeper": "warm-window", "minutes": 33, "skip": ["2026-12-25"]}, "non-empty string"),
    ],
)
def test_a_bad_skip_in_an_event_says_what_is_wrong(event: dict[str, object], says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        warm_window_skipped(event, datetime(2026, 12, 25, 7, 27, tzinfo=UTC))


def test_skipped_dates_come_off_the_monthly_openings_and_hours() -> None:
    working = parse_window("Mon-Fri 08:30-09:00 Europe/Paris")
    days = 365.0 / 12.0
    full = openings_per_month([working], days)
    # Christmas 2026 (Friday) and New Year 2027 (Friday) and a Sunday: two working days over two years.
    skip = parse_skip_dates(["2026-12-25", "2027-01-01", "2026-12-27"])
    assert openings_per_month([working], days, skip) == pytest.approx(full - 2 / 24)
    assert warm_hours_per_month([working], days, skip) == pytest.approx((full - 2 / 24) * 0.5)
    assert warm_hours_per_month([working], days) == pytest.approx(full * 0.5)
