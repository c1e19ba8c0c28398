"""A rolling deploy on the running twin: the local counterpart of an ECS deployment.

`warmkeeper deploy --env local` sends the config it has just read (the new task definition) to the
twin (``POST /_warmkeeper/deploy``); the twin runs :func:`run_rollout` in a thread of its own and the
CLI follows its :class:`DeployRun` (``GET /_warmkeeper/deploy?id=...&since=N``). The steps are those
of an ECS rolling update with minimum healthy 100 % and maximum 200 %, behind an ALB:

1. Start the new revision's task(s) beside the running one(s), out of service.
2. Wait until they are healthy (the same bound as a wake: each container's start period plus its
   retries x interval, and the deploy's own timeout). A task that exits or never turns healthy
   ends the deploy: the old task never stopped serving; the new one is stopped; exit code 1 with
   its output.
3. Switch the edge: the new tasks become the targets, the old ones leave (one atomic rename of the
   edge's target file: no Caddy reload, no connection dropped).
4. Drain: wait until the edge has no request in flight to an old task (Caddy's own count), bounded
   by the old entry container's ``stop_timeout_seconds`` (the ALB's deregistration delay).
5. Stop the old task: SIGTERM to the entry container first, then the others, each with its stop
   timeout, then SIGKILL for what is left of the process group.

Behind an HTTP API (the twin's ``http_api`` model) steps 3 and 4 are ECS's with Cloud Map instead:
the old task is deregistered and stopped at once, as ECS does; the edge keeps routing to it until its
cached discovery list refreshes, and the old task's entry container keeps accepting requests for its
drain window after SIGTERM (``drain_seconds``), so the deploy waits the window out in the stop.

While it runs the controller observes ``deployment_in_progress`` and never puts the twin to sleep:
the guard of :func:`warmkeeper.core.decide`. A deploy on a cold twin is checked as on AWS: one task of
the new revision starts out of service and must turn healthy, then stops (the twin stays cold and the
new revision is current); one that fails leaves the previous revision current and the deploy fails.
With ``verify`` off (``--no-verify``) it starts nothing and the next wake runs the new revision.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx

from warmkeeper.config import (
    DRAIN_ENVIRONMENT_VARIABLE,
    AppConfig,
    ConfigError,
    EnvironmentSettings,
    parse_config,
)
from warmkeeper.core.errors import ExitCode, WarmkeeperError
from warmkeeper.core.machine import Routing
from warmkeeper.local.loopback import LOOPBACK
from warmkeeper.local.supervisor import LocalService, LocalTask, Rollout, TaskPhase, TaskSpec

# How often the rollout looks at its tasks and at the edge's in-flight count.
POLL_SECONDS = 0.05
# After the switch, a request that read the old target just before the rename is still on its way
# to being counted by Caddy; waiting this long first makes "zero in flight" mean it.
SETTLE_SECONDS = 0.25
# How long the switch may take to show on the edge (the controller applies it in the same call).
SWITCH_TIMEOUT_SECONDS = 5.0
DEFAULT_TIMEOUT_SECONDS = 600.0
MAX_LABEL_LENGTH = 64
# The drain check: how often an old entry container is probed after SIGTERM, and how early before the
# end of its window it may stop answering (a process needs a moment to close its listener).
DRAIN_PROBE_SECONDS = 0.2
DRAIN_TOLERANCE_SECONDS = 1.0


class RolloutOutcome(StrEnum):
    RUNNING = "running"
    DEPLOYED = "deployed"  # the new revision serves, the old tasks are stopped
    COLD = "cold"  # nothing was running: the new revision is current, the next wake runs it
    FAILED = "failed"  # the new revision never became healthy: the old one keeps serving
    TIMED_OUT = "timed_out"  # not healthy within the deploy's timeout: the old one keeps serving
    CANCELLED = "cancelled"  # the twin was put to sleep or stopped meanwhile


# The CLI's exit code for each outcome, as for an AWS deploy: 0 done, 1 failed, 3 timed out.
EXIT_CODES: Mapping[RolloutOutcome, ExitCode] = {
    RolloutOutcome.DEPLOYED: ExitCode.OK,
    RolloutOutcome.COLD: ExitCode.OK,
    RolloutOutcome.FAILED: ExitCode.FAILED,
    RolloutOutcome.CANCELLED: ExitCode.FAILED,
    RolloutOutcome.TIMED_OUT: ExitCode.TIMED_OUT,
}


class DeployRequestError(WarmkeeperError):
    """A deploy the twin refuses; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DeployRequest:
    cfg: AppConfig
    label: str | None
    timeout_seconds: float
    notes: list[str]  # what the deploy does not change (said once, at the start)
    verify: bool = True  # a cold twin: run the new revision once before it becomes current


