"""The benchmark's scenarios (bench/bench_sim.py --scenario) on a fast subset of seeds, behind both
front doors and, behind the HTTP API, under both first-health variants of Cloud Map. The full ten
seeds run in the benchmark (docs/benchmarks.md, SIMULATED). Every number here is simulated.

A bound that does not hold today is marked ``xfail(strict=True)`` with what stands in its way."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from warmkeeper.aws.snapshots import STATUS_SETTLED_SNAPSHOT_SECONDS
from warmkeeper.core.front_doors import HTTP_API, LOAD_BALANCER
from warmkeeper_sim.scenarios import (
    PEAK_PER_SECOND,
    READ_OPERATIONS,
    TARGET_RESERVED_CONCURRENCY,
    ScenarioRun,
    run_scenario,
    run_world,
)
from warmkeeper_sim.traffic import Traffic
from warmkeeper_sim.world import SimConfig, World

FAST_SEEDS = (1,)
DOORS = [
    pytest.param(SimConfig(front_door=LOAD_BALANCER), id="alb"),
    pytest.param(SimConfig(front_door=HTTP_API, initial_health="unhealthy"), id="http_api-unhealthy"),
    pytest.param(SimConfig(front_door=HTTP_API, initial_health="healthy"), id="http_api-healthy"),
]
_RUNS: dict[tuple[str, str, str, int, float, str], ScenarioRun] = {}


def scenario(name: str, config: SimConfig, seed: int = 1, throttles: str = "sized") -> ScenarioRun:
    key = (
        name,
        config.front_door,
        config.initial_health,
        seed,
        config.vpc_link_idle_days,
        config.front_service,
        throttles,
    )
    if key not in _RUNS:
        _RUNS[key] = run_scenario(name, seed, config, throttles)
    return _RUNS[key]


def figures(name: str, config: SimConfig) -> list[dict[str, Any]]:
    return [scenario(name, config, seed).figures() for seed in FAST_SEEDS]


# --- wake, sleep, wake again ----------------------------------------------------------------------------


@pytest.mark.parametrize("config", DOORS)
def test_wake_sleep_wake_serves_both_visitors(config: SimConfig) -> None:
    """A waker that left its warm route after a sleep would send the second visitor to no task."""
    for result in figures("wake-sleep-wake", config):
        assert result["wakes"] == 2 and result["sleeps"] >= 1, result
        assert result["failed_requests"] == 0, result["failures"]
        assert result["clients_gave_up"] == 0
        run = scenario("wake-sleep-wake", config)
        assert len(run.run.traffic.client_done) == 2  # both visitors got the app


@pytest.mark.parametrize("config", DOORS)
def test_one_cold_start_metric_per_wake(config: SimConfig) -> None:
    for result in figures("wake-sleep-wake", config):
        assert result["cold_start_metric_published"] == result["wakes"] == 2


def test_one_cold_start_metric_when_the_herd_throttles_the_warm_routes() -> None:
    """Seed 2 behind the HTTP API: the invocation that created the first warm route has its second
    CreateRoute throttled. It keeps the claim: before, nobody published the wake's cold-start metric
    and the reconcile's repair timed the wake at its own minute (seen on seeds 2, 7 and 9)."""
    run = scenario("herd", SimConfig(front_door=HTTP_API, initial_health="unhealthy"), 2)
    assert any("warm routes incomplete" in line for line in run.run.world.log_lines)  # it did happen
    result = run.figures()
    assert result["cold_start_metric_published"] == result["wakes"] == 1


# --- the idle edge: late request metrics -------------------------------------------------------------------


@pytest.mark.parametrize("config", DOORS)
def test_idle_edge_never_sleeps_while_in_use(config: SimConfig) -> None:
    """One request every (idle_minutes - 1) minutes for two hours: the metric shows each minute one to
    three minutes late, and the waker must not sleep between two requests (11 of 11 sleeps were
    while in use before its idle clock allowed for the delay)."""
    for result in figures("idle-edge", config):
        assert result["sleeps_while_in_use"] == 0, result
        assert result["wakes"] == 1 and result["sleeps"] == 1
        assert result["failed_requests"] == 0


EDGE_SEEDS = (1, 2, 3, 4, 5)


