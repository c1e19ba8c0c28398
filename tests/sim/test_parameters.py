"""Simulated Parameter Store: the conditional create and TooManyUpdates, as the real adapter meets
them."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from tests.sim.support import quiet_world
from warmkeeper.aws.adapters import StateStore, WakeLock
from warmkeeper_sim.control_plane import SimClients
from warmkeeper_sim.identifiers import PREFIX


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
