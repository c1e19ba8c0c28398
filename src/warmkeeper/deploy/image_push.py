"""`make images TAG=...`: build every built container for the task's architecture and push it to ECR.

The commands are plain `docker buildx build --push` calls, the same on a laptop and in CI; this
module only decides them (so they can be printed and tested), then runs them one by one. They run
once the images stack exists (:mod:`warmkeeper.deploy.publish` deploys it first):

1. on a host that is not the target architecture, register QEMU emulators (tonistiigi/binfmt, what
   docker/setup-qemu-action runs too), so no CI-only step is needed;
2. log in to the registry with a token from ECR (the password goes through stdin, never argv);
3. one build per container, context = its `build` folder, tag = `<repository URI>:<TAG>` with the
   URI taken from the images stack's output `RepositoryUri<Container>`.

Layers are pushed zstd-compressed by default (OCI media types, every layer recompressed, base
layers included): AWS measured up to 27 % shorter Fargate task start times with zstd images, the
larger images gaining most ("Reducing AWS Fargate Startup Times with zstd Compressed Container
Images", AWS Containers blog, 2022). ECR stores and serves them as pushed. ``zstd=False`` pushes
gzip (Docker's default) for a registry or tool that cannot read zstd layers.
"""

from __future__ import annotations

import base64
import itertools
import platform
import shlex
import subprocess
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warmkeeper.config import AppConfig, Container, EnvironmentSettings
from warmkeeper.deploy.preflight import PreflightError
from warmkeeper.naming import built_containers

if TYPE_CHECKING:
    from mypy_boto3_ecr import ECRClient

PLATFORMS = {"arm64": "linux/arm64", "x86_64": "linux/amd64"}
# platform.machine() spellings of each architecture.
_HOST_ARCH = {"arm64": "arm64", "aarch64": "arm64", "x86_64": "x86_64", "amd64": "x86_64"}
BINFMT_IMAGE = "tonistiigi/binfmt:latest"
# buildx's image exporter: push, recompress every layer (the base's too) with zstd level 3.
ZSTD_OUTPUT = (
    "type=image,push=true,compression=zstd,compression-level=3,force-compression=true,oci-mediatypes=true"
)


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]
    stdin_secret: bool = False  # the registry password is written to stdin

    def shell(self) -> str:
        text = shlex.join(self.argv)
        return f"<ECR token> | {text}" if self.stdin_secret else text


@dataclass(frozen=True)
class ImagePlan:
    registry: str
    commands: tuple[Command, ...]
    images: Mapping[str, str]  # container -> <uri>:<tag>


def plan_images(
    cfg: AppConfig,
    settings: EnvironmentSettings,
    uris: Mapping[str, str],
    tag: str,
    host_machine: str | None = None,
    zstd: bool = True,
    already_pushed: Collection[str] = (),
) -> ImagePlan:
    """The commands that build and push TAG; `uris` maps each built container to its repository URI.

    `zstd`: push zstd-compressed layers (the default), else gzip (`--push`). Containers in
    `already_pushed` have TAG in their repository already: the repositories' tags are immutable, so
    they are neither built nor pushed (no command at all when none is left)."""
    containers = built_containers(cfg)
    if not containers:
        raise PreflightError("no container has `build`: there is no image to build")
    for container in containers:
        if container.name not in uris:
            raise PreflightError(f"no ECR repository for container {container.name}")
    registries = {uri.split("/", 1)[0] for uri in uris.values()}
    if len(registries) != 1:
        raise PreflightError(f"the repositories are in several registries: {sorted(registries)}")
    registry = registries.pop()
    host = _HOST_ARCH.get((host_machine or platform.machine()).lower(), host_machine or "unknown")

    to_build = [container for container in containers if container.name not in already_pushed]
    images: dict[str, str] = {container.name: f"{uris[container.name]}:{tag}" for container in containers}
    if not to_build:
        return ImagePlan(registry=registry, commands=(), images=images)
    # An internal service may run on another architecture than the app (its own `architecture`).
    architectures = {
        container.name: container_architecture(cfg, settings, container) for container in to_build
    }
    commands: list[Command] = []
    for architecture in dict.fromkeys(architectures.values()):
        if host != architecture:
            emulated = "arm64" if architecture == "arm64" else "amd64"
            commands.append(
                Command(("docker", "run", "--privileged", "--rm", BINFMT_IMAGE, "--install", emulated))
            )
    commands.append(
        Command(("docker", "login", "--username", "AWS", "--password-stdin", registry), stdin_secret=True)
    )
    for container in to_build:
        assert container.build is not None
        context = (cfg.base_dir / container.build).resolve()
        image = images[container.name]
        commands.append(
            Command(
                (
                    "docker",
                    "buildx",
                    "build",
                    "--platform",
                    PLATFORMS[architectures[container.name]],
                    # A plain image manifest, not an index with attestations: one digest per tag.
                    "--provenance=false",
                    "--file",
                    str(context / container.dockerfile),
                    *container.build_options(),
                    "--tag",
                    image,
                    "--label",
                    f"org.opencontainers.image.revision={tag}",
                    *(("--output", ZSTD_OUTPUT) if zstd else ("--push",)),
                    str(context),
                )
            )
        )
    return ImagePlan(registry=registry, commands=tuple(commands), images=images)


def container_architecture(cfg: AppConfig, settings: EnvironmentSettings, container: Container) -> str:
    """The architecture the container runs on: its internal service's, if it sets one, else the
    environment's (as :meth:`AppConfig.service_settings` resolves it)."""
    for service in cfg.services:
        if container in service.containers:
            return service.architecture or settings.architecture
    return settings.architecture


def registry_password(ecr: ECRClient) -> str:
    """The password half of ECR's `AWS:<password>` token (valid 12 hours)."""
    token = ecr.get_authorization_token()["authorizationData"][0]["authorizationToken"]
    user, _, password = base64.b64decode(token).decode().partition(":")
    if user != "AWS" or not password:
        raise PreflightError("ECR returned an authorization token of an unexpected form")
    return password


# (argv, stdin text or None) -> exit code
CommandRunner = Callable[[Sequence[str], str | None], int]


def run_command(argv: Sequence[str], stdin: str | None) -> int:
    return subprocess.run(list(argv), input=stdin, text=True, check=False).returncode


def is_push(argv: Sequence[str]) -> bool:
    """True for a build command of a plan that pushes (gzip `--push`, or the zstd image output)."""
    if "--push" in argv:
        return True
    return any(a == "--output" and "push=true" in b for a, b in itertools.pairwise(argv))


def execute(
    plan: ImagePlan,
    password: Callable[[], str],
    run: CommandRunner = run_command,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Run the plan in order; the first failing command stops it (raised as RuntimeError)."""
    for command in plan.commands:
        if announce is not None:
            announce(command.shell())
        code = run(command.argv, password() if command.stdin_secret else None)
        if code != 0:
            raise RuntimeError(f"`{command.shell()}` exited with code {code}")
