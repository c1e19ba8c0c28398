"""The HTTP API front door at run time: the warm routes, Cloud Map's healthy instances, the VPC link.

:class:`HttpApiRouting` implements :class:`~warmkeeper.aws.ports.RoutingPort` the way
:class:`~warmkeeper.aws.adapters.LoadBalancerRouting` does for a listener, so the engine does not
know which front door it drives:

- *healthy targets* are the Cloud Map service's instances that ``DiscoverInstances`` returns with
  ``HealthStatus=HEALTHY``: the same query API Gateway's private integration makes to pick an
  instance (ECS reports each task's health to Cloud Map as its custom health status);
- *routing* is ``service`` when any warm route (``ANY /``, ``ANY /{proxy+}`` by default, the
  contract's WK_WARM_ROUTE_KEYS) exists: even one stray warm route sends traffic past the waker,
  so a sleep deletes them all before it scales in;
- :meth:`HttpApiRouting.route_to_service` creates the missing warm routes and re-points one that
  targets anything but the service integration (UpdateRoute); :meth:`HttpApiRouting.route_to_waker`
  deletes them. Both are idempotent: the reconcile repairs drift by calling them again.

The stage auto-deploys, so a route change is live without a deployment of our own. The VPC link's
state (``GetVpcLink``) is read for ``status`` and the reconcile: AWS makes an HTTP API VPC link that
carried no traffic for 60 days INACTIVE, and requests through it fail until it is AVAILABLE again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from warmkeeper.aws.adapters import TargetHealth
from warmkeeper.core import Routing
from warmkeeper.core.errors import WarmkeeperError

if TYPE_CHECKING:
    from mypy_boto3_apigatewayv2.client import ApiGatewayV2Client
    from mypy_boto3_ecs.client import ECSClient
    from mypy_boto3_servicediscovery.client import ServiceDiscoveryClient

# The routes the waker creates while warm: the contract's default (the stack writes the same keys
# into WK_WARM_ROUTE_KEYS; the CLI, which reads only stack outputs, uses them as they are).
WARM_ROUTE_KEYS = ("ANY /", "ANY /{proxy+}")
# What GetVpcLink reports for an HTTP API VPC link (VpcLinkStatus of the API Gateway V2 API).
VPC_LINK_AVAILABLE = "AVAILABLE"
VPC_LINK_INACTIVE = "INACTIVE"
# Cloud Map's instance attribute with the task's private IPv4 (ECS sets it when it registers a task).
INSTANCE_IPV4 = "AWS_INSTANCE_IPV4"
INSTANCE_PORT = "AWS_INSTANCE_PORT"
# How many times a warm route creation meets a concurrent modification before giving up (the next
# request or reconcile tries again).
CONFLICT_ATTEMPTS = 3
# The pause before trying again, times the attempt (API Gateway says "try again later", no figure).
CONFLICT_PAUSE_SECONDS = 0.5
# DiscoverInstances returns at most this many instances per call (its MaxResults).
DISCOVER_MAX_RESULTS = 1000


# The prefix of the Cloud Map instances the waker registers itself (beside ECS's, which are named by
# task id): see CloudMapReadiness.
OWN_INSTANCE_PREFIX = "wk-"
INIT_HEALTH_STATUS = "AWS_INIT_HEALTH_STATUS"


# A route the waker creates to the service integration while the VPC link is not AVAILABLE: a request
# to it crosses the link, which is what makes API Gateway reprovision an INACTIVE link ("if API
# requests resume"); the warm routes wait until the link is back.
LINK_PROBE_ROUTE_KEY = "ANY /_warmkeeper/vpc-link"
LINK_PROBE_PATH = "/_warmkeeper/vpc-link"


class WarmRoutesIncompleteError(WarmkeeperError, RuntimeError):
    """This call made the wake's first warm-route change, then a later route key failed (throttled,
    most often, when a herd's invocations all find the task healthy in the same second). The claim
    stays this call's: it records the wake and publishes the cold-start metric; the next caller
    completes the set without claiming it (the keys it finds are taken)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(f"warm routes incomplete: {cause}")
        self.cause = cause


