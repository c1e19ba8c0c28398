"""Which container engine answers here (Docker, else Podman), and how to call it.

Docker is used when its daemon answers; otherwise Podman, with warmkeeper's containers.conf passed
through ``CONTAINERS_CONF`` (runc, cgroupfs, file events, bounded ulimits: what Podman from Debian
needs on hosts without systemd). ``WARMKEEPER_ENGINE=docker|podman`` forces one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from warmkeeper.core.errors import ExitCode, WarmkeeperError

CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
ENGINES = ("docker", "podman")
# `docker info` against a daemon that is not there fails at once; one that hangs must not block us.
PROBE_TIMEOUT_SECONDS = 10.0


class EngineError(WarmkeeperError):
    """No usable engine, or an engine command failed: the message is one line a person can act on."""

    exit_code = ExitCode.FAILED


def engine_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for engine commands: warmkeeper's containers.conf unless one is already set."""
    env = dict(os.environ if base is None else base)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


@dataclass(frozen=True)
class Engine:
    """A container engine CLI (docker or podman) and the environment its commands run with."""

    name: str
    executable: str

    @property
    def is_podman(self) -> bool:
        return self.name == "podman"

    def argv(self, *args: str) -> list[str]:
        return [self.executable, *args]

    def run(
        self, *args: str, timeout: float | None = None, check: bool = False, capture: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run one engine command; output captured as text. `check`: raise EngineError on failure."""
        try:
            result = subprocess.run(
                self.argv(*args),
                env=engine_environment(),
                capture_output=capture,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise EngineError(f"`{self.name} {args[0]}` did not answer within {timeout:.0f} s") from None
        if check and result.returncode != 0:
            raise EngineError(f"`{self.name} {' '.join(args[:2])}` failed: {last_line(result.stderr)}")
        return result

    def answers(self) -> bool:
        try:
            return self.run("info", timeout=PROBE_TIMEOUT_SECONDS).returncode == 0
        except EngineError:
            return False

    def image_exists(self, ref: str) -> bool:
        if self.is_podman:
            return self.run("image", "exists", ref, timeout=30).returncode == 0
        return self.run("image", "inspect", ref, timeout=30).returncode == 0


def last_line(text: str | None) -> str:
    """The last non-empty line of an engine's output: usually the one that says what went wrong."""
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def detect_engine(preferred: str | None = None, candidates: Sequence[str] = ENGINES) -> Engine:
    """Docker if its daemon answers, else Podman; EngineError (one line) when neither is usable."""
    preferred = preferred or os.environ.get("WARMKEEPER_ENGINE") or None
    names = [preferred] if preferred else list(candidates)
    for name in names:
        if name not in ENGINES:
            raise EngineError(f"WARMKEEPER_ENGINE={name!r}: use 'docker' or 'podman'")
    tried: list[str] = []
    for name in names:
        executable = shutil.which(name)
        if executable is None:
            tried.append(f"{name}: not installed")
            continue
        engine = Engine(name, executable)
        if engine.answers():
            return engine
        tried.append(f"{name}: `{name} info` failed" + (" (no daemon)" if name == "docker" else ""))
    raise EngineError(
        "no container engine available (" + "; ".join(tried) + "); `make podman` installs Podman"
    )