def parse_deploy_request(
    document: object, running: AppConfig, settings: EnvironmentSettings
) -> DeployRequest:
    """Validate a ``POST /_warmkeeper/deploy`` body against the twin that receives it.

    The body is ``{"source": PATH, "config": <AppConfig as JSON>, "label": str|null,
    "timeout_seconds": number}``: the config the CLI has just read and validated, checked again
    here with the same model (the twin trusts nothing it is sent).
    """
    if not isinstance(document, dict):
        raise DeployRequestError(400, "the body must be a JSON object")
    source, config = document.get("source"), document.get("config")
    if not isinstance(source, str) or not source or not isinstance(config, dict):
        raise DeployRequestError(400, "the body needs 'source' (the config file) and 'config' (its content)")
    try:
        cfg = parse_config(config, Path(source))
    except ConfigError as exc:  # names the file, the key and the problem
        raise DeployRequestError(400, str(exc)) from None
    if cfg.app.name != running.app.name:
        raise DeployRequestError(
            409, f"{source}: app {cfg.app.name!r}, but this twin runs {running.app.name!r}"
        )
    label = document.get("label")
    if label is not None and (not isinstance(label, str) or not 0 < len(label) <= MAX_LABEL_LENGTH):
        raise DeployRequestError(400, f"label: a text of 1 to {MAX_LABEL_LENGTH} characters")
    timeout = document.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 86400:
        raise DeployRequestError(400, "timeout_seconds: a number of seconds above 0 (at most one day)")
    verify = document.get("verify", True)
    if not isinstance(verify, bool):
        raise DeployRequestError(400, "verify: true or false")
    return DeployRequest(cfg, label, float(timeout), deploy_notes(running, settings, cfg), verify)


def deploy_notes(running: AppConfig, settings: EnvironmentSettings, new: AppConfig) -> list[str]:
    """What a deploy leaves as it was: on the twin it replaces the task definition (the containers)
    only; the scale-to-zero policy and the local environment's settings are read by `warmkeeper up`."""
    notes = []
    if new.scale_to_zero != running.scale_to_zero:
        notes.append("[scale_to_zero] changed: not applied by a deploy; restart `warmkeeper up` for it")
    new_settings = new.environment("local")  # parse_config validated every environment already
    if new_settings.model_dump(exclude={"edge_port"}) != settings.model_dump(exclude={"edge_port"}):
        notes.append("[environments.local] changed: not applied by a deploy; restart `warmkeeper up` for it")
    return notes


@dataclass(frozen=True)
class DeployEvent:
    at: datetime
    elapsed_seconds: float
    message: str


