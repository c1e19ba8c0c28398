"""Simulated Elastic Load Balancing: one ALB listener with its rules (changes reach the data plane
after a propagation delay) and target groups (health checks, deregistration delay), the waker's
Lambda target group behind the default rules. The front door and the task discovery of the
``load_balancer`` and ``cloudfront`` front doors (listener rules, target groups)."""

from __future__ import annotations

import fnmatch
import itertools
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from warmkeeper.naming import WARM_RULE_PRIORITY
from warmkeeper_sim import beacon
from warmkeeper_sim.control_plane import client_error
from warmkeeper_sim.figures import figure
from warmkeeper_sim.front import Response
from warmkeeper_sim.identifiers import ACCOUNT, LISTENER_ARN, REGION

if TYPE_CHECKING:
    from warmkeeper_sim.ecs import Task
    from warmkeeper_sim.kernel import Process
    from warmkeeper_sim.world import World


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

    def waker_back_at(self, since: float) -> float | None:
        """When the data plane first sees no warm rule forwarding to the service after ``since``."""
        service = self.service_tg.arn
        for when, rules in self._effective:
            if when > since and not any(
                rule.priority == WARM_RULE_PRIORITY and _forward_target(rule) == service for rule in rules
            ):
                return when
        return None

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
            # A new target (initial) is healthy at its first pass; an unhealthy one after the threshold.
            needed = figure(
                "alb.initial_healthy_checks" if target.state == "initial" else "alb.healthy_threshold"
            ).value
            if target.state != "healthy" and target.passes >= needed:
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

    # the stack changes ----------------------------------------------------------------------------

    def replace_service_target_group(self, tasks: list[Task]) -> str:
        """A stack update that replaces the service's target group: ``tasks`` (the live ones) move to
        the new group. Returns its ARN."""
        index = len([g for g in self.groups.values() if g.kind == "ip"]) + 1
        new = TargetGroup(self._tg_arn(f"service-{index}"), "ip")
        old = self.service_tg
        self.groups[new.arn] = new
        self.service_tg = new
        for rule in self.rules.values():  # the CloudFormation-owned anchor follows the stack
            if (
                any(a.get("TargetGroupArn") == old.arn for a in rule.actions)
                and rule.priority != WARM_RULE_PRIORITY
            ):
                rule.actions = [{"Type": "forward", "TargetGroupArn": new.arn}]
        self._changed()
        for task in tasks:
            self.deregister(task.ip)
            if task.last_status == "RUNNING":
                self.register(task, new)
        return new.arn

    def delete_stack_resources(self) -> list[str]:
        """CloudFormation deletes its rules, then the target groups: what it could not delete (a
        target group a rule still uses)."""
        stack_owned = {"waker-paths", "service-anchor", "waker-default"}
        for arn, rule in list(self.rules.items()):
            if any(t.get("Value") in stack_owned for t in rule.tags):
                del self.rules[arn]
        self._changed()
        failed = []
        for group in list(self.groups.values()):
            in_use = any(_forward_target(rule) == group.arn for rule in self.rules.values())
            if in_use:
                failed.append(f"{group.arn}: ResourceInUse (a listener rule forwards to it)")
            else:
                del self.groups[group.arn]
        return failed

    # the task discovery (ECS's side) --------------------------------------------------------------

    def container_healthy(self, task: Task) -> None:
        """Nothing to report: the load balancer checks the target's health itself."""

    def task_healthy(self, task: Task) -> bool:
        return self.is_healthy(task.ip)

    def release(self, task: Task, *, spot_interruption: bool, bounded: Callable[[float], float]) -> None:
        # ECS deregisters the task first and sends SIGTERM once its target has drained: on a
        # scale-in or a deploy, and since 2023 on a Spot interruption too, where the target starts
        # draining at the notice (spot.deregistration_after_notice) and SIGTERM follows after the
        # deregistration delay, within the notice.
        kernel = self.world.kernel
        if spot_interruption:
            kernel.sleep(figure("spot.deregistration_after_notice").value)
        drained = self.deregister(task.ip)
        if drained is not None:
            kernel.wait(drained, bounded(figure("alb.deregistration_delay").value + 1))

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
            beacon.served(target.task, kernel.now)
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
