"""Build every container's image with the local engine and measure what a registry would store.

Sizes: each image is saved (``<engine> save``, uncompressed layer tarballs) and every layer is
compressed as a push would compress it: gzip at level 6 (the default of Docker's and Podman's
pushes) and zstd at level 3 (the default of ``--compression-format zstd`` / buildx
``compression=zstd``). An image's size is the sum of its layers plus its config; the task's total
counts a layer shared by several images once, as a Fargate task pulls it once.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
import threading
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from warmkeeper.config import AppConfig, Container
from warmkeeper.core.errors import ExitCode, WarmkeeperError
from warmkeeper.images.bases import BaseChoice, BaseError, BaseMode, base_args, resolve
from warmkeeper.images.container_cli import Engine, EngineError, engine_environment, last_line

BUILD_TIMEOUT_SECONDS = 1800.0
HOST_CA_BUNDLES = (Path("/etc/ssl/certs/ca-certificates.crt"), Path("/etc/pki/tls/certs/ca-bundle.crt"))
GZIP_LEVEL = 6
ZSTD_LEVEL = 3
MB = 1_000_000  # sizes are in decimal megabytes, as registries and AWS bill them


class BuildError(WarmkeeperError):
    """One image could not be built: the message names the image and the step (one line)."""

    exit_code = ExitCode.FAILED


def local_image_tag(cfg: AppConfig, container: Container) -> str:
    """The tag `warmkeeper images --local` gives a container's image (what the containers runtime runs)."""
    return f"localhost/warmkeeper/{cfg.app.name}-{container.name}:local"


def host_ca_bundle() -> Path | None:
    """The host's CA bundle, passed to RUN steps as the `build_ca` secret only when there is one."""
    return next((path for path in HOST_CA_BUNDLES if path.is_file() and path.stat().st_size > 0), None)


@dataclass(frozen=True)
class BuiltImage:
    container: str
    tag: str
    bases: list[BaseChoice]
    log: Path


def build_argv(
    engine: Engine,
    context: Path,
    tag: str,
    bases: Iterable[BaseChoice],
    ca_bundle: Path | None,
    dockerfile: Path | None = None,
    options: Iterable[str] = (),
) -> list[str]:
    """The engine's build command for one image (same Dockerfile; only base arguments may differ).
    `options`: the container's own (target stage, build arguments), before the local bases."""
    argv = ["build", "--tag", tag, "--file", str(dockerfile or context / "Dockerfile"), *options]
    if engine.is_podman:
        # docker format keeps HEALTHCHECK/STOPSIGNAL; no leftover build container even on failure
        argv += ["--format", "docker", "--layers", "--force-rm"]
    for choice in bases:
        if choice.is_local:
            argv += ["--build-arg", f"{choice.arg}={choice.used}"]
    if ca_bundle is not None:
        argv += ["--secret", f"id=build_ca,src={ca_bundle}"]
    argv.append(str(context))
    return argv


def _failed_step(lines: list[str]) -> str:
    """The build step that was running when the build failed, as the engine numbered it."""
    step = ""
    for line in lines:
        text = line.strip()
        if text.startswith("STEP "):  # podman/buildah: "STEP 4/9: RUN ..."
            step = text[len("STEP ") :]
        elif text.startswith("#") and " [" in text and "] " in text:  # BuildKit: "#8 [build 4/6] RUN ..."
            step = text.split(" ", 1)[1]
    return step[:120] if step else "before the first step"


