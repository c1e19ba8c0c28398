"""A compose file as one Fargate task (`warmkeeper init --from compose.yaml`).

Every service becomes a container of one task, since a task is what scales to zero and wakes as one.
What has an ECS meaning is mapped; every other key is reported as ignored or refused, never dropped
silently. The differences that change behaviour are each given a visible outcome:

- Containers of one Fargate task share one network namespace (awsvpc, the only mode on Fargate): they
  reach each other on 127.0.0.1 and cannot resolve compose's service names (ECS `links` exist in bridge
  mode only). ``service:port`` in an environment value is rewritten to ``127.0.0.1:port``; what cannot
  be rewritten (inside an image, or a file) is listed with its file and key.
- A database or cache keeps its data in a volume: in a task that sleeps, the data would go at every
  sleep. Such a service is refused (exit 2), naming it and its volume, unless ``--external NAME=URL``
  names the existing service to use instead.
- One namespace means one port per listener: two containers on one port are refused.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from warmkeeper.aws_limits import FARGATE_TASK_SIZES
from warmkeeper.core.errors import UserError
from warmkeeper.onboard.starter import AppSpec, ContainerSpec, HealthSpec, app_name_from, render_config

# Compose's dependency conditions as ECS names them (the config's dependency_conditions).
CONDITIONS = {
    "service_started": "start",
    "service_healthy": "healthy",
    "service_completed_successfully": "success",
}
# Service keys with no place in a Fargate task definition, refused: the app would behave differently.
REFUSED_KEYS = {
    "privileged": "Fargate runs no privileged container",
    "devices": "Fargate gives containers no host devices",
    "cap_add": "Fargate allows only the SYS_PTRACE capability to be added",
    "pid": "a Fargate task cannot share the host's process namespace",
    "ipc": "a Fargate task cannot share the host's IPC namespace",
    "extra_hosts": "awsvpc (the only network mode on Fargate) takes no extra hosts entries",
    "sysctls": "warmkeeper sets no kernel parameters",
    "userns_mode": "Fargate has no user namespace setting",
    "cgroup_parent": "Fargate has no cgroup parent",
    "security_opt": "warmkeeper sets no security options",
}
# Service keys read and mapped by this module.
MAPPED_KEYS = {
    "image",
    "build",
    "ports",
    "expose",
    "environment",
    "env_file",
    "command",
    "entrypoint",
    "healthcheck",
    "depends_on",
    "secrets",
    "deploy",
    "cpus",
    "mem_limit",
    "mem_reservation",
    "profiles",
    "volumes",
    "stop_grace_period",
    "network_mode",
    "links",
}
# Service keys whose job ECS or warmkeeper does another way: ignored, with why.
IGNORED_KEYS = {
    "container_name": "ECS names containers after the service",
    "restart": "ECS replaces a task whose essential container stops",
    "labels": "not carried to the task definition",
    "networks": "the containers of one task share one network namespace",
    "logging": "ECS sends each container's output to CloudWatch Logs",
    "hostname": "a task's containers share one host name",
    "domainname": "a task's containers share one host name",
    "tty": "no terminal on Fargate",
    "stdin_open": "no terminal on Fargate",
    "init": "not mapped",
    "working_dir": "not mapped: set WORKDIR in the image",
    "user": "not mapped: set USER in the image",
    "tmpfs": "a task's writable layer is ephemeral already",
    "ulimits": "not mapped",
    "platform": "the environment's architecture (arm64 or x86_64) decides",
    "pull_policy": "ECS pulls the image at every task start",
    "stop_signal": "ECS sends SIGTERM",
}
TOP_LEVEL_KEYS = {"services", "volumes", "secrets", "networks", "configs", "name", "version"}
# Images whose service keeps state even without a named volume.
STATEFUL_IMAGES = (
    "postgres",
    "mysql",
    "mariadb",
    "mongo",
    "elasticsearch",
    "opensearch",
    "rabbitmq",
    "minio",
    "cassandra",
    "clickhouse",
)
# Caches: without a volume, starting empty at each wake is what a cache does; imported, with a note.
CACHE_IMAGES = ("redis", "valkey", "memcached")
MANAGED_OPTIONS = (
    "a managed service instead (for a database: Aurora Serverless v2, which can pause at 0 ACUs, or "
    "DynamoDB on demand, billed per request; both cost little while the app sleeps), or an existing one"
)
LOOPBACK = "127.0.0.1"
_DOCKERFILE_WORD = {"command": "CMD", "entrypoint": "ENTRYPOINT"}


class ComposeError(UserError):
    """A compose file `init` cannot turn into a task, said in one line with the fix (exit 2)."""


@dataclass
class ImportResult:
    app: AppSpec
    text: str
    report: list[str]
    files: dict[Path, bytes] = field(default_factory=dict)  # what `init` writes beside the config


def _seconds(value: object, where: str) -> int:
    """A compose duration ("1m30s", "10s", "500ms", or a number of seconds) in whole seconds."""
    if isinstance(value, int | float):
        return math.ceil(value)
    text = str(value).strip()
    total = 0.0
    for amount, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s|us|ns)", text):
        total += float(amount) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}[unit]
    if not re.fullmatch(r"((\d+(\.\d+)?)(h|ms|m|s|us|ns))+", text):
        raise ComposeError(f"{where}: {value!r} is not a compose duration (like 30s or 1m30s)")
    return math.ceil(total)


def _mebibytes(value: object, where: str) -> int:
    """A compose byte value ("512m", "1g", "268435456") in MiB."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([kmg]?)i?b?", str(value).strip().lower())
    if not match:
        raise ComposeError(f"{where}: {value!r} is not a size (like 512M or 1G)")
    scale = {"": 1 / 1048576, "k": 1 / 1024, "m": 1, "g": 1024}[match.group(2)]
    return math.ceil(float(match.group(1)) * scale)


