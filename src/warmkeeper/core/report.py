"""The status of an environment, built the same way on AWS and in the local twin.

``GET /_warmkeeper/status`` (Lambda and twin waker) and ``warmkeeper status`` both answer a
:class:`StatusReport` made by :func:`status_report`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from warmkeeper.core.machine import Decision, Observation, Policy, State, derive_state, lease_active

# The waiting page polls the status this often: half the estimated seconds left, within these bounds.
# Every poll is an invocation of the waker: hundreds of pages polling every 2 s through a whole cold
# start cost hundreds of invocations a second and, on a small concurrency quota, throttles (the
# simulated new-account herd); close to the estimate, and past it, a page polls at the minimum.
WAITING_POLL_MIN_SECONDS = 2.0
WAITING_POLL_MAX_SECONDS = 8.0


def waiting_poll_seconds(ready_in_seconds: float | None) -> float:
    """Seconds the waiting page waits before its next status poll (``None``: no estimate)."""
    if ready_in_seconds is None:
        return WAITING_POLL_MIN_SECONDS
    return round(min(WAITING_POLL_MAX_SECONDS, max(WAITING_POLL_MIN_SECONDS, ready_in_seconds / 2)), 1)


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
    # What the front door shows beside the routing, label -> value (HTTP API: its warm routes,
    # Cloud Map's healthy instances, the VPC link's state); empty for a load balancer and the twin.
    front_door: dict[str, str] = field(default_factory=dict)
    # When the waiting page should ask again (see waiting_poll_seconds).
    poll_after_seconds: float = WAITING_POLL_MIN_SECONDS
    # The app's internal services, name -> their own state in one line (each sleeps on its own).
    services: dict[str, str] = field(default_factory=dict)
    # The tasks' activity beacon in words, while a scale-to-zero service is awake on AWS (None: not
    # applicable; the twin's edge sees every request itself).
    activity_beacon: str | None = None

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


def status_report(
    *,
    app: str,
    env: str,
    observation: Observation,
    decision: Decision,
    policy: Policy,
    now: datetime,
    tasks: Sequence[TaskStatus] = (),
    last_wake_at: datetime | None = None,
    last_wake_seconds: float | None = None,
    url: str | None = None,
    problems: Sequence[str] = (),
    front_door: dict[str, str] | None = None,
    ready_in_seconds: float | None = None,
    activity_beacon: str | None = None,
) -> StatusReport:
    """One observation and its decision, as the shared report. ``ready_in_seconds``: the estimated
    seconds until a wake in flight has a healthy target, when the caller has an estimate."""
    found = list(problems)
    if decision.wake_failed and observation.wake_requested_at is not None:
        waited = (now - observation.wake_requested_at).total_seconds()
        found.append(
            f"wake not healthy after {waited:.0f} s (wake_timeout_seconds {policy.wake_timeout_seconds:g})"
        )
    minutes_until_sleep = None
    if decision.state in (State.WAKING, State.WARM) and decision.seconds_until_sleep is not None:
        minutes_until_sleep = round(decision.seconds_until_sleep / 60, 1)
    elif decision.state in (State.WAKING, State.WARM) and decision.sleeping:
        minutes_until_sleep = 0.0
    return StatusReport(
        app=app,
        env=env,
        state=decision.state.value,
        routing=observation.routing.value,
        desired=observation.desired,
        running=observation.running,
        healthy=observation.healthy,
        scale_to_zero=policy.scale_to_zero,
        tasks=list(tasks),
        last_wake_at=last_wake_at or observation.wake_requested_at,
        last_wake_seconds=last_wake_seconds,
        lease_until=observation.lease_until if lease_active(observation, now) else None,
        last_activity_at=observation.last_activity_at,
        minutes_until_sleep=minutes_until_sleep,
        deployment_in_progress=observation.deployment_in_progress,
        url=url,
        problems=found,
        front_door=dict(front_door or {}),
        poll_after_seconds=waiting_poll_seconds(
            ready_in_seconds if decision.state is State.WAKING and not decision.wake_failed else None
        ),
        activity_beacon=activity_beacon,
    )


def service_summary(observation: Observation, decision: Decision, policy: Policy) -> str:
    """An internal service's state in one line (`warmkeeper status`, on AWS and in the twin alike)."""
    state = derive_state(observation, policy)
    tasks = f"tasks desired {observation.desired}, healthy {observation.healthy}"
    if state is State.COLD:
        return f"{state.value} ({tasks}; the next call wakes it)"
    if decision.seconds_until_sleep is not None:
        return f"{state.value} ({tasks}; sleeps in {decision.seconds_until_sleep:.0f} s without a call)"
    return f"{state.value} ({tasks})"
