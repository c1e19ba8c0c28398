"""The simulated clients behave as botocore does against AWS: throttling codes, what standard mode
retries, Parameter Store's conditional put and TooManyUpdates, and a deterministic kernel."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from warmkeeper.aws.adapters import StateStore, WakeLock
from warmkeeper_sim.control_plane import SimClients
from warmkeeper_sim.scenarios import herd, run_world
from warmkeeper_sim.world import PREFIX, SimConfig, World


def quiet_world() -> World:
    """No reconcile schedule, no alarm: only what the test does."""
    return World(SimConfig(reconcile_schedule=False, idle_alarm=False))


def in_process(world: World, run: Any) -> Any:
    process = world.kernel.spawn(run)
    world.kernel.run(world.kernel.now + 600)
    assert process.done
    return process.result


def test_throttling_is_retried_then_raised_as_botocore_does() -> None:
    world = quiet_world()
    world.throttler.bursts.append((0.0, 1000.0, "ecs.read"))
    ecs = SimClients(world).client("ecs")

    def call() -> Exception | None:
        try:
            ecs.describe_services(cluster="cityguided-staging", services=["cityguided-staging"])
        except ClientError as exc:
            return exc
        return None

    error = in_process(world, call)
    assert isinstance(error, ClientError)
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert world.ledger.count("DescribeServices") == 5  # max_attempts of BOTO_CONFIG
    assert world.ledger.given_up["DescribeServices"] == 1


def test_token_bucket_admits_the_documented_burst_then_the_refill() -> None:
    world = quiet_world()
    admitted = [world.throttler.admit("DescribeTargetHealth") for _ in range(60)]
    assert admitted.count(True) == 40  # ELB non-mutating bucket: 40 burst
    world.kernel.run(1.0)
    assert [world.throttler.admit("DescribeTargetHealth") for _ in range(20)].count(True) == 10


def test_wake_lock_is_a_compare_and_set_and_concurrent_writes_get_too_many_updates() -> None:
    world = quiet_world()
    store = StateStore(SimClients(world).client("ssm"), PREFIX)
    lock = WakeLock(requested_at=world.kernel.datetime())
    results: list[Any] = []

    def take() -> None:
        results.append(store.take_wake_lock(lock))

    def overwrite() -> None:
        try:
            store.update_wake_lock(lock)
            results.append("updated")
        except ClientError as exc:
            results.append(exc.response["Error"]["Code"])

    for _ in range(3):
        world.kernel.spawn(take)
    world.kernel.run(1.0)
    assert sorted(map(str, results)) == ["False", "False", "True"]
    results.clear()
    for _ in range(2):
        world.kernel.spawn(overwrite)
    world.kernel.run(2.0)
    # botocore's standard mode does not retry TooManyUpdates: the second writer sees it.
    assert sorted(results) == ["TooManyUpdates", "updated"]


def test_the_same_seed_gives_the_same_run() -> None:
    first = herd(40, seed=7, until=150).summary()
    second = herd(40, seed=7, until=150).summary()
    assert first == second
    assert herd(40, seed=8, until=150).summary() != first


def test_engine_reads_the_simulated_clock() -> None:
    world = quiet_world()
    world.kernel.run(90.0)
    world.kernel.spawn(lambda: world.function.invoke(world.scheduled_event()))
    run_world(world, 100.0)
    assert any('"time": "2026-01-05T09:01:' in line for line in world.log_lines)
    assert world.kernel.datetime() - world.kernel.epoch == timedelta(seconds=100)


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyUpdates", "ParameterAlreadyExists"])
def test_errors_are_botocore_client_errors(code: str) -> None:
    from warmkeeper_sim.control_plane import client_error

    error = client_error(code, "m", "PutParameter")
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] == code