@dataclass
class DeployRun:
    """One deploy as the CLI follows it: its events as they happen, then its outcome."""

    run_id: str
    spec: TaskSpec
    timeout_seconds: float
    verify: bool = True
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    started_monotonic: float = field(default_factory=time.monotonic)
    events: list[DeployEvent] = field(default_factory=list)
    outcome: RolloutOutcome = RolloutOutcome.RUNNING
    message: str = ""
    failed_container: str | None = None
    output_tail: list[str] = field(default_factory=list)
    seconds: float | None = None
    phases: dict[str, float] = field(default_factory=dict)  # seconds from the start to each step
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def running(self) -> bool:
        return self.outcome is RolloutOutcome.RUNNING

    def elapsed(self) -> float:
        return time.monotonic() - self.started_monotonic

    def add(self, message: str) -> None:
        with self._lock:
            self.events.append(DeployEvent(datetime.now(UTC), self.elapsed(), message))

    def mark(self, phase: str) -> float:
        seconds = self.elapsed()
        self.phases[phase] = seconds
        return seconds

    def finish(self, outcome: RolloutOutcome, message: str) -> None:
        self.add(message)
        with self._lock:
            self.message = message
            self.seconds = self.elapsed()
            self.outcome = outcome

    def to_json(self, since: int = 0) -> dict[str, Any]:
        with self._lock:
            events = self.events[since:]
            return {
                "id": self.run_id,
                "revision": self.spec.revision,
                "version": self.spec.version,
                "outcome": self.outcome.value,
                "exit_code": EXIT_CODES.get(self.outcome),
                "message": self.message,
                "started_at": self.started_at.isoformat(),
                "seconds": self.seconds,
                "phases": dict(self.phases),
                "events": [
                    {"at": e.at.isoformat(), "elapsed": round(e.elapsed_seconds, 3), "message": e.message}
                    for e in events
                ],
                "next": since + len(events),
                "failed_container": self.failed_container,
                "output_tail": list(self.output_tail),
            }


def _ports(task: LocalTask) -> str:
    return ", ".join(f"{name} :{port}" for name, port in task.ports.items())


def _names(tasks: list[LocalTask]) -> str:
    return ", ".join(f"{t.task_id} ({t.version})" for t in tasks) or "no task"


def exit_status(code: int | None) -> str:
    """A process's end as people read it: ``0``, ``3``, ``SIGTERM`` (ended by that signal)."""
    if code is None:
        return "running"
    if code < 0:
        with contextlib.suppress(ValueError):
            return signal.Signals(-code).name
    return str(code)


class RolloutEdge(Protocol):
    """What a rollout reads of the edge: where traffic goes, and what is still in flight."""

    @property
    def routing(self) -> Routing: ...

    @property
    def service_ports(self) -> tuple[int, ...]: ...

    def in_flight(self, port: int) -> int: ...


class RolloutTarget(Protocol):
    """What a rollout needs of the twin it runs in (the twin builds the rollout and hands itself in;
    this module never imports it)."""

    @property
    def service(self) -> LocalService: ...

    @property
    def edge(self) -> RolloutEdge: ...

    @property
    def stopping(self) -> bool: ...

    @property
    def discovery_cache_seconds(self) -> float | None:
        """The edge's discovery cache when it models an HTTP API; None for a load balancer."""
        ...

    @property
    def drain_seconds(self) -> int:
        """How long an entry container keeps accepting requests after SIGTERM."""
        ...

    def reconcile(self) -> object:
        """One controller run now: the switch to the new tasks is the controller's to apply."""
        ...


class _HaltError(WarmkeeperError):
    """The rollout cannot go on: cancelled (sleep, twin stopping) or out of time."""

    def __init__(self, outcome: RolloutOutcome, why: str) -> None:
        super().__init__(why)
        self.outcome = outcome


def run_rollout(twin: RolloutTarget, run: DeployRun, emit: Callable[[str], None] | None = None) -> None:
    """Carry out one deploy on `twin` and record it in `run` (never raises: the outcome says)."""

    def say(message: str) -> None:
        run.add(message)
        if emit is not None:
            emit(message)

    try:
        _rollout_steps(twin, run, say)
    except Exception as exc:  # a bug must end the deploy with a reason, not hang the CLI
        if run.running:
            run.finish(RolloutOutcome.FAILED, f"deploy error: {exc!r}")
    if emit is not None and run.message:
        emit(run.message)


