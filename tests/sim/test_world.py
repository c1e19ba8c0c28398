"""The World's wiring: the front door's description picks where requests arrive and how ECS's tasks
are found."""

from __future__ import annotations

import pytest

from warmkeeper.core.errors import WarmkeeperError
from warmkeeper_sim.world import SimConfig, World


@pytest.mark.parametrize(
    ("door", "front", "discovery"),
    [
        ("load_balancer", "alb", "alb"),
        ("cloudfront", "alb", "alb"),
        ("http_api", "http_api", "cloud_map"),
    ],
)
def test_the_front_door_picks_where_requests_arrive_and_how_tasks_are_found(
    door: str, front: str, discovery: str
) -> None:
    world = World(SimConfig(front_door=door, reconcile_schedule=False, idle_alarm=False))
    assert world.front is getattr(world, front)
    assert world.discovery is getattr(world, discovery)
    assert world.settings.http_api == (door == "http_api")


def test_a_name_that_is_no_front_door_is_refused() -> None:
    with pytest.raises(WarmkeeperError):
        World(SimConfig(front_door="nlb"))
