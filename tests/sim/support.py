"""What the unit tests of the simulated services share: a quiet world and a way to run code in it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from warmkeeper_sim.world import SimConfig, World


def quiet_world(config: SimConfig | None = None) -> World:
    """No reconcile schedule, no alarm: only what the test does."""
    return World(replace(config or SimConfig(), reconcile_schedule=False, idle_alarm=False))


def in_process(world: World, run: Any) -> Any:
    """Run ``run`` as a process of the world's kernel (as a Lambda invocation would) and return its
    result."""
    process = world.kernel.spawn(run)
    world.kernel.run(world.kernel.now + 600)
    assert process.done
    return process.result
