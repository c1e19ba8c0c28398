"""The simulated AWS data plane and API backends: one ECS service on Fargate (Spot), one ALB
listener with its rules and target groups, or (``front_door = "http_api"``) an API Gateway HTTP API
with its routes and a Cloud Map service, the warmkeeper Lambda with its concurrency, EventBridge,
CloudWatch (RequestCount, the idle alarm, custom metrics), Parameter Store and Secrets Manager.

Every timing and limit comes from :mod:`warmkeeper_sim.figures`. The Lambda runs the **real**
handler (:func:`warmkeeper.aws.lambda_handler.handler`) on an engine built by the real
:func:`~warmkeeper.aws.engine.build_engine` around :class:`~warmkeeper_sim.control_plane.SimClients`, with the
simulated clock and sleep injected.
"""

from __future__ import annotations

import fnmatch
import itertools
import json
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from warmkeeper.aws import lambda_handler
from warmkeeper.aws.engine import SnapshotCache, Warmkeeper, build_engine
from warmkeeper.aws.http_api_routing import INSTANCE_IPV4, INSTANCE_PORT, WARM_ROUTE_KEYS
from warmkeeper.aws.lambda_settings import FRONT_DOOR_HTTP_API, FRONT_DOOR_LOAD_BALANCER, Settings
from warmkeeper.core import Policy
from warmkeeper_sim.control_plane import ApiLedger, SimClients, Throttler, client_error
from warmkeeper_sim.figures import figure, image_pull_seconds
from warmkeeper_sim.kernel import Kernel, Process

REGION = "eu-west-3"
ACCOUNT = "123456789012"
CLUSTER = "cityguided-staging"
SERVICE = "cityguided-staging"
PREFIX = "/warmkeeper/cityguided/staging"
ALARM_NAME = "cityguided-staging-idle"
KEEPALIVE_TOKEN = "sim-keepalive-token"
LISTENER_ARN = f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:listener/app/cityguided/1/1"
SECRET_ARN = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:cityguided-keepalive"
WARM_RULE_PRIORITY = 10
TASK_DEFINITION_ARN = f"arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/cityguided"
# The HTTP API front door (front_door = "http_api"): the stack's API, integrations, VPC link, Cloud Map.
API_ID = "simapi1"
API_STAGE = "$default"
WAKER_INTEGRATION_ID = "wakerint"
SERVICE_INTEGRATION_ID = "serviceint"
VPC_LINK_ID = "simlink1"
CLOUD_MAP_NAMESPACE = "cityguided-staging.local"
CLOUD_MAP_SERVICE = "cityguided"
ENTRY_PORT = 8080

# The CityGuided staging policy (examples/cityguided/warmkeeper.toml, [scale_to_zero] and staging).
STAGING_POLICY = Policy(
    idle_minutes=5,
    min_warm_minutes=2,
    hold_seconds=25,
    wake_timeout_seconds=180,
    retry_after_seconds=10,
    default_lease_minutes=30,
    max_lease_minutes=240,
    ignore_user_agents=(
        "ELB-HealthChecker",
        "UptimeRobot",
        "Pingdom",
        "StatusCake",
        "bot",
        "crawler",
        "spider",
    ),
)


@dataclass
class SimConfig:
    seed: int = 1
    policy: Policy = STAGING_POLICY
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
    # "load_balancer" (an ALB listener and its warm rule) or "http_api" (API Gateway HTTP API, VPC link,
    # Cloud Map, the waker's run-time warm routes).
    front_door: str = FRONT_DOOR_LOAD_BALANCER
    # How long the entry container keeps accepting after SIGTERM (http_api); None: the config default.
    drain_seconds: float | None = None

    @property
    def http_api(self) -> bool:
        return self.front_door == FRONT_DOOR_HTTP_API

    @property
    def drain_window(self) -> float:
        return figure("ecs.drain_window").value if self.drain_seconds is None else self.drain_seconds


# --- ECS ------------------------------------------------------------------------------------------


@dataclass
class Task:
    arn: str
    ip: str
    revision: int
    created: float
    capacity_provider: str
    last_status: str = "PROVISIONING"
    desired_status: str = "RUNNING"
    serving: bool = False
    started_at: float | None = None
    health_status: str = "UNKNOWN"
    stopped_reason: str = ""
    registered: bool = False


