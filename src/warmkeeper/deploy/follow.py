"""Follow a deploy until it is done: `cdk deploy` running, CloudFormation, and the ECS rollout.

One observation per tick (stack status, the service's deployments, counts and newest events),
one printed line per change, and a verdict from pure rules:

- failed: a deployment created by this deploy reached rolloutState FAILED (the circuit breaker
  rolled it back), or the stack went to a ROLLBACK/FAILED state after this deploy touched it, or
  `cdk deploy` exited non-zero. The first reason seen is the one reported.
- done: `cdk deploy` exited 0 and either the service is cold (desired 0: nothing to roll, no task
  is waited for), or the service's task definition did not change, or the new PRIMARY deployment
  is COMPLETED with all desired tasks running.
- timed out: the bound passed first; the CDK CLI is stopped (CloudFormation goes on in AWS).

The clock and sleep are injected so tests run the loop in microseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from rich.console import Console

from warmkeeper.aws.stack_outputs import StackInfo, describe_stack, first_failure_reason
from warmkeeper.core.errors import ExitCode
from warmkeeper.deploy.cdk import CdkProcess
from warmkeeper.naming import OUTPUT_CLUSTER, OUTPUT_SERVICE

if TYPE_CHECKING:
    from warmkeeper.aws.clients import AwsClients


class DeployOutcome(StrEnum):
    ROLLED = "rolled"  # a warm service now runs the new version
    COLD = "cold"  # desired 0: the task definition changed, no task started
    UNCHANGED = "unchanged"  # the service's task definition did not change
    FAILED = "failed"
    TIMED_OUT = "timed out"


EXIT_CODES: Mapping[DeployOutcome, ExitCode] = {
    DeployOutcome.ROLLED: ExitCode.OK,
    DeployOutcome.COLD: ExitCode.OK,
    DeployOutcome.UNCHANGED: ExitCode.OK,
    DeployOutcome.FAILED: ExitCode.FAILED,
    DeployOutcome.TIMED_OUT: ExitCode.TIMED_OUT,
}


@dataclass(frozen=True)
class Deployment:
    id: str
    status: str  # PRIMARY, ACTIVE, INACTIVE
    rollout_state: str  # IN_PROGRESS, COMPLETED, FAILED
    reason: str
    task_definition: str
    desired: int
    running: int
    pending: int
    failed_tasks: int

    @property
    def label(self) -> str:
        revision = self.task_definition.rsplit("/", 1)[-1]
        return f"{self.id.rsplit('/', 1)[-1]} ({revision})"


@dataclass(frozen=True)
class ServiceEvent:
    id: str
    message: str


@dataclass(frozen=True)
class DeployServiceState:
    desired: int
    running: int
    pending: int
    deployments: tuple[Deployment, ...]
    events: tuple[ServiceEvent, ...]  # newest first, as ECS returns them

    @property
    def primary(self) -> Deployment | None:
        return next((d for d in self.deployments if d.status == "PRIMARY"), None)


@dataclass(frozen=True)
class DeployObservation:
    stack: StackInfo | None
    service: DeployServiceState | None

    @property
    def deployment_ids(self) -> frozenset[str]:
        return frozenset(d.id for d in self.service.deployments) if self.service else frozenset()

    @property
    def event_ids(self) -> frozenset[str]:
        return frozenset(e.id for e in self.service.events) if self.service else frozenset()


def parse_service(raw: Mapping[str, Any]) -> DeployServiceState:
    deployments = tuple(
        Deployment(
            id=d["id"],
            status=d.get("status", "?"),
            rollout_state=d.get("rolloutState", "?"),
            reason=d.get("rolloutStateReason", ""),
            task_definition=d.get("taskDefinition", "?"),
            desired=d.get("desiredCount", 0),
            running=d.get("runningCount", 0),
            pending=d.get("pendingCount", 0),
            failed_tasks=d.get("failedTasks", 0),
        )
        for d in raw.get("deployments", [])
    )
    events = tuple(ServiceEvent(id=e["id"], message=e.get("message", "")) for e in raw.get("events", []))
    return DeployServiceState(
        desired=raw.get("desiredCount", 0),
        running=raw.get("runningCount", 0),
        pending=raw.get("pendingCount", 0),
        deployments=deployments,
        events=events,
    )


class Observer:
    """Reads the stack and (once its outputs name them) the ECS service."""

    def __init__(
        self, clients: AwsClients, stack_name: str, cluster: str | None = None, service: str | None = None
    ):
        self.clients = clients
        self.stack_name = stack_name
        self.cluster = cluster
        self.service = service

    def observe(self) -> DeployObservation:
        stack = describe_stack(self.clients.cloudformation, self.stack_name)
        if stack is not None and OUTPUT_CLUSTER in stack.outputs and OUTPUT_SERVICE in stack.outputs:
            self.cluster = stack.outputs[OUTPUT_CLUSTER]
            self.service = stack.outputs[OUTPUT_SERVICE]
        service = None
        if self.cluster and self.service:
            found = self.clients.ecs.describe_services(cluster=self.cluster, services=[self.service])
            services = [s for s in found.get("services", []) if s.get("status") != "INACTIVE"]
            if services:
                service = parse_service(services[0])
        return DeployObservation(stack=stack, service=service)

    def stack_failure_reason(self, since: datetime | None) -> str | None:
        return first_failure_reason(self.clients.cloudformation, self.stack_name, since)


# ---- pure rules -------------------------------------------------------------------------------


def new_deployments(baseline: DeployObservation, now: DeployObservation) -> list[Deployment]:
    """Deployments that did not exist before this deploy (ours, and ECS's rollback if any)."""
    if now.service is None:
        return []
    return [d for d in now.service.deployments if d.id not in baseline.deployment_ids]


def stack_touched(baseline: DeployObservation, now: DeployObservation) -> bool:
    """The stack changed since the deploy started (a stale UPDATE_ROLLBACK_COMPLETE is not ours)."""
    if now.stack is None:
        return False
    if baseline.stack is None:
        return True
    return (now.stack.status, now.stack.last_updated) != (baseline.stack.status, baseline.stack.last_updated)


def failure(baseline: DeployObservation, now: DeployObservation, touched: bool) -> str | None:
    """Why this deploy failed, if it visibly did (ECS first: its reason is the most precise)."""
    for deployment in new_deployments(baseline, now):
        if deployment.rollout_state == "FAILED":
            reason = deployment.reason or "no reason given"
            return f"ECS rolled back deployment {deployment.label}: {reason}"
    if touched and now.stack is not None and now.stack.rolled_back:
        reason = f": {now.stack.status_reason}" if now.stack.status_reason else ""
        return f"CloudFormation {now.stack.status}{reason}"
    return None


def settled(
    baseline: DeployObservation, now: DeployObservation, image_tag: str
) -> tuple[DeployOutcome, str] | None:
    """After `cdk deploy` exited 0: the verdict, or None while the rollout is still going."""
    service = now.service
    if service is None:
        return (
            DeployOutcome.FAILED,
            f"deployed, but the stack has no {OUTPUT_CLUSTER}/{OUTPUT_SERVICE} output: "
            "cannot check the service",
        )
    if service.desired == 0:
        return DeployOutcome.COLD, f"service is cold: nothing to roll, next wake runs {image_tag}"
    ours = next((d for d in new_deployments(baseline, now) if d.status == "PRIMARY"), None)
    if ours is None:
        primary = service.primary
        if (
            primary is not None
            and primary.id in baseline.deployment_ids
            and primary.rollout_state == "COMPLETED"
        ):
            return DeployOutcome.UNCHANGED, "the service's task definition did not change: nothing to roll"
        return None
    if ours.rollout_state == "COMPLETED" and service.running >= service.desired and service.pending == 0:
        return (
            DeployOutcome.ROLLED,
            f"deployment {ours.label} completed: {service.running}/{service.desired} task(s) run {image_tag}",
        )
    return None


def status_line(now: DeployObservation) -> str:
    parts = [f"stack {now.stack.status}" if now.stack else "stack not created yet"]
    if now.service is not None:
        primary = now.service.primary
        if primary is not None:
            parts.append(f"deployment {primary.label} {primary.rollout_state}")
        counts = (
            f"tasks running {now.service.running} pending {now.service.pending} desired {now.service.desired}"
        )
        parts.append(counts + (" (cold)" if now.service.desired == 0 else ""))
        failed = [d for d in now.service.deployments if d.failed_tasks]
        if failed:
            parts.append(f"failed tasks {sum(d.failed_tasks for d in failed)}")
    return " | ".join(parts)


# ---- the loop ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowResult:
    outcome: DeployOutcome
    message: str
    last_seen: str
    cdk_tail: Sequence[str] = field(default_factory=tuple)

    @property
    def exit_code(self) -> ExitCode:
        return EXIT_CODES[self.outcome]


@dataclass
class _Printer:
    console: Console
    clock: Callable[[], float]
    started: float

    def line(self, text: str, style: str | None = None) -> None:
        elapsed = self.clock() - self.started
        self.console.print(f"[{elapsed:5.0f}s] {text}", style=style, markup=False, highlight=False)


def follow(
    process: CdkProcess,
    observer: Observer,
    baseline: DeployObservation,
    *,
    image_tag: str,
    timeout_seconds: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    console: Console,
    poll_seconds: float = 5.0,
    started_at: datetime | None = None,
) -> FollowResult:
    """Watch until the deploy is done, failed, or `timeout_seconds` passed (see the module doc)."""
    start = clock()
    printer = _Printer(console, clock, start)
    seen_events = set(baseline.event_ids)
    touched = False
    first_failure: str | None = None
    last_line = status_line(baseline)
    tail: list[str] = []
    if baseline.service is not None and baseline.service.desired == 0:
        printer.line(
            "service is cold (desired 0): the deploy changes the task definition only, no task starts"
        )

    while True:
        for text in process.read_lines():
            if text.strip():
                tail = [*tail[-19:], text]
                printer.line(f"cdk  {text}", style="dim")
        exit_code = process.poll()
        now = observer.observe()
        touched = touched or stack_touched(baseline, now)

        if now.service is not None:
            fresh = [e for e in now.service.events if e.id not in seen_events]
            for event in reversed(fresh):  # ECS lists newest first; print in order of occurrence
                seen_events.add(event.id)
                printer.line(f"ecs  {event.message}")
        line = status_line(now)
        if line != last_line:
            printer.line(line)
            last_line = line

        reason = failure(baseline, now, touched)
        if reason and first_failure is None:
            first_failure = reason
            printer.line(f"FAILED: {reason}", style="bold red")
            if exit_code is None:
                printer.line("waiting for CloudFormation to finish rolling back...")

        if exit_code is not None:
            for text in process.read_lines():
                if text.strip():
                    tail = [*tail[-19:], text]
                    printer.line(f"cdk  {text}", style="dim")
            if first_failure is None and exit_code != 0:
                cause = observer.stack_failure_reason(started_at) or (tail[-1] if tail else "no output")
                first_failure = f"cdk deploy exited with code {exit_code}: {cause}"
            if first_failure is not None:
                final = now.stack.status if now.stack else "no stack"
                return FollowResult(
                    DeployOutcome.FAILED, f"{first_failure} (stack now {final})", line, tuple(tail)
                )
            verdict = settled(baseline, now, image_tag)
            if verdict is not None:
                return FollowResult(verdict[0], verdict[1], line, tuple(tail))

        remaining = timeout_seconds - (clock() - start)
        if remaining <= 0:
            process.terminate()
            where = "the CloudFormation operation goes on in AWS; the CDK CLI was stopped"
            if first_failure is not None:
                return FollowResult(
                    DeployOutcome.FAILED,
                    f"{first_failure}; timed out after {timeout_seconds:.0f} s waiting for the rollback "
                    f"({where})",
                    line,
                    tuple(tail),
                )
            return FollowResult(
                DeployOutcome.TIMED_OUT,
                f"timed out after {timeout_seconds:.0f} s; last seen: {line}; {where}",
                line,
                tuple(tail),
            )
        sleep(min(poll_seconds, remaining))
