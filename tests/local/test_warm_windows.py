"""The twin's warm schedule read on a simulated clock: when it holds a lease, and until when."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from warmkeeper.core.schedule import parse_window
from warmkeeper.local.warm_windows import WarmWindowKeeper

WINDOW = parse_window("Mon-Fri 08:30-09:00 Europe/Paris")
MONDAY_OPENING = datetime(2026, 12, 7, 7, 30, tzinfo=UTC)  # 08:30 in Paris (CET)
REAL_NOW = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # the twin's own time: unrelated to the schedule's


class SimulatedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def keeper(clock: SimulatedClock, wake_seconds: float = 10.0) -> WarmWindowKeeper:
    return WarmWindowKeeper([WINDOW], lambda: wake_seconds, clock)


def test_no_lease_before_the_lead() -> None:
    clock = SimulatedClock(MONDAY_OPENING - timedelta(minutes=2))
    assert keeper(clock).lead_minutes == 1  # a 10 s local wake: one minute ahead
    assert keeper(clock).lease(REAL_NOW) is None


def test_the_lead_before_the_window_holds_it_to_its_end_in_real_time() -> None:
    clock = SimulatedClock(MONDAY_OPENING - timedelta(seconds=50))
    lease = keeper(clock).lease(REAL_NOW)
    assert lease is not None
    # What remains of the window on the schedule's clock, from the twin's own now.
    assert lease.until == REAL_NOW + timedelta(minutes=30, seconds=50)
    assert lease.window is not None and lease.window.start == MONDAY_OPENING


def test_a_slower_wake_asks_earlier() -> None:
    clock = SimulatedClock(MONDAY_OPENING - timedelta(seconds=100))
    assert keeper(clock, wake_seconds=10.0).lease(REAL_NOW) is None
    assert keeper(clock, wake_seconds=110.0).lease(REAL_NOW) is not None


def test_inside_the_window_and_after_it() -> None:
    clock = SimulatedClock(MONDAY_OPENING + timedelta(minutes=29))
    lease = keeper(clock).lease(REAL_NOW)
    assert lease is not None and lease.until == REAL_NOW + timedelta(minutes=1)
    clock.now = MONDAY_OPENING + timedelta(minutes=30)
    assert keeper(clock).lease(REAL_NOW) is None  # the idle rule again


def test_the_weekend_has_no_window_and_names_monday() -> None:
    saturday = SimulatedClock(MONDAY_OPENING - timedelta(days=2))
    assert keeper(saturday).lease(REAL_NOW) is None
    upcoming = keeper(saturday).next_window()
    assert upcoming is not None and upcoming.start == MONDAY_OPENING


def test_without_windows_nothing_is_held() -> None:
    empty = WarmWindowKeeper([], lambda: 10.0, SimulatedClock(MONDAY_OPENING))
    assert empty.lease(REAL_NOW) is None and empty.next_window() is None


# --- skip dates --------------------------------------------------------------------------------------

CHRISTMAS_OPENING = datetime(2026, 12, 25, 7, 30, tzinfo=UTC)  # Friday 25 December, 08:30 in Paris
CHRISTMAS = frozenset({date(2026, 12, 25)})


def holiday_keeper(clock: SimulatedClock) -> WarmWindowKeeper:
    return WarmWindowKeeper([WINDOW], lambda: 10.0, clock, skip=CHRISTMAS)


def test_no_lease_on_a_skipped_date_and_the_keeper_names_the_window_left_closed() -> None:
    for at in (CHRISTMAS_OPENING - timedelta(seconds=50), CHRISTMAS_OPENING + timedelta(minutes=10)):
        clock = SimulatedClock(at)
        assert keeper(clock).lease(REAL_NOW) is not None  # without the date: held
        assert holiday_keeper(clock).lease(REAL_NOW) is None
        skipped = holiday_keeper(clock).skipped()
        assert skipped is not None and skipped.start == CHRISTMAS_OPENING
    # Outside the window's time there is nothing to skip, and on the day before it opens as usual.
    assert holiday_keeper(SimulatedClock(CHRISTMAS_OPENING - timedelta(hours=3))).skipped() is None
    day_before = SimulatedClock(CHRISTMAS_OPENING - timedelta(days=1, seconds=-60))
    assert holiday_keeper(day_before).lease(REAL_NOW) is not None
    assert holiday_keeper(day_before).skipped() is None


def test_the_next_window_passes_over_the_skipped_date() -> None:
    thursday_evening = SimulatedClock(CHRISTMAS_OPENING - timedelta(hours=14))
    upcoming = holiday_keeper(thursday_evening).next_window()
    assert upcoming is not None
    assert upcoming.start == CHRISTMAS_OPENING + timedelta(days=3)  # Monday 28