@pytest.mark.parametrize("config", DOORS)
def test_idle_edge_sleeps_within_idle_plus_three_minutes(config: SimConfig) -> None:
    """The tasks' activity beacon tells the waker of every request within seconds: the sleep follows
    the idle time, not the request metric's delay (540-589 s after the last request before it)."""
    bound = (config.policy.idle_minutes + 3) * 60
    for seed in EDGE_SEEDS:
        run = scenario("idle-edge", config, seed)
        result = run.figures()
        assert result["sleeps_while_in_use"] == 0, (seed, result)
        assert result["seconds_from_last_request_to_sleep"] <= bound, (seed, result)
        # Every report reached the waker and was taken (a refused one would leave the metric alone).
        world = run.run.world
        assert world.beacon_reports and world.beacon_failures == 0


def test_without_the_beacon_the_metric_delay_keeps_the_service_awake_longer() -> None:
    """The same idle edge with the beacon switched off: never asleep in use either, but the bound is
    missed on these seeds (the idle clock must allow for the metric's assumed 3-minute delay)."""
    config = replace(SimConfig(front_door=LOAD_BALANCER), activity_beacon=False)
    bound = (config.policy.idle_minutes + 3) * 60
    waits = []
    for seed in EDGE_SEEDS:
        result = run_scenario("idle-edge", seed, config).figures()
        assert result["sleeps_while_in_use"] == 0 and result["sleeps"] == 1
        waits.append(result["seconds_from_last_request_to_sleep"])
    assert min(waits) > bound, waits


def test_a_visit_after_a_quiet_minute_is_reported_within_seconds() -> None:
    """The beacon's first report after a request that ends a quiet minute leaves at once (its poll),
    so the waker never decides on a silence the task already broke."""
    run = scenario("idle-edge", SimConfig(front_door=LOAD_BALANCER), 1)
    world = run.run.world
    served = sorted(run.run.traffic.served_times)
    assert len(served) > 20
    for at in served[1:]:
        reports = [when for when, idle in world.beacon_reports if when >= at]
        assert reports and reports[0] - at <= 2.0, at


# --- a rolling deploy under load ----------------------------------------------------------------------------


def test_deploy_behind_the_load_balancer_fails_no_request() -> None:
    for result in figures("deploy", SimConfig(front_door=LOAD_BALANCER)):
        assert result["failed_requests"] == 0, result["failures"]
        assert result["update_service_calls"] == 1  # the wake; the deploy is not an UpdateService of ours


@pytest.mark.parametrize("health", ["unhealthy", "healthy"])
def test_deploy_behind_the_http_api_fails_no_request(health: str) -> None:
    """Cloud Map applies ECS's health report about 30 s late: without the waker's own registration of
    the new task, API Gateway found no instance between the old task's deregistration and that
    (seed 1: 6,274 failed requests, the warm routes taken away and the waiting pages' polls 429)."""
    config = SimConfig(front_door=HTTP_API, initial_health=health)
    for result in figures("deploy", config):
        assert result["failed_requests"] == 0, result["failures"]
        assert result["throttled_calls_given_up"] == 0
    # The waker's own Cloud Map instances name live tasks only: the replaced task's went with it (one
    # left behind kept its address discoverable after the task stopped: seed 2, 4,979 failed).
    for seed in (1, 2):
        world = scenario("deploy", config, seed).run.world
        own = [i for name, i in world.cloud_map.instances.items() if name.startswith("wk-")]
        assert all(i.task is not None and i.task.desired_status == "RUNNING" for i in own), own
        assert scenario("deploy", config, seed).figures()["failed_requests"] == 0