def _argv(value: object) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(part) for part in value]  # type: ignore[attr-defined]


def _environment(value: object) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    result: dict[str, str] = {}
    for item in value or []:  # type: ignore[attr-defined]
        key, _, rest = str(item).partition("=")
        result[key] = rest
    return result


def _read_env_file(path: Path) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        result[key.strip()] = value.strip().strip("\"'")
    return result


def _container_port(entry: object) -> int | None:
    """The container side of a `ports` or `expose` entry."""
    if isinstance(entry, Mapping):
        target = entry.get("target")
        return int(target) if target is not None else None
    text = str(entry).split("/")[0]
    last = text.rsplit(":", 1)[-1]
    first = last.split("-")[0]
    return int(first) if first.isdigit() else None


def _fargate_size(cpu: int, memory: int) -> tuple[int, int]:
    """The smallest Fargate task size with at least this CPU and memory."""
    for task_cpu in sorted(FARGATE_TASK_SIZES):
        if task_cpu < cpu:
            continue
        for task_memory in FARGATE_TASK_SIZES[task_cpu]:
            if task_memory >= memory:
                return task_cpu, task_memory
    raise ComposeError(f"the services need {cpu} CPU units and {memory} MiB: more than one Fargate task has")


@dataclass
class _Service:
    name: str
    data: Mapping[str, Any]
    port: int | None = None
    published: bool = False
    stateful_volume: str | None = None
    stateful_image: bool = False


class _Importer:
    def __init__(self, path: Path, data: Mapping[str, Any], config_dir: Path) -> None:
        self.path = path
        self.base = path.parent
        self.data = data
        self.config_dir = config_dir
        self.report: list[str] = []
        self.files: dict[Path, bytes] = {}

    def note(self, where: str, outcome: str) -> None:
        self.report.append(f"  {where}: {outcome}")

    def where(self, service: str, key: str = "") -> str:
        return f"services.{service}" + (f".{key}" if key else "")


def _load(path: Path) -> Mapping[str, Any]:
    import yaml

    if not path.is_file():
        raise ComposeError(f"--from {path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ComposeError(f"--from {path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, Mapping) or not isinstance(data.get("services"), Mapping) or not data["services"]:
        raise ComposeError(f"--from {path}: no services: a compose file has a `services:` mapping")
    return data


def _named_volumes(service: Mapping[str, Any]) -> tuple[list[str], list[tuple[str, str]]]:
    """The service's named volumes, and its bind mounts as (source, target)."""
    named: list[str] = []
    binds: list[tuple[str, str]] = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, Mapping):
            kind, source, target = (
                volume.get("type", "volume"),
                volume.get("source"),
                volume.get("target", ""),
            )
            if kind == "bind" and source:
                binds.append((str(source), str(target)))
            elif kind == "volume" and source:
                named.append(str(source))
            continue
        parts = str(volume).split(":")
        if len(parts) == 1:
            continue  # an anonymous volume: nothing outlives the container
        source, target = parts[0], parts[1]
        if source.startswith((".", "/", "~")):
            binds.append((source, target))
        else:
            named.append(source)
    return named, binds


