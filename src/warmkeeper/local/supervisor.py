"""The twin's "ECS service": tasks made of the containers' local commands, health, retries.

A :class:`LocalTask` plays one Fargate task: each container's ``local`` command runs as a child
process, all of a task's processes in one process group, on loopback ports of the task's own (so
two tasks can run side by side, as during a rolling deploy). Containers start in ``depends_on``
order, each once its dependencies pass their health checks, like ECS's ``HEALTHY`` dependency
condition, or as its ``dependency_conditions`` say (``START``; ``SUCCESS`` and ``COMPLETE`` for a
one-off container that runs to completion, such as a data copy: it is not health-checked, its exit is
expected, and a non-zero exit where success is required fails the task). A task is healthy when
every container is (a one-off one: when it has exited as required). How one container starts, is checked and
stops is the task's :class:`~warmkeeper.local.runtimes.TaskRuntime` (local processes by default, or
a Podman pod of the real images).

A :class:`LocalService` keeps ``desired`` tasks running, like the ECS service scheduler: it starts a
task when one is missing, replaces a task that failed (a process exited, or a container never became
healthy or stopped being healthy), and stops tasks beyond the desired count. Failed starts are
retried with exponential backoff a bounded number of times per wake, then it gives up and reports
the failure with the output tail of the container that failed, instead of flapping forever.

Tasks run a :class:`TaskSpec`, the twin's task-definition revision. A rolling deploy (driven by
:mod:`warmkeeper.local.rollout`) uses three primitives of the service, each atomic under its lock:
:meth:`LocalService.begin_rollout` (new tasks of the new revision, not yet in service, or nothing at
all when the service is cold), :meth:`LocalService.promote_rollout` (the new tasks become targets,
the old ones start draining) and :meth:`LocalService.end_rollout`. While a rollout runs the
scheduler neither starts nor stops tasks for the desired count: the rollout owns the transition,
as an ECS deployment does.
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

import httpx

from warmkeeper.config import AppConfig, Container
from warmkeeper.local.process import ChildProcess, ProcessStartError, group_alive, kill_group
from warmkeeper.local.runtimes import LIVENESS_PROBE_SECONDS, ProcessRuntime, TaskRuntime

EventSink = Callable[[str, str], None]  # (kind, message): kind is "task", "problem" or "detail"


class TaskPhase(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    FAILED = "failed"  # a process exited or a health check failed: to be stopped and replaced
    DRAINING = "draining"  # out of the edge (deregistered), finishing the requests it holds
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True)
class TaskSpec:
    """One revision of the task definition: the containers to run, and a label people know it by.

    Revision 1 is the config `warmkeeper up` read; each `warmkeeper deploy --env local` makes the
    next one (like a new task-definition revision on ECS), cold or warm.
    """

    cfg: AppConfig
    revision: int = 1
    label: str | None = None

    @property
    def version(self) -> str:
        return f"r{self.revision}" + (f" ({self.label})" if self.label else "")


@dataclass(frozen=True)
class TaskFailure:
    """Why one task attempt failed, with the output tail of the container at fault."""

    task_id: str
    container: str
    reason: str
    output_tail: list[str]
    at: datetime

    def describe(self, lines: int = 12) -> str:
        tail = "\n".join(f"    {line}" for line in self.output_tail[-lines:]) or "    (no output)"
        return f"task {self.task_id}: {self.reason}\n  last output of {self.container}:\n{tail}"


def startup_order(containers: list[Container]) -> list[Container]:
    """Containers sorted so that each comes after its dependencies.

    A cycle (which would keep ECS from ever starting the task too) is reported as a start failure.
    """
    ordered: list[Container] = []
    done: set[str] = set()
    pending = list(containers)
    while pending:
        ready = [c for c in pending if set(c.depends_on) <= done]
        if not ready:
            names = ", ".join(c.name for c in pending)
            raise ValueError(f"depends_on has a cycle between containers {names}")
        for c in ready:
            ordered.append(c)
            done.add(c.name)
            pending.remove(c)
    return ordered


def run_to_completion(containers: list[Container]) -> dict[str, str]:
    """The task's one-off containers (another waits for them to exit: ``complete`` or ``success``),
    each with the strictest condition put on it. ECS runs them as non-essential containers."""
    found: dict[str, str] = {}
    for c in containers:
        for dep, condition in c.dependency_conditions.items():
            if condition == "success" or (condition == "complete" and dep not in found):
                found[dep] = condition
    return found


def dependency_met(
    container: Container, dependency: str, launched: Mapping[str, float], done: set[str]
) -> bool:
    """Whether `container` may start as far as `dependency` goes: ECS's dependency condition (``start``:
    launched; otherwise ``healthy``, ``complete`` or ``success``: checked, or exited as required)."""
    if container.dependency_conditions.get(dependency) == "start":
        return dependency in launched
    return dependency in done


def health_deadline_seconds(container: Container) -> float:
    """How long a started container may take to pass its first health check.

    ECS counts failures only after ``start_period_seconds`` and marks the container unhealthy after
    ``retries`` failed checks ``interval_seconds`` apart: the same bound here.
    """
    health = container.health
    return float(health.start_period_seconds + health.retries * health.interval_seconds)


class LocalTask:
    """One task: its containers (local commands, or a pod's containers: see :class:`TaskRuntime`),
    their client processes in one process group."""

    def __init__(
        self,
        task_id: str,
        spec: TaskSpec,
        client: httpx.Client,
        on_event: EventSink,
        on_change: Callable[[], None],
        in_service: bool = True,
        runtime: TaskRuntime | None = None,
    ) -> None:
        self.task_id = task_id
        self.runtime: TaskRuntime = runtime or ProcessRuntime(client)
        self.spec = spec
        self.cfg = cfg = spec.cfg
        # A target of the edge once healthy. A rollout's new task is not, until the rollout
        # switches the edge to it; a draining task no longer is.
        self.in_service = in_service
        self.ports, self.entry_port = self.runtime.ports(cfg)
        self.phase = TaskPhase.STARTING
        self.created_at = datetime.now(UTC)
        self.created_monotonic = time.monotonic()
        self.healthy_at: datetime | None = None
        self.boot_seconds: float | None = None
        self.failure: TaskFailure | None = None
        self.pgid: int | None = None
        self._processes: dict[str, ChildProcess] = {}
        self._client = client
        self._on_event = on_event
        self._on_change = on_change
        self._lock = threading.Lock()
        self._stop_lock = threading.Lock()  # one stop at a time; a second caller waits for it
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"task-{task_id}", daemon=True)

    @property
    def revision(self) -> int:
        return self.spec.revision

    @property
    def version(self) -> str:
        return self.spec.version

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def _set_phase(self, phase: TaskPhase) -> None:
        with self._lock:
            self.phase = phase
        self._on_change()

    def _fail(self, container: str, reason: str) -> None:
        process = self._processes.get(container)
        tail = process.tail(40) if process is not None else []
        with self._lock:
            if self.phase not in (TaskPhase.STARTING, TaskPhase.HEALTHY):
                return
            self.failure = TaskFailure(self.task_id, container, reason, tail, datetime.now(UTC))
            self.phase = TaskPhase.FAILED
        self._on_change()

    def _launch(self, container: Container, one_off: bool = False) -> ChildProcess:
        # The first container leads the task's process group. A one-off container leads a group of its
        # own: it exits early, and a group whose leader is gone can no longer be joined.
        return self.runtime.launch(self, container, process_group=0 if one_off else self.pgid or 0)

    def _probe(self, container: Container) -> bool:
        return self.runtime.probe(self, container)

    def _run(self) -> None:
        try:
            if self._start_containers():
                self._watch()
        except Exception as exc:  # a bug here must surface as a failed task, not a silent thread death
            self._fail(self.cfg.entry_container.name, f"supervisor error: {exc!r}")

    def _start_containers(self) -> bool:
        order = startup_order(self.cfg.containers)
        one_offs = run_to_completion(self.cfg.containers)
        try:
            self.runtime.prepare(self)
        except ProcessStartError as exc:
            self._fail(self.cfg.entry_container.name, str(exc))
            return False
        healthy: set[str] = set()  # passed their health check, or (one-off) exited as required
        launched_at: dict[str, float] = {}
        while not self._stop.is_set():
            for container in order:
                if container.name in launched_at or not all(
                    dependency_met(container, dep, launched_at, healthy) for dep in container.depends_on
                ):
                    continue
                try:
                    process = self._launch(container, one_off=container.name in one_offs)
                except ProcessStartError as exc:
                    self._fail(container.name, str(exc))
                    return False
                if self.pgid is None and container.name not in one_offs:
                    self.pgid = process.pgid
                self._processes[container.name] = process
                launched_at[container.name] = time.monotonic()
            for name, started in launched_at.items():
                if name in healthy:
                    continue
                container = self.cfg.container(name)
                process = self._processes[name]
                code = process.returncode
                if name in one_offs:
                    # Run to completion (ECS: a non-essential container): its exit is what the
                    # containers after it wait for, and a failure where success is required fails the task.
                    if code is None:
                        continue
                    if code != 0 and one_offs[name] == "success":
                        self._fail(
                            name, f"container {name} exited with code {code}; the task needs it to succeed"
                        )
                        return False
                    healthy.add(name)
                    continue
                if code is not None:
                    self._fail(name, f"container {name} exited with code {code} before it was healthy")
                    return False
                if self._probe(container):
                    healthy.add(name)
                    continue
                waited = time.monotonic() - started
                limit = health_deadline_seconds(container)
                if waited > limit:
                    self._fail(
                        name,
                        f"container {name} not healthy after {waited:.0f} s "
                        f"({self.runtime.probe_description(self, container)})",
                    )
                    return False
            if len(healthy) == len(order):
                with self._lock:
                    if self.phase is not TaskPhase.STARTING:
                        return False
                    self.phase = TaskPhase.HEALTHY
                    self.healthy_at = datetime.now(UTC)
                    self.boot_seconds = time.monotonic() - self.created_monotonic
                self._on_event("task", f"task {self.task_id} healthy in {self.boot_seconds:.2f} s")
                self._on_change()
                return True
            self._stop.wait(self.runtime.startup_probe_seconds)
        return False

    def _watch(self) -> None:
        one_offs = run_to_completion(self.cfg.containers)
        failures = dict.fromkeys(self._processes, 0)
        last_ok = dict.fromkeys(self._processes, time.monotonic())
        # Each container is checked at the runtime's pace for it (a pod: its health check interval);
        # an exit is noticed within a second whatever the pace.
        next_check = dict.fromkeys(self._processes, 0.0)
        while not self._stop.wait(LIVENESS_PROBE_SECONDS):
            for name, process in self._processes.items():
                if name in one_offs:
                    continue  # it has done its work and exited
                code = process.returncode
                if code is not None:
                    self._fail(name, f"container {name} exited with code {code}")
                    return
                container = self.cfg.container(name)
                if time.monotonic() < next_check[name]:
                    continue
                next_check[name] = time.monotonic() + self.runtime.liveness_seconds(container)
                if self._probe(container):
                    failures[name] = 0
                    last_ok[name] = time.monotonic()
                    continue
                failures[name] += 1
                # As ECS: unhealthy after `retries` failed checks spread over the check interval.
                if time.monotonic() - last_ok[name] >= container.health.retries * (
                    container.health.interval_seconds
                ):
                    self._fail(name, f"container {name} unhealthy: {failures[name]} failed health checks")
                    return

    def mark_stopping(self) -> None:
        """Taken out of service now; `stop()` (in another thread) does the stopping."""
        with self._lock:
            self.in_service = False
            if self.phase is not TaskPhase.STOPPED:
                self.phase = TaskPhase.STOPPING

    def drain(self) -> None:
        """Out of service, processes untouched: it finishes what it holds before `stop()`.

        A draining task is no longer checked for failure: losing health now changes nothing.
        """
        with self._lock:
            self.in_service = False
            if self.phase in (TaskPhase.STARTING, TaskPhase.HEALTHY, TaskPhase.FAILED):
                self.phase = TaskPhase.DRAINING
        self._on_change()

    def stop(self) -> None:
        """Stop gracefully: the entry container first (no new requests), then the others, each with
        SIGTERM and its ``stop_timeout_seconds``, then SIGKILL for whatever is left in the group."""
        with self._stop_lock:
            self._stop_now()

    def _stop_now(self) -> None:
        with self._lock:
            if self.phase is TaskPhase.STOPPED:
                return
            self.in_service = False
            self.phase = TaskPhase.STOPPING
        self._stop.set()
        self._on_change()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=10)
        for container in reversed(startup_order(self.cfg.containers)):
            process = self._processes.get(container.name)
            if process is not None:
                self.runtime.stop_container(self, container, process)
        # Anything a command forked and left behind (a shell's child, a worker) goes too.
        if self.pgid is not None and group_alive(self.pgid):
            kill_group(self.pgid, signal.SIGTERM)
            deadline = time.monotonic() + 2
            while group_alive(self.pgid) and time.monotonic() < deadline:
                time.sleep(0.05)
            kill_group(self.pgid, signal.SIGKILL)
        self.runtime.cleanup(self)
        self._set_phase(TaskPhase.STOPPED)

    # -- inspection ---------------------------------------------------------------------------------

    @property
    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self._processes.items()}

    def exit_codes(self) -> dict[str, int | None]:
        """Each started container's exit code (None while it runs), in start order."""
        return {name: p.returncode for name, p in self._processes.items()}

    def output_tail(self, container: str, lines: int = 20) -> list[str]:
        process = self._processes.get(container)
        return process.tail(lines) if process is not None else []


@dataclass
class ServiceSnapshot:
    """What the controller observes of the service at one instant."""

    desired: int
    running: int  # tasks with processes (starting, healthy, failing, draining or stopping)
    healthy: int  # healthy targets: healthy tasks in service (the target group's healthy count)
    healthy_tasks: list[LocalTask]
    tasks: list[LocalTask]
    tasks_started: int
    attempts_this_wake: int
    gave_up: bool
    last_failure: TaskFailure | None
    problems: list[str] = field(default_factory=list)
    spec: TaskSpec | None = None
    rollout: Rollout | None = None


@dataclass
class Rollout:
    """A rolling deploy in progress: what the service must not touch while it runs."""

    old_spec: TaskSpec
    new_spec: TaskSpec
    new_tasks: list[LocalTask]
    old_tasks: list[LocalTask] = field(default_factory=list)
    # Set when the service is scaled to zero mid-deploy (a forced sleep, the twin stopping).
    cancelled: threading.Event = field(default_factory=threading.Event)
    # A cold service's check: one task of the new revision runs out of service until healthy, then
    # stops; nothing is switched or drained.
    trial: bool = False


class LocalService:
    """Keeps `desired` tasks running; replaces failed ones with bounded, exponential backoff."""

    def __init__(
        self,
        cfg: AppConfig,
        on_event: EventSink,
        on_change: Callable[[], None] | None = None,
        max_attempts: int = 4,
        backoff_base_seconds: float = 1.0,
        backoff_max_seconds: float = 30.0,
        runtime: TaskRuntime | None = None,
        task_prefix: str = "",
    ) -> None:
        self._spec = TaskSpec(cfg)
        # Before each task's id: an internal service's tasks are told apart from the app's ("osrm-t1").
        self.task_prefix = task_prefix
        self._rollout: Rollout | None = None
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self._on_event = on_event
        self._on_change_hook = on_change
        self._client = httpx.Client(trust_env=False, timeout=3.0)
        self.runtime: TaskRuntime = runtime or ProcessRuntime(self._client)
        self._lock = threading.RLock()
        self._wakeup = threading.Event()
        self._closed = threading.Event()
        self._desired = 0
        self._tasks: list[LocalTask] = []
        self._stoppers: list[threading.Thread] = []
        self._counter = 0
        self._attempts = 0  # task starts since the last wake (or the last healthy task)
        self._gave_up = False
        self._next_attempt_at = 0.0
        self._last_failure: TaskFailure | None = None
        self._failures_seen: set[str] = set()
        self._all_tasks: list[LocalTask] = []  # for the final check that nothing is left running
        self._thread = threading.Thread(target=self._loop, name="local-service", daemon=True)

    def start(self) -> None:
        self._thread.start()

    @property
    def spec(self) -> TaskSpec:
        """The revision new tasks run (the one a deploy made current)."""
        return self._spec

    @property
    def cfg(self) -> AppConfig:
        return self._spec.cfg

    def _changed(self) -> None:
        self._wakeup.set()
        if self._on_change_hook is not None:
            self._on_change_hook()

    # -- commands (like ecs:UpdateService) ------------------------------------------------------------

    @property
    def desired(self) -> int:
        return self._desired

    def set_desired(self, count: int) -> None:
        with self._lock:
            if count > 0 and self._desired == 0:
                # A new wake: a fresh, bounded series of attempts.
                self._attempts = 0
                self._gave_up = False
                self._next_attempt_at = 0.0
            if count == 0 and self._rollout is not None:
                self._rollout.cancelled.set()  # nothing to roll onto any more: the rollout stops
            self._desired = count
        self._wakeup.set()

    def retry_now(self) -> bool:
        """After giving up, try again at once (an explicit `warmkeeper wake`). True if it had given up."""
        with self._lock:
            was = self._gave_up
            if was:
                self._attempts = 0
                self._gave_up = False
                self._next_attempt_at = 0.0
        self._wakeup.set()
        return was

    # -- the scheduler loop ---------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed.is_set():
            self._wakeup.wait(0.2)
            self._wakeup.clear()
            if self._closed.is_set():
                return
            try:
                self._reconcile()
            except Exception as exc:  # keep scheduling: a bug is reported, not fatal
                self._on_event("problem", f"service scheduler error: {exc!r}")

    def _reconcile(self) -> None:
        now = time.monotonic()
        with self._lock:
            rollout = self._rollout
            for task in list(self._tasks):
                if task.phase is TaskPhase.HEALTHY and task.in_service and self._attempts:
                    self._attempts = 0
                if (
                    rollout is not None
                    and task in rollout.new_tasks
                    and not task.in_service
                    and task.phase is TaskPhase.FAILED
                    and task.task_id not in self._failures_seen
                ):
                    # Before the switch, the rollout reports its task's failure (with its output) and
                    # stops it; after the switch the task is the service's, failures included.
                    self._failures_seen.add(task.task_id)
                    continue
                if task.phase is TaskPhase.FAILED and task.task_id not in self._failures_seen:
                    self._failures_seen.add(task.task_id)
                    assert task.failure is not None
                    self._last_failure = task.failure
                    delay = min(
                        self.backoff_base_seconds * 2 ** max(0, self._attempts - 1), self.backoff_max_seconds
                    )
                    self._next_attempt_at = now + delay
                    left = self.max_attempts - self._attempts
                    retry = f"retrying in {delay:.0f} s" if left > 0 else "no attempt left"
                    self._on_event(
                        "problem",
                        f"{task.failure.describe()}\n  attempt {self._attempts}/{self.max_attempts}; {retry}",
                    )
                    self._stop_in_background(task)
                if task.phase is TaskPhase.STOPPED:
                    self._tasks.remove(task)
            if rollout is not None:
                # The rollout owns the transition: no replacement, no surplus stop meanwhile.
                self._stoppers = [t for t in self._stoppers if t.is_alive()]
                return
            active = [t for t in self._tasks if t.phase in (TaskPhase.STARTING, TaskPhase.HEALTHY)]
            if len(active) < self._desired and not self._gave_up and now >= self._next_attempt_at:
                if self._attempts >= self.max_attempts:
                    self._gave_up = True
                    self._on_event(
                        "problem",
                        f"gave up after {self._attempts} failed task starts; fix the app, then "
                        "`warmkeeper wake --env local` (or the next wake) tries again",
                    )
                    self._changed()
                else:
                    self._launch()
            elif len(active) > self._desired:
                # Stop the ones not yet serving first, then the oldest.
                surplus = sorted(active, key=lambda t: (t.phase is TaskPhase.HEALTHY, t.created_monotonic))
                for task in surplus[: len(active) - self._desired]:
                    self._stop_in_background(task)
            self._stoppers = [t for t in self._stoppers if t.is_alive()]

    def _launch(self, spec: TaskSpec | None = None, in_service: bool = True) -> LocalTask:
        self._counter += 1
        spec = spec or self._spec
        if in_service:
            self._attempts += 1
        task = LocalTask(
            f"{self.task_prefix}t{self._counter}",
            spec,
            self._client,
            self._on_event,
            self._changed,
            in_service,
            self.runtime,
        )
        self._tasks.append(task)
        self._all_tasks.append(task)
        ports = ", ".join(f"{name} :{port}" for name, port in task.ports.items())
        retried = in_service and self._attempts > 1
        attempt = f" (attempt {self._attempts}/{self.max_attempts})" if retried else ""
        self._on_event("task", f"task {task.task_id} ({spec.version}) starting{attempt}: {ports}")
        task.start()
        return task

    # -- rolling deploys (driven by warmkeeper.local.rollout) -------------------------------------------

    def begin_rollout(self, spec: TaskSpec, verify_cold: bool = False) -> Rollout | None:
        """Make `spec` current. Cold (nothing wanted) without `verify_cold`: that is all, the next wake
        runs it; returns None. Cold with it: one trial task of `spec`, out of service (a trial rollout:
        :meth:`end_rollout` stops it, and gives the old revision back if it failed).

        Otherwise start as many tasks of `spec` as are desired, beside the running ones (ECS's
        maximum 200 %), out of service until :meth:`promote_rollout`; returns the rollout.
        """
        with self._lock:
            if self._rollout is not None:
                raise RuntimeError("a rollout is already in progress")
            old_spec, self._spec = self._spec, spec
            if self._desired == 0 and not verify_cold:
                return None
            if self._desired == 0:
                rollout = Rollout(old_spec=old_spec, new_spec=spec, new_tasks=[], trial=True)
                self._rollout = rollout
                rollout.new_tasks.append(self._launch(spec, in_service=False))
                self._changed()
                return rollout
            old_tasks = [t for t in self._tasks if t.phase in (TaskPhase.STARTING, TaskPhase.HEALTHY)]
            rollout = Rollout(old_spec=old_spec, new_spec=spec, new_tasks=[], old_tasks=old_tasks)
            self._rollout = rollout
            for _ in range(self._desired):
                rollout.new_tasks.append(self._launch(spec, in_service=False))
        self._changed()
        return rollout

    def promote_rollout(self, rollout: Rollout) -> list[LocalTask]:
        """The new tasks become the service's targets; every other task still running drains.

        Returns the tasks that now drain (they keep their processes until the rollout stops them).
        """
        with self._lock:
            if self._rollout is not rollout:
                raise RuntimeError("this rollout is not the one in progress")
            for task in rollout.new_tasks:
                task.in_service = True
            draining = [
                t
                for t in self._tasks
                if t not in rollout.new_tasks
                and t.phase in (TaskPhase.STARTING, TaskPhase.HEALTHY, TaskPhase.FAILED)
            ]
            rollout.old_tasks = draining
            # A healthy new revision ends any series of failed starts (e.g. a deploy that fixes it).
            self._attempts = 0
            self._gave_up = False
            self._last_failure = None
        for task in draining:
            task.drain()
        self._changed()
        return draining

    def end_rollout(self, rollout: Rollout, succeeded: bool) -> None:
        """Close the rollout. A failed one gives the old revision back and stops its new tasks."""
        with self._lock:
            if self._rollout is not rollout:
                return
            if not succeeded:
                self._spec = rollout.old_spec
            if not succeeded or rollout.trial:
                for task in rollout.new_tasks:
                    task.mark_stopping()
            self._rollout = None
        if not succeeded or rollout.trial:
            for task in rollout.new_tasks:
                task.stop()
        self._changed()

    def _stop_in_background(self, task: LocalTask) -> None:
        if task.phase in (TaskPhase.STOPPING, TaskPhase.STOPPED):
            return

        def stop() -> None:
            task.stop()
            self._on_event("task", f"task {task.task_id} stopped")
            self._changed()

        task.mark_stopping()
        thread = threading.Thread(target=stop, name=f"stop-{task.task_id}", daemon=True)
        self._stoppers.append(thread)
        thread.start()

    # -- observation ----------------------------------------------------------------------------------

    def snapshot(self) -> ServiceSnapshot:
        with self._lock:
            tasks = list(self._tasks)
            healthy = [t for t in tasks if t.phase is TaskPhase.HEALTHY and t.in_service]
            problems: list[str] = []
            if self._gave_up and self._last_failure is not None:
                problems.append(
                    f"gave up after {self._attempts} failed task starts; last: {self._last_failure.reason}"
                )
            elif self._last_failure is not None and not healthy and self._desired > 0:
                problems.append(
                    f"task start failed (attempt {self._attempts}/{self.max_attempts}): "
                    f"{self._last_failure.reason}"
                )
            return ServiceSnapshot(
                desired=self._desired,
                running=sum(1 for t in tasks if t.phase is not TaskPhase.STOPPED),
                healthy=len(healthy),
                spec=self._spec,
                rollout=self._rollout,
                healthy_tasks=healthy,
                tasks=tasks,
                tasks_started=self._counter,
                attempts_this_wake=self._attempts,
                gave_up=self._gave_up,
                last_failure=self._last_failure,
                problems=problems,
            )

    def close(self) -> None:
        """Stop every task (gracefully, in parallel) and the scheduler; returns when all are gone."""
        with self._lock:
            self._desired = 0
            if self._rollout is not None:
                self._rollout.cancelled.set()
            self._closed.set()
            for task in self._tasks:
                if task.phase is not TaskPhase.STOPPED:
                    self._stop_in_background(task)
            stoppers = list(self._stoppers)
        self._wakeup.set()
        for thread in stoppers:
            thread.join()
        # A task whose stop began elsewhere (no stopper thread) is stopped here, synchronously.
        for task in self._tasks:
            if task.phase is not TaskPhase.STOPPED:
                task.stop()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        with contextlib.suppress(Exception):
            self._client.close()

    def leftovers(self) -> list[str]:
        """Process groups of any task ever started that still have a process, and whatever the runtime
        made for a task that still exists (should be none)."""
        found = [
            f"task {task.task_id}: process group {task.pgid} still has processes"
            for task in self._all_tasks
            if task.pgid is not None and group_alive(task.pgid)
        ]
        for task in self._all_tasks:
            found += self.runtime.leftovers(task)
        return found
