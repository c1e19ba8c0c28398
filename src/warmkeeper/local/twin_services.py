"""The twin's internal services: each its own "ECS service", its own controller, its own sleep.

An internal service (``[[services]]`` in the config) runs as tasks of its own
(:class:`~warmkeeper.local.supervisor.LocalService`, its containers' local commands as processes),
behind a stable loopback address (:class:`~warmkeeper.local.internal_proxy.InternalProxy`, the
stand-in for its Cloud Map name). :class:`TwinInternalService` is its controller, the same loop as the
app's: observe (its desired, running and healthy tasks; the proxy's routing; the last byte that
reached it; its wake), :func:`warmkeeper.core.decide` with the service's own policy
(:meth:`AppConfig.service_policy`), apply through :func:`warmkeeper.core.hold.apply_decision`. It
never looks at the app's state, nor the app at its: the app sleeps while the service works, and the
service sleeps after its own idle time while the app stays warm.

It is woken only by an internal call (the waker's internal wake, :meth:`TwinInternalService.request_wake`),
or together with a caller that lists it in ``wake_with``.

The calling side: every container of the app's task gets the variables the task definition gives it
on AWS (:func:`caller_environment`): the service's host and port (here the proxy's address), the
waker's URL for internal wakes and the wake secret.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from warmkeeper.config import AppConfig
from warmkeeper.core import Decision, Observation, Policy, Routing, State, decide, derive_state
from warmkeeper.core.hold import apply_decision, ready_in_seconds, wake_estimate_seconds
from warmkeeper.core.internal_wake import ServiceWake
from warmkeeper.core.report import service_summary
from warmkeeper.local.internal_proxy import InternalProxy
from warmkeeper.local.loopback import LOOPBACK
from warmkeeper.local.supervisor import LocalService, TaskPhase
from warmkeeper.naming import (
    WAKE_SECRET_VARIABLE,
    WAKER_URL_VARIABLE,
    service_host_variable,
    service_port_variable,
)

# The wake estimate of a service before it has woken once in this twin (its processes on this machine,
# not a Fargate task); its own recorded wakes replace it.
SERVICE_WAKE_ESTIMATE_SECONDS = 10.0

EventSink = Callable[[str, str], None]


def service_task_config(cfg: AppConfig, name: str) -> AppConfig:
    """The app's config with the service's containers as the task's (what the supervisor runs)."""
    service = cfg.service(name)
    return cfg.model_copy(update={"containers": list(service.containers), "services": []})


def service_twin_policy(cfg: AppConfig, name: str, env: str, idle_seconds: float | None = None) -> Policy:
    """The service's own policy (:meth:`AppConfig.service_policy`) with the twin's time override.

    As for the app, the minimum warm time is capped at the idle time: `--service-idle osrm=5` must mean
    a sleep about 5 s after the last call.
    """
    policy = cfg.service_policy(name, env)
    idle_minutes = idle_seconds / 60 if idle_seconds is not None else float(policy.idle_minutes)
    return replace(
        policy, idle_minutes=idle_minutes, min_warm_minutes=min(policy.min_warm_minutes, idle_minutes)
    )


def caller_environment(
    services: Mapping[str, tuple[str, int]], waker_url: str | None, secret: str
) -> dict[str, str]:
    """The variables of every container of the calling task: each service's host and port, the waker's
    URL for internal wakes and the wake secret (none at all without services)."""
    if not services:
        return {}
    variables: dict[str, str] = {}
    for name, (host, port) in services.items():
        variables[service_host_variable(name)] = host
        variables[service_port_variable(name)] = str(port)
    if waker_url:
        variables[WAKER_URL_VARIABLE] = waker_url
    variables[WAKE_SECRET_VARIABLE] = secret
    return variables


def with_task_environment(cfg: AppConfig, variables: Mapping[str, str]) -> AppConfig:
    """`cfg` whose every container of the app's task also gets these variables (local command and image)."""
    if not variables:
        return cfg
    containers = []
    for container in cfg.containers:
        local = (
            container.local.model_copy(update={"environment": {**container.local.environment, **variables}})
            if container.local is not None
            else None
        )
        containers.append(
            container.model_copy(
                update={"local": local, "environment": {**container.environment, **variables}}
            )
        )
    return cfg.model_copy(update={"containers": containers})