def _rollout_steps(twin: RolloutTarget, run: DeployRun, say: Callable[[str], None]) -> None:
    service = twin.service
    spec = run.spec
    rollout = service.begin_rollout(spec, verify_cold=run.verify)
    if rollout is None:
        run.finish(
            RolloutOutcome.COLD,
            f"the twin is cold: no task started; {spec.version} is current and the next wake runs it",
        )
        return
    try:
        _roll(twin, run, rollout, say)
    except BaseException:
        # Whatever went wrong, the scheduler must get the service back: a rollout left open would
        # keep it from ever replacing or stopping a task. Draining tasks are stopped (best effort).
        promoted = all(task.in_service for task in rollout.new_tasks)
        for task in rollout.old_tasks if promoted else []:
            with contextlib.suppress(Exception):
                task.stop()
        service.end_rollout(rollout, succeeded=promoted)
        raise


def _roll(twin: RolloutTarget, run: DeployRun, rollout: Rollout, say: Callable[[str], None]) -> None:
    service = twin.service
    spec = run.spec
    deadline = run.started_monotonic + run.timeout_seconds
    serving = f"{_names(rollout.old_tasks)} keeps serving" if rollout.old_tasks else "no task was serving"
    if rollout.trial:
        serving = (
            "the twin is cold: a check of the new revision, out of service, before the next wake runs it"
        )
    for task in rollout.new_tasks:
        say(f"started task {task.task_id} ({spec.version}): {_ports(task)}; {serving}")
    run.mark("started")

    def check() -> None:
        if rollout.cancelled.is_set() or twin.stopping:
            raise _HaltError(
                RolloutOutcome.CANCELLED, "the twin was put to sleep or stopped during the deploy"
            )
        if time.monotonic() > deadline:
            raise _HaltError(
                RolloutOutcome.TIMED_OUT, f"not done within the deploy's timeout ({run.timeout_seconds:g} s)"
            )

    # 2. Healthy, or failed with its output.
    try:
        while True:
            check()
            failed = next((t for t in rollout.new_tasks if t.phase is TaskPhase.FAILED), None)
            if failed is not None:
                _abort(twin, run, rollout, failed, say)
                return
            gone = next(
                (t for t in rollout.new_tasks if t.phase in (TaskPhase.STOPPING, TaskPhase.STOPPED)), None
            )
            if gone is not None:
                raise _HaltError(
                    RolloutOutcome.CANCELLED, f"task {gone.task_id} was stopped during the deploy"
                )
            if all(t.phase is TaskPhase.HEALTHY for t in rollout.new_tasks):
                break
            time.sleep(POLL_SECONDS)
    except _HaltError as stopped:
        service.end_rollout(rollout, succeeded=False)
        kept = (
            "the previous revision stays current"
            if rollout.trial
            else f"{_names(rollout.old_tasks)} kept serving"
        )
        run.finish(
            stopped.outcome,
            f"deploy of {spec.version} {stopped.outcome.value.replace('_', ' ')}: {stopped}; "
            f"{kept}, the new task was stopped",
        )
        return
    healthy_after = run.mark("healthy")
    for task in rollout.new_tasks:
        say(f"task {task.task_id} healthy after {healthy_after:.1f} s")
    if rollout.trial:
        service.end_rollout(rollout, succeeded=True)  # stops the trial task; the new revision stays
        run.mark("stopped")
        run.finish(
            RolloutOutcome.COLD,
            f"the twin is cold: {spec.version} started once, passed its health checks in "
            f"{healthy_after:.1f} s and stopped; it is current and the next wake runs it",
        )
        return

    # 3. Switch: the new tasks become the targets, the old ones leave the edge.
    draining = service.promote_rollout(rollout)
    cache = twin.discovery_cache_seconds
    if cache is not None:
        _stop_behind_discovery(twin, run, rollout, draining, cache, say)
        return
    new_ports = tuple(t.entry_port for t in rollout.new_tasks)
    switch_deadline = time.monotonic() + SWITCH_TIMEOUT_SECONDS
    twin.reconcile()
    while not (twin.edge.routing is Routing.SERVICE and set(twin.edge.service_ports) == set(new_ports)):
        if time.monotonic() > switch_deadline or twin.stopping:
            break  # the controller keeps converging; say where the edge is and carry on
        time.sleep(POLL_SECONDS)
        twin.reconcile()
    run.mark("switched")
    if twin.edge.routing is Routing.SERVICE and set(twin.edge.service_ports) == set(new_ports):
        targets = ", ".join(f":{port}" for port in new_ports)
        say(f"edge switched to {_names(rollout.new_tasks)} on {targets}: new requests go to {spec.version}")
    else:
        say(f"edge not switched yet (routing {twin.edge.routing.value}); the controller goes on converging")

    # 4. Drain and 5. stop each old task.
    for task in draining:
        _drain(twin, run, task, say)
        started = time.monotonic()
        task.stop()
        ends = ", ".join(f"{name} {exit_status(code)}" for name, code in task.exit_codes().items())
        say(f"old task {task.task_id} stopped in {time.monotonic() - started:.1f} s (exits: {ends})")
    run.mark("stopped")
    service.end_rollout(rollout, succeeded=True)
    now_serving = _names(rollout.new_tasks)
    stopped_names = ", ".join(t.task_id for t in draining) or "nothing"
    run.finish(
        RolloutOutcome.DEPLOYED,
        f"deployed {spec.version} in {run.elapsed():.1f} s: {now_serving} serves; stopped {stopped_names}",
    )


