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
