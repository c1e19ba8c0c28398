"""What the simulated front doors have in common: the answer a client gets, where its requests
arrive (:class:`SimFrontDoor`: the ALB listener or the HTTP API) and how ECS's tasks are found
(:class:`SimDiscovery`: a target group or Cloud Map). The World picks one of each from the front
door's description (:func:`warmkeeper.core.front_doors.front_door`); the other services call them
without knowing which."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from warmkeeper_sim.ecs import Task


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]
    body: str
    source: str  # "app", "waker", "alb" or "apigw"


class SimFrontDoor(Protocol):
    """Where client requests arrive."""

    # Requests the service answered, per minute (what the request metric and the idle alarm count).
    app_requests_by_minute: dict[int, int]

    @property
    def healthy_since(self) -> list[float]:
        """Each time the service went from no healthy task to one, as this front door sees it."""
        ...

    def handle(self, method: str, path: str, headers: dict[str, str]) -> Response:
        """One client request (runs in the client's process)."""
        ...

    def waker_back_at(self, since: float) -> float | None:
        """When the data plane first sees no warm route after ``since`` (None: never)."""
        ...


class SimDiscovery(Protocol):
    """How the front door finds the service's tasks: ECS registers and deregisters them here."""

    def register(self, task: Task) -> None:
        """The task is ACTIVATING: ECS registers it (not healthy yet)."""
        ...

    def container_healthy(self, task: Task) -> None:
        """The task's container passed its own health check."""
        ...

    def task_healthy(self, task: Task) -> bool:
        """Healthy as the front door sees it (ECS's rolling deploy waits for it)."""
        ...

    def release(self, task: Task, *, spot_interruption: bool, bounded: Callable[[float], float]) -> None:
        """From ECS's decision to stop the task to its SIGTERM (runs in the task's stop process);
        ``bounded`` cuts a wait short at the end of a Spot notice."""
        ...