def import_compose(
    path: Path,
    *,
    app_name: str | None,
    entry: str | None,
    externals: Sequence[str],
    region: str,
    region_source: str,
    config_dir: Path,
) -> ImportResult:
    """The config text for `path`'s services, the report to print, and the files to write beside it."""
    data = _load(path)
    imp = _Importer(path, data, config_dir)
    report = imp.report
    report.append(f"{path}: services as the containers of one task (one network namespace, one size)")
    for key in data:
        if key not in TOP_LEVEL_KEYS and not str(key).startswith("x-"):
            imp.note(str(key), "ignored (no ECS meaning known to warmkeeper)")
    if "networks" in data:
        imp.note("networks", "ignored: the containers of one task share one network namespace")
    if "configs" in data:
        imp.note("configs", "ignored: bake the files into the image (COPY in its Dockerfile)")

    external: dict[str, str] = {}
    for item in externals:
        name, sep, url = item.partition("=")
        if not sep or not name or not url:
            raise ComposeError(f"--external {item!r}: use NAME=URL, e.g. db=postgres://user@host:5432/app")
        if name not in data["services"]:
            raise ComposeError(f"--external {name}: no service {name!r} in {path}")
        external[name] = url

    services: dict[str, _Service] = {}
    for name, service in data["services"].items():
        service = service or {}
        if service.get("profiles"):
            imp.note(imp.where(name), f"not imported: only in profiles {list(service['profiles'])}")
            continue
        if name in external:
            imp.note(imp.where(name), f"not imported: --external {name}={external[name]} is used instead")
            continue
        entry_service = _Service(name, service)
        named, _binds = _named_volumes(service)
        image = str(service.get("image", ""))
        image_base = image.rsplit("/", 1)[-1].split(":")[0].split("@")[0]
        if named:
            entry_service.stateful_volume = named[0]
        entry_service.stateful_image = image_base in STATEFUL_IMAGES
        if image_base in CACHE_IMAGES and not named:
            imp.note(
                imp.where(name),
                f"{image_base} without a volume: imported as a cache that starts empty at every wake "
                "(what it holds goes at every sleep)",
            )
        services[name] = entry_service

    stateful = [s for s in services.values() if s.stateful_volume or s.stateful_image]
    if stateful:
        first = stateful[0]
        holds = (
            f"its volume {first.stateful_volume!r}"
            if first.stateful_volume
            else f"image {first.data['image']}"
        )
        raise ComposeError(
            f"{path}: service {first.name!r} keeps state ({holds}), and a task that scales to zero would "
            f"lose it at every sleep: use {MANAGED_OPTIONS}: pass --external {first.name}=URL (e.g. "
            f"postgres://user@host:5432/db) and init gives its dependants that URL"
            + (f" (also stateful: {[s.name for s in stateful[1:]]})" if len(stateful) > 1 else "")
        )

    for name, svc in services.items():
        for key, why in REFUSED_KEYS.items():
            if key in svc.data:
                raise ComposeError(f"{path}: {imp.where(name, key)}: refused: {why}; remove it to import")
        mode = svc.data.get("network_mode")
        if mode is not None:
            raise ComposeError(
                f"{path}: {imp.where(name, 'network_mode')}: {mode!r} refused: on Fargate every task has "
                "its own network namespace (awsvpc); remove it to import"
            )
        ports = [_container_port(p) for p in svc.data.get("ports") or []]
        exposed = [_container_port(p) for p in svc.data.get("expose") or []]
        known = [p for p in [*ports, *exposed] if p is not None]
        svc.published = bool(ports)
        svc.port = known[0] if known else None
        if len(set(known)) > 1:
            imp.note(
                imp.where(name, "ports"),
                f"the task reaches port {known[0]} only (listed: {sorted(set(known))})",
            )

    for name, svc in services.items():
        if svc.port is None:
            raise ComposeError(
                f"{path}: {imp.where(name)}: no port: publish or expose the port it listens on "
                "(expose: ['8000']); every container of a task is reached on a port of its own"
            )
    by_port: dict[int, str] = {}
    for name, svc in services.items():
        assert svc.port is not None
        if svc.port in by_port:
            raise ComposeError(
                f"{path}: services {by_port[svc.port]!r} and {name!r} both listen on port {svc.port}: the "
                "containers of one task share one network namespace, so one port has one listener; make "
                f"{name!r} listen on another port (its command or environment) and expose that port"
            )
        by_port[svc.port] = name

    candidates = [name for name, svc in services.items() if svc.published]
    if entry is not None:
        if entry not in services:
            raise ComposeError(f"--entry {entry}: no imported service of that name ({list(services)})")
        entry_name = entry
    elif len(candidates) == 1:
        entry_name = candidates[0]
    elif not candidates and len(services) == 1:
        entry_name = next(iter(services))
    else:
        listed = candidates or list(services)
        raise ComposeError(
            f"{path}: {'several services publish a port' if candidates else 'no service publishes a port'}: "
            f"pass --entry NAME for the one the front door reaches (candidates: {listed})"
        )
    report.append(f"  entry: {entry_name} (port {services[entry_name].port}), the one the front door reaches")

    ports_of = {name: svc.port for name, svc in services.items()}
    external_hosts = {}
    for name, url in external.items():
        parts = urlsplit(url)
        external_hosts[name] = (parts.hostname or url, parts.port)

    containers: list[ContainerSpec] = []
    for name, svc in services.items():
        containers.append(
            _container(imp, name, svc, entry_name == name, ports_of, external, external_hosts, services)
        )
    total_cpu = sum(c.cpu for c in containers)
    total_memory = sum(c.memory for c in containers)
    task_cpu, task_memory = _fargate_size(max(total_cpu, 256), max(total_memory, 512))
    if total_cpu or total_memory:
        report.append(
            f"  task size: {task_cpu} CPU / {task_memory} MiB, the smallest Fargate size holding the limits "
            f"({total_cpu} CPU units, {total_memory} MiB)"
        )
    name = app_name or _compose_name(data, path)
    header = [
        f"Imported from {path.name}. What was mapped, rewritten, ignored or refused was printed by",
        "`warmkeeper init --from`; run it again to see it.",
    ]
    app = AppSpec(
        name=name,
        region=region,
        region_source=region_source,
        containers=containers,
        cpu=task_cpu,
        memory=task_memory,
        header=header,
    )
    return ImportResult(app=app, text=render_config(app), report=report, files=imp.files)


