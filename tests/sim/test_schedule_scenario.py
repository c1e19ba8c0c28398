"""A warm window on the simulated AWS, over many seeds and both front doors: the first visitor of the
day gets the app at once (200, no waiting page), the window holds the service whatever the traffic, and
the idle rule puts it to sleep after the window. Every number here is simulated."""

from __future__ import annotations

import pytest

from warmkeeper.core.schedule import AWS_WAKE_LEAD_MINUTES
from warmkeeper_sim.scenarios import http_api_config
from warmkeeper_sim.schedule_scenario import (
    WindowRun,
    warm_window_morning,
    warm_window_seeds,
    warm_window_summary,
)
from warmkeeper_sim.world import example_staging_policy

SEEDS = range(1, 41)
IDLE_SECONDS = example_staging_policy().idle_minutes * 60.0
SLEEP_LAG_SECONDS = 180.0  # the alarm's last minute published late, its evaluation, the reconcile


@pytest.fixture(scope="module", params=["http_api", "load_balancer"])
def mornings(request: pytest.FixtureRequest) -> list[WindowRun]:
    return warm_window_seeds(SEEDS, request.param)


def test_the_first_visitor_of_the_day_gets_the_app_at_once(mornings: list[WindowRun]) -> None:
    missed = [r.summary() for r in mornings if not (r.first_visit and r.first_visit.app_at_once)]
    assert missed == []
    assert all(r.healthy_at is not None and r.healthy_at < r.opening for r in mornings)


def test_the_window_holds_the_service_whatever_the_traffic(mornings: list[WindowRun]) -> None:
    # Twenty minutes without a request inside the window: the idle alarm went off, nothing slept.
    assert all(r.second_visit and r.second_visit.app_at_once for r in mornings)
    assert all(r.slept_at is not None and r.slept_at >= r.closing for r in mornings)


def test_after_the_window_the_idle_rule_puts_it_to_sleep(mornings: list[WindowRun]) -> None:
    for run in mornings:
        assert run.slept_at is not None
        assert run.slept_at - run.closing <= IDLE_SECONDS + SLEEP_LAG_SECONDS, run.summary()


def test_one_wake_even_when_the_schedule_delivers_twice(mornings: list[WindowRun]) -> None:
    assert any(len(r.deliveries) == 2 for r in mornings)  # at least once: some mornings get two
    for run in mornings:
        assert [desired for _, desired in run.run.world.ecs.update_service_calls] == [1, 0], run.summary()
        assert run.run.traffic.failed == 0


def test_the_waker_never_failed_on_a_morning(mornings: list[WindowRun]) -> None:
    # A Lambda that raises answers nothing and reconciles nothing: the service would never sleep.
    for run in mornings:
        failures = [line for line in run.run.world.log_lines if '"message": "unhandled"' in line]
        assert failures == [], failures[:1]


def test_without_the_reconcile_minute_in_the_lead_first_visitors_wait() -> None:
    # The lead covers the wake, the delivery AND the reconcile that routes: one minute less, and the
    # task is often healthy but not yet routed when the first visitor comes.
    shorter = warm_window_seeds(SEEDS, "http_api", lead_minutes=AWS_WAKE_LEAD_MINUTES - 1)
    # (7 of 40 once wakes got 5-10 s faster; 8 and more before)
    assert sum(1 for r in shorter if r.first_visit and r.first_visit.waiting_page) >= len(SEEDS) // 10


def test_without_a_schedule_the_first_visitor_waits() -> None:
    run = warm_window_morning(1, http_api_config(), scheduled=False)
    assert run.first_visit is not None and run.first_visit.waiting_page


def test_the_summary_counts_the_mornings() -> None:
    summary = warm_window_summary(range(1, 4), "http_api")
    assert summary["simulated"] is True
    assert summary["seeds"] == 3 and summary["first_visit_app_at_once"] == 3
    assert summary["lead_minutes"] == AWS_WAKE_LEAD_MINUTES


def test_a_spot_interruption_inside_the_window_is_replaced_before_the_next_visitor() -> None:
    # Fargate Spot takes the task back five minutes into the window: ECS replaces it (the desired
    # count stays 1: no sleep while the lease holds), and the visitor twenty minutes in gets the app.
    for seed in range(1, 11):
        run = warm_window_morning(seed, http_api_config(), spot_interruption_at=5 * 60.0)
        assert len({ip for _, ip, _ in run.run.world.task_events}) == 2, run.summary()  # replaced
        assert run.second_visit is not None and run.second_visit.app_at_once, run.summary()
        assert run.first_visit is not None and run.first_visit.app_at_once, run.summary()
        assert run.slept_at is not None and run.slept_at >= run.closing