class Ecs:
    def __init__(self, world: World) -> None:
        self.world = world
        self.desired = 0
        self.revision = 1
        self.tasks: list[Task] = []
        self._ips = itertools.count(10)
        self._ids = itertools.count(1)
        self.update_service_calls: list[tuple[float, int]] = []
        self.scale_in_during_rollout = 0
        self.rollout_done_at: float | None = None
        world.kernel.every(5.0, self.converge)

    # the API --------------------------------------------------------------------------------------

    def describe_services(self, cluster: str, services: list[str], **_: Any) -> dict[str, Any]:
        if cluster != CLUSTER or SERVICE not in services or self.world.destroyed:
            return {"services": [], "failures": [{"arn": s, "reason": "MISSING"} for s in services]}
        live = self.live()
        rolling = any(t.revision != self.revision for t in live)
        deployments = [
            {
                "status": "PRIMARY",
                "taskDefinition": f"cityguided:{self.revision}",
                "rolloutState": "IN_PROGRESS" if rolling else "COMPLETED",
            }
        ]
        if rolling:
            deployments.append(
                {
                    "status": "ACTIVE",
                    "taskDefinition": f"cityguided:{self.revision - 1}",
                    "rolloutState": "COMPLETED",
                }
            )
        return {
            "services": [
                {
                    "serviceName": SERVICE,
                    "status": "ACTIVE",
                    "desiredCount": self.desired,
                    "runningCount": sum(1 for t in self.tasks if t.last_status == "RUNNING"),
                    "pendingCount": sum(
                        1 for t in live if t.last_status in ("PROVISIONING", "PENDING", "ACTIVATING")
                    ),
                    "deployments": deployments,
                }
            ],
            "failures": [],
        }

    def update_service(
        self, cluster: str, service: str, desiredCount: int | None = None, **kw: Any
    ) -> dict[str, Any]:
        if desiredCount is not None:
            if desiredCount < self.desired and any(t.revision != self.revision for t in self.live()):
                self.scale_in_during_rollout += 1
            self.desired = desiredCount
            self.update_service_calls.append((self.world.kernel.now, desiredCount))
        if kw.get("forceNewDeployment"):
            self.revision += 1
        self.world.kernel.at(figure("ecs.scheduler_delay").draw(self.world.kernel.random), self.converge)
        return {"service": {"serviceName": service, "desiredCount": self.desired}}

    def list_tasks(
        self, cluster: str, serviceName: str, desiredStatus: str = "RUNNING", **_: Any
    ) -> dict[str, Any]:
        return {"taskArns": [t.arn for t in self.tasks if t.desired_status == desiredStatus]}

    def describe_tasks(self, cluster: str, tasks: list[str], **_: Any) -> dict[str, Any]:
        found = [t for t in self.tasks if t.arn in tasks]
        return {
            "tasks": [
                {
                    "taskArn": t.arn,
                    "lastStatus": t.last_status,
                    "desiredStatus": t.desired_status,
                    "healthStatus": t.health_status,
                    "taskDefinitionArn": f"{TASK_DEFINITION_ARN}:{t.revision}",
                    "startedAt": self.world.at(t.started_at) if t.started_at is not None else None,
                    "attachments": [{"details": [{"name": "privateIPv4Address", "value": t.ip}]}],
                }
                for t in found
            ]
        }

    # the scheduler --------------------------------------------------------------------------------

    def live(self) -> list[Task]:
        return [t for t in self.tasks if t.desired_status == "RUNNING"]

    def converge(self) -> None:
        if self.world.destroyed:
            return
        live = self.live()
        current = [t for t in live if t.revision == self.revision]
        old = [t for t in live if t.revision != self.revision]
        for _ in range(self.desired - len(current)):
            if self.world.config.spot and not self.world.config.spot_capacity:
                break  # no Spot capacity: ECS retries at its next pass
            self.launch()
        surplus = len(current) - self.desired
        for task in sorted(current, key=lambda t: (t.last_status == "RUNNING", t.created))[: max(0, surplus)]:
            self.stop(task, "Scaling activity initiated by (deployment ecs-svc)")
        healthy_current = sum(1 for t in current if self.world.service_healthy(t))
        for task in old:
            # Rolling replacement (minimum healthy 100 %): an old task goes once a new one is healthy.
            if self.desired == 0 or healthy_current >= min(self.desired, len(current)) > 0:
                self.stop(task, "Deployment replaced this task")

    def launch(self) -> Task:
        kernel = self.world.kernel
        task = Task(
            arn=f"arn:aws:ecs:{REGION}:{ACCOUNT}:task/{CLUSTER}/{next(self._ids):032x}",
            ip=f"10.0.1.{next(self._ips)}",
            revision=self.revision,
            created=kernel.now,
            capacity_provider="FARGATE_SPOT" if self.world.config.spot else "FARGATE",
        )
        self.tasks.append(task)
        kernel.spawn(lambda: self._run(task), name=f"task {task.ip}")
        return task

    def _run(self, task: Task) -> None:
        kernel = self.world.kernel
        rng = kernel.random
        kernel.sleep(figure("fargate.provisioning").draw(rng))
        if task.desired_status != "RUNNING":
            return self._stopped(task)
        task.last_status = "PENDING"
        kernel.sleep(image_pull_seconds(rng, self.world.config.image_mb))
        if task.desired_status != "RUNNING":
            return self._stopped(task)
        task.last_status = "ACTIVATING"
        if self.world.config.http_api:
            self.world.cloud_map.register(task)  # ECS registers the task, UNHEALTHY until its container is
        else:
            self.world.alb.register(task)
        task.last_status = "RUNNING"
        task.started_at = kernel.now
        self.world.task_state_change(task)
        kernel.sleep(figure("fargate.app_boot").draw(rng))
        if task.desired_status == "RUNNING":
            task.serving = True
            start_period = figure("ecs.container_health_start_period").value
            kernel.at(
                max(0.0, task.started_at + start_period - kernel.now), lambda: self._container_healthy(task)
            )
        return None

    def _container_healthy(self, task: Task) -> None:
        if task.serving:
            task.health_status = "HEALTHY"
            if self.world.config.http_api:
                self.world.cloud_map.report_health(task)

    def stop(self, task: Task, reason: str, *, spot_interruption: bool = False) -> None:
        if task.desired_status != "RUNNING":
            return
        task.desired_status = "STOPPED"
        task.stopped_reason = reason
        self.world.task_state_change(task)
        if task.last_status in ("PROVISIONING", "PENDING"):
            return  # its launch process notices and stops it
        self.world.kernel.spawn(lambda: self._stop(task, spot_interruption), name=f"stop {task.ip}")

    def _stop(self, task: Task, spot_interruption: bool) -> None:
        kernel = self.world.kernel
        rng = kernel.random
        # A Fargate Spot task's containers are stopped when its two-minute notice runs out, whatever
        # they are doing: the drain and the graceful stop fit in it or are cut short.
        deadline = kernel.now + figure("spot.warning").value if spot_interruption else None

        def bounded(seconds: float) -> float:
            return seconds if deadline is None else max(0.0, min(seconds, deadline - kernel.now))

        task.last_status = "DEACTIVATING"
        if self.world.config.http_api:
            # ECS deregisters the task from Cloud Map and sends SIGTERM at once (no deregistration
            # delay: aws/containers-roadmap#1639); the entry container keeps accepting for its drain
            # window, since API Gateway may still send it requests from its discovery cache.
            self.world.cloud_map.deregister(task)
            kernel.sleep(bounded(self.world.config.drain_window))
        else:
            # ECS deregisters the task first and sends SIGTERM once its target has drained: on a
            # scale-in or a deploy, and since 2023 on a Spot interruption too, where the target starts
            # draining at the notice (spot.deregistration_after_notice) and SIGTERM follows after the
            # deregistration delay, within the notice.
            if spot_interruption:
                kernel.sleep(figure("spot.deregistration_after_notice").value)
            drained = self.world.alb.deregister(task.ip)
            if drained is not None:
                kernel.wait(drained, bounded(figure("alb.deregistration_delay").value + 1))
        # SIGTERM (ALB) or the end of the drain window (HTTP API): the entry container stops accepting
        # and finishes what it holds.
        task.last_status = "STOPPING"
        task.serving = False
        kernel.sleep(bounded(rng.uniform(1.0, 3.0)))  # graceful shutdown (well inside stopTimeout)
        task.last_status = "DEPROVISIONING"
        kernel.sleep(rng.uniform(2.0, 5.0))
        return self._stopped(task)

    def _stopped(self, task: Task) -> None:
        task.last_status = "STOPPED"
        task.serving = False
        self.world.task_state_change(task)
        self.tasks.remove(task)
        if task.revision != self.revision and not any(t.revision != self.revision for t in self.live()):
            self.rollout_done_at = self.world.kernel.now
        self.converge()

    def interrupt_spot(self, task: Task) -> None:
        """Fargate Spot takes the capacity back: the notice (a task state change event), the target
        draining at once behind an ALB, SIGTERM after it (2023 order), a replacement if capacity."""
        self.stop(task, "Your Spot Task was interrupted.", spot_interruption=True)
        self.world.kernel.at(figure("ecs.scheduler_delay").draw(self.world.kernel.random), self.converge)