def _stop_behind_discovery(
    twin: RolloutTarget,
    run: DeployRun,
    rollout: Rollout,
    draining: list[LocalTask],
    cache_seconds: float,
    say: Callable[[str], None],
) -> None:
    """ECS with Cloud Map: deregister the old tasks and stop them at once. The edge's cached discovery
    list still names them for up to `cache_seconds`; their entry containers accept requests for the
    drain window after SIGTERM, then stop gracefully. The deploy waits for the stop, window included."""
    service = twin.service
    twin.reconcile()
    run.mark("deregistered")
    names = _names(draining) or "no task"
    say(
        f"{names} deregistered from discovery and stopping; the edge's cached list may name it for up "
        f"to {cache_seconds:g} s, its entry accepts requests for the drain window ({twin.drain_seconds} s)"
    )
    broken_drain: str | None = None
    for task in draining:
        started = time.monotonic()
        watch = DrainWatch(task.entry_port, task.cfg.entry_container.health.path, twin.drain_seconds)
        watch.start()
        task.stop()
        watch.join()
        ends = ", ".join(f"{name} {exit_status(code)}" for name, code in task.exit_codes().items())
        say(f"old task {task.task_id} stopped in {time.monotonic() - started:.1f} s (exits: {ends})")
        if watch.stopped_answering_after is not None and broken_drain is None:
            broken_drain = (
                f"the entry container stopped answering {watch.stopped_answering_after:.1f} s after SIGTERM, "
                f"before its drain window of {twin.drain_seconds} s ended: requests the front door still "
                f"sends it from a cached discovery list fail meanwhile. {task.cfg.entry_container.name!r} "
                f"must keep accepting requests for {DRAIN_ENVIRONMENT_VARIABLE} seconds after SIGTERM, "
                "then stop gracefully"
            )
            say(broken_drain)
    run.mark("stopped")
    service.end_rollout(rollout, succeeded=True)
    if broken_drain is not None:
        run.finish(
            RolloutOutcome.FAILED,
            f"{run.spec.version} serves, but the deploy broke the drain rule: {broken_drain}",
        )
        return
    run.finish(
        RolloutOutcome.DEPLOYED,
        f"deployed {run.spec.version} in {run.elapsed():.1f} s: {_names(rollout.new_tasks)} serves; "
        f"stopped {', '.join(t.task_id for t in draining) or 'nothing'}",
    )


