"""The front doors: one description each, read by every layer instead of comparing names.

A front door is what stands between the visitors and the service: an internet-facing load balancer,
CloudFront in front of an internal one, or an API Gateway HTTP API with a VPC link and Cloud Map.
What differs between them is described here once, as data. The config validates against
:data:`FRONT_DOORS`, the CDK app, the Lambda's engine and settings, monitoring, the local twin and the
simulated AWS read the fields they need from :func:`front_door`. A new front door is a new entry
here and one entry in each layer's own table (the CDK constructs, the engine's router factories),
never a new ``if`` spread over the code.

Standard library only: the Lambda bundle imports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from warmkeeper.core.errors import WarmkeeperError


class RouteSwitch(StrEnum):
    """How the waker switches traffic between itself and the service at run time."""

    # A listener rule at a fixed priority, created when a target is healthy, deleted before a sleep.
    LISTENER_RULE = "listener_rule"
    # HTTP API routes (`ANY /`, `ANY /{proxy+}`) pointed at the service's integration.
    API_ROUTES = "api_routes"


class TargetDiscovery(StrEnum):
    """How the front door finds the service's tasks."""

    # An ELB target group: deregistration delay, health checks by the load balancer.
    TARGET_GROUP = "target_group"
    # Cloud Map instances (SRV records) that API Gateway discovers and caches: no deregistration
    # delay, health reported by ECS from the container's own health check.
    CLOUD_MAP = "cloud_map"


@dataclass(frozen=True)
class RequestMetric:
    """The CloudWatch metric that counts the front door's requests (the idle clock)."""

    namespace: str
    name: str


@dataclass(frozen=True)
class FrontDoor:
    name: str
    route_switch: RouteSwitch
    discovery: TargetDiscovery
    request_metric: RequestMetric
    # Whether a load balancer exists, and whether it faces the internet.
    load_balancer: bool
    internet_facing: bool
    # CloudFront terminates TLS in front of it (HTTPS on *.cloudfront.net without a domain).
    cdn: bool
    # HTTPS without a domain of the user's: CloudFront's or API Gateway's own certificate.
    https_without_domain: bool
    # How long a new warm route may take to apply everywhere once created. Neither ALB (listener
    # rules) nor API Gateway (routes of an auto-deploy stage) publishes a figure: these are the upper
    # ends of the simulated AWS's assumed ranges (alb.rule_propagation, apigw.route_propagation).
    route_settle_seconds: float
    # The entry container's drain window after SIGTERM when the config sets none: a target group
    # drains before ECS stops the task; Cloud Map deregisters at once while API Gateway may still send
    # requests from its cached discovery list, so the container must keep serving meanwhile.
    default_drain_seconds: int
    # Where an ACM certificate for a custom domain must live: "us-east-1" for CloudFront, else None
    # (the environment's own region).
    certificate_region: str | None

    @property
    def http_api(self) -> bool:
        return self.route_switch is RouteSwitch.API_ROUTES


LOAD_BALANCER = "load_balancer"
CLOUDFRONT = "cloudfront"
HTTP_API = "http_api"

# The drain window of an HTTP API front door. API Gateway discovers the tasks through Cloud Map and
# caches what it found; ECS deregisters a task from Cloud Map and sends it SIGTERM at once, without a
# delay like a target group's deregistration (aws/containers-roadmap#1639). Requests still reach that
# task until API Gateway's cache refreshes: public reports describe 503s for about a minute after a
# deploy, and AWS publishes no cache duration. ASSUMED: 60 s of cache, so a window of 75 s by default.
HTTP_API_ASSUMED_DISCOVERY_CACHE_SECONDS = 60
HTTP_API_DEFAULT_DRAIN_SECONDS = 75

_ALB_REQUESTS = RequestMetric(namespace="AWS/ApplicationELB", name="RequestCount")

FRONT_DOORS: dict[str, FrontDoor] = {
    door.name: door
    for door in (
        FrontDoor(
            name=LOAD_BALANCER,
            route_switch=RouteSwitch.LISTENER_RULE,
            discovery=TargetDiscovery.TARGET_GROUP,
            request_metric=_ALB_REQUESTS,
            load_balancer=True,
            internet_facing=True,
            cdn=False,
            https_without_domain=False,
            route_settle_seconds=3.0,
            default_drain_seconds=0,
            certificate_region=None,
        ),
        FrontDoor(
            name=CLOUDFRONT,
            route_switch=RouteSwitch.LISTENER_RULE,
            discovery=TargetDiscovery.TARGET_GROUP,
            request_metric=_ALB_REQUESTS,
            load_balancer=True,
            internet_facing=False,
            cdn=True,
            https_without_domain=True,
            route_settle_seconds=3.0,
            default_drain_seconds=0,
            certificate_region="us-east-1",
        ),
        FrontDoor(
            name=HTTP_API,
            route_switch=RouteSwitch.API_ROUTES,
            discovery=TargetDiscovery.CLOUD_MAP,
            request_metric=RequestMetric(namespace="AWS/ApiGateway", name="Count"),
            load_balancer=False,
            internet_facing=False,
            cdn=False,
            https_without_domain=True,
            route_settle_seconds=5.0,
            default_drain_seconds=HTTP_API_DEFAULT_DRAIN_SECONDS,
            certificate_region=None,
        ),
    )
}
FRONT_DOOR_NAMES = tuple(FRONT_DOORS)


class UnknownFrontDoorError(WarmkeeperError, ValueError):
    """A front door name that is not in :data:`FRONT_DOORS`."""


def front_door(name: str) -> FrontDoor:
    """The description of the front door called ``name``."""
    try:
        return FRONT_DOORS[name]
    except KeyError:
        raise UnknownFrontDoorError(
            f"{name!r} is not a front door (one of {', '.join(FRONT_DOOR_NAMES)})"
        ) from None
