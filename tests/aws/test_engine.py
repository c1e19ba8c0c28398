"""The AWS engine against in-memory fakes of its ports (tests/aws/engine_fakes.py): the engine's
order of calls and its compare-and-set, seen from what the fakes were asked to do."""

from __future__ import annotations

import json
import random
from datetime import timedelta

from tests.aws.engine_fakes import START, FakeAws, engine
from warmkeeper.aws.adapters import LastWake, WakeLock
from warmkeeper.aws.engine import Warmkeeper
from warmkeeper.aws.metrics import MetricName
from warmkeeper.aws.snapshots import SnapshotCache
from warmkeeper.core import IncomingRequest, Routing

API_REQUEST = IncomingRequest(
    method="GET", path="/api/places", headers={"accept": "application/json", "user-agent": "curl/8.5.0"}
)


def test_a_cold_api_request_wakes_once_and_is_let_through_when_healthy() -> None:
    aws = FakeAws()
    # Recent wakes took 1 s: a target should be healthy within the hold, so the request is held.
    aws.last_wake = LastWake(requested_at=START - timedelta(days=1), healthy_at=None, seconds=1.0)
    response = engine(aws).handle_request(API_REQUEST)
    assert response.status == 307  # held until healthy, then sent again to the warm route
    assert aws.calls == ["take_wake_lock", "set_desired(1)", "route_to_service"]
    assert aws.metrics[:2] == [(MetricName.WAKES, 1), (MetricName.HELD_REQUESTS, 1)]
    assert (MetricName.COLD_START_SECONDS, 1.0) in aws.metrics


def test_a_second_cold_request_does_not_scale_again() -> None:
    aws = FakeAws()
    aws.lock = WakeLock(requested_at=START)  # a concurrent request took the lock first
    aws.desired = 1
    engine(aws).handle_request(API_REQUEST)
    assert "set_desired(1)" not in aws.calls
    assert all(name != MetricName.WAKES for name, _ in aws.metrics)


# --- the waking moment's bookkeeping is written once, and never fails a request -------------------------


def test_first_healthy_target_is_recorded_only_by_the_invocation_that_creates_the_warm_route() -> None:
    aws = FakeAws(desired=1, healthy_ips={"10.0.1.10"}, routing=Routing.SERVICE)
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=40))  # routed by a concurrent invocation
    response = engine(aws).handle_request(API_REQUEST)
    # Routed a moment ago: told to come back once the route has applied, not sent round in 307s.
    assert response.status == 503 and response.header("Retry-After") == "3"
    assert aws.lock.healthy_at is None and aws.last_wake is None  # left to the route's creator
    assert all(name != MetricName.COLD_START_SECONDS for name, _ in aws.metrics)


def test_a_bookkeeping_conflict_does_not_fail_the_request() -> None:
    from botocore.exceptions import ClientError

    aws = FakeAws(desired=1, healthy_ips={"10.0.1.10"})
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=40))
    keeper = engine(aws)

    def conflict(lock: WakeLock) -> None:
        raise ClientError({"Error": {"Code": "TooManyUpdates", "Message": "concurrent"}}, "PutParameter")

    keeper.store.update_wake_lock = conflict  # type: ignore[method-assign]
    response = keeper.handle_request(API_REQUEST)
    # The route was created (the client comes back once it applies); the record waits for the
    # next reconcile.
    assert response.status == 503 and response.header("Retry-After") == "3"
    assert aws.routing is Routing.SERVICE
    assert all(name != MetricName.COLD_START_SECONDS for name, _ in aws.metrics)


def test_the_reconcile_writes_a_first_healthy_record_nobody_wrote() -> None:
    aws = FakeAws(desired=1, healthy_ips={"10.0.1.10"}, routing=Routing.SERVICE)
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=40))
    engine(aws).reconcile()
    assert aws.lock is not None and aws.lock.healthy_at == START
    assert aws.last_wake is not None and aws.last_wake.seconds == 40.0
    # Its time is the reconcile's, not the true first health: no cold-start figure from it.
    assert all(name != MetricName.COLD_START_SECONDS for name, _ in aws.metrics)


# --- one shared observation per environment, only what a wake needs --------------------------------


