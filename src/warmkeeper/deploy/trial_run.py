"""A deploy to a sleeping environment is verified: the new revision runs once before anyone wakes it.

A cold service (desired 0) takes a new task definition without starting a task, so a broken revision
(an image that exits, a health check that never passes) would meet the next visitor. Instead, once
`cdk deploy` finished, one task of the new revision is started on its own (RunTask, with the
service's network configuration and capacity provider; a standalone task is not registered with the
service's load balancer or Cloud Map, so no visitor reaches it) and must pass the health checks its
task definition declares. Then it is stopped and the environment sleeps again. A revision that
fails is taken out of service: the service is set back to the task definition it had before the
deploy (UpdateService, still at desired 0), and the deploy exits non-zero.

A task definition without any health command cannot be judged by ECS: the task must then stay
RUNNING for the entry container's start period plus :data:`UNCHECKED_RUN_SECONDS`, and the result
says it was only that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console

# Without a health command, how long the task must stay running (after the start period) to pass.
UNCHECKED_RUN_SECONDS = 30.0
STARTED_BY = "warmkeeper-verify"


@dataclass(frozen=True)
class TrialResult:
    passed: bool
    message: str
    seconds: (
        float  # how long the trial task existed: its billed time (modelled: docs/technical/deployment.md)
    )


def _container_reasons(task: Mapping[str, Any]) -> str:
    parts = []
    for container in task.get("containers", []):
        bits = []
        if container.get("exitCode") is not None:
            bits.append(f"exit code {container['exitCode']}")
        if container.get("reason"):
            bits.append(str(container["reason"]))
        if container.get("healthStatus") == "UNHEALTHY":
            bits.append("unhealthy")
        if bits:
            parts.append(f"{container.get('name', '?')}: {', '.join(bits)}")
    return "; ".join(parts)


class TrialRun:
    """Start one task of a revision, wait for its verdict, stop it; revert the service on failure."""

    def __init__(
        self,
        ecs: Any,
        *,
        cluster: str,
        service: str,
        console: Console,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        timeout_seconds: float,
        poll_seconds: float = 5.0,
    ) -> None:
        self.ecs = ecs
        self.cluster = cluster
        self.service = service
        self.console = console
        self.clock = clock
        self.sleep = sleep
        self.timeout_seconds = timeout_seconds
        self.poll_seconds = poll_seconds

    def _say(self, text: str) -> None:
        self.console.print(f"verify  {text}", markup=False, highlight=False)

    def _run_arguments(self, task_definition: str) -> dict[str, Any]:
        (service,) = self.ecs.describe_services(cluster=self.cluster, services=[self.service])["services"]
        arguments: dict[str, Any] = {
            "cluster": self.cluster,
            "taskDefinition": task_definition,
            "count": 1,
            "startedBy": STARTED_BY,
        }
        if service.get("networkConfiguration"):
            arguments["networkConfiguration"] = service["networkConfiguration"]
        if service.get("capacityProviderStrategy"):
            arguments["capacityProviderStrategy"] = service["capacityProviderStrategy"]
        else:
            arguments["launchType"] = service.get("launchType") or "FARGATE"
        if service.get("platformVersion"):
            arguments["platformVersion"] = service["platformVersion"]
        return arguments

    def _health_checked(self, task_definition: str) -> tuple[bool, float]:
        """Whether an essential container has a health command; the longest start period."""
        definition = self.ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
        checks = [
            c["healthCheck"]
            for c in definition.get("containerDefinitions", [])
            if c.get("healthCheck") and c.get("essential", True)
        ]
        start = max((float(check.get("startPeriod", 0)) for check in checks), default=0.0)
        return bool(checks), start

    def verify(self, task_definition: str, previous: str | None) -> TrialResult:
        """Run `task_definition` once; on failure set the service back to `previous`."""
        revision = task_definition.rsplit("/", 1)[-1]
        checked, start_period = self._health_checked(task_definition)
        self._say(f"starting one task of {revision} to check it before the next wake does")
        started = self.clock()
        try:
            response = self.ecs.run_task(**self._run_arguments(task_definition))
        except ClientError as exc:
            # Not the revision's failure (permissions: ecs:RunTask and iam:PassRole on the task's
            # roles; a throttle): the revision stays, unchecked, and the deploy says what to do.
            error = exc.response.get("Error", {})
            message = (
                f"could not start a task of {revision} to check it ({error.get('Code', 'error')}: "
                f"{error.get('Message', exc)}); {revision} is in place but NOT checked: grant ecs:RunTask "
                "and iam:PassRole on the task's roles, or deploy with --no-verify"
            )
            self._say(message)
            return TrialResult(False, message, 0.0)
        failures: Sequence[Mapping[str, Any]] = response.get("failures", [])
        if not response.get("tasks"):
            reason = "; ".join(f"{f.get('arn', '')} {f.get('reason', '')}".strip() for f in failures)
            return self._failed(
                f"ECS did not start a task of {revision}: {reason or 'no reason given'}", previous, 0.0
            )
        task_arn = response["tasks"][0]["taskArn"]
        verdict: str | None = None
        passed = False
        running_since: float | None = None
        try:
            while True:
                (task,) = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn])["tasks"]
                status, health = task.get("lastStatus"), task.get("healthStatus", "UNKNOWN")
                if status == "STOPPED":
                    details = _container_reasons(task)
                    verdict = (
                        f"the task of {revision} stopped before it was healthy: "
                        f"{task.get('stoppedReason') or 'no reason given'}"
                        + (f" ({details})" if details else "")
                    )
                    break
                if checked and health == "HEALTHY":
                    passed, verdict = True, f"{revision} started and passed its health checks"
                    break
                if checked and health == "UNHEALTHY":
                    reasons = _container_reasons(task) or "health check failed"
                    verdict = f"the task of {revision} is unhealthy: {reasons}"
                    break
                if not checked and status == "RUNNING":
                    running_since = running_since if running_since is not None else self.clock()
                    if self.clock() - running_since >= start_period + UNCHECKED_RUN_SECONDS:
                        passed = True
                        verdict = (
                            f"{revision} ran {start_period + UNCHECKED_RUN_SECONDS:.0f} s without stopping "
                            "(no health command in the task definition: nothing more could be checked)"
                        )
                        break
                elapsed = self.clock() - started
                if elapsed >= self.timeout_seconds:
                    verdict = (
                        f"the task of {revision} was not healthy within {self.timeout_seconds:.0f} s "
                        f"(last status {status}, health {health})"
                    )
                    break
                self.sleep(min(self.poll_seconds, self.timeout_seconds - elapsed))
        finally:
            # Whatever happened, the trial task does not outlive the check: the environment sleeps.
            self.ecs.stop_task(cluster=self.cluster, task=task_arn, reason="warmkeeper: deploy check done")
        seconds = self.clock() - started
        if passed:
            self._say(f"{verdict}; stopped it, the environment sleeps again")
            return TrialResult(True, verdict, seconds)
        return self._failed(verdict or f"{revision} failed its check", previous, seconds)

    def _failed(self, reason: str, previous: str | None, seconds: float) -> TrialResult:
        self._say(f"FAILED: {reason}")
        if previous is None:
            return TrialResult(
                False,
                f"{reason}; there is no earlier revision to keep (first deploy): the service stays at zero "
                "tasks with this one, fix it and deploy again",
                seconds,
            )
        self.ecs.update_service(cluster=self.cluster, service=self.service, taskDefinition=previous)
        kept = previous.rsplit("/", 1)[-1]
        self._say(f"the service is back on {kept}: the next wake runs it")
        return TrialResult(
            False,
            f"{reason}; the service is back on {kept} (the stack's template names the new revision "
            "until the next deploy)",
            seconds,
        )
