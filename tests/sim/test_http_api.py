"""The HTTP API front door on the simulated AWS: API Gateway's run-time warm routes, Cloud Map's
healthy instances as API Gateway discovers them (cached), the drain window. Every number is
simulated; the delays AWS does not publish are marked assumed in src/warmkeeper_sim/figures.py."""

from __future__ import annotations

import pytest

from warmkeeper_sim.figures import BUCKETS, figure
from warmkeeper_sim.scenarios import (
    DeployResult,
    Run,
    SpotResult,
    herd,
    http_api_config,
    http_api_rolling_deploy,
    sized_for_peak,
    spot_interruption,
)

HERD = 300


@pytest.fixture(scope="module")
def herd_run() -> Run:
    """300 cold visitors in 10 s behind an HTTP API whose throttles are sized for the herd's peak (the
    example staging's 20/s on `/_warmkeeper/*` is sized for about 40 waiting visitors: 210 waiting
    browsers polling every 2 s get 429s there, test_bench_scenarios has that figure)."""
    return herd(HERD, config=sized_for_peak(http_api_config()))


@pytest.fixture(scope="module")
def deploy_with_drain() -> DeployResult:
    return http_api_rolling_deploy()  # the config default: 75 s


@pytest.fixture(scope="module")
def deploy_without_drain() -> DeployResult:
    return http_api_rolling_deploy(drain_seconds=0)


# --- the cold herd -------------------------------------------------------------------------------------


def test_herd_behind_the_http_api_wakes_with_exactly_one_update_service(herd_run: Run) -> None:
    assert herd_run.world.ecs.update_service_calls == [(herd_run.world.ecs.update_service_calls[0][0], 1)]


def test_herd_behind_the_http_api_has_no_failed_request_and_every_client_gets_the_app(herd_run: Run) -> None:
    assert herd_run.traffic.failed == 0, dict(herd_run.traffic.failures)
    assert herd_run.traffic.gave_up == 0
    assert len(herd_run.traffic.client_done) == HERD - HERD // 100
    assert herd_run.traffic.answers["api 200 app"] > 0  # through the warm routes, not the waker


def test_herd_behind_the_http_api_stays_within_every_api_quota(herd_run: Run) -> None:
    assert dict(herd_run.world.ledger.throttled) == {}
    # A token bucket admits at most its burst and one second's refill in any one second.
    per_second = herd_run.world.ledger.max_per_bucket_second()
    for name in ("apigatewayv2.management", "servicediscovery.discover"):
        assert per_second[name] <= BUCKETS[name].burst + BUCKETS[name].refill, name


def test_no_api_client_is_redirected_in_a_loop_while_the_warm_routes_settle() -> None:
    """Seed 1 with 1000 visitors: API clients sent 307 back to the same URL before the new routes
    reached API Gateway came straight back, about 50 times each (14,280 307s), past any HTTP
    client's redirect limit (20-30). They are now told when to come back (503, Retry-After)."""
    run = herd(1000, config=http_api_config())
    assert run.traffic.answers.get("api 307 waker", 0) <= 290  # at most about one per API client


def test_warm_routes_are_created_only_after_a_healthy_cloud_map_instance(herd_run: Run) -> None:
    api, cloud_map = herd_run.world.http_api, herd_run.world.cloud_map
    assert cloud_map.healthy_since and api.created_at
    assert min(api.created_at) >= cloud_map.healthy_since[0]


# --- a rolling deploy: API Gateway's discovery cache and the drain window ------------------------------


def test_rolling_deploy_with_the_drain_window_has_no_503_of_the_http_api(
    deploy_with_drain: DeployResult,
) -> None:
    world = deploy_with_drain.run.world
    assert world.ecs.rollout_done_at is not None  # the old task did go
    assert deploy_with_drain.answered_by_front_door == 0, dict(world.notes)
    assert deploy_with_drain.run.traffic.failed == 0, dict(deploy_with_drain.run.traffic.failures)


def test_rolling_deploy_without_a_drain_window_gets_503s_from_the_discovery_cache(
    deploy_without_drain: DeployResult,
) -> None:
    world = deploy_without_drain.run.world
    assert world.ecs.rollout_done_at is not None
    assert world.notes["apigw_503_stopped_instance"] > 0
    assert deploy_without_drain.answered_by_front_door > 0


# --- a Fargate Spot interruption of the only task ----------------------------------------------------------
# Behind the HTTP API, ECS deregisters the task from Cloud Map and sends SIGTERM at the notice; the entry
# container keeps accepting for its drain window (75 s by default), which covers API Gateway's discovery
# cache and the waker's removal of the warm routes (a few seconds), inside the two-minute notice.


@pytest.fixture(scope="module")
def spot() -> SpotResult:
    return spot_interruption(config=http_api_config())


def test_spot_interruption_behind_the_http_api_no_request_is_answered_by_the_front_door(
    spot: SpotResult,
) -> None:
    """Seeds 1-5: 0 answers of the HTTP API itself, 0 failed requests."""
    assert spot.answered_by_front_door == 0, dict(spot.run.world.notes)
    assert spot.run.traffic.failed == 0, dict(spot.run.traffic.failures)


def test_spot_interruption_behind_the_http_api_brings_a_replacement_and_traffic_back(
    spot: SpotResult,
) -> None:
    assert spot.run.wakes == 1 and spot.run.sleeps == 0
    assert spot.run.traffic.app_200_times[-1] > spot.interrupted_at + 60  # the replacement serves
    assert spot.run.traffic.gave_up == 0


def test_spot_interruption_behind_the_http_api_routes_to_the_waker_within_the_drain_window(
    spot: SpotResult,
) -> None:
    """The warm routes are gone while the interrupted task still accepts (seed 1: 4.8 s; seeds 1-5:
    4.3-5.9 s), and the drain window and the graceful stop end inside the notice (seed 1: STOPPED
    79.9 s after it)."""
    drain = spot.run.world.config.drain_window
    assert spot.waker_back_after_seconds is not None and spot.waker_back_after_seconds < drain
    assert spot.stopped_after_seconds is not None
    assert drain < spot.stopped_after_seconds <= figure("spot.warning").value


def test_spot_interruption_behind_the_http_api_without_a_drain_window_gets_its_503s() -> None:
    """The drain window is what gives 0: without it the discovery cache still names the stopped task
    until the warm routes are gone (seed 1: 8 requests; seeds 1-5: 8-23)."""
    spot = spot_interruption(config=http_api_config(drain_seconds=0))
    assert spot.run.world.notes["apigw_503_stopped_instance"] > 0
    # Its own answers: 503s for a stopped task or for none left in its discovery, and a few 429s of the
    # route's throttle (API clients sent 307 back while the replacement's warm routes apply come
    # straight back: seed 1, 123 307s and 3 429s).
    notes = spot.run.world.notes
    own = notes["apigw_503_stopped_instance"] + notes.get("apigw_503_no_instance", 0)
    assert own <= spot.answered_by_front_door <= own + notes.get("apigw_429_throttled", 0)