def _compose_name(data: Mapping[str, Any], path: Path) -> str:
    declared = data.get("name")
    if isinstance(declared, str) and re.fullmatch(r"[a-z][a-z0-9-]{0,30}[a-z0-9]", declared):
        return declared
    return app_name_from(path.resolve().parent)


def _rewrite(
    imp: _Importer,
    where: str,
    value: str,
    services: Mapping[str, int | None],
    external_hosts: Mapping[str, tuple[str, int | None]],
) -> str:
    """`value` with compose service names as hosts replaced: 127.0.0.1 for a container of the task, the
    external URL's host for an --external service."""
    result = value
    for name in [*services, *external_hosts]:
        host, port = external_hosts.get(name, (LOOPBACK, None))
        pattern = re.compile(rf"(?:(?<=//)|(?<=@)|(?<=^)){re.escape(name)}(?=[:/]|$)")
        replaced = pattern.sub(host, result)
        if port is not None and name in external_hosts:
            replaced = re.sub(rf"{re.escape(host)}:\d+", f"{host}:{port}", replaced)
        if replaced != result:
            target = "127.0.0.1 (containers of one task share localhost)" if name in services else host
            imp.note(where, f"host {name!r} rewritten to {target}")
            result = replaced
    return result


def _container(
    imp: _Importer,
    name: str,
    svc: _Service,
    is_entry: bool,
    ports_of: Mapping[str, int | None],
    external: Mapping[str, str],
    external_hosts: Mapping[str, tuple[str, int | None]],
    services: Mapping[str, _Service],
) -> ContainerSpec:
    data = svc.data
    assert svc.port is not None
    spec = ContainerSpec(name=_container_name(name), port=svc.port, entry=is_entry)
    for key in data:
        if key in IGNORED_KEYS:
            imp.note(imp.where(name, key), f"ignored: {IGNORED_KEYS[key]}")
        elif key not in MAPPED_KEYS and key not in REFUSED_KEYS:
            imp.note(imp.where(name, key), "ignored (no ECS meaning known to warmkeeper)")
    if "links" in data:
        imp.note(imp.where(name, "links"), "ignored: links exist in bridge mode only; hosts are rewritten")

    build = data.get("build")
    if build is not None:
        context = build if isinstance(build, str) else build.get("context", ".")
        folder = (imp.base / str(context)).resolve()
        spec.build = _relative(folder, imp.config_dir)
        if isinstance(build, Mapping):
            if build.get("dockerfile"):
                spec.dockerfile = str(build["dockerfile"])
                imp.note(imp.where(name, "build.dockerfile"), f"dockerfile = {spec.dockerfile}")
            if build.get("target"):
                spec.build_target = str(build["target"])
                imp.note(imp.where(name, "build.target"), f"build_target = {spec.build_target}")
            if build.get("args"):
                spec.build_args = _environment(build["args"])
                imp.note(imp.where(name, "build.args"), f"build_args: {', '.join(spec.build_args)}")
            for key in build:
                if key not in ("context", "dockerfile", "target", "args"):
                    imp.note(imp.where(name, f"build.{key}"), "ignored (no ECS meaning known to warmkeeper)")
        if "image" in data:
            imp.note(imp.where(name, "image"), "ignored: the image is built from build (pushed to ECR)")
    elif "image" in data:
        spec.image = str(data["image"])
    else:
        raise ComposeError(f"{imp.path}: {imp.where(name)}: neither image nor build")

    environment: dict[str, str] = {}
    env_files = data.get("env_file") or []
    for item in [env_files] if isinstance(env_files, str | Mapping) else env_files:
        file_name = item.get("path") if isinstance(item, Mapping) else item
        required = item.get("required", True) if isinstance(item, Mapping) else True
        file_path = imp.base / str(file_name)
        if not file_path.is_file():
            if required:
                raise ComposeError(f"{imp.path}: {imp.where(name, 'env_file')}: {file_path} not found")
            continue
        values = _read_env_file(file_path)
        environment.update(values)
        imp.note(imp.where(name, "env_file"), f"{len(values)} variables from {file_name} into environment")
    environment.update(_environment(data.get("environment") or {}))
    for key, value in list(environment.items()):
        where = imp.where(name, f"environment.{key}")
        if "${" in value:
            imp.note(where, "contains ${...}: compose interpolates it, warmkeeper does not; set the value")
        environment[key] = _rewrite(imp, where, value, ports_of, external_hosts)
    dependencies = data.get("depends_on") or []
    depends_names = [str(dependency) for dependency in dependencies]
    for ext_name, url in external.items():
        if ext_name in depends_names:
            variable = f"{ext_name.upper().replace('-', '_')}_URL"
            environment.setdefault(variable, url)
            imp.note(imp.where(name, "depends_on"), f"{ext_name} is external: {variable} = its URL")
    spec.environment = environment

    for key in ("command", "entrypoint"):
        if data.get(key) is not None:
            setattr(spec, key, _argv(data[key]))
            imp.note(imp.where(name, key), f"mapped (overrides the image's {_DOCKERFILE_WORD[key]})")

    for dependency in depends_names:
        if dependency in external or dependency not in services:
            continue
        condition = "service_started"
        if isinstance(dependencies, Mapping):
            condition = (dependencies[dependency] or {}).get("condition", "service_started")
        ecs_condition = CONDITIONS.get(condition)
        if ecs_condition is None:
            raise ComposeError(
                f"{imp.path}: {imp.where(name, 'depends_on')}: unknown condition {condition!r}"
            )
        spec.depends_on.append(_container_name(dependency))
        if ecs_condition == "healthy" and not _has_healthcheck(services[dependency].data):
            imp.note(imp.where(name, "depends_on"), f"{dependency} has no healthcheck: waits for it to start")
            ecs_condition = "start"
        spec.dependency_conditions[_container_name(dependency)] = ecs_condition

    spec.health = _health(imp, name, data.get("healthcheck"), svc.port)
    _resources(imp, name, data, spec)
    if "stop_grace_period" in data:
        seconds = _seconds(data["stop_grace_period"], imp.where(name, "stop_grace_period"))
        spec.stop_timeout_seconds = min(max(seconds, 2), 120)
        imp.note(imp.where(name, "stop_grace_period"), f"stop_timeout_seconds = {spec.stop_timeout_seconds}")
    _volumes(imp, name, data, spec)
    _secrets(imp, name, data)
    return spec


