"""A commented warmkeeper.toml for an app described by a few facts (`warmkeeper init`).

:func:`render_config` writes the file for any list of containers (the compose import uses it too);
:func:`from_dockerfile` reads what a Dockerfile in the current folder says (its exposed port).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from warmkeeper.onboard.toml_text import toml_list, toml_string, toml_table

# Where the region comes from when neither --region nor the AWS configuration names one: the file says
# so in a comment, and `validate` prints it.
FALLBACK_REGION = "us-east-1"


@dataclass
class HealthSpec:
    path: str = "/"
    command: list[str] | None = None
    interval_seconds: int | None = None
    timeout_seconds: int | None = None
    retries: int | None = None
    start_period_seconds: int | None = None


@dataclass
class ContainerSpec:
    """One container as `init` writes it; only what is set is written."""

    name: str
    port: int
    image: str | None = None
    build: str | None = None
    dockerfile: str = "Dockerfile"
    build_target: str | None = None
    build_args: dict[str, str] = field(default_factory=dict)
    entry: bool = False
    environment: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    dependency_conditions: dict[str, str] = field(default_factory=dict)
    command: list[str] | None = None
    entrypoint: list[str] | None = None
    cpu: int = 0
    memory: int = 0
    stop_timeout_seconds: int | None = None
    health: HealthSpec = field(default_factory=HealthSpec)
    comments: list[str] = field(default_factory=list)


@dataclass
class AppSpec:
    name: str
    region: str
    region_source: str  # said in a comment: "--region", "the AWS configuration", or the fallback
    containers: list[ContainerSpec]
    cpu: int = 256
    memory: int = 512
    header: list[str] = field(default_factory=list)  # extra comment lines at the top (the import's notes)


def _comment_lines(lines: list[str], indent: str = "") -> list[str]:
    return [f"{indent}# {line}" if line else "#" for line in lines]


def _container_lines(container: ContainerSpec) -> list[str]:
    lines = [
        "",
        *_comment_lines(container.comments),
        "[[containers]]",
        f"name = {toml_string(container.name)}",
    ]
    if container.image is not None:
        lines.append(f"image = {toml_string(container.image)}")
    if container.build is not None:
        lines.append(
            f"build = {toml_string(container.build)}  # a folder with a Dockerfile, beside this file"
        )
        if container.dockerfile != "Dockerfile":
            lines.append(f"dockerfile = {toml_string(container.dockerfile)}")
        if container.build_target:
            lines.append(f"build_target = {toml_string(container.build_target)}")
        if container.build_args:
            lines.append(f"build_args = {toml_table(container.build_args)}")
    lines.append(f"port = {container.port}")
    if container.entry:
        lines.append("entry = true          # the container the front door sends requests to")
    if container.cpu:
        lines.append(f"cpu = {container.cpu}")
    if container.memory:
        lines.append(f"memory = {container.memory}")
    if container.stop_timeout_seconds is not None:
        lines.append(f"stop_timeout_seconds = {container.stop_timeout_seconds}")
    if container.command is not None:
        lines.append(f"command = {toml_list(container.command)}")
    if container.entrypoint is not None:
        lines.append(f"entrypoint = {toml_list(container.entrypoint)}")
    if container.depends_on:
        lines.append(f"depends_on = {toml_list(container.depends_on)}")
    if container.dependency_conditions:
        lines.append(f"dependency_conditions = {toml_table(container.dependency_conditions)}")
    if container.environment:
        lines.append(f"environment = {toml_table(container.environment)}")
    if container.secrets:
        lines.append(f"secrets = {toml_table(container.secrets)}")
    health = container.health
    lines += [
        "[containers.health]",
        f"path = {toml_string(health.path)}  # probed by the load balancer (or the twin) on the port above",
    ]
    if health.command is not None:
        lines.append(f"command = {toml_list(health.command)}")
    else:
        lines += _comment_lines(
            [
                "The container's own health check, run by ECS inside it (needed behind",
                "front_door = 'http_api', where nothing else probes it); the tool it runs must exist in",
                "the image, for example:",
                f'command = ["CMD-SHELL", "curl -fsS http://127.0.0.1:{container.port}{health.path} '
                '|| exit 1"]',
            ]
        )
    for key in ("interval_seconds", "timeout_seconds", "retries", "start_period_seconds"):
        value = getattr(health, key)
        if value is not None:
            lines.append(f"{key} = {value}")
    return lines


def render_config(app: AppSpec) -> str:
    """The whole file: the app, its containers, the region, a local and a staging environment, and a
    production environment left commented out (no environment is declared that was not asked for)."""
    lines = [
        f"# warmkeeper config for {app.name}, written by `warmkeeper init`. Every key, its type and",
        "# default: docs/config.md, or `warmkeeper schema` (JSON Schema for editors). Check it with",
        "# `warmkeeper validate`.",
        *_comment_lines(app.header),
        "",
        "[app]",
        f"name = {toml_string(app.name)}",
    ]
    for container in app.containers:
        lines += _container_lines(container)
    lines += [
        "",
        "# Shared by every environment; an [environments.NAME] section overrides any of these keys.",
        "[defaults]",
        f"region = {toml_string(app.region)}  # {app.region_source}",
        f"cpu = {app.cpu}       # the task's size: 256 CPU units = 0.25 vCPU",
        f"memory = {app.memory}    # MiB; Fargate allows only some cpu/memory pairs (validate says which)",
        "",
        "# `warmkeeper up` runs this one on your machine (the twin); without [containers.local] commands it",
        "# runs the images with Podman (runtime = 'containers').",
        "[environments.local]",
        "idle_minutes = 5",
        "",
        "# On AWS: sleeps at zero tasks after idle_minutes without a request, wakes on the next one.",
        "[environments.staging]",
        "idle_minutes = 5",
        "# HTTPS on *.cloudfront.net with no domain of your own, in front of an internal load balancer.",
        "# Cheaper: front_door = 'http_api' (no load balancer, no hourly charge; needs the health",
        "# commands above). A plain-HTTP load balancer needs allow_plain_http = true.",
        "front_door = 'cloudfront'",
        "",
        "# Another environment is one more section, with any name, for example:",
        "# [environments.production]",
        "# scale_to_zero = false",
        "# min_tasks = 1",
        "# max_tasks = 2",
        "",
    ]
    return "\n".join(lines)


_EXPOSE = re.compile(r"^\s*EXPOSE\s+(\d+)", re.IGNORECASE | re.MULTILINE)


def exposed_port(dockerfile: Path) -> int | None:
    """The first port a Dockerfile EXPOSEs, if any."""
    match = _EXPOSE.search(dockerfile.read_text(encoding="utf-8", errors="replace"))
    return int(match.group(1)) if match else None


def app_name_from(folder: Path) -> str:
    """A valid app name from a folder name: lower case, '-' for anything else."""
    name = re.sub(r"[^a-z0-9-]+", "-", folder.name.lower()).strip("-")
    if not name or not name[0].isalpha():
        name = f"app-{name}".strip("-")
    return name[:32].rstrip("-") or "app"
