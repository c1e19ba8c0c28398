"""The local twin: edge (Caddy), waker, controller and tasks, wired together.

The controller is the Lambda's reconcile loop on one machine. It observes the service (desired,
running and healthy tasks from :class:`~warmkeeper.local.supervisor.LocalService`), the routing and
the last request the edge sent to the service (its access log: the target group's RequestCount), the
keep-alive lease and the wake it asked for; calls :func:`warmkeeper.core.decide`; and applies the
actions with :func:`warmkeeper.core.hold.apply_decision` (scale up, route to the service, route to
the waker, scale to zero), as the Lambda's engine does. It runs on every event (a cold request, in
that request's thread as the Lambda's request step; a task that turns healthy or fails; a
keep-alive) and every ``tick_seconds`` otherwise, the local counterpart of the Lambda's events and
its one-minute schedule. A request at the waker is answered by the Lambda's own hold plan
(:func:`warmkeeper.core.hold.answer_cold_request`) from this twin's view: its wake estimate is the
slowest of its recent wakes, like the Lambda's.

Each internal service of the app (``[[services]]``) is a
:class:`~warmkeeper.local.twin_services.TwinInternalService` of its own: its tasks, its stable
address, its controller run after the app's on every tick, and its wake through the waker's internal
wake (a call from the app's task it could not deliver). The app's controller never looks at it.

A rolling deploy (:mod:`warmkeeper.local.rollout`, recorded by
:class:`~warmkeeper.local.deployments.Deployments`) runs in a thread of its own; while it runs the
controller observes ``deployment_in_progress`` and the core never decides a sleep.

This module builds the others and hands itself to them: the waker and the rollout each declare what
they need of it (:class:`~warmkeeper.local.waker.WakerBackend`,
:class:`~warmkeeper.local.rollout.RolloutTarget`) and never import it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warmkeeper.config import AppConfig, EnvironmentSettings, private_entry_environment
from warmkeeper.core import (
    Decision,
    Observation,
    Policy,
    Routing,
    State,
    decide,
    decide_sleep,
    derive_state,
    extend_lease,
    is_ready,
    status_report,
)
from warmkeeper.core.front_doors import TargetDiscovery, front_door
from warmkeeper.core.hold import apply_decision, cold_view, wake_estimate_seconds
from warmkeeper.core.internal_wake import ServiceWake
from warmkeeper.core.pages import RELOAD_AFTER_SECONDS, RELOAD_SPREAD_SECONDS
from warmkeeper.core.report import WAITING_POLL_MIN_SECONDS, StatusReport, TaskStatus
from warmkeeper.local.deployments import Deployments
from warmkeeper.local.details import EdgeDetails, FailureDetails, TaskDetails, TwinDetails
from warmkeeper.local.discovery_cache import DiscoveryCache, with_drain_window, with_entry_environment
from warmkeeper.local.edge import Edge
from warmkeeper.local.loopback import LOOPBACK
from warmkeeper.local.rollout import DeployRun, parse_deploy_request, run_rollout
from warmkeeper.local.runtimes import task_runtime
from warmkeeper.local.statefile import STATE_DIR_NAME, write_state_file
from warmkeeper.local.supervisor import LocalService, TaskPhase
from warmkeeper.local.twin_services import (
    TwinInternalService,
    caller_environment,
    service_twin_policy,
    with_task_environment,
)
from warmkeeper.local.waker import TwinView, WakerServer
from warmkeeper.local.warm_windows import WarmWindowKeeper, wall_clock

# The wake estimate before the twin has woken once: task processes (or containers) starting on one
# machine take seconds, not the minute of a Fargate cold start the Lambda assumes; after the first
# wake the twin's own recorded wakes replace it.
LOCAL_WAKE_ESTIMATE_SECONDS = 10.0
# How long a new route takes to apply at the local edge: none, the edge reads its target file on
# every request, so the next request follows the switch (AWS front doors publish no figure, and the
# Lambda waits for their assumed upper end).
LOCAL_ROUTE_SETTLE_SECONDS = 0.0


# The longest a waiting page takes to come back once the service it woke is routed: its next status
# poll, then its spread reload, and a second for the request itself. A short `--idle` (the tests use
# 3 s) must not put the service back to sleep before then: the visitor who woke it would find it
# asleep and wake it again, one wake per page load. On AWS min_warm_minutes is far longer than this.
PAGE_RETURN_SECONDS = WAITING_POLL_MIN_SECONDS + RELOAD_AFTER_SECONDS + RELOAD_SPREAD_SECONDS + 1.0


def twin_policy(
    cfg: AppConfig,
    settings: EnvironmentSettings,
    idle_seconds: float | None = None,
    min_warm_seconds: float | None = None,
) -> Policy:
    """The environment's core policy (:meth:`AppConfig.policy`) with the twin's time overrides.

    The minimum warm time is capped at the idle time: on a laptop nothing is saved by keeping a task
    longer than it takes to notice it is idle, and `--idle 5` must mean a sleep after about 5 s. It
    is never shorter than :data:`PAGE_RETURN_SECONDS` after a wake, unless asked explicitly.
    """
    policy = cfg.policy(settings)
    idle_minutes = idle_seconds / 60 if idle_seconds is not None else float(policy.idle_minutes)
    if min_warm_seconds is not None:
        min_warm = min_warm_seconds / 60
    else:
        min_warm = max(min(policy.min_warm_minutes, idle_minutes), PAGE_RETURN_SECONDS / 60)
    return replace(policy, idle_minutes=idle_minutes, min_warm_minutes=min_warm)


@dataclass(frozen=True)
class TwinOptions:
    idle_seconds: float | None = None  # None: the environment's idle_minutes
    port: int | None = None  # None: the environment's edge_port
    min_warm_seconds: float | None = None  # None: min(policy's min_warm_minutes, idle)
    max_attempts: int = 4  # task starts per wake before giving up
    backoff_base_seconds: float = 1.0
    tick_seconds: float = 0.25
    state_dir: Path | None = None  # None: .warmkeeper/ next to the config file
    runtime: str | None = None  # None: the environment's `runtime` (processes or containers)
    front_door: str | None = None  # None: the local environment's front_door (which front door to model)
    # The clock the warm schedule is read on (None: the wall clock); see local/warm_windows.py.
    schedule_clock: Callable[[], datetime] | None = None
    # Internal service name -> seconds without a call before it sleeps (unset: its local idle_minutes).
    service_idle_seconds: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class TwinEvent:
    at: datetime
    kind: str  # "state", "action", "task", "problem", "detail"
    message: str
    state: State | None = None


@dataclass(frozen=True)
class _ViewBasis:
    """What the waker's view is computed from: the last controller run's observation (its actions
    applied) and decision, and whether the supervisor gave up starting tasks."""

    version: int
    observation: Observation
    decision: Decision
    wake_failed: bool


@dataclass
class _Memory:
    """What the Lambda keeps in SSM parameters: the wake lock, the lease, the last wake."""

    wake_requested_at: datetime | None = None
    warm_since: datetime | None = None
    lease_until: datetime | None = None
    wake_pending: bool = False
    last_wake_at: datetime | None = None
    last_wake_seconds: float | None = None
    wakes: int = 0
    sleeps: int = 0
    held_requests: int = 0
    wake_durations: list[float] = field(default_factory=list)


class Twin:
    """One running local environment. `start()`, then `stop()` (also on any error during start)."""

    def __init__(
        self,
        cfg: AppConfig,
        settings: EnvironmentSettings,
        options: TwinOptions | None = None,
        on_event: Callable[[TwinEvent], None] | None = None,
        env_name: str = "local",
    ) -> None:
        self.cfg = cfg
        self.settings = settings
        self.env_name = env_name
        self.options = options or TwinOptions()
        unknown = sorted(set(self.options.service_idle_seconds) - {s.name for s in cfg.services})
        if unknown:
            raise ValueError(f"service idle times name no internal service: {', '.join(unknown)}")
        self.policy = twin_policy(cfg, settings, self.options.idle_seconds, self.options.min_warm_seconds)
        self.port = self.options.port or settings.edge_port
        self.token = secrets.token_urlsafe(32)
        self._on_event = on_event
        self._memory = _Memory()
        self._lock = threading.RLock()
        self._tick_lock = threading.Lock()
        self._changed = threading.Condition()
        self._version = 0
        initial = State.COLD if self.policy.scale_to_zero else State.ALWAYS_ON
        self._state = initial
        self._basis = _ViewBasis(
            version=0,
            observation=Observation(desired=0, running=0, healthy=0, routing=Routing.WAKER),
            decision=Decision(state=initial, actions=(), reason="not observed yet"),
            wake_failed=False,
        )
        self._kick = threading.Event()
        self._stopping = threading.Event()
        self._stopped = False
        self.fatal: str | None = None  # set when the twin cannot go on (its edge died)
        self._runtime_dir = Path(tempfile.mkdtemp(prefix="warmkeeper-twin-"))
        self._state_dir = self.options.state_dir or cfg.base_dir / STATE_DIR_NAME
        self.state_path = self._state_dir / f"twin-{self.port}.json"
        self.started_at: datetime | None = None
        # Which front door the edge models: a load balancer (targets follow the healthy tasks at once,
        # deregistered ones drain) or an HTTP API (a cached discovery list: see local/discovery_cache.py).
        self.front_door = self.options.front_door or settings.front_door
        self.drain_seconds = settings.drain_window_seconds
        self.discovery = (
            DiscoveryCache(settings.discovery_cache_seconds)
            if front_door(self.front_door).discovery is TargetDiscovery.CLOUD_MAP
            else None
        )
        runtime = task_runtime(cfg, settings, self.options.runtime)
        # The secret the app's tasks send with an internal wake (Secrets Manager on AWS): one per run.
        self.wake_secret = secrets.token_urlsafe(32)
        # Internal services run as local processes only: their tasks' address is a loopback port of
        # this machine, which the containers runtime's pods do not reach.
        self.services_note: str | None = None
        self.internal: dict[str, TwinInternalService] = {}
        if cfg.services and runtime is not None:
            names = ", ".join(s.name for s in cfg.services)
            self.services_note = (
                f"internal services ({names}) are not run with the containers runtime: "
                "calls to them get the caller's own error"
            )
        elif cfg.services:
            for service in cfg.services:
                self.internal[service.name] = TwinInternalService(
                    cfg,
                    service.name,
                    service_twin_policy(
                        cfg, service.name, env_name, self.options.service_idle_seconds.get(service.name)
                    ),
                    on_event=self.emit,
                    on_change=self.kick,
                    max_attempts=self.options.max_attempts,
                    backoff_base_seconds=self.options.backoff_base_seconds,
                    wake_with=cfg.wakes_with(service.name),
                )
        # A private environment: the entry container refuses outsiders while warm, as on ECS, trusting
        # the edge alone (it dials the tasks from the loopback address). Not with the containers
        # runtime: there a request reaches the pod through Podman's port forwarder, whose source
        # address this machine does not fix, so the edge's own refusal is the only one.
        self._private_entry = (
            private_entry_environment(
                self.policy.wake_allowed_from,
                trusted_proxies=[f"{LOOPBACK}/32"],
                client_ip_header="X-Forwarded-For",
            )
            if runtime is None
            else {}
        )
        self.waker = WakerServer(self)
        # The internal wakes' own port (the Lambda's function URL): only the app's tasks are told of it.
        self.internal_waker = WakerServer(self, internal=self) if self.internal else None
        self.service = LocalService(
            self._task_config(cfg),
            on_event=self.emit,
            on_change=self.kick,
            max_attempts=self.options.max_attempts,
            backoff_base_seconds=self.options.backoff_base_seconds,
            runtime=runtime,
        )
        self.edge = Edge(
            port=self.port,
            waker_port=self.waker.port,
            runtime_dir=self._runtime_dir,
            grace_seconds=self.policy.hold_seconds + 5,
            on_event=self.emit,
            target_slots=self.policy.max_tasks,
            retry_service=self.discovery is None,
            allowed_from=self.policy.wake_allowed_from,
        )
        self.warm_windows = WarmWindowKeeper(
            settings.warm_windows,
            self.wake_estimate_seconds,
            self.options.schedule_clock or wall_clock,
            skip=settings.warm_skip_dates,
        )
        self._skip_said: str | None = None  # the skipped window already reported (said once)
        self._controller = threading.Thread(target=self._control_loop, name="controller", daemon=True)
        self._last_state: State | None = None
        self.deployments = Deployments(
            lambda run, say: run_rollout(self, run, say),
            stopping=lambda: self.stopping,
            emit=lambda message: self.emit("action", message),
        )

    def _task_config(self, cfg: AppConfig) -> AppConfig:
        """`cfg` with what the task definition adds to the containers' environment: the entry's drain
        window and private ranges; every container's way to the internal services."""
        callers = caller_environment(
            {name: internal.address for name, internal in self.internal.items()},
            self.internal_waker.url if self.internal_waker is not None else None,
            self.wake_secret,
        )
        cfg = with_task_environment(cfg, callers)
        return with_entry_environment(with_drain_window(cfg, self.drain_seconds), self._private_entry)

    # -- lifecycle ------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.edge.url

    @property
    def app_name(self) -> str:
        """The app's name on the waiting page."""
        return self.cfg.app.title or self.cfg.app.name

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def discovery_cache_seconds(self) -> float | None:
        """The HTTP API model's discovery cache, or None when the edge models a load balancer."""
        return self.discovery.cache_seconds if self.discovery is not None else None

    def front_door_summary(self) -> str:
        """One line for the console: which front door the edge models, and its drain discipline."""
        if self.discovery is None:
            return (
                f"front door: {self.front_door} (targets follow the healthy tasks; deregistered tasks drain)"
            )
        warning = (
            ""
            if self.drain_seconds > self.discovery.cache_seconds
            else " - shorter than the cache: a deploy WILL drop requests"
        )
        return (
            f"front door: http_api (discovery list cached {self.discovery.cache_seconds:g} s; "
            f"entry drain window {self.drain_seconds} s{warning})"
        )

    def start(self) -> None:
        try:
            self.waker.start()
            self.edge.start()
            if self.services_note:
                self.emit("problem", self.services_note)
            if self.internal_waker is not None:
                self.internal_waker.start()
            for internal in self.internal.values():
                internal.start()
            self.service.start()
            self._write_state_file()
            self.started_at = datetime.now(UTC)
            self._controller.start()
            self.kick()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> list[str]:
        """Stop everything this twin started: controller, edge, waker, then every task's processes.

        Returns what is still running afterwards (nothing, unless a process could not be killed).
        Safe to call more than once, and after a start that failed half-way.
        """
        if self._stopped:
            return self._leftovers()
        self._stopped = True
        self._stopping.set()
        self._kick.set()
        if self._controller.is_alive():
            self._controller.join(timeout=10)
        self.waker.closing = True
        self.notify_waiters()
        self.edge.close(timeout=5)
        with contextlib.suppress(Exception):
            self.waker.close()
        if self.internal_waker is not None:
            with contextlib.suppress(Exception):
                self.internal_waker.close()
        self.service.close()  # also cancels a deploy in progress
        for internal in self.internal.values():  # after their callers
            internal.close()
        self.deployments.join(timeout=10)
        with contextlib.suppress(FileNotFoundError):
            self.state_path.unlink()
        shutil.rmtree(self._runtime_dir, ignore_errors=True)
        return self._leftovers()

    def _leftovers(self) -> list[str]:
        found = self.service.leftovers()
        for internal in self.internal.values():
            found += internal.leftovers()
        if self.edge.pid is not None and self.edge.alive:
            found.append(f"edge caddy (pid {self.edge.pid}) still running")
        return found

    def _write_state_file(self) -> None:
        write_state_file(
            self.state_path,
            {
                "pid": os.getpid(),
                "url": self.url,
                "port": self.port,
                "app": self.cfg.app.name,
                "config": str(self.cfg.source),
                "token": self.token,
                "started_at": datetime.now(UTC).isoformat(),
            },
        )

    # -- events ---------------------------------------------------------------------------------------

    def emit(self, kind: str, message: str) -> None:
        if self._on_event is not None:
            with contextlib.suppress(Exception):
                self._on_event(TwinEvent(datetime.now(UTC), kind, message, self._state))

    def kick(self) -> None:
        """Run the controller now (an event), instead of at the next tick."""
        self._kick.set()

    def notify_waiters(self) -> None:
        with self._changed:
            self._version += 1
            self._changed.notify_all()

    def wait_for_change(self, version: int, timeout: float) -> None:
        with self._changed:
            if self._version == version:
                self._changed.wait(timeout)

    # -- the controller -------------------------------------------------------------------------------

    def _control_loop(self) -> None:
        last_error = ""
        while not self._stopping.is_set():
            self._kick.wait(self.options.tick_seconds)
            self._kick.clear()
            if self._stopping.is_set():
                return
            if not self.edge.alive:
                # Without the edge nothing reaches the app: stop, and say why, rather than limp on.
                tail = "\n".join(f"    {line}" for line in self.edge.output_tail(10))
                self.fatal = f"the edge (caddy) exited with code {self.edge.returncode}:\n{tail}"
                self.emit("problem", self.fatal)
                return
            try:
                self.reconcile()
                last_error = ""
            except Exception as exc:  # report (once) and go on: the next tick retries
                if repr(exc) != last_error:
                    self.emit("problem", f"controller error: {exc!r}")
                last_error = repr(exc)
            # Each internal service's own controller: its decisions never wait for the app's.
            for internal in self.internal.values():
                try:
                    internal.reconcile()
                except Exception as exc:
                    self.emit("problem", f"{internal.name}: controller error: {exc!r}")

    def _observe(self, now: datetime, consume_pending: bool) -> Observation:
        snapshot = self.service.snapshot()
        with self._lock:
            memory = self._memory
            if snapshot.healthy and memory.wake_requested_at is not None and memory.warm_since is None:
                memory.warm_since = now
            pending = memory.wake_pending
            if consume_pending:
                memory.wake_pending = False
            return Observation(
                desired=snapshot.desired,
                running=snapshot.running,
                healthy=snapshot.healthy,
                routing=self.edge.routing,
                last_activity_at=self.edge.last_service_request_at(),
                lease_until=memory.lease_until,
                deployment_in_progress=self.deployment_in_progress,
                wake_requested_at=memory.wake_requested_at,
                warm_since=memory.warm_since,
                wake_pending=pending,
            )

    def reconcile(self) -> Decision:
        """One controller run: observe, decide, apply. Returns the decision."""
        with self._tick_lock:
            now = datetime.now(UTC)
            self._hold_warm_window(now)
            self._register_targets()
            observation = self._observe(now, consume_pending=True)
            decision = decide(observation, self.policy, now)
            if decision.actions:
                self.emit("action", decision.reason)
            apply_decision(decision, _TwinActuators(self, now))
            self._refresh_view(now, decision)
            return decision

    def _hold_warm_window(self, now: datetime) -> None:
        """A warm window under way or about to open holds a lease until its end (as the Lambda's
        scheduled invocation does on AWS); a longer lease already held is kept."""
        lease = self.warm_windows.lease(now)
        if lease is None:
            skipped = self.warm_windows.skipped()
            if skipped is not None and skipped.local() != self._skip_said:
                self._skip_said = skipped.local()
                self.emit(
                    "action", f"warm window {skipped.local()} skipped: its date is in warm_schedule_skip"
                )
            return
        with self._lock:
            current = self._memory.lease_until
            if current is not None and current >= lease.until:
                return
            self._memory.lease_until = lease.until
        if current is None or current <= now:
            window = lease.window.local() if lease.window else "a warm window"
            self.emit("action", f"warm window {window}: held warm until {lease.until:%H:%M:%S} UTC")

    def _healthy_ports(self) -> list[int]:
        return [task.entry_port for task in self.service.snapshot().healthy_tasks]

    def _register_targets(self) -> None:
        """While routed to the service, the edge's upstreams follow the healthy tasks (the target
        group's registrations on AWS); with none left, decide() routes back to the waker."""
        if self.edge.routing is Routing.SERVICE:
            ports = self._healthy_ports()
            if self.discovery is not None:  # what API Gateway last discovered, not what is registered now
                ports = list(self.discovery.lookup(ports))
            if ports and tuple(ports) != self.edge.service_ports:
                self.edge.route_to_service(ports)

    def _refresh_view(self, now: datetime, decision: Decision) -> None:
        after = self._observe(now, consume_pending=False)
        state = derive_state(after, self.policy)
        wake_failed = decision.wake_failed or self.service.snapshot().gave_up
        previous = self._basis
        changed = (previous.decision.state, is_ready(previous.observation), previous.wake_failed) != (
            decision.state,
            is_ready(after),
            wake_failed,
        )
        with self._changed:
            if changed:
                self._version += 1
            self._basis = _ViewBasis(self._version, after, decision, wake_failed)
            if changed:
                self._changed.notify_all()
        self._state = state
        if state is not self._last_state:
            if self._last_state is not None:
                self.emit("state", f"{self._last_state.value} -> {state.value}")
            self._last_state = state

    def wake_estimate_seconds(self) -> float:
        """How long a wake takes here: the slowest of the recent wakes, else the local default."""
        with self._lock:
            durations = list(self._memory.wake_durations)
        return wake_estimate_seconds(durations, LOCAL_WAKE_ESTIMATE_SECONDS)

    # -- deploys ----------------------------------------------------------------------------------------

    @property
    def deployment_in_progress(self) -> bool:
        return self.deployments.in_progress

    def start_deploy(self, document: object) -> DeployRun:
        """Accept a deploy (see :func:`warmkeeper.local.rollout.parse_deploy_request`) and start it.

        Raises :class:`~warmkeeper.local.rollout.DeployRequestError` for a bad request, or when a
        deploy already runs (409).
        """
        request = parse_deploy_request(document, self.cfg, self.settings)
        # As in the task definition: the entry container learns its drain window (and a private
        # environment's ranges) from the environment.
        request = replace(request, cfg=self._task_config(request.cfg))
        run = self.deployments.start(request, self.service.spec.revision)
        self.kick()
        return run

    def deploy_progress(self, run_id: str, since: int = 0) -> dict[str, Any] | None:
        return self.deployments.progress(run_id, since)

    # -- what the waker and the control endpoints call ---------------------------------------------------

    def view(self) -> TwinView:
        """The last controller run's view, its times taken now (as a Lambda's look is its own)."""
        basis = self._basis
        cold = cold_view(
            basis.observation,
            basis.decision,
            datetime.now(UTC),
            estimate_seconds=self.wake_estimate_seconds(),
            route_settle_seconds=LOCAL_ROUTE_SETTLE_SECONDS,
        )
        return TwinView(basis.version, replace(cold, wake_failed=basis.wake_failed))

    def request_wake(self) -> None:
        """A cold request's wake, decided and applied in the request's thread before it is answered,
        as the Lambda's request step does (the controller thread would otherwise take a tick)."""
        with self._lock:
            self._memory.wake_pending = True
        if self.stopping:
            return
        try:
            self.reconcile()
        except Exception:  # the controller thread reports it (once) and retries at its next tick
            self.kick()

    # -- internal services (the waker's internal wakes) ---------------------------------------------------

    @property
    def internal_service_names(self) -> list[str]:
        return list(self.internal)

    def wake_internal(self, name: str, *, call: bool = True) -> ServiceWake:
        """An internal call reached the waker: wake that service alone (and its own wake_with)."""
        found = self.internal[name].request_wake(call=call)
        for other in self.internal[name].wake_with:
            if other in self.internal:
                self.internal[other].request_wake(call=False)
        return found

    def count_held(self, seconds: float) -> None:
        with self._lock:
            self._memory.held_requests += 1

    def keepalive(self, minutes: int) -> datetime:
        now = datetime.now(UTC)
        with self._lock:
            self._memory.lease_until = extend_lease(self._memory.lease_until, minutes, now)
            until = self._memory.lease_until
            self._memory.wake_pending = True
        self.emit("action", f"keep-alive lease until {until:%H:%M:%S} UTC ({minutes} min)")
        self.reconcile()
        return until

    def wake(self) -> str:
        retried = self.service.retry_now()
        with self._lock:
            self._memory.wake_pending = True
        decision = self.reconcile()
        state = self._state
        if retried:
            return "the last task starts had failed: trying again"
        if state is State.WARM:
            return "already warm"
        return f"waking ({decision.reason})"

    def sleep(self, force: bool = False) -> tuple[bool, str]:
        """An explicit sleep, decided by :func:`warmkeeper.core.decide_sleep` as on AWS: it overrides
        idleness but not a lease, min_warm or a wake in progress, unless forced (which also ends the
        lease, or the next reconcile would wake the service again)."""
        with self._tick_lock:
            now = datetime.now(UTC)
            observation = self._observe(now, consume_pending=False)
            decision = decide_sleep(observation, self.policy, now, force=force)
            if decision.blocked_by:
                return False, decision.reason
            with self._lock:
                if force and decision.sleeping:
                    self._memory.lease_until = None
                self._memory.wake_pending = False
            apply_decision(decision, _TwinActuators(self, now))
            if decision.sleeping:
                self.emit("action", f"{decision.reason}: routed to the waker, scaling to zero")
            self._refresh_view(now, decision)
        if decision.sleeping:
            return True, f"{decision.reason}: routed to the waker, stopping the task"
        return True, decision.reason

    def status_report(self) -> StatusReport:
        now = datetime.now(UTC)
        observation = self._observe(now, consume_pending=False)
        decision = decide(observation, self.policy, now)
        snapshot = self.service.snapshot()
        tasks = [
            TaskStatus(
                task_id=task.task_id,
                health={
                    TaskPhase.STARTING: "starting",
                    TaskPhase.HEALTHY: "healthy" if task.in_service else "healthy, not routed",
                    TaskPhase.FAILED: "unhealthy",
                    TaskPhase.DRAINING: "draining",
                    TaskPhase.STOPPING: "stopping",
                    TaskPhase.STOPPED: "stopping",
                }[task.phase],
                started_at=task.created_at,
                version=task.version,
            )
            for task in snapshot.tasks
        ]
        with self._lock:
            memory = self._memory
            last_wake_at, last_wake_seconds = memory.last_wake_at, memory.last_wake_seconds
        report = status_report(
            app=self.cfg.app.name,
            env=self.env_name,
            observation=observation,
            decision=decision,
            policy=self.policy,
            now=now,
            tasks=tasks,
            last_wake_at=last_wake_at,
            last_wake_seconds=last_wake_seconds,
            url=self.url,
            problems=snapshot.problems,
        )
        services = {name: internal.summary() for name, internal in self.internal.items()}
        if self.services_note:
            services = {s.name: "not run (containers runtime)" for s in self.cfg.services}
        return replace(report, services=services)

    def details(self) -> TwinDetails:
        """The twin's own counters (not part of the shared report): tests and benchmarks read them."""
        snapshot = self.service.snapshot()
        failure = snapshot.last_failure
        with self._lock:
            memory = self._memory
            return TwinDetails(
                pid=os.getpid(),
                url=self.url,
                state=self._state.value,
                idle_seconds=self.policy.idle_minutes * 60,
                min_warm_seconds=self.policy.min_warm_minutes * 60,
                wakes=memory.wakes,
                sleeps=memory.sleeps,
                held_requests=memory.held_requests,
                wake_seconds=list(memory.wake_durations),
                tasks_started=snapshot.tasks_started,
                attempts_this_wake=snapshot.attempts_this_wake,
                max_attempts=self.service.max_attempts,
                gave_up=snapshot.gave_up,
                problems=snapshot.problems,
                last_failure=None if failure is None else FailureDetails.of(failure),
                revision=self.service.spec.revision,
                version=self.service.spec.version,
                deployment_in_progress=self.deployment_in_progress,
                deploy=self.deployments.latest_json(),
                edge=EdgeDetails.of(self.edge),
                waker_port=self.waker.port,
                tasks=[TaskDetails.of(task) for task in snapshot.tasks],
                internal_waker_port=self.internal_waker.port if self.internal_waker is not None else None,
                services=[internal.status().to_json() for internal in self.internal.values()],
            )


