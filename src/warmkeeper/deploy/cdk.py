"""The pinned CDK CLI (node_modules/.bin/cdk): the one boundary tests replace.

A deploy starts `cdk deploy` as a child process and keeps observing AWS while it runs, because
CloudFormation only finishes an ECS service update once the ECS deployment is done: the progress
worth showing happens while the CLI is still running.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Protocol

from rich.console import Console

from warmkeeper.deploy.preflight import PreflightError

CDK_RELATIVE = Path("node_modules") / ".bin" / "cdk"
# The CDK CLI version the tests run (package.json pins the same; a test keeps them equal).
CDK_CLI_VERSION = "2.1148.1"
CDK_INSTALL_COMMAND = f"npm install -g aws-cdk@{CDK_CLI_VERSION}"
CDK_VARIABLE = "WARMKEEPER_CDK"


class CdkProcess(Protocol):
    def poll(self) -> int | None:
        """The exit code once the CLI has exited (all its output read), else None."""
        ...

    def read_lines(self) -> list[str]:
        """Output lines printed since the last call."""
        ...

    def terminate(self) -> None: ...


class CdkRunner(Protocol):
    def start(self, args: Sequence[str]) -> CdkProcess: ...


def deploy_args(assembly: Path, stack_name: str) -> list[str]:
    # --app <folder>: deploy the assembly that passed the checks, never a fresh synthesis.
    # --exclusively: this stack only. The service stack depends on the images stack, which
    # `warmkeeper images` deploys; a service deploy must not change the repositories on the way.
    return [
        "deploy",
        stack_name,
        "--exclusively",
        "--app",
        str(assembly),
        "--require-approval",
        "never",
        "--progress",
        "events",  # one line per resource event, not a redrawn bar
        "--ci",
        "--no-color",
        "--no-notices",
    ]


def diff_args(assembly: Path, stack_name: str) -> list[str]:
    # --method template: compare templates only; no change set is created, nothing changes in AWS.
    return [
        "diff",
        stack_name,
        "--exclusively",
        "--app",
        str(assembly),
        "--method",
        "template",
        "--no-color",
        "--no-notices",
    ]


def run_to_end(
    process: CdkProcess,
    timeout_seconds: float,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
    console: Console,
    prefix: str = "",
) -> int | None:
    """Print the CLI's lines as they come until it exits: its exit code, or None after the timeout
    (the CLI is then stopped; a CloudFormation operation it started goes on in AWS)."""
    start = clock()
    while True:
        for line in process.read_lines():
            console.print(prefix + line, markup=False, highlight=False)
        code = process.poll()
        if code is not None:
            for line in process.read_lines():
                console.print(prefix + line, markup=False, highlight=False)
            return code
        remaining = timeout_seconds - (clock() - start)
        if remaining <= 0:
            process.terminate()
            return None
        sleep(min(0.5, remaining))


def find_cdk(
    start: Path,
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
) -> Path:
    """The AWS CDK CLI a deploy runs, first found: $WARMKEEPER_CDK, the project's pinned one
    (node_modules/.bin/cdk from `start` upwards, what `make setup` installs), `cdk` on PATH (an
    installed `warmkeeper` outside a checkout). Never an npx download at deploy time."""
    environ = os.environ if environ is None else environ
    chosen = environ.get(CDK_VARIABLE, "").strip()
    if chosen:
        path = Path(chosen).expanduser()
        if path.is_file() and os.access(path, os.X_OK):
            return path
        raise PreflightError(f"{CDK_VARIABLE}={chosen}: not an executable file")
    for folder in (start.resolve(), *start.resolve().parents):
        candidate = folder / CDK_RELATIVE
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    on_path = which("cdk")
    if on_path:
        return Path(on_path)
    raise PreflightError(
        f"the AWS CDK CLI was not found ({CDK_VARIABLE}, {CDK_RELATIVE} from {start} upwards, or `cdk` on "
        f"PATH): install the version warmkeeper is tested with, `{CDK_INSTALL_COMMAND}` (Node.js 20 or "
        "later), or in a warmkeeper checkout run `make setup`"
    )


class _PopenCdkProcess:
    def __init__(self, popen: subprocess.Popen[str]) -> None:
        self._popen = popen
        self._lines: queue.Queue[str] = queue.Queue()
        assert popen.stdout is not None
        self._reader = threading.Thread(target=self._read, args=(popen.stdout,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))
        stream.close()

    def poll(self) -> int | None:
        code = self._popen.poll()
        if code is not None:
            self._reader.join(timeout=5)  # so the last lines are not lost
        return code

    def read_lines(self) -> list[str]:
        lines: list[str] = []
        while True:
            try:
                lines.append(self._lines.get_nowait())
            except queue.Empty:
                return lines

    def terminate(self) -> None:
        """Stop the CLI and its children (node spawns helpers); CloudFormation itself goes on."""
        if self._popen.poll() is not None:
            return
        try:
            os.killpg(self._popen.pid, signal.SIGTERM)
            self._popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self._popen.pid, signal.SIGKILL)
            self._popen.wait(timeout=10)
        except ProcessLookupError:
            pass
        self._reader.join(timeout=5)


class SubprocessCdkRunner:
    """Runs the pinned CLI with the deploy's region; output is read line by line."""

    def __init__(self, executable: Path, cwd: Path, region: str, extra_env: Mapping[str, str] | None = None):
        self.executable = executable
        self.cwd = cwd
        self.env = {
            **os.environ,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
            **(extra_env or {}),
        }

    def start(self, args: Sequence[str]) -> CdkProcess:
        popen = subprocess.Popen(
            [str(self.executable), *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            start_new_session=True,  # its own process group, so terminate() reaches node's children
        )
        return _PopenCdkProcess(popen)
