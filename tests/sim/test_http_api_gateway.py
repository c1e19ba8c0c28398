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
