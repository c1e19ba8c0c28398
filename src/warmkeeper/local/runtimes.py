"""How the twin runs a task's containers: as local processes, or as a Podman pod of the real images.

The supervisor (:mod:`warmkeeper.local.supervisor`) owns a task's life: start order, health,
failure, replacement and stop order, the same whatever runs the containers. A runtime says only how
one container starts, is checked and is stopped (:class:`TaskRuntime`):

- :class:`ProcessRuntime` (the default): each container's ``local`` command as a child process on a
  loopback port of the task's own; the health check is an HTTP GET of ``health.path``.
- :class:`ContainerRuntime`: each task a Podman pod of the images `warmkeeper images --local` built.
  A pod plays a Fargate task with awsvpc networking: its containers share one network namespace, so
  they reach each other on 127.0.0.1 at the ports of the task definition, and only the entry
  container's port is published, on a loopback port of the task's own (the edge's target). Each
  container runs with the task definition's environment (not the ``local`` command), its memory as a
  hard limit and its cpu units as a relative share, and the pod gets the task's cpu as its limit.
  The health checks are the task definition's exact commands (``CMD`` / ``CMD-SHELL``), run by the
  twin with ``podman exec`` at the check's interval, as the ECS agent runs them (Podman does not run
  an image's HEALTHCHECK by itself here). A container is stopped with ``podman stop -t
  <stop_timeout>``: SIGTERM (the image's STOPSIGNAL), then SIGKILL when the timeout passes, as ECS
  does. Every pod is labelled with the twin's process id: pods left by a twin that was killed are
  removed by the next one of the same app.

A runtime sees a task through :class:`RuntimeTask` (its id, config and ports), so this module does
not depend on the supervisor that drives it.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from typing import Protocol

import httpx

from warmkeeper.config import AppConfig, Container, EnvironmentSettings, expand_local
from warmkeeper.core.errors import UserError
from warmkeeper.images.build import local_image_tag
from warmkeeper.images.container_cli import Engine, EngineError, detect_engine, engine_environment, last_line
from warmkeeper.local.loopback import LOOPBACK, free_port, free_ports
from warmkeeper.local.process import ChildProcess, ProcessStartError, child_environment

# How often a starting task's health is probed: this bounds the wake overhead the twin adds.
PROCESS_STARTUP_PROBE_SECONDS = 0.05
# How often a healthy task is probed (the config's interval says when it counts as unhealthy).
LIVENESS_PROBE_SECONDS = 1.0


class RuntimeTask(Protocol):
    """What a runtime needs of the task it runs (the supervisor's task is one)."""

    @property
    def task_id(self) -> str: ...

    @property
    def cfg(self) -> AppConfig: ...

    @property
    def ports(self) -> dict[str, int]: ...

    @property
    def entry_port(self) -> int: ...


class TaskRuntime(Protocol):
    """How a task's containers run: as local processes (the default) or as a pod of containers.

    The task's life (start order, health, failure, stop order) is the supervisor's and is the
    same for every runtime; a runtime only says how one container starts, is checked and is stopped.
    """

    name: str
    startup_probe_seconds: float  # how often a starting container is checked

    def ports(self, cfg: AppConfig) -> tuple[dict[str, int], int]:
        """Each container's port as the runtime reaches it, and the entry's port on loopback."""
        ...

    def prepare(self, task: RuntimeTask) -> None:
        """Before the first container starts (e.g. create the pod); raise ProcessStartError."""
        ...

    def launch(self, task: RuntimeTask, container: Container, process_group: int) -> ChildProcess:
        """Start one container; its output and exit code are the returned child process's."""
        ...

    def probe(self, task: RuntimeTask, container: Container) -> bool:
        """Run the container's health check once (bounded by its timeout)."""
        ...

    def probe_description(self, task: RuntimeTask, container: Container) -> str: ...

    def liveness_seconds(self, container: Container) -> float:
        """How often a healthy container is checked."""
        ...

    def stop_container(self, task: RuntimeTask, container: Container, process: ChildProcess) -> None:
        """SIGTERM, at most the container's stop timeout, then SIGKILL."""
        ...

    def cleanup(self, task: RuntimeTask) -> None:
        """After every container stopped: remove what the runtime made for the task."""
        ...

    def leftovers(self, task: RuntimeTask) -> list[str]:
        """What of the task still exists after its stop (should be nothing)."""
        ...


class ProcessRuntime:
    """Each container's ``local`` command as a child process on a loopback port of the task's own;
    the health check is an HTTP GET of ``health.path`` on that port."""

    name = "processes"
    startup_probe_seconds = PROCESS_STARTUP_PROBE_SECONDS

    def __init__(self, client: httpx.Client) -> None:
        self._client = client

    def ports(self, cfg: AppConfig) -> tuple[dict[str, int], int]:
        # Distinct ports: the containers of one task share nothing else, and a port handed out twice
        # fails the second container's start with "address already in use".
        # In the app's task, each internal service also gets a port of the task's own: where the task
        # calls it (`{port:SERVICE}`: its Caddy's caller site, 5000 inside an ECS task).
        names = [c.name for c in cfg.containers]
        names += [s.name for s in cfg.services if s.name not in names]
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        return ports, ports[cfg.entry_container.name]

    def prepare(self, task: RuntimeTask) -> None:
        return None

    def launch(self, task: RuntimeTask, container: Container, process_group: int) -> ChildProcess:
        local = container.local
        if local is None:  # the config's check sends an app without local commands to the containers runtime
            raise UserError(f"container {container.name!r} has no local command: run the twin with its image")
        argv = [expand_local(part, container.name, task.ports) for part in local.command]
        extra = {k: expand_local(v, container.name, task.ports) for k, v in local.environment.items()}
        return ChildProcess(
            f"{task.task_id}/{container.name}",
            argv,
            cwd=(task.cfg.base_dir / local.cwd).resolve(),
            env=child_environment(extra),
            process_group=process_group,
        )

    def probe(self, task: RuntimeTask, container: Container) -> bool:
        url = f"http://{LOOPBACK}:{task.ports[container.name]}{container.health.path}"
        try:
            response = self._client.get(url, timeout=container.health.timeout_seconds)
        except httpx.HTTPError:
            return False
        return 200 <= response.status_code < 400

    def probe_description(self, task: RuntimeTask, container: Container) -> str:
        return f"GET {container.health.path} on port {task.ports[container.name]}"

    def liveness_seconds(self, container: Container) -> float:
        return LIVENESS_PROBE_SECONDS

    def stop_container(self, task: RuntimeTask, container: Container, process: ChildProcess) -> None:
        process.stop(timeout=container.stop_timeout_seconds)

    def cleanup(self, task: RuntimeTask) -> None:
        return None

    def leftovers(self, task: RuntimeTask) -> list[str]:
        return []


RUNTIMES = ("processes", "containers")
LABEL_APP = "io.warmkeeper.app"
LABEL_OWNER = "io.warmkeeper.owner-pid"
# A starting container is checked this often (each check is a `podman exec`, about 0.1-0.3 s).
POD_STARTUP_PROBE_SECONDS = 0.25
COMMAND_TIMEOUT_SECONDS = 60.0
# What `podman exec` exits with when the command itself cannot run (the OCI runtime's convention).
CANNOT_RUN_EXIT_CODES = (126, 127)


class ContainersError(UserError):
    """The containers runtime cannot run this app here (one line: what is missing, how to fix it)."""


def health_argv(container: Container) -> list[str]:
    """The task definition's health command as what `podman exec` runs (CMD: argv; CMD-SHELL: sh -c)."""
    command = container.health.command
    if not command:
        raise ContainersError(
            f"container {container.name}: no health.command; the containers runtime runs the task "
            'definition\'s health check, so set one (e.g. ["CMD", "wget", "-q", "-O", "-", URL])'
        )
    kind, *rest = command
    if kind == "CMD" and rest:
        return rest
    if kind == "CMD-SHELL" and len(rest) == 1:
        return ["/bin/sh", "-c", rest[0]]
    raise ContainersError(
        f"container {container.name}: health.command must start with CMD (argv) or CMD-SHELL (one string)"
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ContainerRuntime:
    """Runs each task as a pod (see the module's docstring); one per twin."""

    name = "containers"
    startup_probe_seconds = POD_STARTUP_PROBE_SECONDS

    def __init__(
        self,
        cfg: AppConfig,
        settings: EnvironmentSettings,
        engine: Engine | None = None,
    ) -> None:
        try:
            self.engine = engine or detect_engine("podman")
        except EngineError as exc:
            raise ContainersError(f"the containers runtime needs Podman (pods): {exc}") from None
        if not self.engine.is_podman:
            raise ContainersError("the containers runtime needs Podman (pods), not Docker")
        self.app = cfg.app.name
        self.task_cpu = settings.cpu
        self.owner = os.getpid()
        self._run_id = uuid.uuid4().hex[:6]
        self._cannot_run: dict[tuple[str, str], str] = {}
        self.check(cfg)
        self.sweep()

    # -- checks before anything runs ----------------------------------------------------------------

    def check(self, cfg: AppConfig) -> None:
        """Every container has a health command and an image here; else one line saying what to do."""
        for container in cfg.containers:
            if container.health.command or not container.entry:
                health_argv(container)
            image = self.image_of(cfg, container)
            if not self.engine.image_exists(image):
                how = (
                    f"pull it: `{self.engine.name} pull {image}`"
                    if container.image
                    else "build it with `make images-local` (warmkeeper images --env local --local)"
                )
                raise ContainersError(
                    f"container {container.name}: image {image} is not on this machine; {how}"
                )

    @staticmethod
    def image_of(cfg: AppConfig, container: Container) -> str:
        """The container's `image`, else the tag `warmkeeper images --local` gives its build."""
        return container.image or local_image_tag(cfg, container)

    def _podman(
        self, *args: str, timeout: float = COMMAND_TIMEOUT_SECONDS
    ) -> subprocess.CompletedProcess[str]:
        return self.engine.run(*args, timeout=timeout)

    def sweep(self) -> list[str]:
        """Remove this app's pods whose twin is gone (killed before it could stop them)."""
        listed = self._podman("pod", "ps", "--filter", f"label={LABEL_APP}={self.app}", "--format", "json")
        removed: list[str] = []
        if listed.returncode != 0:
            return removed
        for pod in json.loads(listed.stdout or "[]") or []:
            labels = pod.get("Labels") or {}
            try:
                owner = int(labels.get(LABEL_OWNER, "0"))
            except ValueError:
                owner = 0
            if owner and owner != self.owner and not _pid_alive(owner):
                self._podman("pod", "rm", "--force", "--time", "0", pod["Name"])
                removed.append(pod["Name"])
        return removed

    # -- the TaskRuntime protocol ----------------------------------------------------------------------

    def pod_name(self, task: RuntimeTask) -> str:
        return f"wk-{self.app}-{self._run_id}-{task.task_id}"

    def container_name(self, task: RuntimeTask, container: Container) -> str:
        return f"{self.pod_name(task)}-{container.name}"

    def ports(self, cfg: AppConfig) -> tuple[dict[str, int], int]:
        # Inside the pod every container listens on its task-definition port, out of the host's
        # reach; only the entry's is published, on a loopback port of this task's own.
        entry = free_port()
        return {cfg.entry_container.name: entry}, entry

    def prepare(self, task: RuntimeTask) -> None:
        entry = task.cfg.entry_container
        argv = [
            "pod",
            "create",
            "--name",
            self.pod_name(task),
            "--label",
            f"{LABEL_APP}={self.app}",
            "--label",
            f"{LABEL_OWNER}={self.owner}",
            "--publish",
            f"{LOOPBACK}:{task.entry_port}:{entry.port}",
        ]
        if self.task_cpu:
            argv += ["--cpus", f"{self.task_cpu / 1024:g}"]  # the task's cpu: a hard limit, as on Fargate
        result = self._podman(*argv)
        if result.returncode != 0:
            raise ProcessStartError(
                f"task {task.task_id}: `podman pod create` failed: {last_line(result.stderr)}"
            )

    def launch(self, task: RuntimeTask, container: Container, process_group: int) -> ChildProcess:
        image = self.image_of(task.cfg, container)
        argv = [
            self.engine.executable,
            "run",
            "--rm",
            "--pod",
            self.pod_name(task),
            "--name",
            self.container_name(task, container),
            "--label",
            f"{LABEL_APP}={self.app}",
            "--stop-timeout",
            str(container.stop_timeout_seconds),
        ]
        if container.cpu:
            argv += ["--cpu-shares", str(max(2, container.cpu))]  # ECS: container cpu is a share
        if container.memory:
            argv += ["--memory", f"{container.memory}m"]  # ECS: container memory is a hard limit
        for key, value in container.environment.items():
            argv += ["--env", f"{key}={value}"]
        argv.append(image)
        # `podman run` stays attached: the container's output is the child's, and so is its exit code.
        return ChildProcess(
            f"{task.task_id}/{container.name}",
            argv,
            cwd=task.cfg.base_dir,
            env=engine_environment(),
            process_group=process_group,
        )

    def probe(self, task: RuntimeTask, container: Container) -> bool:
        if not container.health.command:
            # The entry without a command: probed on its port, as the load balancer would (check()
            # refuses any other container without one).
            return self._http_probe(task, container)
        argv = ["exec", self.container_name(task, container), *health_argv(container)]
        try:
            result = self.engine.run(*argv, timeout=container.health.timeout_seconds)
        except EngineError:  # the check's timeout: a failed check, as on ECS
            return False
        key = (task.task_id, container.name)
        if result.returncode in CANNOT_RUN_EXIT_CODES:
            # 126: found but not executable, 127: not found (e.g. wget missing from the image). The
            # check did not run at all: say so, with the engine's own words, instead of "not healthy".
            self._cannot_run[key] = (
                last_line(result.stderr or result.stdout) or f"exit code {result.returncode}"
            )
        else:
            self._cannot_run.pop(key, None)
        return result.returncode == 0

    def _http_probe(self, task: RuntimeTask, container: Container) -> bool:
        url = f"http://{LOOPBACK}:{task.entry_port}{container.health.path}"
        try:
            with httpx.Client(trust_env=False, timeout=container.health.timeout_seconds) as client:
                return 200 <= client.get(url).status_code < 400
        except httpx.HTTPError:
            return False

    def probe_description(self, task: RuntimeTask, container: Container) -> str:
        command = container.health.command
        if not command:
            return f"GET {container.health.path} on port {task.entry_port} (no health command)"
        where = f"health command {json.dumps(command)} in {self.container_name(task, container)}"
        cannot = self._cannot_run.get((task.task_id, container.name))
        if cannot is not None:
            return f"{where} cannot run: {cannot}; use a command the image has"
        return where

    def liveness_seconds(self, container: Container) -> float:
        return float(container.health.interval_seconds)

    def stop_container(self, task: RuntimeTask, container: Container, process: ChildProcess) -> None:
        if process.alive:
            with contextlib.suppress(EngineError):
                self._podman(
                    "stop",
                    "--time",
                    str(container.stop_timeout_seconds),
                    self.container_name(task, container),
                    timeout=container.stop_timeout_seconds + 30,
                )
        # The attached `podman run` returns once the container is gone.
        if not process.wait(10):
            process.stop(timeout=2)

    def cleanup(self, task: RuntimeTask) -> None:
        with contextlib.suppress(EngineError):
            self._podman("pod", "rm", "--force", "--time", "0", self.pod_name(task))

    def leftovers(self, task: RuntimeTask) -> list[str]:
        try:
            exists = self._podman("pod", "exists", self.pod_name(task), timeout=30).returncode == 0
        except EngineError:
            return [f"task {task.task_id}: cannot tell whether pod {self.pod_name(task)} is gone"]
        return [f"task {task.task_id}: pod {self.pod_name(task)} still exists"] if exists else []


def task_runtime(
    cfg: AppConfig, settings: EnvironmentSettings, name: str | None = None
) -> ContainerRuntime | None:
    """The runtime `name` (default: the local environment's `runtime`); None means processes."""
    chosen = name or settings.runtime
    if chosen not in RUNTIMES:
        raise ContainersError(f"--runtime {chosen!r}: use one of {', '.join(RUNTIMES)}")
    return ContainerRuntime(cfg, settings) if chosen == "containers" else None
