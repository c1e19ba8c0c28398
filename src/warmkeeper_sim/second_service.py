"""A second service on the simulated AWS: OSRM sleeps on its own, and the first route wakes it.

The world is the example's staging (either front door) with its internal ``osrm`` service beside the
app: its own ECS service, its Cloud Map name, its idle alarm on its own request metric, and the
waker's function URL. What is simulated beyond :mod:`warmkeeper_sim.world`, each with its source or
"assumed" (:data:`OSRM_FIGURES`):

- **OSRM's start** (docs/technical/osrm.md, "Cold-start budget"): Fargate provisioning and the image
  pulls (the aws-cli init image and the OSRM image, 150 MB together, at ``fargate.pull_rate``), the
  init container's download of the dataset from S3 (2 GB at 50-100 MB/s), osrm-routed loading it
  (100-200 MB/s), then the container health check (one or two 5 s intervals). ECS registers the task
  in Cloud Map when it runs (first health as ``SimConfig.initial_health``) and reports its health,
  which Cloud Map applies about 30 s later (``cloudmap.health_update``). DNS answers healthy
  instances only.
- **The caller's Caddy** (examples/cityguided/caddy/osrm-caller.Caddyfile): a ``dynamic a`` upstream it
  looks up again every 5 s; no address, a refused connection (a task not listening) or a dial timeout
  (1 s, a task gone) sends the call to the waker's function URL with the service header and the wake
  secret; the waker's answer goes back to the API.
- **The API** (examples/cityguided/api/main.py): a route, or OSRM's 503 turned into 503 +
  Retry-After (at most 120 s) "routing is warming up"; anything else is a 502.
- **OSRM's request metric**: one datapoint per route OSRM answered (the CloudWatch Logs metric
  filter), visible after ``cloudwatch.metric_delay`` like the front door's; its idle alarm: idle
  minutes of one-minute sums under one request, missing data breaching.

The scenario: the app warm, OSRM asleep; 20 routing requests in the first minute (each a client that
retries after Retry-After until it gets its route) and 5 visitors a second on the rest of the app,
long enough for OSRM to sleep after its idle time while the app stays warm. The real waker (engine,
internal services, handler) runs in the simulated Lambda. Every figure is **simulated**.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from warmkeeper.aws.lambda_settings import InternalService, Settings
from warmkeeper.config import load_config
from warmkeeper.core import Policy
from warmkeeper.core.front_doors import HTTP_API, LOAD_BALANCER
from warmkeeper_sim.ecs import Ecs
from warmkeeper_sim.events import aws_event
from warmkeeper_sim.figures import FIGURES, Figure, figure
from warmkeeper_sim.front import Response
from warmkeeper_sim.identifiers import (
    ACCOUNT,
    CLUSTER,
    REGION,
)
from warmkeeper_sim.kernel import Kernel
from warmkeeper_sim.lambda_service import function_url_event
from warmkeeper_sim.scenarios import Run, run_world
from warmkeeper_sim.traffic import API, Traffic
from warmkeeper_sim.world import EXAMPLE_CONFIG, SimConfig, World

SCENARIO = "second-service"
OSRM = "osrm"
OSRM_SERVICE = "cityguided-staging-osrm"
OSRM_ALARM = "cityguided-staging-osrm-idle"
OSRM_METRIC = "cityguided-staging-osrm-Requests"
OSRM_CLOUD_MAP_ID = "srv-osrm"
ROUTE_PATH = "/api/route?from=48.8566,2.3522&to=48.8606,2.3376"
OSRM_PATH = "/route/v1/driving/2.3522,48.8566;2.3376,48.8606"

ROUTING_REQUESTS = 20  # in the first minute
ROUTING_WINDOW_SECONDS = 60.0
VISITORS_PER_SECOND = 5.0
WARM_UP_SECONDS = 120.0  # the app woken by a first visitor and routed before the scenario starts
# After the routes: OSRM's idle time (10 min in the example's staging), the alarm's lag and a margin,
# so that OSRM's own sleep falls inside the run while the visitors keep the app warm.
RUN_SECONDS = 1500.0
GIVE_UP_SECONDS = 600.0  # a routing client stops retrying (counted, never expected)
# The API's bound on Retry-After (examples/cityguided/api/main.py MAX_RETRY_AFTER_SECONDS) and its
# Retry-After when OSRM gives none.
API_MAX_RETRY_AFTER = 120
API_DEFAULT_RETRY_AFTER = 5
CADDY_DIAL_TIMEOUT = 1.0  # caller.Caddyfile: dial_timeout 1s

# The OSRM figures beside the simulation's own (src/warmkeeper_sim/figures.py): same form, same rule.
OSRM_FIGURES: dict[str, Figure] = {
    "osrm.data_gb": Figure(
        2,
        None,
        "GB",
        "assumed: the brief's 1-2 GB of prepared Ile-de-France data, the upper end (docs/technical/osrm.md)",
    ),
    "osrm.images_mb": Figure(
        150,
        None,
        "MB",
        "assumed: the aws-cli init image and the OSRM image together, pulled at fargate.pull_rate",
    ),
    "osrm.s3_download_rate": Figure(
        50,
        100,
        "MB/s",
        "assumed: Fargate publishes no task network bandwidth; S3 recommends parallel ranged GETs "
        "(docs/technical/osrm.md, S3 at start)",
    ),
    "osrm.load_rate": Figure(
        100, 200, "MB/s", "assumed: osrm-routed reading the dataset from local disk into memory"
    ),
    "osrm.health_check": Figure(
        5,
        10,
        "s",
        "the stack's container health check interval (5 s) x 1-2, from listening to HEALTHY "
        "(docs/technical/osrm.md cold-start budget)",
    ),
    "osrm.route_latency": Figure(
        0.005,
        0.05,
        "s",
        "assumed: one route on 0.5 vCPU (the local stand-in measured 2.8 ms median, docs/technical/osrm.md)",
    ),
    "caddy.dns_refresh": Figure(
        5, None, "s", "the caller's Caddy looks the name up again this often (caller.Caddyfile refresh 5s)"
    ),
    "lambda.url_overhead": Figure(0.005, 0.02, "s", "assumed: a Lambda function URL invoking its function"),
}


def osrm_figure(name: str) -> Figure:
    return OSRM_FIGURES[name]


@functools.cache
def example_osrm_policy() -> Policy:
    """The example's osrm policy in staging, read by the product's own config loader."""
    return load_config(EXAMPLE_CONFIG).service_policy(OSRM, "staging")


# --- OSRM: its ECS service, its Cloud Map name, its request metric and idle alarm -------------------------


@dataclass
class OsrmTask:
    arn: str
    ip: str
    created: float
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    health_status: str = "UNKNOWN"
    listening: bool = False


class OsrmService:
    """The osrm ECS service (its scheduler and tasks), its Cloud Map records, its request metric."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.desired = 0
        self.tasks: list[OsrmTask] = []
        self.update_service_calls: list[tuple[float, int]] = []
        self.requests_by_minute: dict[int, int] = defaultdict(int)
        self.dns: dict[str, str] = {}  # ip -> HEALTHY / UNHEALTHY (Cloud Map's instance health)
        self.healthy_at: list[float] = []  # ECS found a task's container healthy
        self.dns_healthy_at: list[float] = []  # Cloud Map applied it (DNS answers the address)
        self._ids = 0
        self._visible_after: dict[int, float] = {}
        self.alarm_state = "INSUFFICIENT_DATA"
        self.alarm_changes: list[tuple[float, str]] = []
        world.kernel.every(5.0, self.converge)
        if world.config.idle_alarm:
            world.kernel.every(figure("cloudwatch.alarm_period").value, self.evaluate_alarm)

    @property
    def kernel(self) -> Kernel:
        return self.world.kernel

    def live(self) -> list[OsrmTask]:
        return [t for t in self.tasks if t.desired_status == "RUNNING"]

    # the ECS API (osrm's part) ---------------------------------------------------------------------

    def describe_services(self) -> dict[str, Any]:
        return {
            "services": [
                {
                    "serviceName": OSRM_SERVICE,
                    "status": "ACTIVE",
                    "desiredCount": self.desired,
                    "runningCount": sum(1 for t in self.tasks if t.last_status == "RUNNING"),
                    "pendingCount": sum(
                        1 for t in self.live() if t.last_status in ("PROVISIONING", "PENDING")
                    ),
                    "deployments": [
                        {
                            "status": "PRIMARY",
                            "taskDefinition": "cityguided-osrm:1",
                            "rolloutState": "COMPLETED",
                        }
                    ],
                }
            ],
            "failures": [],
        }

    def update_service(self, desired: int | None) -> dict[str, Any]:
        if desired is not None:
            self.desired = desired
            self.update_service_calls.append((self.kernel.now, desired))
        self.kernel.at(figure("ecs.scheduler_delay").draw(self.kernel.random), self.converge)
        return {"service": {"serviceName": OSRM_SERVICE, "desiredCount": self.desired}}

    def list_tasks(self, desired_status: str) -> dict[str, Any]:
        return {"taskArns": [t.arn for t in self.tasks if t.desired_status == desired_status]}

    def task_documents(self, arns: list[str]) -> list[dict[str, Any]]:
        return [
            {
                "taskArn": t.arn,
                "lastStatus": t.last_status,
                "desiredStatus": t.desired_status,
                "healthStatus": t.health_status,
                "attachments": [{"details": [{"name": "privateIPv4Address", "value": t.ip}]}],
            }
            for t in self.tasks
            if t.arn in arns or t.arn.rsplit("/", 1)[-1] in arns
        ]

    # the scheduler and a task's life ------------------------------------------------------------------

    def converge(self) -> None:
        live = self.live()
        for _ in range(self.desired - len(live)):
            self._launch()
        for task in sorted(live, key=lambda t: t.created, reverse=True)[: max(0, len(live) - self.desired)]:
            self._stop(task)

    def _launch(self) -> None:
        self._ids += 1
        task = OsrmTask(
            # Ids of their own (osrm's start at 0x05...), apart from the app's tasks' ids.
            arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{0x05 << 120 | self._ids:032x}",
            ip=f"10.0.2.{10 + self._ids}",
            created=self.kernel.now,
        )
        self.tasks.append(task)
        self.kernel.spawn(lambda: self._run(task), name=f"osrm task {task.ip}")

    def _run(self, task: OsrmTask) -> None:
        kernel = self.kernel
        rng = kernel.random
        data_mb = osrm_figure("osrm.data_gb").value * 1000.0
        steps = (
            ("PENDING", figure("fargate.provisioning").draw(rng)),
            ("PULLING", osrm_figure("osrm.images_mb").value / figure("fargate.pull_rate").draw(rng)),
        )
        for status, seconds in steps:
            kernel.sleep(seconds)
            if task.desired_status != "RUNNING":
                return self._stopped(task)
            task.last_status = "PENDING" if status == "PULLING" else status
        # The task runs: ECS registers it in Cloud Map; the init container downloads the dataset,
        # then osrm-routed loads it and listens.
        task.last_status = "RUNNING"
        self.dns[task.ip] = "HEALTHY" if self.world.config.initial_health == "healthy" else "UNHEALTHY"
        kernel.sleep(data_mb / osrm_figure("osrm.s3_download_rate").draw(rng))
        kernel.sleep(data_mb / osrm_figure("osrm.load_rate").draw(rng))
        if task.desired_status != "RUNNING":
            return None
        task.listening = True
        kernel.sleep(osrm_figure("osrm.health_check").draw(rng))
        if task.desired_status != "RUNNING":
            return None
        task.health_status = "HEALTHY"
        self.healthy_at.append(kernel.now)

        def applied() -> None:
            if task.desired_status == "RUNNING" and self.dns.get(task.ip) is not None:
                if self.dns[task.ip] != "HEALTHY" or not self.dns_healthy_at:
                    self.dns_healthy_at.append(kernel.now)
                self.dns[task.ip] = "HEALTHY"

        kernel.at(figure("cloudmap.health_update").draw(rng), applied)
        return None

    def _stop(self, task: OsrmTask) -> None:
        task.desired_status = "STOPPED"
        # ECS deregisters it from Cloud Map at once and stops its containers.
        self.dns.pop(task.ip, None)
        if task.last_status in ("PROVISIONING", "PENDING"):
            return  # its launch process notices

        def stop() -> None:
            self.kernel.sleep(self.kernel.random.uniform(1.0, 3.0))
            task.listening = False
            task.last_status = "STOPPING"
            self.kernel.sleep(self.kernel.random.uniform(2.0, 5.0))
            self._stopped(task)

        self.kernel.spawn(stop, name=f"osrm stop {task.ip}")

    def _stopped(self, task: OsrmTask) -> None:
        task.last_status = "STOPPED"
        task.listening = False
        if task in self.tasks:
            self.tasks.remove(task)

    def dns_answer(self) -> list[str]:
        return sorted(ip for ip, health in self.dns.items() if health == "HEALTHY")

    def task_at(self, ip: str) -> OsrmTask | None:
        return next((t for t in self.tasks if t.ip == ip), None)

    # its request metric and idle alarm -------------------------------------------------------------------

    def _published(self, minute: int) -> bool:
        if minute not in self._visible_after:
            delay = figure("cloudwatch.metric_delay").draw(self.kernel.random)
            self._visible_after[minute] = (minute + 1) * 60 + delay
        return self._visible_after[minute] <= self.kernel.now

    def metric_data(self, query_id: str, start_minute: int, end_minute: int) -> dict[str, Any]:
        minutes = [
            m
            for m in range(max(0, start_minute), end_minute + 1)
            if self.requests_by_minute.get(m) and self._published(m)
        ]
        return {
            "MetricDataResults": [
                {
                    "Id": query_id,
                    "Timestamps": [self.world.at(m * 60.0) for m in reversed(minutes)],
                    "Values": [float(self.requests_by_minute[m]) for m in reversed(minutes)],
                }
            ]
        }

    def evaluate_alarm(self) -> None:
        periods = int(example_osrm_policy().idle_minutes)
        newest = int(self.kernel.now // 60) - 1
        while newest >= 0 and not self._published(newest):
            newest -= 1
        breaching = all(
            self.requests_by_minute.get(m, 0) < 1 for m in range(newest - periods + 1, newest + 1)
        )
        state = "ALARM" if breaching else "OK"
        if state != self.alarm_state:
            previous, self.alarm_state = self.alarm_state, state
            self.alarm_changes.append((self.kernel.now, state))
            detail = {
                "alarmName": OSRM_ALARM,
                "state": {
                    "value": state,
                    "reason": "simulated",
                    "timestamp": self.kernel.datetime().isoformat(),
                },
                "previousState": {"value": previous},
            }
            event = aws_event(
                self.kernel,
                "CloudWatch Alarm State Change",
                "aws.cloudwatch",
                detail,
                [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{OSRM_ALARM}"],
            )
            self.world.events.put(event)


# --- what the waker's clients see: ECS, CloudWatch and Secrets Manager with osrm beside the app -----------


class _EcsApi:
    """ECS's API over both services: osrm's calls go to :class:`OsrmService`, the rest to the app's."""

    def __init__(self, app: Ecs, osrm: OsrmService) -> None:
        self._app = app
        self._osrm = osrm

    def describe_services(self, cluster: str, services: list[str], **kw: Any) -> dict[str, Any]:
        if services == [OSRM_SERVICE]:
            return self._osrm.describe_services()
        return self._app.describe_services(cluster, services, **kw)

    def update_service(
        self, cluster: str, service: str, desiredCount: int | None = None, **kw: Any
    ) -> dict[str, Any]:
        if service == OSRM_SERVICE:
            return self._osrm.update_service(desiredCount)
        return self._app.update_service(cluster, service, desiredCount, **kw)

    def list_tasks(
        self, cluster: str, serviceName: str = "", desiredStatus: str = "RUNNING", **kw: Any
    ) -> dict[str, Any]:
        if serviceName == OSRM_SERVICE:
            return self._osrm.list_tasks(desiredStatus)
        return self._app.list_tasks(cluster, serviceName, desiredStatus, **kw)

    def describe_tasks(self, cluster: str, tasks: list[str], **kw: Any) -> dict[str, Any]:
        # Each service's tasks are described by their own service: an osrm task id must never be read
        # as an app task's (both count their ids from 1).
        own = self._osrm.task_documents(tasks)
        known = {t["taskArn"] for t in own} | {t["taskArn"].rsplit("/", 1)[-1] for t in own}
        others = [arn for arn in tasks if arn not in known]
        found = self._app.describe_tasks(cluster, others, **kw)["tasks"] if others else []
        return {"tasks": [*found, *own]}


class _CloudWatchApi:
    """CloudWatch's API: osrm's request metric from :class:`OsrmService`, the rest as the app's."""

    def __init__(self, world: World, osrm: OsrmService) -> None:
        self._world = world
        self._osrm = osrm

    def put_metric_data(self, **kw: Any) -> dict[str, Any]:
        return self._world.cloudwatch.put_metric_data(**kw)

    def get_metric_data(
        self, MetricDataQueries: list[dict[str, Any]], StartTime: Any, EndTime: Any, **kw: Any
    ) -> Any:
        metric = MetricDataQueries[0].get("MetricStat", {}).get("Metric", {})
        if metric.get("MetricName") == OSRM_METRIC:
            epoch = self._world.kernel.epoch
            start = int((StartTime - epoch).total_seconds() // 60)
            end = int((EndTime - epoch).total_seconds() // 60)
            return self._osrm.metric_data(MetricDataQueries[0]["Id"], start, end)
        return self._world.cloudwatch.get_metric_data(MetricDataQueries, StartTime, EndTime, **kw)


class SecondServiceWorld(World):
    """The example's staging with its internal osrm service and the waker's function URL."""

    def __init__(self, config: SimConfig | None = None) -> None:
        super().__init__(config)
        self.osrm = OsrmService(self)
        self._apis: dict[str, Any] = {
            "ecs": _EcsApi(self.ecs, self.osrm),
            "cloudwatch": _CloudWatchApi(self, self.osrm),
        }

    def _settings(self) -> Settings:
        """The app's settings with osrm listed, as the stack writes them (WK_INTERNAL_SERVICES)."""
        spec = InternalService(
            name=OSRM,
            service=OSRM_SERVICE,
            policy=example_osrm_policy(),
            cloud_map_service_id=OSRM_CLOUD_MAP_ID,
            idle_alarm_name=OSRM_ALARM,
            activity_metric=OSRM_METRIC,
            first_wake_seconds=load_config(EXAMPLE_CONFIG).service(OSRM).first_wake_seconds,
        )
        return replace(super()._settings(), internal_services=(spec,))

    def backend(self, service: str) -> Any:
        if service in getattr(self, "_apis", {}):
            return self._apis[service]
        return super().backend(service)


# --- the caller: the API, its Caddy, the waker's function URL -------------------------------------------


@dataclass
class RoutingCalls:
    """The routing requests (the API's /api/route) and what each got."""

    world: SecondServiceWorld
    caddy_view: list[str] = field(default_factory=list)  # the addresses Caddy resolved last
    requests: int = 0
    routes: int = 0
    retries: int = 0  # 503 + Retry-After: an answer the client acts on
    failed: int = 0  # anything else
    answers: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    first_request_at: float | None = None
    route_times: list[float] = field(default_factory=list)
    waker_calls: int = 0
    waker_states: list[tuple[float, str]] = field(default_factory=list)  # (when, the waker's "state")
    gave_up: int = 0

    def start_dns_refresh(self) -> None:
        kernel = self.world.kernel
        period = osrm_figure("caddy.dns_refresh").value

        def refresh() -> None:
            self.caddy_view = self.world.osrm.dns_answer()

        kernel.every(period, refresh, first=kernel.random.uniform(0.0, period))

    def _to_osrm(self) -> Response | None:
        """Caddy's reverse_proxy to a resolved address (None: it failed, handle_errors takes over)."""
        kernel = self.world.kernel
        if not self.caddy_view:
            return None
        ip = self.caddy_view[kernel.random.randrange(len(self.caddy_view))]
        task = self.world.osrm.task_at(ip)
        if task is None or (task.desired_status != "RUNNING" and not task.listening):
            kernel.sleep(CADDY_DIAL_TIMEOUT)  # the address is gone: the dial times out
            return None
        if not task.listening:
            return None  # refused at once
        kernel.sleep(osrm_figure("osrm.route_latency").draw(kernel.random))
        self.world.osrm.requests_by_minute[int(kernel.now // 60)] += 1
        return Response(200, {"content-type": "application/json"}, '{"code": "Ok"}', "osrm")

    def _to_waker(self) -> Response:
        """handle_errors: the call to the waker's function URL, with the service and the secret."""
        kernel = self.world.kernel
        self.waker_calls += 1
        kernel.sleep(osrm_figure("lambda.url_overhead").draw(kernel.random))
        event = function_url_event(
            "GET", OSRM_PATH, {"x-warmkeeper-service": OSRM}, query="overview=full&geometries=geojson"
        )
        outcome, result = self.world.function.invoke(event)
        if outcome != "ok" or not isinstance(result, dict):
            return Response(502 if outcome != "throttled" else 429, {}, "", "lambda-url")
        answer_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        try:
            state = json.loads(str(result.get("body", ""))).get("state")
        except (json.JSONDecodeError, AttributeError):
            state = None
        self.waker_states.append((kernel.now, str(state)))
        return Response(
            int(result.get("statusCode", 502)), answer_headers, str(result.get("body", "")), "waker"
        )

    def api_route(self) -> Response:
        """The API's /api/route behind its own Caddy site: a route, the retry, or a 502."""
        upstream = self._to_osrm() or self._to_waker()
        if upstream.status == 200:
            return Response(200, {"content-type": "application/json"}, '{"distance_m": 1}', "app")
        if upstream.status == 503:
            given = upstream.headers.get("retry-after", "")
            seconds = int(given) if given.isdigit() else API_DEFAULT_RETRY_AFTER
            retry = min(API_MAX_RETRY_AFTER, max(1, seconds))
            body = json.dumps({"error": f"routing is warming up, retry in {retry} s", "retry_after": retry})
            return Response(503, {"retry-after": str(retry)}, body, "app")
        return Response(502, {}, f'{{"error": "routing failed ({upstream.status})"}}', "app")

    def client(self) -> None:
        """A page asking for a route: again after each Retry-After, until it gets one."""
        kernel = self.world.kernel
        start = kernel.now
        if self.first_request_at is None or start < self.first_request_at:
            self.first_request_at = start
        while kernel.now - start < GIVE_UP_SECONDS:
            self.requests += 1
            # The request reaches the app through the front door (the app's own activity), whose API
            # then asks OSRM through its Caddy.
            front = self.world.front.handle("GET", ROUTE_PATH, API)
            answer = self.api_route() if front.source == "app" and front.status == 200 else front
            label = f"{answer.status} {answer.source}" + (
                " retry-after" if "retry-after" in answer.headers else ""
            )
            self.answers[label] += 1
            if answer.status == 200 and answer.source == "app":
                self.routes += 1
                self.route_times.append(kernel.now)
                return
            if answer.status == 503 and "retry-after" in answer.headers:
                self.retries += 1
                kernel.sleep(float(answer.headers["retry-after"]))
                continue
            self.failed += 1
            kernel.sleep(API_DEFAULT_RETRY_AFTER)
        self.gave_up += 1


# --- the scenario -------------------------------------------------------------------------------------


@dataclass
class SecondServiceRun:
    run: Run
    routing: RoutingCalls
    started: float

    def figures(self) -> dict[str, Any]:
        world = self.run.world
        assert isinstance(world, SecondServiceWorld)
        osrm = world.osrm
        app_calls = world.ecs.update_service_calls
        osrm_wakes = [t for t, d in osrm.update_service_calls if d > 0]
        osrm_sleeps = [t for t, d in osrm.update_service_calls if d == 0]
        routing = self.routing
        first = routing.first_request_at
        last_route = max(routing.route_times) if routing.route_times else None
        return {
            "seed": world.config.seed,
            "simulated": True,
            # Scale-ups per ECS service (UpdateService with a desired count of 1 or more); the scale
            # to zero calls are osrm_sleeps and app_sleeps.
            "update_service_calls_by_service": {
                "cityguided": sum(1 for _, d in app_calls if d > 0),
                OSRM: len(osrm_wakes),
            },
            "osrm_wakes": len(osrm_wakes),
            "app_wakes_in_scenario": sum(1 for t, d in app_calls if d > 0 and t >= self.started),
            "osrm_sleeps": len(osrm_sleeps),
            "app_sleeps": sum(1 for t, d in app_calls if d == 0),
            "failed_requests": routing.failed + routing.gave_up,
            "routing_requests": routing.requests,
            "routing_routes": routing.routes,
            "routing_retries": routing.retries,
            "routing_answers": dict(sorted(routing.answers.items())),
            "routing_first_200_seconds": None
            if first is None or not routing.route_times
            else round(min(routing.route_times) - first, 3),
            "routing_last_200_seconds": None
            if first is None or last_route is None
            else round(last_route - first, 3),
            "waker_calls": routing.waker_calls,
            "osrm_healthy_after_wake_seconds": None
            if not osrm_wakes or not osrm.healthy_at
            else round(osrm.healthy_at[0] - osrm_wakes[0], 3),
            "osrm_in_dns_after_wake_seconds": None
            if not osrm_wakes or not osrm.dns_healthy_at
            else round(osrm.dns_healthy_at[0] - osrm_wakes[0], 3),
            "osrm_slept_after_last_route_seconds": None
            if last_route is None or not osrm_sleeps
            else round(osrm_sleeps[0] - last_route, 3),
            "app_requests": self.run.traffic.requests,
            "app_failed_requests": self.run.traffic.failed,
            "app_failures": dict(sorted(self.run.traffic.failures.items())),
            "lambda_invocations": world.function.invocations,
            "lambda_throttled": world.function.throttled,
            "waker_errors": sum(1 for line in world.log_lines if '"message": "unhandled"' in line),
        }


def second_service(
    seed: int = 1,
    config: SimConfig | None = None,
    run_seconds: float = RUN_SECONDS,
    visitor_seconds: float | None = None,
) -> SecondServiceRun:
    """The scenario described in the module's docstring, on ``seed`` (``visitor_seconds``: the
    visitors stop that long after the start instead of at its end)."""
    world = SecondServiceWorld(replace(config or SimConfig(), seed=seed))
    traffic = Traffic(world)
    world.kernel.spawn(traffic.api_client, name="first visitor")
    output = run_world(world, WARM_UP_SECONDS)
    start = world.kernel.now
    rng = world.kernel.random
    routing = RoutingCalls(world)
    routing.start_dns_refresh()
    for _ in range(ROUTING_REQUESTS):
        world.kernel.spawn(routing.client, delay=rng.uniform(0.0, ROUTING_WINDOW_SECONDS), name="routing")
    t = start
    while True:
        t += rng.expovariate(VISITORS_PER_SECOND)
        if t >= start + (run_seconds if visitor_seconds is None else visitor_seconds):
            break
        visitor = traffic.browser if rng.random() < 0.5 else traffic.api_client
        world.kernel.spawn(visitor, delay=t - world.kernel.now, name="visitor")
    output += run_world(world, start + run_seconds + 60.0)
    return SecondServiceRun(Run(world, traffic, output), routing, start)


def config_for(front_door: str, initial_health: str = "unhealthy") -> SimConfig:
    if front_door not in (HTTP_API, LOAD_BALANCER):
        raise ValueError(f"front door {front_door!r}: one of {HTTP_API}, {LOAD_BALANCER}")
    return replace(SimConfig(), front_door=front_door, initial_health=initial_health)


def second_service_summary(
    seeds: Iterable[int], front_door: str = LOAD_BALANCER, initial_health: str = "unhealthy"
) -> dict[str, Any]:
    """The scenario over ``seeds`` as one object of **simulated** figures (bench/bench_sim.py);
    ``initial_health``: Cloud Map's first status for a task ECS registers (undocumented: both run)."""
    config = config_for(front_door, initial_health)
    per_seed = [second_service(seed, config).figures() for seed in seeds]
    numbers = [
        k
        for k, v in per_seed[0].items()
        if k != "seed" and isinstance(v, int | float) and not isinstance(v, bool)
    ]
    spread: dict[str, list[float | None]] = {}
    for key in numbers:
        values = [s[key] for s in per_seed if isinstance(s.get(key), int | float)]
        spread[key] = [min(values), max(values)] if values else [None, None]
    totals: dict[str, int] = defaultdict(int)
    for figures in per_seed:
        for service, count in figures["update_service_calls_by_service"].items():
            totals[service] += count
    model = {
        name: [f.low, f.low if f.high is None else f.high] for name, f in {**FIGURES, **OSRM_FIGURES}.items()
    }
    model["osrm.idle_minutes"] = [example_osrm_policy().idle_minutes] * 2
    model["osrm.cold_start_modelled_seconds"] = list(cold_start_budget())
    return {
        "scenario": SCENARIO,
        "simulated": True,
        "front_door": front_door,
        "initial_health": config.initial_health,
        "seeds": [min(s["seed"] for s in per_seed), max(s["seed"] for s in per_seed)],
        "update_service_calls_by_service": dict(totals),
        "failed_requests": sum(s["failed_requests"] for s in per_seed),
        "app_failed_requests": sum(s["app_failed_requests"] for s in per_seed),
        "osrm_sleeps": sum(s["osrm_sleeps"] for s in per_seed),
        "app_sleeps": sum(s["app_sleeps"] for s in per_seed),
        "routing_first_200_seconds": spread["routing_first_200_seconds"],
        "min_max": spread,
        "per_seed": per_seed,
        "model": model,
    }


def cold_start_budget() -> tuple[float, float]:
    """OSRM's modelled wake, UpdateService to a route through DNS (low, high), from the figures: the
    scheduler, provisioning, pulls, download, load, health check, Cloud Map, Caddy's refresh."""
    data_mb = osrm_figure("osrm.data_gb").value * 1000.0
    images = osrm_figure("osrm.images_mb").value

    def bound(pick: int) -> float:
        def take(f: Figure) -> float:
            return f.low if f.high is None or pick == 0 else f.high

        def rate(f: Figure) -> float:  # the slow end of a rate is its low value
            return f.high if f.high is not None and pick == 0 else f.low

        return (
            take(figure("ecs.scheduler_delay"))
            + take(figure("fargate.provisioning"))
            + images / rate(figure("fargate.pull_rate"))
            + data_mb / rate(osrm_figure("osrm.s3_download_rate"))
            + data_mb / rate(osrm_figure("osrm.load_rate"))
            + take(osrm_figure("osrm.health_check"))
            + take(figure("cloudmap.health_update"))
            + (0.0 if pick == 0 else osrm_figure("caddy.dns_refresh").value)
        )

    return round(bound(0), 1), round(bound(1), 1)


def osrm_markdown_table() -> str:
    """The OSRM figures' table of docs/technical/aws-model.md (tests/sim/test_second_service.py keeps
    the two equal)."""
    lines = ["| figure | value | source |", "|---|---|---|"]
    for name, item in OSRM_FIGURES.items():
        lines.append(f"| `{name}` | {item.text()} | {item.source} |")
    return "\n".join(lines)