@dataclass
class _ServiceMemory:
    """What the Lambda keeps per service: its wake lock, its last wake, its counters."""

    wake_requested_at: datetime | None = None
    warm_since: datetime | None = None
    wake_pending: bool = False
    last_call_at: datetime | None = None  # the last internal wake call (activity too)
    last_wake_seconds: float | None = None
    wakes: int = 0
    sleeps: int = 0
    wake_calls: int = 0
    wake_durations: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class TwinServiceState:
    """One internal service as `warmkeeper status --env local` and the twin's counters show it."""

    name: str
    state: str
    routing: str
    desired: int
    running: int
    healthy: int
    address: str
    idle_seconds: float
    last_activity_at: datetime | None
    last_wake_seconds: float | None
    wakes: int
    sleeps: int
    wake_calls: int
    connections: int
    refused: int
    tasks: list[dict[str, object]]
    problems: list[str]

    def to_json(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "routing": self.routing,
            "desired": self.desired,
            "running": self.running,
            "healthy": self.healthy,
            "address": self.address,
            "idle_seconds": self.idle_seconds,
            "last_activity_at": self.last_activity_at.isoformat() if self.last_activity_at else None,
            "last_wake_seconds": self.last_wake_seconds,
            "wakes": self.wakes,
            "sleeps": self.sleeps,
            "wake_calls": self.wake_calls,
            "connections": self.connections,
            "refused": self.refused,
            "tasks": self.tasks,
            "problems": self.problems,
        }