class DrainWatch:
    """Whether an entry container keeps answering through its drain window once SIGTERM is sent.

    From :meth:`start` (just before the stop), a GET of its health path every
    :data:`DRAIN_PROBE_SECONDS`; any HTTP answer counts (a 503 is an answer), a refused or reset
    connection does not. :attr:`stopped_answering_after` is when it first did not, if that was more
    than :data:`DRAIN_TOLERANCE_SECONDS` before the window's end.
    """

    def __init__(self, port: int, path: str, window_seconds: float) -> None:
        self.url = f"http://{LOOPBACK}:{port}{path}"
        self.window = float(window_seconds)
        self.stopped_answering_after: float | None = None
        self._thread = threading.Thread(target=self._run, name=f"drain-watch-{port}", daemon=True)

    def start(self) -> None:
        if self.window > DRAIN_TOLERANCE_SECONDS:
            self._thread.start()

    def join(self) -> None:
        if self._thread.is_alive() or self._thread.ident is not None:
            self._thread.join(self.window + 5)

    def _run(self) -> None:
        started = time.monotonic()
        with httpx.Client(trust_env=False, timeout=DRAIN_PROBE_SECONDS * 4) as client:
            while (elapsed := time.monotonic() - started) < self.window - DRAIN_TOLERANCE_SECONDS:
                try:
                    client.get(self.url)
                except httpx.TimeoutException:
                    pass  # busy, not gone
                except httpx.TransportError:
                    self.stopped_answering_after = elapsed
                    return
                time.sleep(DRAIN_PROBE_SECONDS)


def _drain(twin: RolloutTarget, run: DeployRun, task: LocalTask, say: Callable[[str], None]) -> None:
    """Wait until the edge has nothing in flight to `task`, at most its entry's stop timeout."""
    bound = float(task.cfg.entry_container.stop_timeout_seconds)
    started = time.monotonic()
    time.sleep(SETTLE_SECONDS)
    in_flight = -1
    while time.monotonic() - started < bound and not twin.stopping:
        try:
            in_flight = twin.edge.in_flight(task.entry_port)
        except Exception as exc:  # the count is a courtesy: without it, wait the bound out
            say(f"cannot read the edge's in-flight count ({exc}); waiting up to {bound:g} s")
            time.sleep(max(0.0, bound - (time.monotonic() - started)))
            return
        if in_flight == 0:
            break
        time.sleep(POLL_SECONDS)
    waited = time.monotonic() - started
    run.mark("drained")
    if in_flight == 0:
        say(f"old task {task.task_id} drained in {waited:.1f} s: no request in flight from the edge")
    else:
        say(
            f"old task {task.task_id}: {in_flight} request(s) still in flight after {waited:.0f} s "
            f"(stop timeout of {task.cfg.entry_container.name}); stopping it anyway"
        )


def _abort(
    twin: RolloutTarget, run: DeployRun, rollout: Rollout, failed: LocalTask, say: Callable[[str], None]
) -> None:
    failure = failed.failure
    reason = failure.reason if failure is not None else "failed"
    run.failed_container = failure.container if failure is not None else None
    run.output_tail = list(failure.output_tail[-40:]) if failure is not None else []
    say(f"task {failed.task_id} ({run.spec.version}) failed: {reason}")
    twin.service.end_rollout(rollout, succeeded=False)
    say(f"task {failed.task_id} stopped")
    kept = (
        f"the previous revision stays current and the twin stays cold (the next wake runs it), "
        f"not {run.spec.version}"
        if rollout.trial
        else f"{_names(rollout.old_tasks)} kept serving"
    )
    run.finish(RolloutOutcome.FAILED, f"deploy of {run.spec.version} failed: {reason}; {kept}")