def _container_name(service: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", service.lower()).strip("-")
    return name if len(name) >= 2 else f"{name}-svc"


def _relative(folder: Path, base: Path) -> str:
    try:
        return str(folder.relative_to(base)) or "."
    except ValueError:
        import os

        return os.path.relpath(folder, base)


def _has_healthcheck(data: Mapping[str, Any]) -> bool:
    check = data.get("healthcheck")
    if not isinstance(check, Mapping) or check.get("disable"):
        return False
    test = check.get("test")
    return bool(test) and test != ["NONE"]


_HTTP_PATH = re.compile(r"https?://(?:127\.0\.0\.1|localhost|0\.0\.0\.0)(?::\d+)?(/[^\s'\"]*)")


def _health(imp: _Importer, name: str, check: object, port: int) -> HealthSpec:
    health = HealthSpec(path="/")
    where = imp.where(name, "healthcheck")
    if not isinstance(check, Mapping) or check.get("disable"):
        imp.note(where, "none: health.path '/' assumed; set the path that answers 200 when ready")
        return health
    test = check.get("test")
    if isinstance(test, str):
        command = ["CMD-SHELL", test]
    elif isinstance(test, list) and test and test[0] in ("CMD", "CMD-SHELL"):
        command = [str(part) for part in test]
    elif isinstance(test, list) and test == ["NONE"]:
        imp.note(where, "test NONE: no health command; health.path '/' assumed")
        return health
    else:
        raise ComposeError(f"{imp.path}: {where}.test: {test!r} is not CMD, CMD-SHELL or NONE")
    health.command = command
    found = _HTTP_PATH.search(" ".join(command[1:]))
    health.path = found.group(1) if found else "/"
    bounds = {
        "interval_seconds": ("interval", 5, 300),
        "timeout_seconds": ("timeout", 2, 120),
        "start_period_seconds": ("start_period", 0, 300),
    }
    for field_name, (key, low, high) in bounds.items():
        if key in check:
            seconds = _seconds(check[key], f"{where}.{key}")
            kept = min(max(seconds, low), high)
            if kept != seconds:
                imp.note(f"{where}.{key}", f"{seconds} s is outside what ECS allows: {kept} s")
            setattr(health, field_name, kept)
    if "retries" in check:
        health.retries = min(max(int(check["retries"]), 1), 10)
    if (
        health.interval_seconds
        and health.timeout_seconds
        and health.timeout_seconds >= health.interval_seconds
    ):
        health.timeout_seconds = max(2, health.interval_seconds - 1)
    imp.note(where, f"mapped to the container's health command (path {health.path} for the front door)")
    return health


def _resources(imp: _Importer, name: str, data: Mapping[str, Any], spec: ContainerSpec) -> None:
    deploy = data.get("deploy") or {}
    resources = deploy.get("resources") or {} if isinstance(deploy, Mapping) else {}
    limits = resources.get("limits") or {}
    reservations = resources.get("reservations") or {}
    cpus = limits.get("cpus", data.get("cpus")) or reservations.get("cpus")
    memory = (
        limits.get("memory", data.get("mem_limit"))
        or reservations.get("memory")
        or data.get("mem_reservation")
    )
    if cpus is not None:
        spec.cpu = math.ceil(float(cpus) * 1024)
        imp.note(imp.where(name, "deploy.resources"), f"cpus {cpus} -> cpu = {spec.cpu} units")
    if memory is not None:
        spec.memory = _mebibytes(memory, imp.where(name, "deploy.resources.limits.memory"))
        imp.note(imp.where(name, "deploy.resources"), f"memory {memory} -> memory = {spec.memory} MiB")
    if isinstance(deploy, Mapping):
        for key in deploy:
            if key != "resources":
                imp.note(imp.where(name, f"deploy.{key}"), "ignored: the environment's settings decide")


def _volumes(imp: _Importer, name: str, data: Mapping[str, Any], spec: ContainerSpec) -> None:
    _named, binds = _named_volumes(data)
    for source, target in binds:
        where = imp.where(name, "volumes")
        host_path = (imp.base / source).resolve()
        if spec.build is not None and host_path.is_dir():
            imp.note(where, f"{source}:{target} ignored: source mounted for development; the image has it")
            continue
        if spec.build is not None:
            raise ComposeError(
                f"{imp.path}: {where}: {source} is mounted into {target}, and on Fargate nothing is mounted "
                f"from this machine: COPY {source} {target} in the Dockerfile of {spec.build}, then remove "
                "the mount"
            )
        if not host_path.exists():
            raise ComposeError(f"{imp.path}: {where}: {source} does not exist")
        _bake(imp, name, spec, host_path, target)


def _bake(imp: _Importer, name: str, spec: ContainerSpec, source: Path, target: str) -> None:
    """An image service with a mounted file or folder: an image the config builds, FROM the image with
    the file copied in (service names in it rewritten, each named)."""
    folder = imp.config_dir / "warmkeeper-images" / spec.name
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    copied = "files" if source.is_dir() else "file"
    for file in files:
        relative = Path("files") / (file.relative_to(source) if source.is_dir() else file.name)
        content = file.read_bytes()
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            imp.files[folder / relative] = content
            continue
        lines = text.splitlines(keepends=True)
        for number, line in enumerate(lines, start=1):
            where = f"{file.relative_to(imp.base) if file.is_relative_to(imp.base) else file}:{number}"
            lines[number - 1] = _rewrite_file_line(imp, where, line)
        imp.files[folder / relative] = "".join(lines).encode("utf-8")
    assert spec.image is not None
    copy_from = "files/" if source.is_dir() else f"files/{source.name}"
    dockerfile = (
        f"# Written by `warmkeeper init --from`: {spec.image} with the {copied} compose mounted at "
        f"{target}.\n"
        f"FROM {spec.image}\nCOPY {copy_from} {target}\n"
    )
    imp.files[folder / "Dockerfile"] = dockerfile.encode("utf-8")
    imp.note(
        imp.where(name, "volumes"),
        f"{source.name} mounted at {target}: baked into an image built from "
        f"{folder.relative_to(imp.config_dir)} (FROM {spec.image}, COPY)",
    )
    spec.build = str(folder.relative_to(imp.config_dir))
    spec.image = None


def _rewrite_file_line(imp: _Importer, where: str, line: str) -> str:
    services = [n for n in imp.data["services"]]
    result = line
    for service in services:
        pattern = re.compile(rf"(?<![\w.-]){re.escape(service)}:(\d+)")
        if pattern.search(result):
            result = pattern.sub(rf"{LOOPBACK}:\1", result)
            imp.note(where, f"{service}:PORT rewritten to {LOOPBACK}:PORT in the baked copy")
        elif re.search(rf"(?:https?://){re.escape(service)}(?![\w.-])", result):
            imp.note(
                where, f"refers to host {service!r} without a port: cannot be rewritten; use {LOOPBACK}:PORT"
            )
    return result


def _secrets(imp: _Importer, name: str, data: Mapping[str, Any]) -> None:
    for secret in data.get("secrets") or []:
        secret_name = secret.get("source") if isinstance(secret, Mapping) else secret
        declared = (imp.data.get("secrets") or {}).get(secret_name) or {}
        origin = f"file {declared['file']}" if "file" in declared else "an external secret"
        imp.note(
            imp.where(name, f"secrets.{secret_name}"),
            f"NOT mapped ({origin}): ECS passes a secret as an environment variable, not a file under "
            f"/run/secrets: create it in Secrets Manager (aws secretsmanager create-secret --name "
            f"{name}/{secret_name} --secret-string file://...) and set its ARN under the container's secrets",
        )
