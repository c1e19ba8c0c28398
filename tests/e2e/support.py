"""Run `warmkeeper up` as a real process and look at it from outside, as a person or CI would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx

from warmkeeper.config import load_config
from warmkeeper.core.report import StatusReport
from warmkeeper.local.loopback import free_port, port_is_free
from warmkeeper.local.statefile import state_file
from warmkeeper.local.twin_client import TwinControl

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONFIG = ROOT / "examples" / "cityguided" / "warmkeeper.toml"
API_HEADERS = {"Accept": "application/json", "User-Agent": "e2e-test"}
BROWSER_HEADERS = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Sec-Fetch-Mode": "navigate",
    "Sec-Fetch-Dest": "document",
    "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) e2e-test",
}

T = TypeVar("T")
LOCAL_HEADER = "[containers.local]\n"
SERVICE_LOCAL_HEADER = "[services.containers.local]\n"


def example_config(
    directory: Path,
    version: str,
    *,
    extra_environment: Mapping[str, Mapping[str, str]] | None = None,
    name: str = "warmkeeper.toml",
    local_settings: Mapping[str, str | int | float] | None = None,
) -> Path:
    """Write a copy of the CityGuided config into `directory`, reporting `version`, and return it.

    The containers other than the entry (api and web) get ``APP_VERSION = version`` (what
    ``/api/version`` and the web's ``X-App-Version`` answer) plus `extra_environment[name]`, beside
    their own local variables; every local command, the internal services' too, runs from the
    example's folder (``cwd``), so the copy lives anywhere. Written
    again in the same folder, it is the next version of the same app for `warmkeeper deploy`.
    `local_settings` are added to ``[environments.local]`` (e.g. ``front_door = "http_api"``).
    """
    text = EXAMPLE_CONFIG.read_text(encoding="utf-8")
    containers = tomllib.loads(text)["containers"]
    head, *blocks = text.split(LOCAL_HEADER)
    assert len(blocks) == len(containers), "one [containers.local] per container"
    parts = [head]
    for container, block in zip(containers, blocks, strict=True):
        lines = [f"cwd = {json.dumps(str(EXAMPLE_CONFIG.parent))}"]
        if not container.get("entry"):
            # The local table ends at the next table header; its own `environment` line is merged here.
            table, header, rest = block.partition("\n[")
            rest = header + rest
            own = container["local"].get("environment", {})
            table = "\n".join(line for line in table.split("\n") if not line.startswith("environment = "))
            environment = {
                **own,
                "APP_VERSION": version,
                **(extra_environment or {}).get(container["name"], {}),
            }
            pairs = ", ".join(f"{key} = {json.dumps(value)}" for key, value in environment.items())
            lines.append(f"environment = {{ {pairs} }}")
            block = table + rest
        parts.append(LOCAL_HEADER + "\n".join(lines) + "\n" + block)
    text = "".join(parts)
    # The internal services' local commands run from the example's folder too.
    text = text.replace(
        SERVICE_LOCAL_HEADER, SERVICE_LOCAL_HEADER + f"cwd = {json.dumps(str(EXAMPLE_CONFIG.parent))}\n"
    )
    if local_settings:
        section = "[environments.local]\n"
        assert text.count(section) == 1, "the example has one [environments.local]"
        added = "".join(f"{key} = {json.dumps(value)}\n" for key, value in local_settings.items())
        text = text.replace(section, section + added)
    path = directory / name
    path.write_text(text, encoding="utf-8")
    load_config(path)  # the copy must be a valid config, or the test is wrong
    return path


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m warmkeeper ARGS` from the repository root, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "warmkeeper", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def port_is_bound(port: int) -> bool:
    """True when a socket is bound to the port (connections in TIME_WAIT do not count)."""
    return not port_is_free(port)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead but not reaped yet: it holds no port and runs nothing.
    with contextlib.suppress(OSError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) whose process group is `pgid`."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def processes_mentioning(needles: Sequence[str]) -> list[tuple[int, str]]:
    """Processes (any parent, orphans included) whose command line contains one of the needles."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(needle in cmdline for needle in needles) and pid_alive(int(entry.name)):
            found.append((int(entry.name), cmdline))
    return found


def wait_for(check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.1) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            last = check()
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class TwinProcess:
    """`python -m warmkeeper up --config FILE --port N --idle S` in a subprocess."""

    def __init__(self, config: Path, idle: float, log_dir: Path, extra: Sequence[str] = ()) -> None:
        self.config = config
        self.port = free_port()
        self.idle = idle
        self.log_path = log_dir / f"twin-{self.port}.log"
        self.base = f"http://127.0.0.1:{self.port}"
        cfg = load_config(config)
        settings = cfg.environment("local").model_copy(update={"edge_port": self.port})
        self.control = TwinControl(cfg, settings)
        self.client = httpx.Client(base_url=self.base, trust_env=False, timeout=60)
        argv = [sys.executable, "-m", "warmkeeper", "up", "--config", str(config)]
        argv += ["--port", str(self.port), "--idle", str(idle), *extra]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.seen_pids: set[int] = set()
        self.seen_ports: set[int] = {self.port}
        self.seen_pgids: set[int] = set()
        try:
            wait_for(self._up, 30, "the twin's status endpoint")
            state = json.loads(state_file(load_config(config), self.port).read_text(encoding="utf-8"))
            self._token: str = state["token"]
        except BaseException:
            self.stop()
            raise

    def _up(self) -> bool:
        assert self.process.poll() is None, f"warmkeeper up exited:\n{self.log()}"
        # The edge may answer a moment before the twin has written its state file (seen on a loaded
        # machine): up means both.
        up = self.client.get("/_warmkeeper/status").status_code == 200
        return up and state_file(load_config(self.config), self.port).exists()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def details(self) -> dict[str, Any]:
        # Asked of this twin alone (its port, its token): after its stop, TwinControl would fall back
        # to another running twin of the same config, and the test would count that one's processes.
        response = self.client.get("/_warmkeeper/twin", headers={"Authorization": f"Bearer {self._token}"})
        response.raise_for_status()
        document: dict[str, Any] = response.json()
        # Remember every process and port the twin ever showed: all must be gone after the stop.
        self.seen_pids.add(document["pid"])
        if document["edge"]["pid"]:
            self.seen_pids.add(document["edge"]["pid"])
        self.seen_ports.add(document["waker_port"])
        for task in document["tasks"]:
            self.seen_pids.update(task["pids"].values())
            self.seen_ports.update(task["ports"].values())
            if task["pgid"]:
                self.seen_pgids.add(task["pgid"])
        if document.get("internal_waker_port"):
            self.seen_ports.add(document["internal_waker_port"])
        for service in document.get("services", []):  # internal services: their address and tasks
            self.seen_ports.add(int(service["address"].rsplit(":", 1)[1]))
            for task in service["tasks"]:
                self.seen_pids.update(task["pids"].values())
                self.seen_ports.update(task["ports"].values())
        return document

    def status(self) -> StatusReport:
        return self.control.status()

    def wait_state(self, state: str, timeout: float = 30, running: int | None = None) -> StatusReport:
        def check() -> StatusReport | None:
            report = self.status()
            if report.state == state and (running is None or report.running == running):
                return report
            return None

        return wait_for(check, timeout, f"state {state}")

    def make_cold(self) -> None:
        """Force a sleep and wait until no task process is left."""
        self.details()
        if self.status().state != "COLD":
            self.control.sleep(force=True)
        self.wait_state("COLD", timeout=40, running=0)

    def stop(self, timeout: float = 60) -> int:
        with contextlib.suppress(Exception):
            self.details()
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
            raise AssertionError(f"warmkeeper up did not stop within {timeout} s:\n{self.log()}") from None

    def leftovers(self) -> list[str]:
        """Anything the twin started that is still there: processes, groups, bound ports."""
        problems = [f"pid {pid} still alive" for pid in sorted(self.seen_pids) if pid_alive(pid)]
        problems += [
            f"process group {g} still has {group_members(g)}" for g in self.seen_pgids if group_members(g)
        ]
        problems += [f"port {port} still bound" for port in sorted(self.seen_ports) if port_is_bound(port)]
        orphans = processes_mentioning([f"--port {port} " for port in self.seen_ports])
        problems += [f"orphan {pid}: {cmd}" for pid, cmd in orphans]
        return problems