def counting(keeper: Warmkeeper) -> dict[str, int]:
    """Count the reads the engine makes through its ports."""
    counts = {"describe": 0, "target_health": 0, "routing": 0, "read": 0}
    for port, name in (
        (keeper.ecs, "describe"),
        (keeper.router, "target_health"),
        (keeper.router, "routing"),
        (keeper.store, "read"),
    ):
        original = getattr(port, name)

        def counted(*args: object, _original: object = original, _name: str = name) -> object:
            counts[_name] += 1
            return _original(*args)  # type: ignore[operator]

        setattr(port, name, counted)
    return counts


STATUS_REQUEST = IncomingRequest(
    method="GET", path="/_warmkeeper/status", headers={"accept": "application/json"}
)


def test_status_polls_share_one_snapshot_and_a_wake_in_flight_asks_only_the_state() -> None:
    aws = FakeAws(desired=1)
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=5))  # early in a wake (estimate 60 s)
    keeper = engine(aws)
    keeper.snapshots = SnapshotCache(random.Random(1))
    counts = counting(keeper)
    for _ in range(20):
        assert keeper.handle_request(STATUS_REQUEST).status == 200
    assert counts == {"describe": 0, "target_health": 0, "routing": 0, "read": 1}
    aws.now += timedelta(seconds=40)  # past half the estimate: target health is polled, still not ECS
    keeper.handle_request(STATUS_REQUEST)
    assert counts == {"describe": 0, "target_health": 1, "routing": 0, "read": 2}


def test_an_idle_environment_reuses_its_snapshot_through_the_first_half_of_a_wake() -> None:
    """A herd on a new account: an execution environment left idle while others served the herd
    found its snapshot expired when traffic spilled over to it, and every environment read SSM in
    the same instant. The first half of the estimated wake is time alone: no read."""
    aws = FakeAws(desired=1)
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=2))  # estimate 60 s: half at 30 s
    keeper = engine(aws)
    keeper.snapshots = SnapshotCache(random.Random(1))
    counts = counting(keeper)
    keeper.handle_request(STATUS_REQUEST)
    aws.now += timedelta(seconds=20)  # far past the 2 s a status poll's snapshot lives
    report = json.loads(keeper.handle_request(STATUS_REQUEST).body)
    assert counts["read"] == 1
    assert report["state"] == "WAKING"
    aws.now += timedelta(seconds=10)  # 32 s into the wake: the second half reads again
    keeper.handle_request(STATUS_REQUEST)
    assert counts["read"] == 2 and counts["target_health"] == 1


def poll_after(keeper: Warmkeeper) -> float:
    return float(json.loads(keeper.handle_request(STATUS_REQUEST).body)["poll_after_seconds"])


def test_the_waiting_page_polls_less_often_far_from_the_estimate() -> None:
    aws = FakeAws(desired=1)
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=4))  # 56 s left of the 60 s estimate
    keeper = engine(aws)
    assert poll_after(keeper) == 8.0
    aws.now += timedelta(seconds=51)  # 5 s left
    assert poll_after(keeper) == 2.5
    aws.now += timedelta(seconds=30)  # slower than the estimate: as often as the page may
    assert poll_after(keeper) == 2.0
    aws.healthy_ips.add("10.0.1.10")
    assert poll_after(keeper) == 2.0


def test_without_a_shared_cache_every_call_observes() -> None:
    aws = FakeAws(desired=1)
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=5))
    keeper = engine(aws)
    counts = counting(keeper)
    keeper.handle_request(STATUS_REQUEST)
    keeper.handle_request(STATUS_REQUEST)
    assert counts["describe"] == 2 and counts["read"] == 2


def test_a_cold_api_request_without_a_wake_in_reach_is_answered_at_once() -> None:
    aws = FakeAws()
    response = engine(aws).handle_request(API_REQUEST)
    assert response.status == 503
    assert response.header("Retry-After") == "65"  # the 60 s default estimate, plus 5 s of slack
    assert aws.calls == ["take_wake_lock", "set_desired(1)"]
    assert all(name != MetricName.HELD_REQUESTS for name, _ in aws.metrics)


def test_the_last_wake_record_keeps_the_recent_durations() -> None:
    aws = FakeAws(desired=1, healthy_ips={"10.0.1.10"})
    aws.last_wake = LastWake(
        requested_at=START - timedelta(days=1), healthy_at=None, seconds=30.0, recent_seconds=(50.0, 30.0)
    )
    aws.lock = WakeLock(requested_at=START - timedelta(seconds=40))
    engine(aws).handle_request(API_REQUEST)
    assert aws.last_wake is not None and aws.last_wake.recent_seconds == (50.0, 30.0, 40.0)
    assert LastWake.from_json(aws.last_wake.to_json()) == aws.last_wake