class TwinInternalService:
    """One internal service of the twin: its tasks, its address, its controller. `start()`, `close()`."""

    def __init__(
        self,
        cfg: AppConfig,
        name: str,
        policy: Policy,
        *,
        on_event: EventSink,
        on_change: Callable[[], None] | None = None,
        max_attempts: int = 4,
        backoff_base_seconds: float = 1.0,
        wake_with: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.policy = policy
        self.wake_with = tuple(wake_with)
        self._on_event = on_event
        self.proxy = InternalProxy(name)
        self.service = LocalService(
            service_task_config(cfg, name),
            on_event=self._service_event,
            on_change=on_change,
            max_attempts=max_attempts,
            backoff_base_seconds=backoff_base_seconds,
            task_prefix=f"{name}-",
        )
        self._memory = _ServiceMemory()
        self._lock = threading.RLock()
        self._tick_lock = threading.Lock()
        self._state = State.COLD if policy.scale_to_zero else State.ALWAYS_ON
        self._last_state: State | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where the callers reach it (the stand-in for its Cloud Map name and port)."""
        return LOOPBACK, self.proxy.port

    @property
    def state(self) -> State:
        return self._state

    def _service_event(self, kind: str, message: str) -> None:
        self._on_event(kind, f"{self.name}: {message}")

    def start(self) -> None:
        self.proxy.start()
        self.service.start()

    def close(self) -> None:
        self.proxy.refuse()
        self.proxy.close()
        self.service.close()

    def leftovers(self) -> list[str]:
        return [f"{self.name}: {found}" for found in self.service.leftovers()]

    # -- the controller -------------------------------------------------------------------------------

    def _observe(self, now: datetime, consume_pending: bool) -> Observation:
        snapshot = self.service.snapshot()
        with self._lock:
            memory = self._memory
            if snapshot.healthy and memory.wake_requested_at is not None and memory.warm_since is None:
                memory.warm_since = now
            pending = memory.wake_pending
            if consume_pending:
                memory.wake_pending = False
            activity = [t for t in (self.proxy.last_activity_at(), memory.last_call_at) if t is not None]
            return Observation(
                desired=snapshot.desired,
                running=snapshot.running,
                healthy=snapshot.healthy,
                routing=self.proxy.routing,
                last_activity_at=max(activity) if activity else None,
                wake_requested_at=memory.wake_requested_at,
                warm_since=memory.warm_since,
                wake_pending=pending,
            )

    def _healthy_ports(self) -> list[int]:
        return [task.entry_port for task in self.service.snapshot().healthy_tasks]

    def reconcile(self, now: datetime | None = None) -> Decision:
        """One controller run of this service alone: observe, decide, apply."""
        with self._tick_lock:
            now = now or datetime.now(UTC)
            if self.proxy.routing is Routing.SERVICE:
                # The proxy follows the healthy tasks (a replaced task's new port).
                ports = self._healthy_ports()
                if ports and self.proxy.target_port not in ports:
                    self.proxy.route_to(ports[0])
            observation = self._observe(now, consume_pending=True)
            decision = decide(observation, self.policy, now)
            if decision.actions:
                self._on_event("action", f"{self.name}: {decision.reason}")
            apply_decision(decision, _TwinServiceActuators(self, now))
            after = self._observe(now, consume_pending=False)
            self._state = derive_state(after, self.policy)
            if self._state is not self._last_state:
                if self._last_state is not None:
                    self._on_event("state", f"{self.name}: {self._last_state.value} -> {self._state.value}")
                self._last_state = self._state
            return decision

    def wake_estimate_seconds(self) -> float:
        with self._lock:
            durations = list(self._memory.wake_durations)
        return wake_estimate_seconds(durations, SERVICE_WAKE_ESTIMATE_SECONDS)

    def request_wake(self, *, call: bool = True) -> ServiceWake:
        """Wake it (once: a wake in progress is not asked again) and say how soon it should answer.

        ``call``: an internal call at the waker (counts as the service's activity), not a wake along
        with a caller (``wake_with``)."""
        now = datetime.now(UTC)
        with self._lock:
            self._memory.wake_pending = True
            if call:
                self._memory.last_call_at = now
                self._memory.wake_calls += 1
        self.reconcile(now)
        with self._lock:
            requested = self._memory.wake_requested_at
        healthy = self.proxy.routing is Routing.SERVICE and self.service.snapshot().healthy > 0
        elapsed = (datetime.now(UTC) - requested).total_seconds() if requested is not None else None
        return ServiceWake(
            healthy=healthy,
            ready_in_seconds=ready_in_seconds(
                healthy=healthy, wake_elapsed_seconds=elapsed, estimate_seconds=self.wake_estimate_seconds()
            ),
            overdue_retry_seconds=self.policy.retry_after_seconds,
        )

    # -- what the twin shows --------------------------------------------------------------------------

    def summary(self, now: datetime | None = None) -> str:
        """Its state in one line, for `warmkeeper status --env local`."""
        now = now or datetime.now(UTC)
        observation = self._observe(now, consume_pending=False)
        return service_summary(observation, decide(observation, self.policy, now), self.policy)

    def status(self) -> TwinServiceState:
        snapshot = self.service.snapshot()
        observation = self._observe(datetime.now(UTC), consume_pending=False)
        with self._lock:
            memory = replace(self._memory, wake_durations=list(self._memory.wake_durations))
        host, port = self.address
        return TwinServiceState(
            name=self.name,
            state=derive_state(observation, self.policy).value,
            routing=observation.routing.value,
            desired=snapshot.desired,
            running=snapshot.running,
            healthy=snapshot.healthy,
            address=f"{host}:{port}",
            idle_seconds=self.policy.idle_minutes * 60,
            last_activity_at=observation.last_activity_at,
            last_wake_seconds=memory.last_wake_seconds,
            wakes=memory.wakes,
            sleeps=memory.sleeps,
            wake_calls=memory.wake_calls,
            connections=self.proxy.connections,
            refused=self.proxy.refused,
            tasks=[
                {
                    "task_id": task.task_id,
                    "phase": task.phase.value,
                    "ports": dict(task.ports),
                    "pids": task.pids,
                    "boot_seconds": task.boot_seconds,
                }
                for task in snapshot.tasks
                if task.phase is not TaskPhase.STOPPED
            ],
            problems=list(snapshot.problems),
        )


class _TwinServiceActuators:
    """The service's side of :func:`warmkeeper.core.hold.apply_decision` for one controller run."""

    def __init__(self, owner: TwinInternalService, now: datetime) -> None:
        self._owner = owner
        self._now = now

    def scale_up(self, count: int | None) -> str:
        owner, memory = self._owner, self._owner._memory
        assert count is not None
        with owner._lock:
            if owner.service.desired == 0:
                memory.wake_requested_at = self._now
                memory.warm_since = None
                memory.last_wake_seconds = None
                memory.wakes += 1
        owner.service.set_desired(count)
        return f"desired -> {count}"

    def route_to_service(self) -> str:
        owner, memory = self._owner, self._owner._memory
        ports = owner._healthy_ports()
        if not ports:
            return "no healthy task to route to"
        owner.proxy.route_to(ports[0])
        with owner._lock:
            if memory.wake_requested_at is not None and memory.last_wake_seconds is None:
                memory.last_wake_seconds = (self._now - memory.wake_requested_at).total_seconds()
                memory.wake_durations = [*memory.wake_durations[-99:], memory.last_wake_seconds]
                owner._on_event(
                    "detail",
                    f"{owner.name}: awake: {memory.last_wake_seconds:.2f} s from wake call to reachable",
                )
        return "reachable at its address"

    def route_to_waker(self) -> str:
        self._owner.proxy.refuse()
        return "its address refuses calls (they go to the waker)"

    def scale_to_zero(self) -> str:
        owner = self._owner
        with owner._lock:
            owner._memory.wake_requested_at = None
            owner._memory.warm_since = None
            owner._memory.sleeps += 1
        owner.service.set_desired(0)
        return "scaled to zero"