class VpcLinkUnavailableError(WarmkeeperError, RuntimeError):
    """The VPC link is not AVAILABLE (INACTIVE after 60 days without traffic, or PENDING while it is
    reprovisioned): warm routes through it would fail, so none is created."""

    def __init__(self, state: str, message: str | None) -> None:
        super().__init__(f"VPC link {state}" + (f": {message}" if message else ""))
        self.state = state


class HttpApiRoutingError(WarmkeeperError, RuntimeError):
    """The HTTP API is not as the stack built it (no such API, integration or VPC link)."""


@dataclass(frozen=True)
class FrontDoorCheck:
    """What ``status`` and the reconcile show of the front door beside the service's own state."""

    details: tuple[tuple[str, str], ...] = ()  # (label, value) in display order
    problems: tuple[str, ...] = ()
    link_inactive: bool = False  # the VPC link is INACTIVE: requests through it fail


@dataclass(frozen=True)
class WarmRoute:
    route_id: str
    route_key: str
    target: str | None


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class HttpApiRouting:
    """Cloud Map's healthy instances and the HTTP API's run-time warm routes (both clients injected)."""

    def __init__(
        self,
        apigatewayv2: ApiGatewayV2Client,
        servicediscovery: ServiceDiscoveryClient,
        *,
        api_id: str,
        service_integration_id: str,
        warm_route_keys: tuple[str, ...],
        vpc_link_id: str,
        cloud_map_namespace: str,
        cloud_map_service_name: str,
        pause: Callable[[float], None] = time.sleep,
    ) -> None:
        if not warm_route_keys:
            raise HttpApiRoutingError("no warm route keys: WK_WARM_ROUTE_KEYS names at least one")
        self._apigw = apigatewayv2
        self._discovery = servicediscovery
        self.api_id = api_id
        self.integration_id = service_integration_id
        self.target = f"integrations/{service_integration_id}"
        self.route_keys = warm_route_keys
        self.vpc_link_id = vpc_link_id
        self.namespace = cloud_map_namespace
        self.service_name = cloud_map_service_name
        self._pause = pause

    def _concurrent(self, exc: ClientError) -> bool:
        """API Gateway's ConflictException for a concurrent modification of the API (its other
        meaning, a route key that exists, says nothing of the kind)."""
        message = str(exc.response.get("Error", {}).get("Message", "")).lower()
        return _error_code(exc) == "ConflictException" and "concurrent" in message

    def _retrying(self, call: Callable[..., object], **params: Any) -> None:
        """A route change, tried again after a concurrent modification of the API."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                call(**params)
            except ClientError as exc:
                if not self._concurrent(exc) or attempt == CONFLICT_ATTEMPTS:
                    raise
                self._pause(CONFLICT_PAUSE_SECONDS * attempt)
                continue
            return

    # --- healthy targets: Cloud Map, as API Gateway discovers them ---------------------------------

    def healthy_instances(self) -> list[dict[str, Any]]:
        response = self._discovery.discover_instances(
            NamespaceName=self.namespace,
            ServiceName=self.service_name,
            HealthStatus="HEALTHY",
            MaxResults=DISCOVER_MAX_RESULTS,
        )
        return [dict(instance) for instance in response.get("Instances", [])]

    def target_health(self) -> TargetHealth:
        instances = self.healthy_instances()
        ips = {
            str((instance.get("Attributes") or {}).get(INSTANCE_IPV4, ""))
            for instance in instances
            if (instance.get("Attributes") or {}).get(INSTANCE_IPV4)
        }
        return TargetHealth(healthy=len(instances), healthy_ips=frozenset(ips))

    # --- the warm routes ------------------------------------------------------------------------------

    def _routes(self) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = (
                self._apigw.get_routes(ApiId=self.api_id, NextToken=token)
                if token
                else self._apigw.get_routes(ApiId=self.api_id)
            )
            yield from (dict(route) for route in page.get("Items", []))
            token = page.get("NextToken")
            if not token:
                return

    def warm_routes(self) -> dict[str, WarmRoute]:
        """The warm routes that exist, by route key (whatever their target)."""
        try:
            found = {
                str(route["RouteKey"]): WarmRoute(
                    route_id=str(route["RouteId"]),
                    route_key=str(route["RouteKey"]),
                    target=route.get("Target"),
                )
                for route in self._routes()
                if route.get("RouteKey") in self.route_keys
            }
        except ClientError as exc:
            if _error_code(exc) == "NotFoundException":
                raise HttpApiRoutingError(
                    f"HTTP API {self.api_id} not found (WK_API_ID): was the stack deleted or replaced?"
                ) from None
            raise
        return found

    def routing(self) -> Routing:
        return Routing.SERVICE if self.warm_routes() else Routing.WAKER

    def route_to_service(self) -> bool:
        """Create the missing warm routes and re-point any that targets something else. True only
        for the invocation that made the first change: when two race, the one that finds a route key
        taken by the other leaves the claim to it (one warm route creation, one wake record, one
        cold-start metric per wake), and still completes the other keys (idempotent)."""
        existing = self.warm_routes()
        if not existing:
            # The first warm route of a wake: only through a link that carries requests.
            state, message = self.vpc_link_state()
            if state != VPC_LINK_AVAILABLE:
                self._ensure_probe_route()
                raise VpcLinkUnavailableError(state, message)
        changed = False
        # A warm route already to the service: another invocation is creating them (or a repair of
        # one route by hand), so this call completes the set without claiming the creation.
        raced = any(route.target == self.target for route in existing.values())
        for key in self.route_keys:
            route = existing.get(key)
            try:
                if route is None:
                    if self._create(key):
                        changed = changed or not raced
                    else:
                        raced = True
                elif route.target != self.target:
                    self._retrying(
                        self._apigw.update_route,
                        ApiId=self.api_id,
                        RouteId=route.route_id,
                        Target=self.target,
                    )
                    changed = changed or not raced
            except Exception as exc:
                if changed:
                    raise WarmRoutesIncompleteError(exc) from exc
                raise
        return changed

    def link_available(self) -> bool:
        """Whether the VPC link is AVAILABLE; if not, the probe route exists when this returns."""
        state, _ = self.vpc_link_state()
        if state == VPC_LINK_AVAILABLE:
            return True
        self._ensure_probe_route()
        return False

    def _ensure_probe_route(self) -> None:
        """The route a probe request crosses the VPC link by (created once; kept: harmless)."""
        try:
            self._apigw.create_route(ApiId=self.api_id, RouteKey=LINK_PROBE_ROUTE_KEY, Target=self.target)
        except ClientError as exc:
            if _error_code(exc) != "ConflictException":
                raise

    def _create(self, key: str) -> bool:
        """Create one warm route: False when another caller created it first. API Gateway answers
        ConflictException both for a route key that exists and for a concurrent modification of the
        API ("try again later"): the routes are read again to tell which, and a concurrent
        modification is retried, never taken for the route."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                self._apigw.create_route(ApiId=self.api_id, RouteKey=key, Target=self.target)
            except ClientError as exc:
                if _error_code(exc) != "ConflictException":
                    raise
                if key in self.warm_routes():
                    return False
                self._pause(CONFLICT_PAUSE_SECONDS * attempt)
                continue
            return True
        raise HttpApiRoutingError(
            f"route {key} of HTTP API {self.api_id}: "
            f"concurrent modification {CONFLICT_ATTEMPTS} times in a row"
        )

    def route_to_waker(self) -> bool:
        """Delete every warm route, so `$default` (the waker) takes all traffic; False when there was
        none (idempotent)."""
        deleted = False
        for route in self.warm_routes().values():
            try:
                self._retrying(self._apigw.delete_route, ApiId=self.api_id, RouteId=route.route_id)
            except ClientError as exc:
                if _error_code(exc) != "NotFoundException":
                    raise
                continue
            deleted = True
        return deleted

    # --- what status and the reconcile show -------------------------------------------------------------

    def vpc_link_state(self) -> tuple[str, str | None]:
        """The VPC link's status (AVAILABLE, PENDING, INACTIVE, FAILED, DELETING) and AWS's message."""
        try:
            link = self._apigw.get_vpc_link(VpcLinkId=self.vpc_link_id)
        except ClientError as exc:
            if _error_code(exc) == "NotFoundException":
                return "NOT FOUND", f"VPC link {self.vpc_link_id} does not exist (WK_VPC_LINK_ID)"
            raise
        return str(link.get("VpcLinkStatus", "UNKNOWN")), link.get("VpcLinkStatusMessage") or None

    def check(self) -> FrontDoorCheck:
        routes = self.warm_routes()
        described = []
        for key in self.route_keys:
            route = routes.get(key)
            if route is None:
                described.append(f"{key} -> waker ($default)")
            elif route.target == self.target:
                described.append(f"{key} -> service")
            else:
                described.append(f"{key} -> {route.target or 'no target'} (drift: not the service)")
        instances = self.healthy_instances()
        attributes = [instance.get("Attributes") or {} for instance in instances]
        addresses = sorted(f"{a.get(INSTANCE_IPV4, '?')}:{a.get(INSTANCE_PORT, '?')}" for a in attributes)
        state, message = self.vpc_link_state()
        problems: list[str] = []
        drifted = [d for d in described if "drift" in d]
        if drifted or (routes and len(routes) < len(self.route_keys)):
            problems.append("warm routes incomplete or not to the service: the next reconcile repairs them")
        if state == VPC_LINK_INACTIVE:
            problems.append(
                f"VPC link {self.vpc_link_id} is INACTIVE (unused for 60 days): requests to the service "
                "fail until it is AVAILABLE again; see the runbook"
            )
        elif state != VPC_LINK_AVAILABLE:
            problems.append(f"VPC link {self.vpc_link_id} is {state}" + (f": {message}" if message else ""))
        link = state + (f" ({message})" if message else "")
        return FrontDoorCheck(
            details=(
                ("routes", "; ".join(described)),
                ("cloud map", ", ".join([f"{len(instances)} healthy", *addresses])),
                ("vpc link", f"{self.vpc_link_id} {link}"),
            ),
            problems=tuple(problems),
            link_inactive=state == VPC_LINK_INACTIVE,
        )


