"""What `warmkeeper status / wake / sleep / keepalive` need from a running environment.

Two implementations share this protocol: one drives AWS through boto3 (``warmkeeper.aws``), one
drives the local twin over HTTP (``warmkeeper.local``). The CLI talks to the protocol only, so the
commands behave the same against both. Standard library only: the Lambda bundle imports this.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    health: str  # "healthy", "unhealthy", "starting", "stopping"
    started_at: datetime | None = None
    version: str | None = None  # image tag/digest on AWS, the task's generation locally


@dataclass(frozen=True)
class StatusReport:
    """One observation of an environment, readable by people and (as JSON) by scripts."""

    app: str
    env: str
    state: str  # COLD, WAKING, WARM, DRAINING (or ALWAYS_ON when scale-to-zero is off)
    routing: str  # "waker" or "service"
    desired: int
    running: int
    healthy: int
    scale_to_zero: bool
    tasks: list[TaskStatus] = field(default_factory=list)
    last_wake_at: datetime | None = None
    last_wake_seconds: float | None = None  # from the wake request to the first healthy target
    lease_until: datetime | None = None
    last_activity_at: datetime | None = None
    minutes_until_sleep: float | None = None
    deployment_in_progress: bool = False
    url: str | None = None
    problems: list[str] = field(default_factory=list)  # e.g. a wake that never became healthy

    def to_json_dict(self) -> dict[str, Any]:
        def convert(value: Any) -> Any:
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, list):
                return [convert(v) for v in value]
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            return value

        result: dict[str, Any] = convert(asdict(self))
        return result

    def to_json(self) -> str:
        return json.dumps(self.to_json_dict(), indent=2, sort_keys=True)


class ServiceControl(Protocol):
    """Operations on one running environment (AWS or the local twin)."""

    def status(self) -> StatusReport: ...

    def wake(self) -> str:
        """Ask for one task if there is none (idempotent); return a one-line account."""
        ...

    def sleep(self, force: bool = False) -> str:
        """Route to the waker, then scale to zero. Without force the sleep guards apply."""
        ...

    def keepalive(self, minutes: int) -> str:
        """Wake if needed and hold warm for `minutes` (a lease)."""
        ...
