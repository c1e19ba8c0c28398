"""The simulated staging environment of CityGuided: its configuration (:class:`SimConfig`) and the
:class:`World` that wires the simulated services together, one module each: ECS on Fargate (Spot)
(:mod:`.ecs`), the ALB listener and its target groups (:mod:`.load_balancer`), the API Gateway HTTP
API (:mod:`.http_api_gateway`) and Cloud Map (:mod:`.service_discovery`), the warmkeeper Lambda
(:mod:`.lambda_service`), EventBridge (:mod:`.events`), CloudWatch (:mod:`.cloudwatch`), Parameter
Store (:mod:`.parameters`) and Secrets Manager (:mod:`.secrets_manager`).

This is the one module that decides by front door: the front door's description
(:func:`warmkeeper.core.front_doors.front_door`) picks where requests arrive and how tasks are found,
and which settings the Lambda gets. Every timing and limit comes from :mod:`warmkeeper_sim.figures`.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warmkeeper.aws.http_api_routing import WARM_ROUTE_KEYS
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.config import load_config
from warmkeeper.core import Policy
from warmkeeper.core.front_doors import LOAD_BALANCER, FrontDoor, RouteSwitch, TargetDiscovery, front_door
from warmkeeper.naming import WARM_RULE_PRIORITY
from warmkeeper_sim.cloudwatch import CloudWatch
from warmkeeper_sim.control_plane import ApiLedger, Throttler
from warmkeeper_sim.ecs import Ecs
from warmkeeper_sim.events import EventBus, scheduled_event, task_state_change_event
from warmkeeper_sim.figures import figure
from warmkeeper_sim.front import SimDiscovery, SimFrontDoor
from warmkeeper_sim.http_api_gateway import HttpApi
from warmkeeper_sim.identifiers import (
    ALARM_NAME,
    API_ID,
    API_STAGE,
    CLOUD_MAP_FRONT_SERVICE,
    CLOUD_MAP_FRONT_SERVICE_ID,
    CLOUD_MAP_NAMESPACE,
    CLOUD_MAP_SERVICE,
    CLOUD_MAP_SERVICE_ID,
    CLUSTER,
    LISTENER_ARN,
    PREFIX,
    REGION,
    SECRET_ARN,
    SERVICE,
    SERVICE_INTEGRATION_ID,
    VPC_LINK_ID,
    WAKE_SECRET_ARN,
)
from warmkeeper_sim.kernel import Kernel
from warmkeeper_sim.lambda_service import LambdaFunction
from warmkeeper_sim.load_balancer import LoadBalancer
from warmkeeper_sim.parameters import ParameterStore
from warmkeeper_sim.secrets_manager import Secrets
from warmkeeper_sim.service_discovery import CloudMap

if TYPE_CHECKING:
    from warmkeeper_sim.ecs import Task

# The simulated environment is the example's staging (CityGuided). The package lives in
# <repository>/src/warmkeeper_sim and runs from a checkout, never from the wheel: examples/ is there.
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "warmkeeper.toml"


@functools.cache
def example_staging_policy() -> Policy:
    """The example's staging policy, read by the product's own config loader."""
    return load_config(EXAMPLE_CONFIG).policy("staging")


@functools.cache
def example_stage_throttle() -> tuple[int, int]:
    """The HTTP API stage's throttling (rate per second, burst) the stack builds from the example's
    config (src/warmkeeper/infra/http_api.py reads the same two keys)."""
    env = load_config(EXAMPLE_CONFIG).environment("staging")
    return env.api_rate_limit, env.api_burst_limit


# The route-level throttles the stack sets besides the stage's default (src/warmkeeper/infra/http_api.py
# RouteSettings): the waker's own paths, and `$default` while it is the waker's catch-all.
ENDPOINT_ROUTE_KEYS = ("ANY /_warmkeeper", "ANY /_warmkeeper/{proxy+}")
DEFAULT_ROUTE_KEY = "$default"


@functools.cache
def example_route_throttles() -> dict[str, tuple[int, int]]:
    """Every throttle the example's staging gives its HTTP API: ``stage`` (the app's routes),
    ``waker`` (`$default` while cold) and ``endpoint`` (`/_warmkeeper/*`), each (rate/s, burst)."""
    env = load_config(EXAMPLE_CONFIG).environment("staging")
    return {
        "stage": (env.api_rate_limit, env.api_burst_limit),
        "waker": (env.waker_rate_limit, env.waker_burst_limit),
        "endpoint": (env.endpoint_rate_limit, env.endpoint_burst_limit),
    }


INITIAL_HEALTH = ("healthy", "unhealthy")


@functools.cache
def example_entry_dependencies() -> tuple[int, int]:
    """The example's entry container's dependencies, counted by their condition (the stack's
    container dependencies, src/warmkeeper/infra/service.py: ``dependency_conditions``, else HEALTHY
    for a dependency with a health check): (waited for to be HEALTHY before ECS starts the entry,
    started together with it). CityGuided: Caddy starts with the api and the web (START), and its
    health check answers only once both of them do (caddy/Caddyfile, ``/healthz``)."""
    config = load_config(EXAMPLE_CONFIG)
    entry = config.entry_container

    def condition(name: str) -> str:
        default = "healthy" if config.container(name).health.command else "start"
        return entry.dependency_conditions.get(name, default)

    conditions = [condition(name) for name in entry.depends_on]
    return conditions.count("healthy"), conditions.count("start")


def example_entry_waits_for_healthy() -> int:
    return example_entry_dependencies()[0]


def example_entry_starts_with() -> int:
    return example_entry_dependencies()[1]


@dataclass
class SimConfig:
    seed: int = 1
    policy: Policy = field(default_factory=example_staging_policy)
    account_concurrency: int = int(figure("lambda.account_concurrency").value)
    # None: no reservation (a scenario sets the stack's default when it needs it).
    reserved_concurrency: int | None = None
    lambda_timeout: float = figure("lambda.timeout").value
    image_mb: float = figure("fargate.image_mb").value
    spot: bool = True  # staging runs on Fargate Spot (examples/cityguided/warmkeeper.toml)
    spot_capacity: bool = True
    # The stack's EventBridge rule sending this service's stopping tasks' state changes to the Lambda
    # (src/warmkeeper/infra/task_events.py: Spot interruption).
    task_state_events_to_lambda: bool = True
    reconcile_schedule: bool = True
    idle_alarm: bool = True
    # Multiplies every API bucket (a quota increase; a large value isolates other effects).
    api_quota_multiplier: float = 1.0
    # A front door's name (warmkeeper.core.front_doors): "load_balancer" (an ALB listener and its warm
    # rule) or "http_api" (API Gateway HTTP API, VPC link, Cloud Map, the waker's run-time warm routes).
    front_door: str = LOAD_BALANCER
    # How long the entry container keeps accepting after SIGTERM (http_api); None: the config default.
    drain_seconds: float | None = None

    # Cloud Map's first health status for a task ECS registers (undocumented): "healthy" or "unhealthy".
    initial_health: str = "unhealthy"
    # The HTTP API stage's throttle per route (requests/s, burst): the stack's, from the example config.
    api_rate_limit: int = field(default_factory=lambda: example_stage_throttle()[0])
    api_burst_limit: int = field(default_factory=lambda: example_stage_throttle()[1])
    # The route-level throttles (requests/s, burst): `$default` while it reaches the waker, and the
    # waker's `/_warmkeeper/*` routes; the stack's, from the example config.
    waker_rate_limit: int = field(default_factory=lambda: example_route_throttles()["waker"][0])
    waker_burst_limit: int = field(default_factory=lambda: example_route_throttles()["waker"][1])
    endpoint_rate_limit: int = field(default_factory=lambda: example_route_throttles()["endpoint"][0])
    endpoint_burst_limit: int = field(default_factory=lambda: example_route_throttles()["endpoint"][1])
    # Days the HTTP API's VPC link carried no traffic before the run (60 or more: INACTIVE).
    vpc_link_idle_days: float = 0.0
    # Containers the entry container waits for to be HEALTHY before it starts (the stack's container
    # dependencies, from the example's config); 0: the entry starts with the others.
    entry_waits_for_healthy: int = field(default_factory=example_entry_waits_for_healthy)
    # Containers that start together with the entry container (a START dependency) and that the
    # entry's own health check reaches through (its /healthz proxies to them): the task serves once
    # the slowest of them and the entry are up.
    entry_starts_with: int = field(default_factory=example_entry_starts_with)
    # How long one run of a container's health check keeps trying before it fails (the example's
    # commands retry within the run: it passes as soon as the app answers); 0: a single probe, which
    # passes only at the first run after the app is up.
    health_check_wait_seconds: float = figure("ecs.container_health_wait").value
    # The stack's front service (http_api): a Cloud Map service only the waker registers ready tasks
    # in, which API Gateway's integration reads; False: API Gateway reads ECS's own service (stacks
    # built before it).
    front_service: bool = True
    # The example's entry container runs the activity beacon (caddy/activity-beacon.sh): each task
    # reports its last request to the waker's function URL. False: the metric alone tells activity.
    activity_beacon: bool = True

    def __post_init__(self) -> None:
        if self.initial_health not in INITIAL_HEALTH:
            raise ValueError(
                f"initial_health: {self.initial_health!r} is not one of {', '.join(INITIAL_HEALTH)}"
            )

    def route_throttle(self, route_key: str) -> tuple[int, int]:
        """(rate/s, burst) API Gateway applies to a route: its route settings, else the stage's."""
        if route_key in ENDPOINT_ROUTE_KEYS:
            return self.endpoint_rate_limit, self.endpoint_burst_limit
        if route_key == DEFAULT_ROUTE_KEY:  # the stack always scales to zero here: the waker's catch-all
            return self.waker_rate_limit, self.waker_burst_limit
        return self.api_rate_limit, self.api_burst_limit

    def throttles(self) -> dict[str, tuple[int, int]]:
        """The three throttles as the config names them (stage, waker, endpoint)."""
        return {
            "stage": (self.api_rate_limit, self.api_burst_limit),
            "waker": (self.waker_rate_limit, self.waker_burst_limit),
            "endpoint": (self.endpoint_rate_limit, self.endpoint_burst_limit),
        }

    @property
    def drain_window(self) -> float:
        return figure("ecs.drain_window").value if self.drain_seconds is None else self.drain_seconds


