"""Simulated ALB: the stack's own listener rules, target health as the ELB user guide describes it."""

from __future__ import annotations

from warmkeeper_sim.ecs import Task
from warmkeeper_sim.figures import figure
from warmkeeper_sim.load_balancer import Target
from warmkeeper_sim.world import World


def test_world_starts_cold_with_the_stack_rules_only() -> None:
    world = World()
    assert world.ecs.desired == 0
    assert sorted(r.priority for r in world.alb.rules.values()) == [1, 49999, 50000]


def _target(world: World, serving: bool) -> tuple[Target, Task]:
    task = Task(arn="arn:task/1", ip="10.0.1.99", revision=1, created=0.0, capacity_provider="FARGATE")
    task.serving = serving
    target = Target(task.ip, task)
    world.alb.service_tg.targets[task.ip] = target
    return target, task


def test_a_new_target_is_healthy_at_its_first_passing_check() -> None:
    # "After your target is registered, it must pass one health check to be considered healthy."
    world = World()
    target, _ = _target(world, serving=True)
    world.alb._check(world.alb.service_tg, target)
    assert target.state == "healthy"


def test_a_target_that_failed_while_new_needs_the_healthy_threshold() -> None:
    world = World()
    target, task = _target(world, serving=False)
    for _ in range(int(figure("alb.unhealthy_threshold").value)):
        world.alb._check(world.alb.service_tg, target)
    assert target.state == "unhealthy"
    task.serving = True
    passes = int(figure("alb.healthy_threshold").value)
    for check in range(1, passes + 1):
        world.alb._check(world.alb.service_tg, target)
        assert target.state == ("healthy" if check == passes else "unhealthy")