def build_image(
    engine: Engine,
    cfg: AppConfig,
    container: Container,
    mode: BaseMode,
    log_dir: Path,
    announce: Callable[[str], None] | None = None,
) -> BuiltImage:
    """Resolve the bases, then build one image; BuildError/BaseError (one line) when it fails."""
    assert container.build is not None
    context = (cfg.base_dir / container.build).resolve()
    dockerfile = context / container.dockerfile
    if not dockerfile.is_file():
        raise BuildError(f"image {container.name}: no Dockerfile at {dockerfile}")
    try:
        bases = resolve(engine, base_args(dockerfile), mode, announce)
    except (BaseError, EngineError) as exc:
        raise BuildError(f"image {container.name}: step base image: {exc}") from None
    for choice in bases:
        if announce is not None:
            announce(f"{container.name}: {choice.arg}={choice.used} [{choice.origin}]")
    tag = local_image_tag(cfg, container)
    log = log_dir / f"build-{container.name}.log"
    argv = build_argv(engine, context, tag, bases, host_ca_bundle(), dockerfile, container.build_options())
    with log.open("w", encoding="utf-8") as handle:
        handle.write("$ " + " ".join(engine.argv(*argv)) + "\n")
        handle.flush()
        try:
            result = subprocess.run(
                engine.argv(*argv),
                stdout=handle,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=engine_environment(),
                timeout=BUILD_TIMEOUT_SECONDS,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise BuildError(
                f"image {container.name}: build took over {BUILD_TIMEOUT_SECONDS:.0f} s; log: {log}"
            ) from None
    if result.returncode != 0:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
        raise BuildError(
            f"image {container.name}: build failed at step {_failed_step(lines)}: "
            f"{last_line(chr(10).join(lines))} (log: {log})"
        )
    return BuiltImage(container.name, tag, bases, log)


# -- sizes ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LayerSize:
    diff_id: str  # sha256 of the uncompressed layer tarball
    uncompressed: int
    gzip: int
    zstd: int | None  # None when no zstd compressor is installed


@dataclass
class ImageSize:
    container: str
    tag: str
    layers: list[LayerSize]
    config_bytes: int

    @property
    def uncompressed(self) -> int:
        return sum(layer.uncompressed for layer in self.layers)

    @property
    def gzip(self) -> int:
        return self.config_bytes + sum(layer.gzip for layer in self.layers)

    @property
    def zstd(self) -> int | None:
        sizes = [layer.zstd for layer in self.layers]
        if any(size is None for size in sizes):
            return None
        return self.config_bytes + sum(size for size in sizes if size is not None)


@dataclass
class TaskSize:
    """The task's images; the totals count a layer shared between images once."""

    images: list[ImageSize] = field(default_factory=list)

    def _unique(self) -> dict[str, LayerSize]:
        return {layer.diff_id: layer for image in self.images for layer in image.layers}

    @property
    def shared_layers(self) -> int:
        return sum(len(image.layers) for image in self.images) - len(self._unique())

    @property
    def uncompressed(self) -> int:
        return sum(layer.uncompressed for layer in self._unique().values())

    @property
    def gzip(self) -> int:
        configs = sum(image.config_bytes for image in self.images)
        return configs + sum(layer.gzip for layer in self._unique().values())

    @property
    def zstd(self) -> int | None:
        unique = self._unique().values()
        if any(layer.zstd is None for layer in unique):
            return None
        configs = sum(image.config_bytes for image in self.images)
        return configs + sum(layer.zstd or 0 for layer in unique)


class _Counter:
    """Reads a stream to its end in a thread, counting the bytes."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.count = 0
        self._stream = stream
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while chunk := self._stream.read(1 << 16):
            self.count += len(chunk)

    def join(self) -> int:
        self._thread.join()
        return self.count


def compressed_sizes(chunks: Iterator[bytes], zstd: str | None) -> LayerSize:
    """One pass over a layer: its diff id, size, gzip size and (with a zstd binary) zstd size."""
    digest = hashlib.sha256()
    gzip = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # 31: gzip framing
    gzip_bytes = size = 0
    process = None
    counter = None
    if zstd is not None:
        process = subprocess.Popen(
            [zstd, f"-{ZSTD_LEVEL}", "-q", "-c"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert process.stdout is not None
        counter = _Counter(process.stdout)
    try:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            gzip_bytes += len(gzip.compress(chunk))
            if process is not None and process.stdin is not None:
                process.stdin.write(chunk)
        gzip_bytes += len(gzip.flush())
    finally:
        if process is not None and process.stdin is not None:
            process.stdin.close()
    zstd_bytes = None
    if process is not None and counter is not None:
        zstd_bytes = counter.join()
        if process.wait() != 0:
            zstd_bytes = None
    return LayerSize(f"sha256:{digest.hexdigest()}", size, gzip_bytes, zstd_bytes)


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(1 << 20):
        yield chunk


def measure(engine: Engine, tags: dict[str, str]) -> TaskSize:
    """Save the images (one archive: shared layers stored once) and size every layer compressed."""
    zstd = shutil.which("zstd")
    with tempfile.TemporaryDirectory(prefix="warmkeeper-sizes-") as workdir:
        archive_path = Path(workdir) / "images.tar"
        argv = ["save", "--output", str(archive_path)]
        if engine.is_podman:
            argv += ["--format", "docker-archive", "--multi-image-archive"]
        engine.run(*argv, *tags.values(), timeout=900, check=True)
        task = TaskSize()
        sizes: dict[str, LayerSize] = {}  # by the layer's path in the archive (content-addressed)
        with tarfile.open(archive_path) as archive:
            manifest = json.load(_member(archive, "manifest.json"))
            for container, tag in tags.items():
                entry = next((m for m in manifest if tag in (m.get("RepoTags") or [])), None)
                if entry is None:
                    raise EngineError(f"image {container}: {tag} missing from `{engine.name} save` output")
                layers = []
                for path in entry["Layers"]:
                    if path not in sizes:
                        sizes[path] = compressed_sizes(_chunks(_member(archive, path)), zstd)
                    layers.append(sizes[path])
                config_bytes = archive.getmember(entry["Config"]).size
                task.images.append(ImageSize(container, tag, layers, config_bytes))
        return task


def _member(archive: tarfile.TarFile, name: str) -> IO[bytes]:
    handle = archive.extractfile(name)
    if handle is None:
        raise EngineError(f"image archive: {name} is not a file")
    return handle
