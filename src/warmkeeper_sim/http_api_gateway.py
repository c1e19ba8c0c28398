"""Simulated API Gateway HTTP API: the stack's routes to the waker, the waker's run-time warm routes
(changes reach the data plane after a propagation delay), the VPC link, and API Gateway's cached
view of Cloud Map. The front door of ``http_api``."""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warmkeeper.aws.http_api_routing import VPC_LINK_AVAILABLE, VPC_LINK_INACTIVE, WARM_ROUTE_KEYS
from warmkeeper_sim import beacon
from warmkeeper_sim.control_plane import TokenBucket, client_error
from warmkeeper_sim.figures import figure
from warmkeeper_sim.front import Response
from warmkeeper_sim.identifiers import API_ID, SERVICE_INTEGRATION_ID, VPC_LINK_ID, WAKER_INTEGRATION_ID

if TYPE_CHECKING:
    from warmkeeper_sim.service_discovery import Instance
    from warmkeeper_sim.world import World

# Assumed: how long a route change keeps the API busy for another change (AWS publishes no figure).
CONCURRENT_MODIFICATION_SECONDS = 0.1


@dataclass
class ApiRoute:
    route_id: str
    route_key: str
    target: str


class HttpApi:
    """The HTTP API: the stack's routes (`$default` and `/_warmkeeper/{proxy+}` to the waker), the
    waker's run-time warm routes, and API Gateway's cached view of Cloud Map."""

    WAKER_TARGET = f"integrations/{WAKER_INTEGRATION_ID}"
    SERVICE_TARGET = f"integrations/{SERVICE_INTEGRATION_ID}"

    def __init__(self, world: World) -> None:
        self.world = world
        self._ids = itertools.count(1)
        self.routes: dict[str, ApiRoute] = {}
        for key in ("$default", "ANY /_warmkeeper", "ANY /_warmkeeper/{proxy+}"):
            self._add(key, self.WAKER_TARGET)
        self._effective: list[tuple[float, tuple[ApiRoute, ...]]] = [(0.0, tuple(self.routes.values()))]
        self.route_changes: list[tuple[float, str]] = []  # (when effective, "service" | "waker")
        self.created_at: list[float] = []  # when each CreateRoute was accepted
        self._cache: list[Instance] = []
        self._cache_until = -1.0
        self.app_requests_by_minute: dict[int, int] = defaultdict(int)
        # The stage's throttling applies to each route: one token bucket per route key.
        self._throttles: dict[str, TokenBucket] = {}
        self.throttled = 0
        # The VPC link: INACTIVE after 60 days without traffic; traffic starts its reprovisioning.
        idle = world.config.vpc_link_idle_days
        self.vpc_link_status = (
            VPC_LINK_INACTIVE if idle >= figure("vpclink.inactive_after_idle").value else VPC_LINK_AVAILABLE
        )
        self.vpc_link_available_at: float | None = None
        self.vpc_link_failures = 0
        self._last_mutation = -1.0
        self.concurrent_conflicts = 0

    @property
    def healthy_since(self) -> list[float]:
        return self.world.cloud_map.healthy_since

    def _add(self, key: str, target: str) -> ApiRoute:
        route = ApiRoute(f"r{next(self._ids)}", key, target)
        self.routes[route.route_id] = route
        return route

    def _changed(self) -> None:
        """A route change reaches the data plane after the propagation delay (never out of order)."""
        kernel = self.world.kernel
        delay = figure("apigw.route_propagation").draw(kernel.random)
        when = max(self._effective[-1][0], kernel.now + delay)
        snapshot = tuple(ApiRoute(r.route_id, r.route_key, r.target) for r in self.routes.values())
        self._effective.append((when, snapshot))
        warm = any(r.route_key in WARM_ROUTE_KEYS and r.target == self.SERVICE_TARGET for r in snapshot)
        self.route_changes.append((when, "service" if warm else "waker"))

    def effective_routes(self) -> tuple[ApiRoute, ...]:
        now = self.world.kernel.now
        current: tuple[ApiRoute, ...] = ()
        for when, routes in self._effective:
            if when <= now:
                current = routes
        return current

    def warm_routes_live_at(self) -> float | None:
        """When the warm routes first took effect (None: never)."""
        return next((when for when, kind in self.route_changes if kind == "service"), None)

    def waker_back_at(self, since: float) -> float | None:
        """When the data plane first sees no warm route after ``since`` (the routes back on the waker)."""
        return next((when for when, kind in self.route_changes if when > since and kind == "waker"), None)

    # the API --------------------------------------------------------------------------------------

    def _check_api(self, ApiId: str, operation: str) -> None:
        if ApiId != API_ID or self.world.destroyed:
            raise client_error(
                "NotFoundException", f"Invalid API identifier specified {ApiId}", operation, 404
            )

    def get_routes(self, ApiId: str, **_: Any) -> dict[str, Any]:
        self._check_api(ApiId, "GetRoutes")
        return {
            "Items": [
                {"RouteId": r.route_id, "RouteKey": r.route_key, "Target": r.target}
                for r in self.routes.values()
            ]
        }

    def create_route(self, ApiId: str, RouteKey: str, Target: str, **_: Any) -> dict[str, Any]:
        self._check_api(ApiId, "CreateRoute")
        self._check_concurrent("CreateRoute")
        if any(r.route_key == RouteKey for r in self.routes.values()):
            raise client_error(
                "ConflictException", f"Route with key {RouteKey} already exists", "CreateRoute", 409
            )
        route = self._add(RouteKey, Target)
        self.created_at.append(self.world.kernel.now)
        self._changed()
        return {"RouteId": route.route_id, "RouteKey": RouteKey, "Target": Target}

    def _check_concurrent(self, operation: str) -> None:
        """A mutation of the API while another is being applied (assumed window: the same second's
        tenth) is refused with ConflictException, API Gateway's answer to a concurrent modification."""
        now = self.world.kernel.now
        if now - self._last_mutation < CONCURRENT_MODIFICATION_SECONDS:
            self.concurrent_conflicts += 1
            raise client_error(
                "ConflictException",
                "Unable to complete operation due to concurrent modification. Please try again later.",
                operation,
                409,
            )
        self._last_mutation = now

    def update_route(self, ApiId: str, RouteId: str, Target: str | None = None, **_: Any) -> dict[str, Any]:
        self._check_api(ApiId, "UpdateRoute")
        self._check_concurrent("UpdateRoute")
        route = self.routes.get(RouteId)
        if route is None:
            raise client_error("NotFoundException", "Invalid Route identifier specified", "UpdateRoute", 404)
        if Target is not None:
            route.target = Target
        self._changed()
        return {"RouteId": RouteId, "RouteKey": route.route_key, "Target": route.target}

    def delete_route(self, ApiId: str, RouteId: str, **_: Any) -> dict[str, Any]:
        self._check_api(ApiId, "DeleteRoute")
        self._check_concurrent("DeleteRoute")
        if self.routes.pop(RouteId, None) is None:
            raise client_error("NotFoundException", "Invalid Route identifier specified", "DeleteRoute", 404)
        self._changed()
        return {}

    def get_vpc_link(self, VpcLinkId: str, **_: Any) -> dict[str, Any]:
        if VpcLinkId != VPC_LINK_ID:
            raise client_error("NotFoundException", "Invalid VpcLink identifier specified", "GetVpcLink", 404)
        self._vpc_link_tick()
        status = self.vpc_link_status
        answer: dict[str, Any] = {
            "VpcLinkId": VpcLinkId,
            "Name": "cityguided-staging",
            "VpcLinkStatus": status,
        }
        if status == VPC_LINK_INACTIVE:
            answer["VpcLinkStatusMessage"] = "VPC link is inactive: no traffic for 60 days"
        elif status == "PENDING":
            answer["VpcLinkStatusMessage"] = "VPC link is being reprovisioned"
        return answer

    # the VPC link ---------------------------------------------------------------------------------

    def _vpc_link_tick(self) -> None:
        now = self.world.kernel.now
        if self.vpc_link_available_at is not None and now >= self.vpc_link_available_at:
            self.vpc_link_status = VPC_LINK_AVAILABLE
            self.vpc_link_available_at = None

    def _through_vpc_link(self) -> bool:
        """A request for the service crosses the VPC link: False while it is not AVAILABLE (the
        first such request after 60 idle days starts its reprovisioning)."""
        self._vpc_link_tick()
        if self.vpc_link_status == VPC_LINK_AVAILABLE:
            return True
        if self.vpc_link_status == VPC_LINK_INACTIVE:
            kernel = self.world.kernel
            self.vpc_link_status = "PENDING"
            self.vpc_link_available_at = kernel.now + figure("vpclink.reactivation").draw(kernel.random)
        self.vpc_link_failures += 1
        return False

    def _admit(self, route: ApiRoute) -> bool:
        """The route's throttle: its route settings or the stage's default (the stack's config)."""
        bucket = self._throttles.get(route.route_key)
        if bucket is None:
            rate, burst = self.world.config.route_throttle(route.route_key)
            bucket = TokenBucket(float(burst), float(rate), float(burst))
            bucket.updated = self.world.kernel.now
            self._throttles[route.route_key] = bucket
        return bucket.take(self.world.kernel.now)

    # the data plane -------------------------------------------------------------------------------

    def _route_for(self, path: str) -> ApiRoute | None:
        """HTTP API route selection: the most specific match, `$default` when none matches."""
        by_key = {r.route_key: r for r in self.effective_routes()}
        if f"ANY {path}" in by_key:  # an exact route key is more specific than any {proxy+}
            return by_key[f"ANY {path}"]
        if path.startswith("/_warmkeeper/") and "ANY /_warmkeeper/{proxy+}" in by_key:
            return by_key["ANY /_warmkeeper/{proxy+}"]
        if path == "/" and "ANY /" in by_key:
            return by_key["ANY /"]
        if path != "/" and "ANY /{proxy+}" in by_key:
            return by_key["ANY /{proxy+}"]
        return by_key.get("$default")

    def discovered(self) -> list[Instance]:
        """API Gateway's view of Cloud Map: the healthy instances, kept for the cache time (assumed)
        from the first look after it expired."""
        now = self.world.kernel.now
        if now >= self._cache_until:
            self._cache = list(self.world.cloud_map.healthy())
            self._cache_until = now + figure("apigw.discovery_cache").value
        return self._cache

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Response:
        """One client request through the HTTP API (runs in the client's process)."""
        if self.world.destroyed:
            return Response(404, {}, '{"message":"Not Found"}', "apigw")
        route = self._route_for(path)
        if route is None:
            return Response(404, {}, '{"message":"Not Found"}', "apigw")
        if not self._admit(route):
            self.throttled += 1
            self.world.traffic_note("apigw_429_throttled")
            status = int(figure("apigw.status_throttled").value)
            return Response(status, {}, '{"message":"Too Many Requests"}', "apigw")
        if route.target == self.WAKER_TARGET:
            return self.world.function.from_http_api(method, path, headers)
        kernel = self.world.kernel
        unavailable = Response(
            int(figure("apigw.status_no_instance").value), {}, '{"message":"Service Unavailable"}', "apigw"
        )
        if not self._through_vpc_link():
            self.world.traffic_note("apigw_503_vpc_link_inactive")
            return unavailable
        instances = self.discovered()
        if not instances:
            self.world.traffic_note("apigw_503_no_instance")
            return unavailable
        instance = instances[kernel.random.randrange(len(instances))]
        task = instance.task if instance.task is not None else self.world.cloud_map.task_at(instance.ip)
        kernel.sleep(figure("alb.app_latency").draw(kernel.random))
        if task is None or not task.serving:
            self.world.traffic_note("apigw_503_stopped_instance")
            return unavailable
        self.app_requests_by_minute[int(kernel.now // 60)] += 1
        beacon.served(task, kernel.now)
        return Response(200, {"content-type": "application/json"}, '{"places": []}', "app")