# --- floods -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", DOORS[:2])
def test_status_flood_costs_a_bounded_number_of_aws_reads(config: SimConfig) -> None:
    """200 status requests/s for 60 s from one client while 5 visitors/s use the app. Before the
    settled-snapshot cache (seed 1, ALB): 3,918 throttled calls, 524 given up, concurrency pinned at
    the reservation (100)."""
    for result in figures("status-flood", config):
        assert result["throttled_calls_given_up"] == 0
        assert result["failed_requests"] == 0, result["failures"]
        # Room for the reconcile and the visitors under the reservation (seeds 1-10: 53-57 of 100).
        assert result["peak_lambda_concurrency"] <= TARGET_RESERVED_CONCURRENCY * 8 // 10
        run = scenario("status-flood", config)
        ledger = run.run.world.ledger
        # Past the first seconds (new environments each observe once), the reads of every API
        # together stay, on average, under the bound of aws/snapshots.py (STATUS_SETTLED_SNAPSHOT_SECONDS):
        # the reservation x 5 reads / 15 s, whatever the flood's rate (238 a second without it).
        late = run.started + 30.0
        per_second: dict[int, int] = {}
        for operation in READ_OPERATIONS:
            for second, n in ledger.calls.get(operation, {}).items():
                if late <= second < run.started + 65.0:
                    per_second[second] = per_second.get(second, 0) + n
        # An average: environments started together refresh together, so one second may hold a
        # wave of them (each environment once per STATUS_SETTLED_SNAPSHOT_SECONDS / 2 at most).
        bound = TARGET_RESERVED_CONCURRENCY * 5 / (STATUS_SETTLED_SNAPSHOT_SECONDS / 2)
        average = sum(per_second.values()) / (run.started + 65.0 - late)
        assert average <= bound, per_second


def test_api_flood_behind_the_http_api_leaves_the_visitors_served() -> None:
    """One client at 200 requests/s on an app path: the route's bucket answers it 429, and the
    visitors who share that route meet the same bucket."""
    result = figures("api-flood", SimConfig(front_door=HTTP_API))[0]
    attacker = scenario("api-flood", SimConfig(front_door=HTTP_API)).attacker
    assert attacker is not None and attacker.answers.get("api 429 apigw", 0) > 0
    assert result["throttled_calls_given_up"] == 0
    # What visitors get is reported, not bounded here: the stage's throttle is per route, not per client.
    assert result["failed_requests"] <= result["requests"]


# --- the herd ---------------------------------------------------------------------------------------


def test_herd_behind_the_load_balancer_wakes_once_and_fails_nothing() -> None:
    for result in figures("herd", SimConfig(front_door=LOAD_BALANCER)):
        assert result["update_service_calls"] == 1
        assert result["failed_requests"] == 0, result["failures"]
        assert result["throttled_calls_given_up"] == 0


@pytest.mark.parametrize(
    ("health", "seed"),
    # Seed 1, and the seeds whose herd failed requests at the waking moment before the warm routes'
    # short try (every environment retrying GetRoutes/CreateRoute on botocore's backoff: the waker's
    # catch-all for given-up calls, API Gateway's 500 for invokes past the reserved concurrency).
    [("unhealthy", 1), ("healthy", 1), ("unhealthy", 10), ("healthy", 9)],
)
def test_herd_behind_the_http_api_sized_for_its_peak_fails_nothing(health: str, seed: int) -> None:
    """1,000 clients in 10 s through an HTTP API whose throttles are sized for that peak (every route
    at PEAK_PER_SECOND, burst ten times): one wake, no failed request, no AWS call given up."""
    run = scenario("herd", SimConfig(front_door=HTTP_API, initial_health=health), seed)
    assert run.run.world.config.route_throttle("$default")[0] == PEAK_PER_SECOND
    result = run.figures()
    assert result["update_service_calls"] == 1
    assert result["failed_requests"] == 0, result["failures"]
    assert result["throttled_calls_given_up"] == 0


def test_herd_behind_the_example_stagings_throttles_gets_429s() -> None:
    """The honest figure for the example's staging limits (20/s on the cold `$default` and on
    `/_warmkeeper/*`, 50/s on the app's routes): the herd's excess gets API Gateway's 429 (the throttle
    doing its job), the rest is served and the service wakes once."""
    result = scenario("herd", SimConfig(front_door=HTTP_API), 1, "example").figures()
    assert result["update_service_calls"] == 1
    assert result["failed_requests"] > 1000
    assert set(result["failures"]) <= {f"{kind} 429 apigw" for kind in ("api", "bot", "navigation", "status")}
    assert len(result["failures"]) > 0


