"""Simulated ECS: one service on Fargate (Spot), its scheduler, and each task's life from
PROVISIONING to STOPPED. Where a task is registered, found healthy and drained is the front door's
discovery (:class:`~warmkeeper_sim.front.SimDiscovery`: a target group or Cloud Map)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warmkeeper_sim import beacon
from warmkeeper_sim.figures import figure, image_pull_seconds
from warmkeeper_sim.identifiers import ACCOUNT, CLUSTER, REGION, SERVICE, TASK_DEFINITION_ARN

if TYPE_CHECKING:
    from warmkeeper_sim.world import World


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
    last_request: float | None = None  # when its Caddy last answered a request (its access log)


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
        # By ARN or by task id, as ECS accepts both.
        found = [t for t in self.tasks if t.arn in tasks or t.arn.rsplit("/", 1)[-1] in tasks]
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
        healthy_current = sum(1 for t in current if self.world.discovery.task_healthy(t))
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
        self.world.discovery.register(task)
        task.last_status = "RUNNING"
        task.started_at = kernel.now
        self.world.task_state_change(task)
        # The container health check runs every interval from the container's start (the first one
        # interval after it); the first success marks the container healthy, inside the start period
        # too (the start period only forgives failures). The task is healthy once every container
        # with a check is.
        interval = figure("ecs.container_health_interval").value

        config = self.world.config
        # A run of the check may wait for the app within its timeout (the example's commands retry
        # for a few seconds): it passes when the app answers, not at the next run.
        wait = config.health_check_wait_seconds

        def first_pass(started: float, ready: float) -> float:
            runs = max(1, math.ceil((ready - started - wait) / interval - 1e-9))
            return max(started + interval * runs, ready)

        entry_started = task.started_at
        ticks: list[float] = []
        if config.entry_waits_for_healthy:
            # The entry container depends on others being HEALTHY: ECS starts it only once each of
            # them passed a health check ("validates that the dependent container passes its Docker
            # health check before permitting other containers to start", ContainerDependency).
            boots = [figure("fargate.app_boot").draw(rng) for _ in range(config.entry_waits_for_healthy)]
            ticks = [first_pass(task.started_at, task.started_at + boot) for boot in boots]
            entry_started = max(ticks)
        # Started with the entry (a START dependency): they boot alongside it, and the entry's check
        # (its /healthz proxies to them) passes only once the slowest of them answers.
        alongside = [
            task.started_at + figure("fargate.app_boot").draw(rng) for _ in range(config.entry_starts_with)
        ]
        ticks += [first_pass(task.started_at, ready) for ready in alongside]
        if config.entry_waits_for_healthy or config.entry_starts_with:
            entry_listens = entry_started + figure("fargate.entry_boot").draw(rng)
        else:
            entry_listens = entry_started + figure("fargate.app_boot").draw(rng)
        serving_at = max([entry_listens, *alongside])
        healthy_at = max([first_pass(entry_started, serving_at), *ticks])
        kernel.sleep(max(0.0, serving_at - kernel.now))
        if task.desired_status == "RUNNING":
            task.serving = True
            kernel.at(max(0.0, healthy_at - kernel.now), lambda: self._container_healthy(task))
            if config.activity_beacon:
                kernel.spawn(lambda: beacon.run(self.world, task), name="beacon")
        return None

    def _container_healthy(self, task: Task) -> None:
        if task.serving:
            task.health_status = "HEALTHY"
            self.world.discovery.container_healthy(task)

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
        self.world.discovery.release(task, spot_interruption=spot_interruption, bounded=bounded)
        # SIGTERM (once a target has drained) or the end of the drain window (Cloud Map): the entry
        # container stops accepting and finishes what it holds.
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
