"""The second-service scenario on the simulated AWS: OSRM asleep while the app is warm, 20 routes asked
in a minute, 5 visitors a second. Over several seeds and both front doors: one OSRM wake, every route
answered with the route or an actionable retry, no app request failed, OSRM back asleep after its
idle time while the app stays awake. Every number here is simulated."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from warmkeeper.aws.adapters import StateStore, WakeLock
from warmkeeper.core.front_doors import HTTP_API, LOAD_BALANCER
from warmkeeper_sim.second_service import (
    OSRM,
    ROUTING_REQUESTS,
    SecondServiceRun,
    config_for,
    osrm_markdown_table,
    second_service,
    second_service_summary,
)
from warmkeeper_sim.world import example_staging_policy

SEEDS = range(1, 4)  # bench/bench_sim.py runs 1-10 (docs/benchmarks.md)
OSRM_IDLE_SECONDS = 10 * 60.0  # examples/cityguided/warmkeeper.toml: osrm idle_minutes = 10
Runs = list[tuple[SecondServiceRun, dict[str, Any]]]


@pytest.fixture(scope="module", params=[HTTP_API, LOAD_BALANCER])
def runs(request: pytest.FixtureRequest) -> Runs:
    config = config_for(request.param)
    return [(run, run.figures()) for run in (second_service(seed, config) for seed in SEEDS)]


def test_one_osrm_wake_per_run_and_the_app_left_alone(
    runs: Runs,
) -> None:
    for _, figures in runs:
        assert figures["update_service_calls_by_service"][OSRM] == 1, figures
        assert figures["app_wakes_in_scenario"] == 0, figures  # the app's one wake is its warm-up


def test_every_route_is_answered_with_the_route_or_an_actionable_retry(
    runs: Runs,
) -> None:
    for _, figures in runs:
        assert figures["failed_requests"] == 0, figures
        assert figures["routing_routes"] == ROUTING_REQUESTS
        assert set(figures["routing_answers"]) <= {"200 app", "503 app retry-after"}, figures
        assert figures["routing_retries"] > 0  # OSRM was asleep: the first answers were retries
        assert figures["waker_errors"] == 0


def test_no_route_before_osrm_is_in_dns(runs: Runs) -> None:
    for run, figures in runs:
        assert run.routing.first_request_at is not None
        woke = next(t for t, d in run.run.world.osrm.update_service_calls if d == 1)  # type: ignore[attr-defined]
        first_route = run.routing.first_request_at + figures["routing_first_200_seconds"]
        assert first_route - woke >= figures["osrm_in_dns_after_wake_seconds"]


def test_the_waker_says_warm_only_once_osrm_is_healthy_and_its_estimate_spares_retries(runs: Runs) -> None:
    """The waker reads osrm's own tasks: a "warm" answer (Retry-After 5) before osrm's container is
    healthy would make every caller poll every 5 s and record a wake of a few seconds. With the
    config's first estimate (first_wake_seconds), a caller comes back about when the route is there."""
    for run, figures in runs:
        world = run.run.world
        first_healthy = min(world.osrm.healthy_at)  # type: ignore[attr-defined]
        warm_answers = [t for t, state in run.routing.waker_states if state == "warm"]
        assert all(t >= first_healthy for t in warm_answers), (warm_answers[:3], first_healthy)
        assert figures["routing_retries"] <= 3 * ROUTING_REQUESTS, figures["routing_retries"]


def test_no_app_request_fails_while_osrm_wakes(runs: Runs) -> None:
    for _, figures in runs:
        assert figures["app_failed_requests"] == 0, figures["app_failures"]
        assert figures["app_requests"] > 5000


def test_osrm_sleeps_after_its_idle_time_while_the_app_stays_warm(
    runs: Runs,
) -> None:
    for _, figures in runs:
        assert figures["osrm_sleeps"] == 1 and figures["app_sleeps"] == 0, figures
        assert figures["osrm_slept_after_last_route_seconds"] >= OSRM_IDLE_SECONDS


def test_the_apps_sleep_does_not_wait_for_osrm() -> None:
    # The visitors leave a minute in: the app sleeps after its own idle time (5 min) while OSRM, used
    # until its routes were answered, is still awake; OSRM sleeps later on its own.
    run = second_service(1, config_for(HTTP_API), visitor_seconds=60.0)
    world = run.run.world
    app_sleep = next(t for t, d in world.ecs.update_service_calls if d == 0)
    osrm_sleep = next(t for t, d in world.osrm.update_service_calls if d == 0)  # type: ignore[attr-defined]
    last_route = max(run.routing.route_times)
    assert last_route + example_staging_policy().idle_minutes * 60 <= app_sleep < osrm_sleep
    assert osrm_sleep - last_route >= OSRM_IDLE_SECONDS


def test_without_the_services_wake_lock_concurrent_routes_wake_osrm_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The scenario is harsh enough to need the lock: every caller wins the compare-and-set, and the
    # concurrent first calls each scale OSRM up.
    original = StateStore.take_wake_lock

    def always(self: StateStore, lock: WakeLock) -> bool:
        original(self, lock)
        return True

    monkeypatch.setattr(StateStore, "take_wake_lock", always)
    # Without the app's activity beacon in the run: with its reports, none of seeds 1-10 lines up two
    # first calls in the window the lock closes; without them seed 3 does (the draws differ).
    config = replace(config_for(LOAD_BALANCER), activity_beacon=False)
    wakes = [second_service(seed, config).figures()["osrm_wakes"] for seed in SEEDS]
    assert max(wakes) >= 2, wakes


def test_the_summary_is_simulated_and_names_its_model() -> None:
    summary = second_service_summary(range(1, 2), HTTP_API)
    assert summary["simulated"] is True and summary["scenario"] == "second-service"
    assert summary["update_service_calls_by_service"][OSRM] == 1
    for name in ("osrm.data_gb", "osrm.s3_download_rate", "osrm.load_rate", "cloudmap.health_update"):
        assert name in summary["model"]
    low, high = summary["model"]["osrm.cold_start_modelled_seconds"]
    assert 80 <= low < high <= 160  # docs/technical/osrm.md: 86-153 s to the first route


def test_the_docs_carry_the_osrm_figures() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "technical" / "aws-model.md").read_text()
    assert osrm_markdown_table() in doc, "paste warmkeeper_sim.second_service.osrm_markdown_table() into it"