@dataclass(frozen=True)
class CloudMapInstance:
    instance_id: str
    ip: str
    port: str
    healthy: bool
    own: bool  # registered by the waker (OWN_INSTANCE_PREFIX), not by ECS


class CloudMapReadiness:
    """Whether a task is ready for API Gateway, without waiting for Cloud Map's custom health.

    ECS registers a task in Cloud Map in ACTIVATING, before its containers answer, with a first
    health status AWS does not document, and reports the container's health as the instance's
    custom health status, which Cloud Map applies about 30 s after the report (FailureThreshold is
    deprecated, always 1). So Cloud Map alone can say a task is ready before it listens, or 30 s
    after it does. The waker therefore asks ECS (DescribeTasks of the instances ECS registered: the
    instance id is the task id) whether the task's container is healthy, and when it is and Cloud
    Map does not show it yet, registers an instance of its own for the same address with
    ``AWS_INIT_HEALTH_STATUS=HEALTHY`` (RegisterInstance applies an initial status at once; the 30 s
    apply to UpdateInstanceCustomHealthStatus). Its own instances go when their task is no longer
    running and healthy, and all of them at a sleep.

    With a *front service* (``front_service_id`` / ``front_service_name``: a Cloud Map service in the
    same namespace that only the waker registers in, and the one API Gateway's integration reads),
    ECS's own registrations are never discovered by API Gateway at all: whatever first health
    status ECS's instances start with, and its 30 s, no longer reach the front door. ECS's service
    is then read for the task ids and ports only; the waker's instances live in the front service.
    Without one, both are the same service (the waker's instances beside ECS's).
    """

    def __init__(
        self,
        servicediscovery: ServiceDiscoveryClient,
        ecs: ECSClient,
        *,
        cluster: str,
        cloud_map_service_id: str,
        cloud_map_namespace: str,
        cloud_map_service_name: str,
        front_service_id: str | None = None,
        front_service_name: str | None = None,
    ) -> None:
        self._discovery = servicediscovery
        self._ecs = ecs
        self.cluster = cluster
        self.namespace = cloud_map_namespace
        self.task_service_name = cloud_map_service_name
        # Where the waker registers, and what API Gateway discovers.
        separate = bool(front_service_id and front_service_name)
        self.service_id = front_service_id if separate and front_service_id else cloud_map_service_id
        self.service_name = front_service_name if separate and front_service_name else cloud_map_service_name
        self.separate = separate

    def _discover(self, service_name: str) -> list[dict[str, Any]]:
        response = self._discovery.discover_instances(
            NamespaceName=self.namespace,
            ServiceName=service_name,
            HealthStatus="ALL",
            MaxResults=DISCOVER_MAX_RESULTS,
        )
        return [dict(instance) for instance in response.get("Instances", [])]

    def instances(self) -> list[CloudMapInstance]:
        """Every instance, healthy or not: ECS's and the waker's (one DiscoverInstances call, two
        with a front service). ``healthy`` says whether API Gateway can discover it healthy: never
        for ECS's instances when the front door reads a front service of the waker's."""
        raw = [(instance, not self.separate) for instance in self._discover(self.task_service_name)]
        if self.separate:
            raw += [(instance, True) for instance in self._discover(self.service_name)]
        found = []
        for instance, read_by_front_door in raw:
            attributes = instance.get("Attributes") or {}
            ip = str(attributes.get(INSTANCE_IPV4, ""))
            if not ip:
                continue
            instance_id = str(instance.get("InstanceId", ""))
            own = instance_id.startswith(OWN_INSTANCE_PREFIX)
            if self.separate and own != read_by_front_door:
                continue  # only the waker registers in the front service, only ECS in its own
            found.append(
                CloudMapInstance(
                    instance_id=instance_id,
                    ip=ip,
                    port=str(attributes.get(INSTANCE_PORT, "")),
                    healthy=read_by_front_door and instance.get("HealthStatus") == "HEALTHY",
                    own=own,
                )
            )
        return found

    def container_healthy(self, task_ids: list[str]) -> frozenset[str]:
        """The addresses of those tasks that ECS runs, wants running, and finds healthy."""
        if not task_ids:
            return frozenset()
        ips: set[str] = set()
        for start in range(0, len(task_ids), 100):
            described = self._ecs.describe_tasks(cluster=self.cluster, tasks=task_ids[start : start + 100])
            for task in described.get("tasks", []):
                if (
                    task.get("lastStatus") != "RUNNING"
                    or task.get("desiredStatus") != "RUNNING"
                    or task.get("healthStatus") != "HEALTHY"
                ):
                    continue
                ips.update(
                    str(detail.get("value", ""))
                    for attachment in task.get("attachments", [])
                    for detail in attachment.get("details", [])
                    if detail.get("name") == "privateIPv4Address" and detail.get("value")
                )
        return frozenset(ips)

    def register(self, task_id: str, ip: str, port: str) -> bool:
        """Register the waker's own instance for a ready task, healthy at once; False when another
        caller's registration of it is still in progress."""
        attributes = {INSTANCE_IPV4: ip, INIT_HEALTH_STATUS: "HEALTHY"}
        if port:
            attributes[INSTANCE_PORT] = port
        try:
            self._discovery.register_instance(
                ServiceId=self.service_id,
                InstanceId=f"{OWN_INSTANCE_PREFIX}{task_id}",
                Attributes=attributes,
            )
        except ClientError as exc:
            if _error_code(exc) == "DuplicateRequest":
                return False
            raise
        return True

    def deregister_own(self, keep_ips: frozenset[str]) -> int:
        """Deregister the waker's own instances whose address is not in ``keep_ips``."""
        gone = 0
        for instance in self.instances():
            if not instance.own or instance.ip in keep_ips:
                continue
            try:
                self._discovery.deregister_instance(
                    ServiceId=self.service_id, InstanceId=instance.instance_id
                )
            except ClientError as exc:
                if _error_code(exc) not in ("InstanceNotFound", "DuplicateRequest"):
                    raise
                continue
            gone += 1
        return gone
