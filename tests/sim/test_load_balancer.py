"""Simulated ALB: the stack's own listener rules."""

from __future__ import annotations

from warmkeeper_sim.world import World


def test_world_starts_cold_with_the_stack_rules_only() -> None:
    world = World()
    assert world.ecs.desired == 0
    assert sorted(r.priority for r in world.alb.rules.values()) == [1, 49999, 50000]
