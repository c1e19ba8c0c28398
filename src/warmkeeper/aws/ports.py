"""What the engine uses of its adapters, as Protocols: the boto3 adapters of
:mod:`warmkeeper.aws.adapters` implement them against AWS (tested with moto), and in-memory fakes
implement them in tests that need no AWS at all. The values exchanged are the adapters' plain
dataclasses (``ServiceState``, ``TargetHealth``, ``StoredState``, ``WakeLock``, ``LastWake``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from warmkeeper.aws.adapters import LastWake, ServiceState, StoredState, TargetHealth, WakeLock
from warmkeeper.aws.http_api_routing import CloudMapInstance, FrontDoorCheck
from warmkeeper.core import Routing, TaskStatus
from warmkeeper.core.activity import ActivityReport


class ServicePort(Protocol):
    """The one ECS service."""

    def describe(self) -> ServiceState: ...

    def set_desired(self, count: int) -> None: ...

    def tasks(self, healthy_ips: frozenset[str] = frozenset()) -> list[TaskStatus]: ...


class RoutingPort(Protocol):
    """Healthy targets and the warm route: a load balancer's target group and listener rule
    (:class:`~warmkeeper.aws.adapters.LoadBalancerRouting`), or Cloud Map's healthy instances and an
    HTTP API's warm routes (:class:`~warmkeeper.aws.http_api_routing.HttpApiRouting`)."""

    def target_health(self) -> TargetHealth: ...

    def routing(self) -> Routing: ...

    def route_to_service(self) -> bool:
        """Create the warm route; False when it already existed."""
        ...

    def route_to_waker(self) -> bool:
        """Delete the warm route; False when there was none."""
        ...


class StatePort(Protocol):
    """The small state: wake lock (compare-and-set), lease, last wake, the beacon's activity."""

    def read(self) -> StoredState: ...

    def take_wake_lock(self, lock: WakeLock) -> bool:
        """True for the one caller that created the lock, False for everybody else."""
        ...

    def update_wake_lock(self, lock: WakeLock) -> None: ...

    def clear_wake_lock(self) -> bool: ...

    def put_lease(self, until: datetime) -> None: ...

    def clear_lease(self) -> None: ...

    def put_last_wake(self, record: LastWake) -> None: ...

    def record_activity(self, report: ActivityReport) -> ActivityReport:
        """Merge a beacon report into the stored one; returns what is stored."""
        ...


class MetricsPort(Protocol):
    """Our metrics out, the service's request activity in."""

    def put(self, name: str, value: float, unit: str = "Count") -> None: ...

    def last_activity(
        self, now: datetime, lookback_minutes: float, *, margin_seconds: float = ...
    ) -> datetime | None: ...


class SecretPort(Protocol):
    """The keep-alive token (None when there is none: nobody passes)."""

    def token(self) -> str | None: ...


class FrontDoorPort(Protocol):
    """What a front door shows beside the warm route (the HTTP API's VPC link state, Cloud Map's
    instances); a load balancer has nothing more to show and passes none."""

    def check(self) -> FrontDoorCheck: ...

    def link_available(self) -> bool:
        """Whether requests can reach the tasks through the front door's link (False: it is being
        re-created, and a probe route is ready to carry the request that starts it)."""
        ...


class ReadinessPort(Protocol):
    """Tasks found through Cloud Map: whether each is ready by its container's health (ECS), and the
    waker's own registrations of ready tasks (see
    :class:`~warmkeeper.aws.http_api_routing.CloudMapReadiness`). A load balancer's own health
    checks make this unnecessary: it passes none."""

    def instances(self) -> list[CloudMapInstance]: ...

    def container_healthy(self, task_ids: list[str]) -> frozenset[str]: ...

    def register(self, task_id: str, ip: str, port: str) -> bool: ...

    def deregister_own(self, keep_ips: frozenset[str]) -> int: ...
