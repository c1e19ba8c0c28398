"""A warm schedule's keep-warm event: a lease for the window and a wake, against moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.aws.conftest import World, alarm_event, call
from warmkeeper.core.schedule import WARM_WINDOW_EVENT


def window_event(minutes: object) -> dict[str, object]:
    return {"warmkeeper": WARM_WINDOW_EVENT, "window": "Mon-Fri 08:30-09:00 Europe/Paris", "minutes": minutes}


def test_the_window_event_takes_a_lease_for_the_window_and_wakes(lam: World) -> None:
    before = datetime.now(UTC)
    result = call(window_event(32))
    assert result["handled"] == "warm-window"
    assert result["decision"]["actions"] == ["SCALE_UP"]
    assert lam.desired() == 1
    stored = lam.parameter("lease-until")
    assert stored is not None
    until = datetime.fromisoformat(stored)
    assert before + timedelta(minutes=32) <= until <= datetime.now(UTC) + timedelta(minutes=32)


def test_the_idle_alarm_does_not_sleep_a_service_inside_its_window(lam: World) -> None:
    call(window_event(32))
    result = call(alarm_event("ALARM"))
    assert "lease_active" in result["decision"]["blocked_by"]
    assert lam.desired() == 1


def test_a_window_never_shortens_a_longer_keepalive(lam: World) -> None:
    longer = datetime.now(UTC) + timedelta(hours=3)
    lam.put_lease(longer)
    call(window_event(32))
    stored = lam.parameter("lease-until")
    assert stored is not None and datetime.fromisoformat(stored) == longer


def test_a_malformed_window_event_changes_nothing(lam: World) -> None:
    result = call(window_event("all day"))
    assert result["handled"] is None
    assert "minutes" in result["error"]
    assert lam.desired() == 0
    assert lam.parameter("lease-until") is None


# --- skip dates (warm_schedule_skip) -----------------------------------------------------------------


def all_day_event(skip: list[str]) -> dict[str, object]:
    """A window under way all day in UTC, so that "today" is the opening's date whenever the test runs
    (tomorrow is listed too: a run across midnight still meets a skipped date)."""
    return {"warmkeeper": WARM_WINDOW_EVENT, "window": "daily 00:00-24:00 UTC", "minutes": 1443, "skip": skip}


def today_and_tomorrow() -> list[str]:
    today = datetime.now(UTC).date()
    return [today.isoformat(), (today + timedelta(days=1)).isoformat()]


def test_on_a_skipped_date_the_window_takes_no_lease_and_wakes_nothing(lam: World) -> None:
    result = call(all_day_event(today_and_tomorrow()))
    assert result["handled"] == "warm-window"
    assert result["skipped"] in today_and_tomorrow()
    assert result["lease_until"] is None
    assert lam.desired() == 0
    assert lam.parameter("lease-until") is None


def test_on_another_date_the_window_with_skip_dates_still_opens(lam: World) -> None:
    result = call(all_day_event(["2020-12-25"]))
    assert result["handled"] == "warm-window" and "skipped" not in result
    assert lam.desired() == 1
    assert lam.parameter("lease-until") is not None


def test_a_keepalive_still_works_on_a_skipped_date_and_is_kept(lam: World) -> None:
    call(all_day_event(today_and_tomorrow()))
    until, _ = lam.engine().keepalive(20)  # what `warmkeeper keepalive --minutes 20` asks of the engine
    assert lam.desired() == 1
    call(all_day_event(today_and_tomorrow()))  # a duplicate delivery of the skipped window
    stored = lam.parameter("lease-until")
    assert stored is not None and datetime.fromisoformat(stored) == until
    assert lam.desired() == 1


def test_a_skip_list_that_is_not_dates_changes_nothing(lam: World) -> None:
    result = call(all_day_event(["Christmas"]))
    assert result["handled"] is None
    assert "Christmas" in result["error"]
    assert lam.desired() == 0
