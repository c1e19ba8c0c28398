"""Simulated ECS: when a task's entry container listens and is healthy, given the stack's container
dependencies (the entry container starts only once the containers it depends on are healthy)."""

from __future__ import annotations

import pytest

from warmkeeper_sim.figures import figure
from warmkeeper_sim.identifiers import CLUSTER, SERVICE
from warmkeeper_sim.world import SimConfig, World, example_entry_waits_for_healthy


def _first_task_times(config: SimConfig) -> tuple[float, float, float]:
    """(RUNNING, entry listening, container healthy) of the first task after a scale-up, in seconds."""
    world = World(config)
    seen: dict[str, float] = {}

    def watch() -> None:
        while "healthy" not in seen:
            task = next(iter(world.ecs.tasks), None)
            if task is not None and task.started_at is not None:
                seen.setdefault("running", task.started_at)
                if task.serving:
                    seen.setdefault("serving", world.kernel.now)
                if task.health_status == "HEALTHY":
                    seen["healthy"] = world.kernel.now
            world.kernel.sleep(0.05)

    world.ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=1)
    world.kernel.spawn(watch, name="watch")
    world.kernel.run(150.0)
    return seen["running"], seen["serving"], seen["healthy"]


def test_the_example_entry_container_waits_for_two_healthy_containers() -> None:
    # Caddy depends on the api and the web, both with a health check: ECS's default condition HEALTHY.
    assert example_entry_waits_for_healthy() == 2
    assert SimConfig().entry_waits_for_healthy == 2


@pytest.mark.parametrize("seed", range(1, 6))
def test_the_entry_container_listens_and_is_healthy_only_after_its_dependencies_passed_a_check(
    seed: int,
) -> None:
    """The dependencies' first check comes one interval after their start; the entry container starts
    then and its own first check one interval after that: at least two intervals from RUNNING."""
    interval = figure("ecs.container_health_interval").value
    config = SimConfig(seed=seed, reconcile_schedule=False, idle_alarm=False)
    running, serving, healthy = _first_task_times(config)
    assert serving - running >= interval
    assert healthy - running >= 2 * interval - 1e-6


def test_without_dependencies_the_entry_container_can_be_healthy_one_interval_after_running() -> None:
    interval = figure("ecs.container_health_interval").value
    gaps = []
    for seed in range(1, 6):
        config = SimConfig(seed=seed, reconcile_schedule=False, idle_alarm=False, entry_waits_for_healthy=0)
        running, _, healthy = _first_task_times(config)
        gaps.append(healthy - running)
    assert min(gaps) < 2 * interval - 1e-6, gaps
