"""The twin's own counters (``GET /_warmkeeper/twin``): typed, then written as JSON.

Not part of the shared status report: tests and benchmarks read them (wakes, tasks started, held
requests, the edge's requests per route, ports, pids, revision, the last deploy and the last
failure with its output), so the JSON keys are a contract. Each class names its fields as the JSON
does, and :meth:`TwinDetails.to_json` writes them in this order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from warmkeeper.local.edge import Edge
from warmkeeper.local.supervisor import LocalTask, TaskFailure

# How much of a failed container's output the counters carry.
FAILURE_TAIL_LINES = 20


@dataclass(frozen=True)
class EdgeRequests:
    service: int
    waker: int
    control: int
    service_5xx: int


@dataclass(frozen=True)
class EdgeDetails:
    pid: int | None
    admin_socket: str | None
    routing: str
    service_ports: list[int]
    switches: int
    requests: EdgeRequests

    @classmethod
    def of(cls, edge: Edge) -> EdgeDetails:
        counters = edge.counters
        return cls(
            pid=edge.pid,
            admin_socket=None if edge.admin_socket is None else str(edge.admin_socket),
            routing=edge.routing.value,
            service_ports=list(edge.service_ports),
            switches=edge.switches,
            requests=EdgeRequests(
                service=counters.service,
                waker=counters.waker,
                control=counters.control,
                service_5xx=counters.service_5xx,
            ),
        )


@dataclass(frozen=True)
class TaskDetails:
    id: str
    phase: str
    revision: int
    version: str
    in_service: bool
    ports: dict[str, int]
    pids: dict[str, int]
    pgid: int | None
    boot_seconds: float | None

    @classmethod
    def of(cls, task: LocalTask) -> TaskDetails:
        return cls(
            id=task.task_id,
            phase=task.phase.value,
            revision=task.revision,
            version=task.version,
            in_service=task.in_service,
            ports=dict(task.ports),
            pids=task.pids,
            pgid=task.pgid,
            boot_seconds=task.boot_seconds,
        )


@dataclass(frozen=True)
class FailureDetails:
    task: str
    container: str
    reason: str
    output_tail: list[str]
    at: str  # ISO 8601

    @classmethod
    def of(cls, failure: TaskFailure) -> FailureDetails:
        return cls(
            task=failure.task_id,
            container=failure.container,
            reason=failure.reason,
            output_tail=failure.output_tail[-FAILURE_TAIL_LINES:],
            at=failure.at.isoformat(),
        )


@dataclass(frozen=True)
class TwinDetails:
    pid: int
    url: str
    state: str
    idle_seconds: float
    min_warm_seconds: float
    wakes: int
    sleeps: int
    held_requests: int
    wake_seconds: list[float]
    tasks_started: int
    attempts_this_wake: int
    max_attempts: int
    gave_up: bool
    problems: list[str]
    last_failure: FailureDetails | None
    revision: int
    version: str
    deployment_in_progress: bool
    deploy: dict[str, Any] | None  # the latest deploy's record (DeployRun.to_json), without its events
    edge: EdgeDetails
    waker_port: int
    tasks: list[TaskDetails]
    # The port of the internal wakes (WARMKEEPER_WAKER), when the app has internal services.
    internal_waker_port: int | None = None
    # Each internal service (TwinInternalService.status().to_json()): its state, address, tasks, counters.
    services: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
