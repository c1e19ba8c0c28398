"""Simulated API Gateway HTTP API and Cloud Map, driven by the real routing adapter."""

from __future__ import annotations

from tests.sim.support import in_process, quiet_world
from warmkeeper.aws.http_api_routing import HttpApiRouting
from warmkeeper_sim.control_plane import SimClients
from warmkeeper_sim.identifiers import (
    API_ID,
    CLOUD_MAP_NAMESPACE,
    CLOUD_MAP_SERVICE,
    SERVICE_INTEGRATION_ID,
    VPC_LINK_ID,
)
from warmkeeper_sim.scenarios import http_api_config


def test_the_real_routing_adapter_drives_the_fakes_and_route_changes_take_effect_later() -> None:
    world = quiet_world(http_api_config())
    clients = SimClients(world)
    routing = HttpApiRouting(
        clients.client("apigatewayv2"),
        clients.client("servicediscovery"),
        api_id=API_ID,
        service_integration_id=SERVICE_INTEGRATION_ID,
        warm_route_keys=("ANY /", "ANY /{proxy+}"),
        vpc_link_id=VPC_LINK_ID,
        cloud_map_namespace=CLOUD_MAP_NAMESPACE,
        cloud_map_service_name=CLOUD_MAP_SERVICE,
    )

    def run() -> tuple[bool, bool, str, int]:
        created = routing.route_to_service()
        again = routing.route_to_service()
        return created, again, routing.vpc_link_state()[0], routing.target_health().healthy

    created, again, link, healthy = in_process(world, run)
    assert (created, again, link, healthy) == (True, False, "AVAILABLE", 0)
    switched = world.http_api.warm_routes_live_at()
    assert switched is not None and switched > world.http_api.created_at[0]  # propagation delay


def test_each_route_gets_the_throttle_the_stack_gives_it_from_the_config() -> None:
    """As the stack builds it from the example config: the app's routes take the stage's default
    (api_*), `$default` while it reaches the waker its own (waker_*), `/_warmkeeper/*` theirs
    (endpoint_*); each route has its own bucket, and a request past it gets API Gateway's own 429."""
    from tests.sim.support import quiet_world
    from warmkeeper.config import load_config
    from warmkeeper_sim.scenarios import http_api_config
    from warmkeeper_sim.world import EXAMPLE_CONFIG

    env = load_config(EXAMPLE_CONFIG).environment("staging")
    world = quiet_world(http_api_config())
    api = world.http_api
    expected = {
        "/_warmkeeper/status": env.endpoint_burst_limit,
        "/_warmkeeper": env.endpoint_burst_limit,
        "/": env.waker_burst_limit,  # cold: `$default`
    }
    for path, burst in expected.items():
        route = api._route_for(path)
        assert route is not None
        assert [api._admit(route) for _ in range(burst + 5)].count(True) == burst, path
    assert world.config.route_throttle("ANY /{proxy+}") == (env.api_rate_limit, env.api_burst_limit)
    assert world.config.route_throttle("$default") == (env.waker_rate_limit, env.waker_burst_limit)
    assert world.config.route_throttle("ANY /_warmkeeper/{proxy+}") == (
        env.endpoint_rate_limit,
        env.endpoint_burst_limit,
    )
    # The three are distinct in the example, so a mix-up of any two is caught.
    assert len({env.api_burst_limit, env.waker_burst_limit, env.endpoint_burst_limit}) >= 2
    assert env.endpoint_burst_limit != env.waker_burst_limit


def test_cloud_map_applies_an_ecs_health_report_about_30_seconds_later() -> None:
    from warmkeeper_sim.scenarios import herd, http_api_config
    from warmkeeper_sim.world import SimConfig

    run = herd(3, config=http_api_config(SimConfig(initial_health="unhealthy")), until=150.0)
    task = run.world.ecs.tasks[0]
    instance = run.world.cloud_map.instances[task.arn.rsplit("/", 1)[-1]]  # ECS's own instance
    assert instance.reported_at is not None and instance.healthy_at is not None
    assert instance.healthy_at - instance.reported_at >= 30.0
    # The waker's own instance of the task was healthy long before (RegisterInstance's initial status).
    own = run.world.cloud_map.instances[f"wk-{task.arn.rsplit('/', 1)[-1]}"]
    assert own.healthy_at is not None and own.healthy_at < instance.healthy_at - 20.0


def test_vpc_link_inactive_after_60_idle_days_fails_requests_until_reprovisioned() -> None:
    from warmkeeper_sim.scenarios import run_world, warm_world
    from warmkeeper_sim.traffic import Traffic
    from warmkeeper_sim.world import SimConfig

    world, _visitor, _ = warm_world(1, SimConfig(front_door="http_api", vpc_link_idle_days=61))
    assert world.http_api.vpc_link_failures > 0
    assert "apigw_503_vpc_link_inactive" in world.notes
    later = Traffic(world)
    world.kernel.spawn(later.api_client, delay=400.0)
    run_world(world, world.kernel.now + 500.0)
    assert later.client_done and world.http_api.vpc_link_status == "AVAILABLE"