class World:
    """One simulated staging environment of CityGuided."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.door: FrontDoor = front_door(self.config.front_door)
        self.kernel = Kernel(self.config.seed)
        self.region = REGION
        self.destroyed = False
        self.ledger = ApiLedger()
        self.throttler = Throttler(self.kernel, self.config.api_quota_multiplier)
        self.log_lines: list[str] = []
        self.notes: dict[str, int] = defaultdict(int)
        self.task_events: list[tuple[float, str, str]] = []
        # The activity beacon's reports (when, the idle value sent) and how many the waker did not take.
        self.beacon_reports: list[tuple[float, str]] = []
        self.beacon_failures = 0
        self.alb = LoadBalancer(self)
        self.cloud_map = CloudMap(self)
        self.http_api = HttpApi(self)
        # Where client requests arrive, and where ECS registers the tasks, behind this front door.
        fronts: dict[RouteSwitch, SimFrontDoor] = {
            RouteSwitch.LISTENER_RULE: self.alb,
            RouteSwitch.API_ROUTES: self.http_api,
        }
        discoveries: dict[TargetDiscovery, SimDiscovery] = {
            TargetDiscovery.TARGET_GROUP: self.alb,
            TargetDiscovery.CLOUD_MAP: self.cloud_map,
        }
        self.front = fronts[self.door.route_switch]
        self.discovery = discoveries[self.door.discovery]
        self.ecs = Ecs(self)
        self.ssm = ParameterStore(self)
        self.cloudwatch = CloudWatch(self)
        self.secrets = Secrets()
        self.settings = self._settings()
        self.function = LambdaFunction(self)
        self.events = EventBus(self)
        if self.config.reconcile_schedule:
            first = self.kernel.random.uniform(0.0, 60.0)
            self.kernel.every(60.0, lambda: self.events.put(scheduled_event(self.kernel)), first=first)
        if self.config.idle_alarm:
            self.kernel.every(figure("cloudwatch.alarm_period").value, self.cloudwatch.evaluate_alarm)

    def _settings(self) -> Settings:
        """The Lambda's settings, as the stack of this front door writes them."""
        settings: dict[RouteSwitch, Callable[[], Settings]] = {
            RouteSwitch.LISTENER_RULE: self._listener_rule_settings,
            RouteSwitch.API_ROUTES: self._api_routes_settings,
        }
        return settings[self.door.route_switch]()

    def _listener_rule_settings(self) -> Settings:
        return Settings(
            app="cityguided",
            env="staging",
            cluster=CLUSTER,
            service=SERVICE,
            listener_arn=LISTENER_ARN,
            service_target_group_arn=self.alb.service_tg.arn,
            parameter_prefix=PREFIX,
            policy=self.config.policy,
            warm_rule_priority=WARM_RULE_PRIORITY,
            keepalive_secret_arn=SECRET_ARN,
            load_balancer_dimension="app/cityguided/1",
            target_group_dimension="targetgroup/cityguided-service/1",
            idle_alarm_name=ALARM_NAME,
            wake_secret_arn=WAKE_SECRET_ARN,
        )

    def _api_routes_settings(self) -> Settings:
        return Settings(
            app="cityguided",
            env="staging",
            cluster=CLUSTER,
            service=SERVICE,
            parameter_prefix=PREFIX,
            policy=self.config.policy,
            keepalive_secret_arn=SECRET_ARN,
            idle_alarm_name=ALARM_NAME,
            wake_secret_arn=WAKE_SECRET_ARN,
            front_door=self.door.name,
            api_id=API_ID,
            api_stage=API_STAGE,
            service_integration_id=SERVICE_INTEGRATION_ID,
            warm_route_keys=WARM_ROUTE_KEYS,
            vpc_link_id=VPC_LINK_ID,
            cloud_map_namespace=CLOUD_MAP_NAMESPACE,
            cloud_map_service_id=CLOUD_MAP_SERVICE_ID,
            cloud_map_service_name=CLOUD_MAP_SERVICE,
            cloud_map_front_service_id=CLOUD_MAP_FRONT_SERVICE_ID if self.config.front_service else None,
            cloud_map_front_service_name=CLOUD_MAP_FRONT_SERVICE if self.config.front_service else None,
        )

    def backend(self, service: str) -> Any:
        backends: dict[str, Any] = {
            "ecs": self.ecs,
            "elbv2": self.alb,
            "ssm": self.ssm,
            "cloudwatch": self.cloudwatch,
            "secretsmanager": self.secrets,
            "apigatewayv2": self.http_api,
            "servicediscovery": self.cloud_map,
        }
        if service not in backends:
            raise ValueError(f"the simulation has no {service} API")
        return backends[service]

    def at(self, seconds: float) -> datetime:
        return self.kernel.epoch + timedelta(seconds=seconds)

    def traffic_note(self, name: str) -> None:
        self.notes[name] += 1

    def task_state_change(self, task: Task) -> None:
        """ECS's event for a task's new status, recorded and put on the event bus."""
        self.task_events.append((self.kernel.now, task.ip, f"{task.last_status}/{task.desired_status}"))
        self.events.put(task_state_change_event(self.kernel, task))

    # operations on the environment ----------------------------------------------------------------

    def deploy(self) -> None:
        """A release: a new task definition revision, rolled out by ECS (desired count unchanged)."""
        self.ecs.update_service(CLUSTER, SERVICE, forceNewDeployment=True)

    def replace_service_target_group(self) -> str:
        """A stack update that replaces the service's target group (an entry port change)."""
        arn = self.alb.replace_service_target_group(self.ecs.live())
        self.settings = self._settings()
        self.function.recycle()
        return arn

    def destroy_stack(self) -> list[str]:
        """`cdk destroy`: what CloudFormation could not delete (a target group a rule still uses)."""
        self.ecs.desired = 0
        for task in self.ecs.live():
            self.ecs.stop(task, "stack deleted")
        return self.alb.delete_stack_resources()