# --- ALB ------------------------------------------------------------------------------------------


@dataclass
class Target:
    ip: str
    task: Task | None
    state: str = "initial"
    passes: int = 0
    fails: int = 0


@dataclass
class TargetGroup:
    arn: str
    kind: str  # "ip" or "lambda"
    targets: dict[str, Target] = field(default_factory=dict)


@dataclass
class Rule:
    arn: str
    priority: int
    conditions: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    tags: list[dict[str, str]]


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str
    source: str  # "app", "waker" or "alb"


class LoadBalancer:
    def __init__(self, world: World) -> None:
        self.world = world
        self.lambda_tg = TargetGroup(self._tg_arn("waker"), "lambda")
        self.service_tg = TargetGroup(self._tg_arn("service-1"), "ip")
        self.groups = {g.arn: g for g in (self.lambda_tg, self.service_tg)}
        self._rule_ids = itertools.count(1)
        self.rules: dict[str, Rule] = {}
        self._effective: list[tuple[float, tuple[Rule, ...]]] = []
        self.healthy_since: list[float] = []  # each time the service TG went from 0 to 1+ healthy
        self.app_requests_by_minute: dict[int, int] = defaultdict(int)
        self._add_stack_rules()

    def _tg_arn(self, name: str) -> str:
        return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:targetgroup/cityguided-{name}/1"

    def _add_stack_rules(self) -> None:
        """The CloudFormation-owned rules of src/warmkeeper/infra/routing.py."""
        self._put_rule(1, [_path("/_warmkeeper/*")], self.lambda_tg.arn, "waker-paths")
        self._put_rule(
            49999,
            [
                {
                    "Field": "http-header",
                    "HttpHeaderConfig": {"HttpHeaderName": "X-Warmkeeper-Route", "Values": ["service"]},
                }
            ],
            self.service_tg.arn,
            "service-anchor",
        )
        self._put_rule(50000, [_path("/*")], self.lambda_tg.arn, "waker-default")
        self._effective = [(0.0, tuple(self.rules.values()))]

    def _put_rule(self, priority: int, conditions: list[dict[str, Any]], tg: str, role: str) -> Rule:
        arn = f"{LISTENER_ARN.replace(':listener/', ':listener-rule/')}/{next(self._rule_ids)}"
        rule = Rule(
            arn,
            priority,
            conditions,
            [{"Type": "forward", "TargetGroupArn": tg}],
            [{"Key": "warmkeeper:role", "Value": role}],
        )
        self.rules[arn] = rule
        return rule

    def _changed(self) -> None:
        """A rule change reaches the data plane after the propagation delay (never out of order)."""
        delay = figure("alb.rule_propagation").draw(self.world.kernel.random)
        last = self._effective[-1][0] if self._effective else 0.0
        self._effective.append((max(last, self.world.kernel.now + delay), tuple(self.rules.values())))

    def effective_rules(self) -> tuple[Rule, ...]:
        now = self.world.kernel.now
        current: tuple[Rule, ...] = ()
        for when, rules in self._effective:
            if when <= now:
                current = rules
        return current

    # the API --------------------------------------------------------------------------------------

    def describe_target_health(self, TargetGroupArn: str, **_: Any) -> dict[str, Any]:
        group = self.groups.get(TargetGroupArn)
        if group is None:
            raise client_error(
                "TargetGroupNotFound", "One or more target groups not found", "DescribeTargetHealth"
            )
        return {
            "TargetHealthDescriptions": [
                {"Target": {"Id": t.ip, "Port": 8080}, "TargetHealth": {"State": t.state}}
                for t in group.targets.values()
            ]
        }

    def describe_rules(self, ListenerArn: str, Marker: str | None = None, **_: Any) -> dict[str, Any]:
        if self.world.destroyed:
            raise client_error("ListenerNotFound", "One or more listeners not found", "DescribeRules")
        rules = sorted(self.rules.values(), key=lambda r: r.priority)
        return {
            "Rules": [
                {
                    "RuleArn": r.arn,
                    "Priority": str(r.priority),
                    "Conditions": r.conditions,
                    "Actions": r.actions,
                    "IsDefault": False,
                }
                for r in rules
            ]
            + [
                {
                    "RuleArn": f"{LISTENER_ARN}/default",
                    "Priority": "default",
                    "Conditions": [],
                    "Actions": [{"Type": "fixed-response"}],
                    "IsDefault": True,
                }
            ]
        }

    def describe_tags(self, ResourceArns: list[str], **_: Any) -> dict[str, Any]:
        return {
            "TagDescriptions": [
                {"ResourceArn": arn, "Tags": self.rules[arn].tags}
                for arn in ResourceArns
                if arn in self.rules
            ]
        }

    def create_rule(
        self,
        ListenerArn: str,
        Priority: int,
        Conditions: list[dict[str, Any]],
        Actions: list[dict[str, Any]],
        Tags: list[dict[str, str]] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        if any(r.priority == Priority for r in self.rules.values()):
            raise client_error("PriorityInUse", f"Priority '{Priority}' is currently in use", "CreateRule")
        for action in Actions:
            if action.get("TargetGroupArn") and action["TargetGroupArn"] not in self.groups:
                raise client_error("TargetGroupNotFound", "target group not found", "CreateRule")
        arn = f"{LISTENER_ARN.replace(':listener/', ':listener-rule/')}/{next(self._rule_ids)}"
        self.rules[arn] = Rule(arn, Priority, Conditions, Actions, list(Tags or []))
        self._changed()
        return {"Rules": [{"RuleArn": arn, "Priority": str(Priority)}]}

    def modify_rule(
        self, RuleArn: str, Actions: list[dict[str, Any]] | None = None, **_: Any
    ) -> dict[str, Any]:
        rule = self.rules.get(RuleArn)
        if rule is None:
            raise client_error("RuleNotFound", "One or more rules not found", "ModifyRule")
        if Actions is not None:
            rule.actions = Actions
        self._changed()
        return {"Rules": [{"RuleArn": RuleArn}]}

    def delete_rule(self, RuleArn: str, **_: Any) -> dict[str, Any]:
        if self.rules.pop(RuleArn, None) is None:
            raise client_error("RuleNotFound", "One or more rules not found", "DeleteRule")
        self._changed()
        return {}

    # targets and health checks --------------------------------------------------------------------

    def is_healthy(self, ip: str) -> bool:
        target = self.service_tg.targets.get(ip)
        return target is not None and target.state == "healthy"

    def healthy_count(self) -> int:
        return sum(1 for t in self.service_tg.targets.values() if t.state == "healthy")

    def register(self, task: Task, group: TargetGroup | None = None) -> None:
        group = group or self.service_tg
        target = Target(task.ip, task)
        group.targets[task.ip] = target
        task.registered = True
        interval = figure("alb.health_interval").value
        kernel = self.world.kernel

        def check() -> None:
            if group.targets.get(task.ip) is not target or target.state == "draining":
                return
            self._check(group, target)
            kernel.at(interval, check)

        kernel.at(kernel.random.uniform(0.0, interval), check)

    def _check(self, group: TargetGroup, target: Target) -> None:
        healthy_before = self.healthy_count()
        if target.task is not None and target.task.serving:
            target.passes += 1
            target.fails = 0
            if target.state != "healthy" and target.passes >= figure("alb.healthy_threshold").value:
                target.state = "healthy"
        else:
            target.fails += 1
            target.passes = 0
            if (
                target.state in ("healthy", "initial")
                and target.fails >= figure("alb.unhealthy_threshold").value
            ):
                target.state = "unhealthy"
        if group is self.service_tg and healthy_before == 0 and self.healthy_count() > 0:
            self.healthy_since.append(self.world.kernel.now)

    def deregister(self, ip: str) -> Process | None:
        """Start draining ``ip`` in the service target group; the process ends once it is removed."""
        kernel = self.world.kernel
        for group in self.groups.values():
            target = group.targets.get(ip)
            if target is None or target.state == "draining":
                continue
            target.state = "draining"

            def drain(group: TargetGroup = group, target: Target = target) -> None:
                kernel.sleep(figure("alb.deregistration_delay").value)
                if group.targets.get(ip) is target:
                    del group.targets[ip]

            return kernel.spawn(drain, name=f"drain {ip}")
        return None

    # the data plane -------------------------------------------------------------------------------

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Response:
        """One client request through the listener (runs in the client's process)."""
        if self.world.destroyed:
            return Response(503, {}, "load balancer deleted", "alb")
        for rule in sorted(self.effective_rules(), key=lambda r: r.priority):
            if _matches(rule, path, headers):
                return self._forward(rule, method, path, headers)
        return Response(503, {"content-type": "application/json"}, '{"error": "no route"}', "alb")

    def _forward(self, rule: Rule, method: str, path: str, headers: dict[str, str]) -> Response:
        kernel = self.world.kernel
        arn = _forward_target(rule)
        group = self.groups.get(arn or "")
        if group is None:
            return Response(503, {}, "503 Service Temporarily Unavailable", "alb")
        if group.kind == "lambda":
            kernel.sleep(figure("alb.lambda_overhead").draw(kernel.random))
            return self.world.function.from_alb(method, path, headers)
        healthy = [t for t in group.targets.values() if t.state == "healthy"]
        # No healthy target: ALB fails open to the registered (initial or unhealthy) ones; none at
        # all (only draining ones, or an empty group): its own 503.
        candidates = healthy or [t for t in group.targets.values() if t.state != "draining"]
        if not candidates:
            self.world.traffic_note("alb_503_no_targets")
            return Response(
                int(figure("alb.status_no_targets").value), {}, "503 Service Temporarily Unavailable", "alb"
            )
        target = candidates[kernel.random.randrange(len(candidates))]
        kernel.sleep(figure("alb.app_latency").draw(kernel.random))
        if target.task is None or not target.task.serving:
            self.world.traffic_note("alb_502_target_closed")
            return Response(int(figure("alb.status_target_closed").value), {}, "502 Bad Gateway", "alb")
        if group is self.service_tg:
            self.app_requests_by_minute[int(kernel.now // 60)] += 1
        return Response(200, {"content-type": "application/json"}, '{"places": []}', "app")


def _path(pattern: str) -> dict[str, Any]:
    return {"Field": "path-pattern", "PathPatternConfig": {"Values": [pattern]}}


def _matches(rule: Rule, path: str, headers: dict[str, str]) -> bool:
    for condition in rule.conditions:
        if condition.get("Field") == "path-pattern":
            values = condition.get("PathPatternConfig", {}).get("Values") or condition.get("Values", [])
            if not any(fnmatch.fnmatchcase(path, v) for v in values):
                return False
        elif condition.get("Field") == "http-header":
            config = condition.get("HttpHeaderConfig", {})
            if headers.get(str(config.get("HttpHeaderName", "")).lower()) not in config.get("Values", []):
                return False
    return True


def _forward_target(rule: Rule) -> str | None:
    for action in rule.actions:
        if action.get("Type") != "forward":
            continue
        if action.get("TargetGroupArn"):
            return str(action["TargetGroupArn"])
        groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
        if groups:
            return str(groups[0]["TargetGroupArn"])
    return None


# --- API Gateway HTTP API and Cloud Map (front_door = "http_api") ---------------------------------


@dataclass
class Instance:
    task: Task
    health: str = "UNHEALTHY"  # ECS's custom health status: healthy once the container is


class CloudMap:
    """The Cloud Map service ECS registers the tasks in (SRV records, custom health)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.instances: dict[str, Instance] = {}
        self.healthy_since: list[float] = []  # each time the service went from 0 to 1+ healthy

    def register(self, task: Task) -> None:
        self.instances[task.arn] = Instance(task)
        task.registered = True

    def report_health(self, task: Task) -> None:
        kernel = self.world.kernel

        def update() -> None:
            instance = self.instances.get(task.arn)
            if instance is None or instance.health == "HEALTHY":
                return
            before = self.healthy_count()
            instance.health = "HEALTHY"
            if before == 0:
                self.healthy_since.append(kernel.now)

        kernel.at(figure("cloudmap.health_update").draw(kernel.random), update)

    def deregister(self, task: Task) -> None:
        self.instances.pop(task.arn, None)

    def healthy(self) -> list[Instance]:
        return [i for i in self.instances.values() if i.health == "HEALTHY"]

    def healthy_count(self) -> int:
        return len(self.healthy())

    def is_healthy(self, task: Task) -> bool:
        instance = self.instances.get(task.arn)
        return instance is not None and instance.health == "HEALTHY"

    # the API --------------------------------------------------------------------------------------

    def discover_instances(
        self, NamespaceName: str, ServiceName: str, HealthStatus: str = "ALL", **_: Any
    ) -> dict[str, Any]:
        if NamespaceName != CLOUD_MAP_NAMESPACE or ServiceName != CLOUD_MAP_SERVICE:
            raise client_error("ServiceNotFound", "service not found", "DiscoverInstances")
        chosen = [
            i
            for i in self.instances.values()
            if HealthStatus in ("ALL", "HEALTHY_OR_ELSE_ALL") or i.health == HealthStatus
        ]
        return {
            "Instances": [
                {
                    "InstanceId": i.task.arn.rsplit("/", 1)[-1],
                    "NamespaceName": NamespaceName,
                    "ServiceName": ServiceName,
                    "HealthStatus": i.health,
                    "Attributes": {INSTANCE_IPV4: i.task.ip, INSTANCE_PORT: str(ENTRY_PORT)},
                }
                for i in chosen
            ]
        }


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
        for key in ("$default", "ANY /_warmkeeper/{proxy+}"):
            self._add(key, self.WAKER_TARGET)
        self._effective: list[tuple[float, tuple[ApiRoute, ...]]] = [(0.0, tuple(self.routes.values()))]
        self.route_changes: list[tuple[float, str]] = []  # (when effective, "service" | "waker")
        self.created_at: list[float] = []  # when each CreateRoute was accepted
        self._cache: list[Task] = []
        self._cache_until = -1.0
        self.app_requests_by_minute: dict[int, int] = defaultdict(int)

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
        if any(r.route_key == RouteKey for r in self.routes.values()):
            raise client_error(
                "ConflictException", f"Route with key {RouteKey} already exists", "CreateRoute", 409
            )
        route = self._add(RouteKey, Target)
        self.created_at.append(self.world.kernel.now)
        self._changed()
        return {"RouteId": route.route_id, "RouteKey": RouteKey, "Target": Target}

    def update_route(self, ApiId: str, RouteId: str, Target: str | None = None, **_: Any) -> dict[str, Any]:
        self._check_api(ApiId, "UpdateRoute")
        route = self.routes.get(RouteId)
        if route is None:
            raise client_error("NotFoundException", "Invalid Route identifier specified", "UpdateRoute", 404)
        if Target is not None:
            route.target = Target
        self._changed()
        return {"RouteId": RouteId, "RouteKey": route.route_key, "Target": route.target}

    def delete_route(self, ApiId: str, RouteId: str, **_: Any) -> dict[str, Any]:
        self._check_api(ApiId, "DeleteRoute")
        if self.routes.pop(RouteId, None) is None:
            raise client_error("NotFoundException", "Invalid Route identifier specified", "DeleteRoute", 404)
        self._changed()
        return {}

    def get_vpc_link(self, VpcLinkId: str, **_: Any) -> dict[str, Any]:
        if VpcLinkId != VPC_LINK_ID:
            raise client_error("NotFoundException", "Invalid VpcLink identifier specified", "GetVpcLink", 404)
        return {"VpcLinkId": VpcLinkId, "Name": "cityguided-staging", "VpcLinkStatus": "AVAILABLE"}

    # the data plane -------------------------------------------------------------------------------

    def _route_for(self, path: str) -> ApiRoute | None:
        """HTTP API route selection: the most specific match, `$default` when none matches."""
        by_key = {r.route_key: r for r in self.effective_routes()}
        if path.startswith("/_warmkeeper/") and "ANY /_warmkeeper/{proxy+}" in by_key:
            return by_key["ANY /_warmkeeper/{proxy+}"]
        if path == "/" and "ANY /" in by_key:
            return by_key["ANY /"]
        if path != "/" and "ANY /{proxy+}" in by_key:
            return by_key["ANY /{proxy+}"]
        return by_key.get("$default")

    def discovered(self) -> list[Task]:
        """API Gateway's view of Cloud Map: the healthy instances, kept for the cache time (assumed)
        from the first look after it expired."""
        now = self.world.kernel.now
        if now >= self._cache_until:
            self._cache = [i.task for i in self.world.cloud_map.healthy()]
            self._cache_until = now + figure("apigw.discovery_cache").value
        return self._cache

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Response:
        """One client request through the HTTP API (runs in the client's process)."""
        if self.world.destroyed:
            return Response(404, {}, '{"message":"Not Found"}', "apigw")
        route = self._route_for(path)
        if route is None:
            return Response(404, {}, '{"message":"Not Found"}', "apigw")
        if route.target == self.WAKER_TARGET:
            return self.world.function.from_http_api(method, path, headers)
        kernel = self.world.kernel
        unavailable = Response(
            int(figure("apigw.status_no_instance").value), {}, '{"message":"Service Unavailable"}', "apigw"
        )
        instances = self.discovered()
        if not instances:
            self.world.traffic_note("apigw_503_no_instance")
            return unavailable
        task = instances[kernel.random.randrange(len(instances))]
        kernel.sleep(figure("alb.app_latency").draw(kernel.random))
        if not task.serving:
            self.world.traffic_note("apigw_503_stopped_instance")
            return unavailable
        self.app_requests_by_minute[int(kernel.now // 60)] += 1
        return Response(200, {"content-type": "application/json"}, '{"places": []}', "app")


# --- Lambda, EventBridge --------------------------------------------------------------------------


@dataclass
class SimContext:
    """The parts of the Lambda context object a handler may read."""

    deadline: float
    kernel: Kernel
    aws_request_id: str
    function_name: str = "cityguided-staging-waker"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cityguided-staging-waker"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.kernel.now) * 1000))


class ExecutionEnvironment:
    def __init__(self, world: World, generation: int) -> None:
        self.generation = generation
        self.initialized = False
        # Each environment has its own module state, hence its own snapshot cache (seeded: one
        # seed, one result).
        self.engine: Warmkeeper = build_engine(
            world.settings,
            SimClients(world),
            clock=world.kernel.datetime,
            sleep=world.kernel.sleep,
            snapshots=SnapshotCache(random.Random(world.kernel.random.random())),
        )


class LambdaFunction:
    def __init__(self, world: World) -> None:
        self.world = world
        self.in_flight = 0
        self.peak = 0
        self.throttled = 0
        self.invocations = 0
        self.errors = 0
        self.timeouts = 0
        self.generation = 0
        self._idle: list[ExecutionEnvironment] = []
        self._request_ids = itertools.count(1)

    @property
    def limit(self) -> int:
        config = self.world.config
        return (
            config.reserved_concurrency
            if config.reserved_concurrency is not None
            else config.account_concurrency
        )

    def recycle(self) -> None:
        """A configuration change (new settings): every execution environment is replaced."""
        self.generation += 1
        self._idle.clear()

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any]:
        """A synchronous invoke from the calling process.

        Returns ("ok" | "error" | "timeout" | "throttled", the handler's result or exception)."""
        kernel = self.world.kernel
        if self.in_flight >= self.limit:
            self.throttled += 1
            return "throttled", None
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.invocations += 1
        env = None
        while self._idle:
            candidate = self._idle.pop()
            if candidate.generation == self.generation:
                env = candidate
                break
        if env is None:
            env = ExecutionEnvironment(self.world, self.generation)
        deadline = kernel.now + self.world.config.lambda_timeout
        context = SimContext(
            deadline=deadline, kernel=kernel, aws_request_id=f"req-{next(self._request_ids)}"
        )
        process = kernel.spawn(lambda: self._run(env, event, context), name="invocation")
        init = 0.0 if env.initialized else figure("lambda.init").draw(kernel.random)
        finished = kernel.wait(process, self.world.config.lambda_timeout + init)
        self.in_flight -= 1
        if not finished:
            process.kill()
            self.timeouts += 1
            return "timeout", None
        outcome, result = process.result
        if outcome == "error":
            self.errors += 1
        self._idle.append(env)
        return outcome, result

    def _run(self, env: ExecutionEnvironment, event: dict[str, Any], context: SimContext) -> tuple[str, Any]:
        kernel = self.world.kernel
        if not env.initialized:
            kernel.sleep(figure("lambda.init").draw(kernel.random))
            env.initialized = True
            context.deadline = kernel.now + self.world.config.lambda_timeout
        lambda_handler.use(env.engine)
        try:
            return "ok", lambda_handler.handler(event, context)
        except Exception as exc:  # an unhandled error is what ALB and the async retries see
            self.world.log_lines.append(
                json.dumps({"level": "error", "message": "unhandled", "error": repr(exc)})
            )
            return "error", exc

    def from_alb(self, method: str, path: str, headers: dict[str, str]) -> Response:
        event = {
            "requestContext": {"elb": {"targetGroupArn": self.world.alb.lambda_tg.arn}},
            "httpMethod": method,
            "path": path,
            "queryStringParameters": {},
            "headers": dict(headers),
            "body": "",
            "isBase64Encoded": False,
        }
        outcome, result = self.invoke(event)
        if outcome != "ok" or not isinstance(result, dict):
            self.world.traffic_note(f"alb_lambda_{outcome}")
            status = int(figure("alb.status_lambda_failed").value)
            return Response(status, {}, "502 Bad Gateway", "alb")
        response_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response_headers[name.lower()] = ", ".join(str(v) for v in values)
        return Response(
            int(result.get("statusCode", 502)), response_headers, str(result.get("body", "")), "waker"
        )

    def from_http_api(self, method: str, path: str, headers: dict[str, str]) -> Response:
        """The HTTP API's Lambda integration: payload format 2.0, answered within 30 s or not at all."""
        kernel = self.world.kernel
        kernel.sleep(figure("apigw.lambda_overhead").draw(kernel.random))
        cookies = [c.strip() for c in headers.get("cookie", "").split(";") if c.strip()]
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "cookies": cookies,
            "headers": {k.lower(): v for k, v in headers.items() if k.lower() != "cookie"},
            "requestContext": {
                "apiId": API_ID,
                "stage": API_STAGE,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7"},
            },
            "body": "",
            "isBase64Encoded": False,
        }
        box: list[tuple[str, Any]] = []
        call = kernel.spawn(lambda: box.append(self.invoke(event)), name="apigw invoke")
        if not kernel.wait(call, figure("apigw.integration_timeout").value):
            # API Gateway stops waiting; the invocation runs on to its own timeout.
            self.world.traffic_note("apigw_integration_timeout")
            status = int(figure("apigw.status_integration_timeout").value)
            return Response(status, {}, '{"message":"Service Unavailable"}', "apigw")
        outcome, result = box[0]
        if outcome != "ok" or not isinstance(result, dict):
            self.world.traffic_note(f"apigw_lambda_{outcome}")
            status = int(figure("apigw.status_lambda_failed").value)
            return Response(status, {}, '{"message":"Internal Server Error"}', "apigw")
        response_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        if result.get("cookies"):
            response_headers["set-cookie"] = ", ".join(str(c) for c in result["cookies"])
        return Response(
            int(result.get("statusCode", 500)), response_headers, str(result.get("body", "")), "waker"
        )

    def invoke_async(self, event: dict[str, Any]) -> None:
        """EventBridge's asynchronous invoke: Lambda's queue retries throttles and errors."""
        kernel = self.world.kernel

        def run() -> None:
            errors = 0
            throttles = 0
            while True:
                outcome, _ = self.invoke(event)
                if outcome == "ok":
                    return
                if outcome == "throttled":
                    throttles += 1
                    kernel.sleep(min(2.0**throttles, 300.0))
                    continue
                errors += 1
                if errors > figure("lambda.async_retries").value:
                    self.world.traffic_note("async_event_dropped")
                    return
                kernel.sleep(60.0 * errors)  # one minute, then two (Lambda's async retry schedule)

        kernel.spawn(run, delay=figure("lambda.async_queue_delay").draw(kernel.random), name="async")


class EventBus:
    """EventBridge with fault injection: lose or duplicate the next events of a detail type."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.lose: dict[str, int] = defaultdict(int)
        self.duplicate: dict[str, int] = defaultdict(int)
        self.delivered: list[tuple[float, str]] = []

    def put(self, event: dict[str, Any]) -> None:
        detail_type = str(event.get("detail-type"))
        if not self._routed(event):
            return
        if self.lose[detail_type] > 0:
            self.lose[detail_type] -= 1
            self.world.traffic_note(f"event_lost:{detail_type}")
            return
        copies = 1
        if self.duplicate[detail_type] > 0:
            self.duplicate[detail_type] -= 1
            copies = 2
        kernel = self.world.kernel
        for _ in range(copies):

            def deliver() -> None:
                self.delivered.append((kernel.now, detail_type))
                self.world.function.invoke_async(event)

            kernel.at(figure("eventbridge.delivery_delay").draw(kernel.random), deliver)

    def _routed(self, event: dict[str, Any]) -> bool:
        """The stack's EventBridge rules that target the Lambda."""
        detail_type = event.get("detail-type")
        if detail_type == "Scheduled Event":
            return self.world.config.reconcile_schedule
        if detail_type == "CloudWatch Alarm State Change":
            return True
        if detail_type == "ECS Task State Change":
            # The rule's pattern: lastStatus STOPPING/STOPPED or desiredStatus STOPPED.
            detail = event.get("detail") or {}
            stopping = (
                detail.get("lastStatus") in ("STOPPING", "STOPPED")
                or detail.get("desiredStatus") == "STOPPED"
            )
            return self.world.config.task_state_events_to_lambda and stopping
        return False


# --- CloudWatch, Parameter Store, Secrets Manager -------------------------------------------------


class CloudWatch:
    def __init__(self, world: World) -> None:
        self.world = world
        self.custom: list[tuple[float, str, float]] = []
        self._visible_after: dict[int, float] = {}
        self.alarm_state = "INSUFFICIENT_DATA"
        self.alarm_changes: list[tuple[float, str]] = []

    def _published(self, minute: int) -> bool:
        if minute not in self._visible_after:
            delay = figure("cloudwatch.metric_delay").draw(self.world.kernel.random)
            self._visible_after[minute] = (minute + 1) * 60 + delay
        return self._visible_after[minute] <= self.world.kernel.now

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        for datum in MetricData:
            self.custom.append(
                (self.world.kernel.now, str(datum["MetricName"]), float(datum.get("Value", 0)))
            )
        return {}

    def get_metric_data(
        self, MetricDataQueries: list[dict[str, Any]], StartTime: datetime, EndTime: datetime, **_: Any
    ) -> dict[str, Any]:
        start = int((StartTime - self.world.kernel.epoch).total_seconds() // 60)
        end = int((EndTime - self.world.kernel.epoch).total_seconds() // 60)
        counts = self.world.front.app_requests_by_minute
        minutes = [m for m in range(max(0, start), end + 1) if counts.get(m) and self._published(m)]
        return {
            "MetricDataResults": [
                {
                    "Id": MetricDataQueries[0]["Id"],
                    "Timestamps": [self.world.at(m * 60.0) for m in reversed(minutes)],
                    "Values": [float(counts[m]) for m in reversed(minutes)],
                }
            ]
        }

    def evaluate_alarm(self) -> None:
        """The idle alarm: `idle_minutes` one-minute sums under one request, missing data breaching."""
        periods = int(self.world.config.policy.idle_minutes)
        newest = int(self.world.kernel.now // 60) - 1
        while newest >= 0 and not self._published(newest):
            newest -= 1
        breaching = all(
            self.world.front.app_requests_by_minute.get(m, 0) < 1
            for m in range(newest - periods + 1, newest + 1)
        )
        state = "ALARM" if breaching else "OK"
        if state != self.alarm_state:
            previous, self.alarm_state = self.alarm_state, state
            self.alarm_changes.append((self.world.kernel.now, state))
            self.world.events.put(self.world.alarm_event(state, previous))


class ParameterStore:
    def __init__(self, world: World) -> None:
        self.world = world
        self.values: dict[str, str] = {}
        self._busy_until: dict[str, float] = {}

    def _write(self, name: str, operation: str) -> None:
        now = self.world.kernel.now
        if self._busy_until.get(name, -1.0) > now:
            raise client_error(
                "TooManyUpdates",
                "There are concurrent updates for a resource that supports one update at a time.",
                operation,
            )
        self._busy_until[name] = now + figure("ssm.write_busy").draw(self.world.kernel.random)

    def get_parameters(self, Names: list[str], **_: Any) -> dict[str, Any]:
        found = [n for n in Names if n in self.values]
        return {
            "Parameters": [{"Name": n, "Value": self.values[n], "Type": "String"} for n in found],
            "InvalidParameters": [n for n in Names if n not in self.values],
        }

    def get_parameter(self, Name: str, **_: Any) -> dict[str, Any]:
        if Name not in self.values:
            raise client_error("ParameterNotFound", "", "GetParameter")
        return {"Parameter": {"Name": Name, "Value": self.values[Name], "Type": "String"}}

    def put_parameter(self, Name: str, Value: str, Overwrite: bool = False, **_: Any) -> dict[str, Any]:
        if not Overwrite and (
            Name in self.values or self._busy_until.get(Name, -1.0) > self.world.kernel.now
        ):
            # The conditional create: concurrent creators lose with ParameterAlreadyExists (assumed;
            # only overwrites and deletes are modelled to collide with TooManyUpdates).
            raise client_error("ParameterAlreadyExists", "The parameter already exists.", "PutParameter")
        self._write(Name, "PutParameter")
        self.values[Name] = Value
        return {"Version": 1, "Tier": "Standard"}

    def delete_parameter(self, Name: str, **_: Any) -> dict[str, Any]:
        self._write(Name, "DeleteParameter")
        if self.values.pop(Name, None) is None:
            raise client_error("ParameterNotFound", "", "DeleteParameter")
        return {}

    def delete_parameters(self, Names: list[str], **_: Any) -> dict[str, Any]:
        deleted = [n for n in Names if self.values.pop(n, None) is not None]
        return {"DeletedParameters": deleted, "InvalidParameters": [n for n in Names if n not in deleted]}


class Secrets:
    def get_secret_value(self, SecretId: str, **_: Any) -> dict[str, Any]:
        return {"SecretString": KEEPALIVE_TOKEN}


# --- the world ------------------------------------------------------------------------------------


class World:
    """One simulated staging environment of CityGuided."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.kernel = Kernel(self.config.seed)
        self.region = REGION
        self.destroyed = False
        self.ledger = ApiLedger()
        self.throttler = Throttler(self.kernel, self.config.api_quota_multiplier)
        self.log_lines: list[str] = []
        self.notes: dict[str, int] = defaultdict(int)
        self.task_events: list[tuple[float, str, str]] = []
        self.alb = LoadBalancer(self)
        self.cloud_map = CloudMap(self)
        self.http_api = HttpApi(self)
        self.ecs = Ecs(self)
        self.ssm = ParameterStore(self)
        self.cloudwatch = CloudWatch(self)
        self.secrets = Secrets()
        self.settings = self._settings()
        self.function = LambdaFunction(self)
        self.events = EventBus(self)
        if self.config.reconcile_schedule:
            first = self.kernel.random.uniform(0.0, 60.0)
            self.kernel.every(60.0, lambda: self.events.put(self.scheduled_event()), first=first)
        if self.config.idle_alarm:
            self.kernel.every(figure("cloudwatch.alarm_period").value, self.cloudwatch.evaluate_alarm)

    @property
    def front(self) -> LoadBalancer | HttpApi:
        """Where client requests arrive: the ALB listener or the HTTP API."""
        return self.http_api if self.config.http_api else self.alb

    def service_healthy(self, task: Task) -> bool:
        """Healthy as the front door sees it (ECS's rolling deploy waits for it)."""
        if self.config.http_api:
            return self.cloud_map.is_healthy(task)
        return self.alb.is_healthy(task.ip)

    def _settings(self) -> Settings:
        if self.config.http_api:
            return Settings(
                app="cityguided",
                env="staging",
                cluster=CLUSTER,
                service=SERVICE,
                parameter_prefix=PREFIX,
                policy=self.config.policy,
                keepalive_secret_arn=SECRET_ARN,
                idle_alarm_name=ALARM_NAME,
                front_door=FRONT_DOOR_HTTP_API,
                api_id=API_ID,
                api_stage=API_STAGE,
                service_integration_id=SERVICE_INTEGRATION_ID,
                warm_route_keys=WARM_ROUTE_KEYS,
                vpc_link_id=VPC_LINK_ID,
                cloud_map_namespace=CLOUD_MAP_NAMESPACE,
                cloud_map_service_name=CLOUD_MAP_SERVICE,
            )
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

    # events ---------------------------------------------------------------------------------------

    def _event(
        self, detail_type: str, source: str, detail: dict[str, Any], resources: list[str]
    ) -> dict[str, Any]:
        return {
            "version": "0",
            "id": f"sim-{self.kernel.now:.3f}-{detail_type}",
            "detail-type": detail_type,
            "source": source,
            "account": ACCOUNT,
            "time": self.kernel.datetime().astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": REGION,
            "resources": resources,
            "detail": detail,
        }

    def scheduled_event(self) -> dict[str, Any]:
        return self._event(
            "Scheduled Event", "aws.events", {}, [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/reconcile"]
        )

    def alarm_event(self, state: str, previous: str) -> dict[str, Any]:
        return self._event(
            "CloudWatch Alarm State Change",
            "aws.cloudwatch",
            {
                "alarmName": ALARM_NAME,
                "state": {
                    "value": state,
                    "reason": "simulated",
                    "timestamp": self.kernel.datetime().isoformat(),
                },
                "previousState": {"value": previous},
            },
            [f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{ALARM_NAME}"],
        )

    def task_state_change(self, task: Task) -> None:
        self.task_events.append((self.kernel.now, task.ip, f"{task.last_status}/{task.desired_status}"))
        detail = {
            "clusterArn": f"arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}",
            "group": f"service:{SERVICE}",
            "taskArn": task.arn,
            "lastStatus": task.last_status,
            "desiredStatus": task.desired_status,
            "stoppedReason": task.stopped_reason,
            "capacityProviderName": task.capacity_provider,
        }
        self.events.put(self._event("ECS Task State Change", "aws.ecs", detail, [task.arn]))

    # operations on the environment ----------------------------------------------------------------

    def deploy(self) -> None:
        """A release: a new task definition revision, rolled out by ECS (desired count unchanged)."""
        self.ecs.update_service(CLUSTER, SERVICE, forceNewDeployment=True)

    def replace_service_target_group(self) -> str:
        """A stack update that replaces the service's target group (an entry port change)."""
        index = len([g for g in self.alb.groups.values() if g.kind == "ip"]) + 1
        new = TargetGroup(self.alb._tg_arn(f"service-{index}"), "ip")
        old = self.alb.service_tg
        self.alb.groups[new.arn] = new
        self.alb.service_tg = new
        for rule in self.alb.rules.values():  # the CloudFormation-owned anchor follows the stack
            if (
                any(a.get("TargetGroupArn") == old.arn for a in rule.actions)
                and rule.priority != WARM_RULE_PRIORITY
            ):
                rule.actions = [{"Type": "forward", "TargetGroupArn": new.arn}]
        self.alb._changed()
        for task in self.ecs.live():
            self.alb.deregister(task.ip)
            if task.last_status == "RUNNING":
                self.alb.register(task, new)
        self.settings = self._settings()
        self.function.recycle()
        return new.arn

    def destroy_stack(self) -> list[str]:
        """`cdk destroy`: what CloudFormation could not delete (a target group a rule still uses)."""
        self.ecs.desired = 0
        for task in self.ecs.live():
            self.ecs.stop(task, "stack deleted")
        stack_owned = {"waker-paths", "service-anchor", "waker-default"}
        for arn, rule in list(self.alb.rules.items()):
            if any(t.get("Value") in stack_owned for t in rule.tags):
                del self.alb.rules[arn]
        self.alb._changed()
        failed = []
        for group in list(self.alb.groups.values()):
            in_use = any(_forward_target(rule) == group.arn for rule in self.alb.rules.values())
            if in_use:
                failed.append(f"{group.arn}: ResourceInUse (a listener rule forwards to it)")
            else:
                del self.alb.groups[group.arn]
        return failed