class _TwinActuators:
    """The twin's side of :func:`warmkeeper.core.hold.apply_decision` for one controller run."""

    def __init__(self, twin: Twin, now: datetime) -> None:
        self._twin = twin
        self._now = now

    def scale_up(self, count: int | None) -> str:
        twin, now = self._twin, self._now
        assert count is not None
        memory = twin._memory
        with twin._lock:
            waking = twin.service.desired == 0
            if waking:
                memory.wake_requested_at = now
                memory.warm_since = None
                memory.last_wake_at = now
                memory.last_wake_seconds = None
                memory.wakes += 1
        twin.service.set_desired(count)
        if waking:  # [app] wake_with: those services wake together with the app (Sablier's groups)
            for name in twin.cfg.wakes_with(twin.cfg.app.name):
                if name in twin.internal:
                    twin.wake_internal(name, call=False)
        return f"desired -> {count}"

    def route_to_service(self) -> str:
        twin, now = self._twin, self._now
        memory = twin._memory
        ports = twin._healthy_ports()
        if twin.discovery is not None and ports:  # the route switch: a fresh lookup (assumed)
            ports = list(twin.discovery.refresh(ports))
        if not ports:
            return "no healthy task to route to"
        twin.edge.route_to_service(ports)
        with twin._lock:
            if memory.wake_requested_at is not None and memory.last_wake_seconds is None:
                memory.last_wake_seconds = (now - memory.wake_requested_at).total_seconds()
                memory.wake_durations = [*memory.wake_durations[-99:], memory.last_wake_seconds]
                twin.emit("detail", f"awake: {memory.last_wake_seconds:.2f} s from wake request to routed")
        return "routed to the service"

    def route_to_waker(self) -> str:
        self._twin.edge.route_to_waker()
        return "routed to the waker"

    def scale_to_zero(self) -> str:
        twin = self._twin
        with twin._lock:
            twin._memory.wake_requested_at = None
            twin._memory.warm_since = None
            twin._memory.sleeps += 1
        twin.service.set_desired(0)
        return "scaled to zero"
