"""`warmkeeper deploy --env local` end to end: the real CLI, a real twin, real Caddy and processes.

One twin of a copy of the CityGuided config (in a temporary folder) serves the whole module; each
test writes the next version of that config (``APP_VERSION``, answered by ``/api/version`` and the
web's ``X-App-Version``) and deploys it, as a developer would after changing the file.
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import (
    API_HEADERS,
    ROOT,
    TwinProcess,
    example_config,
    pid_alive,
    run_cli,
    wait_for,
)
from warmkeeper.clikit import UserError
from warmkeeper.config import load_config

pytestmark = pytest.mark.e2e

BROKEN_API = {"api": {"PLACES_FILE": "/nonexistent/places.json"}}
DEPLOY = ("deploy", "--env", "local", "--config")
# The progress lines a person sees, in this order.
STEPS = ("started task", "healthy after", "edge switched", "drained in", "stopped in", "done: deployed")


@dataclass
class Deployed:
    twin: TwinProcess
    folder: Path
    config: Path
    versions: int = 1
    revisions: list[str] = field(default_factory=list)  # every revision label a deploy was given

    def next_version(self, extra_environment: Mapping[str, Mapping[str, str]] | None = None) -> str:
        """Write the next version of the config over the current one; return its APP_VERSION."""
        self.versions += 1
        version = f"v{self.versions}"
        example_config(self.folder, version, extra_environment=extra_environment)
        return version


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    folder = tmp_path_factory.mktemp("deploy")
    config = example_config(folder, "v1")
    twin = TwinProcess(config, idle=60, log_dir=folder)  # no sleep unless a test forces one
    try:
        yield Deployed(twin, folder, config)
    finally:
        code = twin.stop()
        assert code == 0, twin.log()
        assert twin.leftovers() == [], twin.log()


def version_now(twin: TwinProcess) -> str:
    """The version that answers now (waking the twin if it sleeps)."""
    response = twin.client.get("/api/version", headers=API_HEADERS, follow_redirects=True)
    assert response.status_code == 200, response.text
    version: str = response.json()["version"]
    return version


@dataclass
class Load:
    """Clients on keep-alive connections sending requests back to back, as long as it runs."""

    base: str
    failures: list[str] = field(default_factory=list)
    versions: list[list[str]] = field(default_factory=list)  # per client, in order
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int = 2) -> Load:
        for index in range(clients):
            seen: list[str] = []
            self.versions.append(seen)
            thread = threading.Thread(target=self._client, args=(index, seen), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def _client(self, index: int, seen: list[str]) -> None:
        with httpx.Client(base_url=self.base, trust_env=False, timeout=30) as client:
            while not self._stop.is_set():
                try:
                    # The api answers its version; the web page carries it in a header.
                    if index % 2 == 0:
                        response = client.get("/api/version", headers=API_HEADERS)
                        version = response.json()["version"] if response.status_code == 200 else ""
                    else:
                        response = client.get("/", headers={"User-Agent": "e2e-load"})
                        version = response.headers.get("x-app-version", "")
                except (httpx.HTTPError, ValueError) as exc:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                    continue
                if response.status_code != 200:
                    self.failures.append(f"{response.request.url.path}: {response.status_code}")
                seen.append(version)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    @property
    def count(self) -> int:
        return sum(len(seen) for seen in self.versions)


@dataclass
class Watch:
    """Polls the twin during a deploy: status, and the details (so every pid is remembered)."""

    twin: TwinProcess
    in_progress_seen: bool = False
    task_versions: dict[str, str] = field(default_factory=dict)  # task id -> revision label
    task_pids: dict[str, list[int]] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Watch:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                if self.twin.status().deployment_in_progress:
                    self.in_progress_seen = True
                for task in self.twin.details()["tasks"]:
                    self.task_versions[task["id"]] = task["version"]
                    self.task_pids[task["id"]] = list(task["pids"].values())
            except (httpx.HTTPError, UserError):
                continue

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)


def deploy(config: Path) -> subprocess.CompletedProcess[str]:
    return run_cli(*DEPLOY, str(config), timeout=180)


def test_deploy_switches_to_the_new_version_without_a_failed_request(deployed: Deployed) -> None:
    twin = deployed.twin
    old = version_now(twin)
    before = twin.details()
    (old_task,) = before["tasks"]
    new = deployed.next_version()

    load = Load(twin.base).start(clients=2)
    watch = Watch(twin).start()
    try:
        time.sleep(0.5)  # steady traffic before the deploy starts
        process = subprocess.Popen(
            [sys.executable, "-m", "warmkeeper", *DEPLOY, str(deployed.config)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        # A second deploy while this one runs is refused: one deployment at a time.
        wait_for(lambda: twin.status().deployment_in_progress, 60, "the deploy to start")
        with pytest.raises(UserError, match=r"\(409\).*in progress"):
            twin.control.start_deploy(load_config(deployed.config))
        stdout, stderr = process.communicate(timeout=180)
        time.sleep(0.5)  # and traffic after it
    finally:
        load.stop()
        watch.stop()

    assert process.returncode == 0, stdout + stderr
    for step in STEPS:
        assert step in stdout, f"{step!r} missing from:\n{stdout}"
    assert load.failures == [], load.failures[:5]
    assert load.count >= 50, load.count
    # Each client saw the old version, then the new one, never the old one again.
    for seen in load.versions:
        assert seen and set(seen) <= {old, new}, set(seen)
        first_new = seen.index(new)
        assert first_new > 0 and set(seen[first_new:]) == {new}, seen[first_new - 3 : first_new + 3]
    assert watch.in_progress_seen
    assert version_now(twin) == new

    report = twin.status()
    assert (report.state, report.running, report.healthy) == ("WARM", 1, 1)
    assert not report.deployment_in_progress
    assert report.tasks[0].task_id != old_task["id"]
    assert report.tasks[0].version == watch.task_versions[report.tasks[0].task_id]
    after = twin.details()
    assert after["version"] == report.tasks[0].version == f"r{before['revision'] + 1}"
    assert after["edge"]["requests"]["service_5xx"] == 0
    assert [pid for pid in old_task["pids"].values() if pid_alive(pid)] == []


def test_failing_new_version_keeps_the_old_one_serving_and_exits_1(deployed: Deployed) -> None:
    twin = deployed.twin
    serving = version_now(twin)
    before = twin.details()
    (serving_task,) = before["tasks"]
    deployed.next_version(extra_environment=BROKEN_API)

    load = Load(twin.base).start(clients=2)
    watch = Watch(twin).start()
    try:
        result = deploy(deployed.config)
    finally:
        load.stop()
        watch.stop()

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stdout
    (failed_revision,) = re.findall(r"to the local twin as (r\d+)", result.stdout)
    deployed.revisions.append(failed_revision)
    assert "exited with code 3 before it was healthy" in result.stderr
    assert f"{serving_task['id']} ({serving_task['version']}) kept serving" in result.stderr
    # The new task's own output: the api could not read its places file.
    assert "last output of api" in result.stderr
    assert "No such file or directory: '/nonexistent/places.json'" in result.stderr
    assert load.failures == [], load.failures[:5]
    assert {version for seen in load.versions for version in seen} == {serving}
    assert version_now(twin) == serving

    report = twin.status()
    assert [t.task_id for t in report.tasks] == [serving_task["id"]]
    assert (report.deployment_in_progress, report.healthy, report.problems) == (False, 1, [])
    failed = [task for task in watch.task_pids if task != serving_task["id"]]
    assert len(failed) == 1, watch.task_versions
    assert [pid for pid in watch.task_pids[failed[0]] if pid_alive(pid)] == []
    # The next wake would still run the version that works.
    assert twin.details()["version"] == serving_task["version"]


def test_a_broken_deploy_to_a_cold_twin_fails_and_the_next_wake_runs_the_previous(deployed: Deployed) -> None:
    twin = deployed.twin
    serving = version_now(twin)
    twin.make_cold()
    deployed.next_version(extra_environment=BROKEN_API)

    result = deploy(deployed.config)

    # The new revision was started once, out of service, failed its check: the deploy says so.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "a check of the new revision, out of service" in result.stdout
    assert "the previous revision stays current and the twin stays cold" in result.stderr
    report = twin.status()
    assert (report.state, report.running, report.desired) == ("COLD", 0, 0)
    # No visitor met the broken revision: the next wake runs the one that worked.
    assert version_now(twin) == serving


def test_a_deploy_to_a_cold_twin_is_checked_once_then_sleeps(deployed: Deployed) -> None:
    twin = deployed.twin
    twin.make_cold()
    started_before = twin.details()["tasks_started"]
    new = deployed.next_version()

    result = deploy(deployed.config)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "passed its health checks" in result.stdout and "the next wake runs it" in result.stdout
    details = twin.details()
    assert details["tasks_started"] == started_before + 1 and details["tasks"] == []
    report = twin.status()
    assert (report.state, report.running, report.desired) == ("COLD", 0, 0)
    assert version_now(twin) == new


def test_deploy_while_cold_starts_nothing_and_the_next_wake_runs_it(deployed: Deployed) -> None:
    twin = deployed.twin
    twin.make_cold()
    refused = twin.client.post(
        "/_warmkeeper/deploy", json={}, headers={"Authorization": "Bearer not-the-token"}
    )
    assert refused.status_code == 401
    # The twin's details carry the tasks' output: the token is needed there too.
    assert twin.client.get("/_warmkeeper/twin").status_code == 401
    started_before = twin.details()["tasks_started"]
    new = deployed.next_version()

    # --no-verify: the twin is not asked to start the new revision before the next wake.
    result = run_cli(*DEPLOY, str(deployed.config), "--no-verify", timeout=180)

    assert result.returncode == 0, result.stdout + result.stderr
    # A revision names one version: never reused, not even after a failed deploy.
    (revision,) = re.findall(r"to the local twin as (r\d+)", result.stdout)
    assert revision not in deployed.revisions
    deployed.revisions.append(revision)
    assert "the twin is cold: no task started" in result.stdout
    assert "the next wake runs it" in result.stdout
    details = twin.details()
    assert details["tasks_started"] == started_before and details["tasks"] == []
    report = twin.status()
    assert (report.state, report.running, report.desired) == ("COLD", 0, 0)
    # The next request wakes the new version.
    assert version_now(twin) == new
    assert twin.details()["tasks_started"] == started_before + 1


def test_deploy_without_a_running_twin_says_so_in_one_line(tmp_path: Path) -> None:
    config = example_config(tmp_path, "v1")
    result = deploy(config)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "no local twin is running" in lines[0] and "warmkeeper up --config" in lines[0]
