"""Simulated ECS: when a task's entry container listens and is healthy, given the stack's container
dependencies (HEALTHY: the entry container starts only once they passed a check; START: they start
together and the entry's check goes through them)."""

from __future__ import annotations

import pytest

from warmkeeper.config import load_config
from warmkeeper_sim.figures import figure
from warmkeeper_sim.identifiers import CLUSTER, SERVICE
from warmkeeper_sim.world import (
    EXAMPLE_CONFIG,
    SimConfig,
    World,
    example_entry_starts_with,
    example_entry_waits_for_healthy,
)


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


def test_the_example_entry_container_starts_with_its_two_dependencies() -> None:
    # Caddy depends on the api and the web with condition START (the example's dependency_conditions);
    # its own /healthz answers only once both of them do.
    assert example_entry_waits_for_healthy() == 0 and example_entry_starts_with() == 2
    assert (SimConfig().entry_waits_for_healthy, SimConfig().entry_starts_with) == (0, 2)


CHAIN = {"entry_waits_for_healthy": 2, "entry_starts_with": 0}  # the HEALTHY default of a dependency
ALONGSIDE = {"entry_waits_for_healthy": 0, "entry_starts_with": 2}  # the example's START


@pytest.mark.parametrize("seed", range(1, 6))
def test_a_healthy_dependency_chain_serves_two_intervals_after_running_at_the_earliest(seed: int) -> None:
    """The dependencies' first check comes one interval after their start; the entry container starts
    then and its own first check one interval after that: at least two intervals from RUNNING."""
    interval = figure("ecs.container_health_interval").value
    config = SimConfig(seed=seed, reconcile_schedule=False, idle_alarm=False, **CHAIN)
    running, serving, healthy = _first_task_times(config)
    assert serving - running >= interval
    assert healthy - running >= 2 * interval - 1e-6


@pytest.mark.parametrize("seed", range(1, 6))
def test_started_together_the_task_is_healthy_when_the_slowest_container_answers(seed: int) -> None:
    interval = figure("ecs.container_health_interval").value
    config = SimConfig(seed=seed, reconcile_schedule=False, idle_alarm=False, **ALONGSIDE)
    running, serving, healthy = _first_task_times(config)
    # Serving once the slowest of the three answers (each boots in fargate.app_boot or entry_boot).
    assert figure("fargate.app_boot").low <= serving - running <= figure("fargate.app_boot").high + 0.1
    # The first run of the checks comes one interval after the start; a run that waits for the app
    # (the example's commands retry within it) passes when the app answers (the watch samples every
    # 0.05 s).
    assert abs(healthy - max(running + interval, serving)) <= 0.1


@pytest.mark.parametrize("seed", range(1, 6))
def test_a_single_probe_check_passes_only_on_the_intervals_grid(seed: int) -> None:
    interval = figure("ecs.container_health_interval").value
    config = SimConfig(
        seed=seed, reconcile_schedule=False, idle_alarm=False, health_check_wait_seconds=0.0, **ALONGSIDE
    )
    running, serving, healthy = _first_task_times(config)
    checks = (healthy - running) / interval
    assert abs(checks - round(checks)) < 0.02 and healthy >= serving
    assert healthy - serving < interval + 0.1


def test_starting_together_saves_an_interval_over_the_chain() -> None:
    gaps = {}
    for name, dependencies in (("chain", CHAIN), ("alongside", ALONGSIDE)):
        gaps[name] = []
        for seed in range(1, 6):
            config = SimConfig(seed=seed, reconcile_schedule=False, idle_alarm=False, **dependencies)
            running, _, healthy = _first_task_times(config)
            gaps[name].append(healthy - running)
    interval = figure("ecs.container_health_interval").value
    # The chain: the dependencies' first pass, then the entry's own first run one interval later.
    assert min(gaps["chain"]) >= 2 * interval - 0.1
    assert max(gaps["alongside"]) < min(gaps["chain"]) - 0.5 * interval, gaps


def test_the_example_health_commands_retry_for_the_modelled_wait() -> None:
    """The simulation's wait within one run of a check is what the example's commands do: ten tries
    0.25 s apart, under the check's timeout."""
    config = load_config(EXAMPLE_CONFIG)
    wait = figure("ecs.container_health_wait").value
    assert wait == 10 * 0.25
    for container in config.containers:
        command = " ".join(container.health.command or [])
        assert "0.25" in command and ("range(10)" in command or "1 2 3 4 5 6 7 8 9 10;" in command), command
        assert container.health.timeout_seconds > wait