@pytest.mark.parametrize("config", DOORS)
def test_herd_first_200_p50_within_45_seconds(config: SimConfig) -> None:
    """What it took (docs/technical/aws-model.md): Caddy starting with the api and the web, health
    commands that pass when the app first answers, the waker asking ECS every 2.5 s, and the ALB's
    one passing check for a new target (its user guide). Seeds 5 and 6 are the slowest of seeds 1-10
    behind the HTTP API (43.6 s healthy first, 44.3 s unhealthy first); seed 9 missed it with the
    waker asking ECS every 5 s (46.8 s), seed 6 behind the ALB with two checks for a new target
    (50.0 s). The bound is over all ten (bench_sim --scenario herd, docs/benchmarks.md)."""
    for seed in (5, 6, 9):
        result = scenario("herd", config, seed).figures()
        assert result["client_seconds_to_200_p50"] <= 45.0, (seed, result["client_seconds_to_200_p50"])
        assert result["failed_requests"] == 0


# --- the hold and the front door's timeout -------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_held_request_is_answered_before_the_http_apis_timeout_whatever_the_retries(seed: int) -> None:
    """API clients held near the end of a wake while every AWS API is throttled for 40 s: botocore's
    retries (six attempts, backoff up to 16 s) would carry a hold past API Gateway's 30 s, which then
    answers 503 itself (seeds 1 and 3 without the clients' deadline); the deadline refuses the retry
    that cannot fit and the waker answers 503 with Retry-After in time."""
    world = World(replace(SimConfig(front_door=HTTP_API), seed=seed))
    traffic = Traffic(world)
    world.kernel.spawn(traffic.api_client, name="first")
    for i in range(5):
        world.kernel.spawn(traffic.api_client, delay=38.0 + i, name="held")
    world.throttler.bursts.append((40.0, 80.0, "*"))
    run_world(world, 200.0)
    assert world.notes.get("apigw_integration_timeout", 0) == 0
    assert len(traffic.client_done) == 6  # everybody gets the app in the end


def test_deploy_behind_the_http_api_when_tasks_start_healthy_over_ten_seeds() -> None:
    """If Cloud Map starts a task HEALTHY (undocumented), ECS's own instance of the new task is
    discoverable from its registration, before the entry container listens (it starts once the api and
    web passed a health check); an API Gateway reading ECS's service caches it and answers 503 until
    it listens: 25-38 requests on 2 of seeds 1-10 (the stack before its front service). API Gateway
    now reads the stack's front service, where only the waker registers, once ECS finds the task
    healthy: ECS's first health status never reaches it."""
    config = SimConfig(front_door=HTTP_API, initial_health="healthy")
    failed = {seed: scenario("deploy", config, seed).figures()["failed_requests"] for seed in range(1, 11)}
    assert set(failed.values()) == {0}, failed


def test_without_the_front_service_a_deploy_with_tasks_starting_healthy_fails_requests() -> None:
    """The same deploy on the stack before its front service (API Gateway reading ECS's service):
    what the front service is for (seed 3: 25 requests answered 503 by API Gateway)."""
    config = SimConfig(front_door=HTTP_API, initial_health="healthy", front_service=False)
    result = scenario("deploy", config, 3).figures()
    assert result["failed_requests"] > 0
    assert result["front_door_own_answers"] == result["failed_requests"]


# --- the VPC link's 60-day rule --------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 4])
def test_the_first_wake_after_60_idle_days_waits_for_the_vpc_link_without_a_failed_request(seed: int) -> None:
    """The link is INACTIVE after 61 days without traffic: the wake starts its reprovisioning, the
    visitor gets the waiting page (not API Gateway's 503s) until it is back, then the app. Before the
    waker held the warm routes back: 30-52 of the visitor's requests were API Gateway's own 503
    (seeds 1-3)."""
    config = SimConfig(front_door=HTTP_API, vpc_link_idle_days=61)
    run = scenario("wake-sleep-wake", config, seed)
    result = run.figures()
    assert result["failed_requests"] == 0, result["failures"]
    assert result["front_door_own_answers"] == 0
    assert run.run.world.http_api.vpc_link_status == "AVAILABLE"
    # The first visitor waits for the link (2-5 min, assumed) and the wake: on some seeds its simulated
    # patience (300 s) runs out first, which is not a failed request; the second is served at once.
    traffic = run.run.traffic
    assert len(traffic.client_done) + traffic.gave_up == 2
    assert traffic.gave_up <= 1
    assert traffic.client_done[-1] < 90.0  # the link's delay is left out of the next estimate
