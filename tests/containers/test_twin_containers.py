"""`warmkeeper up --runtime containers` end to end: each task a Podman pod of the real images.

One twin of a copy of the CityGuided config serves the module. The copy differs from the example in
three ways only: the api and web containers carry ``APP_VERSION`` in their task-definition
environment (so a deploy is visible), the web container's health command first checks that
``/tmp/sick`` does not exist (so a test can make a running container fail its health check), and the
internal service `osrm` is left out (the containers runtime does not run internal services), with
the local variables that name it (``{port:osrm}``: the local commands are not what a pod runs).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import tomllib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.containers.support import app_containers, app_pods, podman
from tests.e2e.support import API_HEADERS, BROWSER_HEADERS, EXAMPLE_CONFIG, ROOT, TwinProcess, wait_for
from tests.e2e.test_local_deploy import Load, version_now
from tests.e2e.test_twin_behaviour import _herd as herd
from tests.e2e.test_twin_browser import CHROMIUM
from tests.e2e.test_twin_browser import (
    test_browser_sees_the_waiting_page_then_the_places as browser_sees_waiting_page_then_places,
)
from warmkeeper.config import load_config

# The first test to use `built_images` may build the base image and the three images (minutes).
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

IDLE_SECONDS = 8
WEB_HEALTH = (
    "test ! -e /tmp/sick && exec python -c "
    "'import urllib.request; urllib.request.urlopen(\"http://127.0.0.1:3000/healthz\", timeout=2)'"
)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    assert isinstance(value, dict)
    return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"


def _table(name: str, values: dict[str, Any], array: bool = False) -> list[str]:
    lines = [f"[[{name}]]" if array else f"[{name}]"]
    nested = {k: v for k, v in values.items() if isinstance(v, dict) and k in ("health", "local")}
    lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if k not in nested]
    for key, sub in nested.items():
        lines += _table(f"{name}.{key}", sub)
    return lines


def pod_config(folder: Path, version: str) -> Path:
    """The example config, with APP_VERSION and a web health check a test can break (see above)."""
    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    for container in data["containers"]:
        container["build"] = str(EXAMPLE_CONFIG.parent / container["build"])
        container["local"]["cwd"] = str(EXAMPLE_CONFIG.parent)
        local_environment = container["local"].get("environment", {})
        container["local"]["environment"] = {
            k: v for k, v in local_environment.items() if "{port:osrm}" not in v
        }
        if not container["local"]["environment"]:
            del container["local"]["environment"]
        if container["name"] in ("api", "web"):
            container["environment"] = {**container.get("environment", {}), "APP_VERSION": version}
        if container["name"] == "web":
            container["health"]["command"] = ["CMD-SHELL", WEB_HEALTH]
    lines: list[str] = _table("app", data["app"])
    for container in data["containers"]:
        lines += _table("containers", container, array=True)
    lines += _table("scale_to_zero", data["scale_to_zero"])
    lines += _table("defaults", data["defaults"])
    for env, values in data["environments"].items():
        lines += _table(f"environments.{env}", values)
    path = folder / "warmkeeper.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    load_config(path)
    return path


@dataclass
class PodTwin:
    twin: TwinProcess
    folder: Path
    config: Path

    def cold(self) -> TwinProcess:
        self.twin.make_cold()
        wait_for(lambda: app_containers() == [], 30, "no container of the app left")
        return self.twin


@pytest.fixture(scope="module")
def pods(built_images: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodTwin]:
    folder = tmp_path_factory.mktemp("pods")
    config = pod_config(folder, "v1")
    twin = TwinProcess(config, idle=IDLE_SECONDS, log_dir=folder, extra=("--runtime", "containers"))
    try:
        yield PodTwin(twin, folder, config)
    finally:
        # Stopped while warm: SIGTERM must still leave no container, pod or port behind.
        twin.client.get("/api/health", headers=API_HEADERS, follow_redirects=True)
        code = twin.stop()
        assert code == 0, twin.log()
        assert twin.leftovers() == [], twin.log()
        assert app_pods() == [] and app_containers() == [], twin.log()


def test_waiting_page_then_the_app_served_by_a_pod(pods: PodTwin) -> None:
    twin = pods.cold()
    page = twin.client.get("/", headers=BROWSER_HEADERS)
    assert page.status_code == 503 and "waking up" in page.text
    wait_for(lambda: twin.status().routing == "service", 90, "traffic routed to a healthy pod")
    app = twin.client.get("/", headers=BROWSER_HEADERS)
    assert app.status_code == 200 and 'id="places"' in app.text
    assert app.headers["x-app-version"] == "v1"
    # Served by the images: one pod, its three containers running (plus the pod's infra).
    (pod,) = app_pods()
    names = sorted(c["Names"][0] for c in app_containers() if not c.get("IsInfra"))
    assert names == sorted(f"{pod}-{name}" for name in ("caddy", "api", "web")), names
    # The config's limits: container memory a hard limit, cpu a share (as ECS applies them).
    cfg = load_config(pods.config)
    for name in ("caddy", "api", "web"):
        limits = podman(
            "inspect", "--format", "{{.HostConfig.Memory}} {{.HostConfig.CpuShares}}", f"{pod}-{name}"
        )
        container = cfg.container(name)
        assert limits.stdout.split() == [str(container.memory * 1024 * 1024), str(container.cpu)], limits


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is absent: `make browser`")
def test_browser_sees_the_waiting_page_then_the_places_from_a_pod(pods: PodTwin) -> None:
    browser_sees_waiting_page_then_places(pods.cold())


def test_herd_of_100_cold_requests_starts_exactly_one_pod(pods: PodTwin) -> None:
    twin = pods.cold()
    before = twin.details()
    statuses, errors, _elapsed = herd(twin.base, 100)
    after = twin.details()
    assert errors == []
    assert statuses == Counter({200: 100})
    assert after["tasks_started"] == before["tasks_started"] + 1
    assert len(app_pods()) == 1
    assert after["edge"]["requests"]["service_5xx"] == 0


def test_idle_pod_is_removed_and_no_container_is_left(pods: PodTwin) -> None:
    twin = pods.twin
    assert twin.client.get("/api/health", headers=API_HEADERS, follow_redirects=True).status_code == 200
    assert len(app_pods()) == 1
    twin.wait_state("COLD", timeout=IDLE_SECONDS + 60, running=0)
    assert app_pods() == [] and app_containers() == []


def test_rolling_deploy_under_load_fails_no_request(pods: PodTwin) -> None:
    twin = pods.twin
    assert version_now(twin) == "v1"
    (old_pod,) = app_pods()
    pod_config(pods.folder, "v2")
    load = Load(twin.base).start(clients=2)
    try:
        time.sleep(0.5)
        deployed = subprocess.run(
            [sys.executable, "-m", "warmkeeper", "deploy", "--env", "local", "--config", str(pods.config)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        time.sleep(0.5)
    finally:
        load.stop()
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert load.failures == [], load.failures[:5]
    assert load.count >= 20, load.count
    for seen in load.versions:
        assert seen and set(seen) <= {"v1", "v2"} and seen[-1] == "v2", set(seen)
    assert version_now(twin) == "v2"
    (new_pod,) = app_pods()
    assert new_pod != old_pod


def test_container_failing_its_health_check_gets_the_task_replaced(pods: PodTwin) -> None:
    twin = pods.twin
    assert twin.client.get("/api/health", headers=API_HEADERS, follow_redirects=True).status_code == 200
    (pod,) = app_pods()
    (task,) = twin.details()["tasks"]
    sick = podman("exec", f"{pod}-web", "touch", "/tmp/sick")
    assert sick.returncode == 0, sick.stderr

    def replaced() -> bool:
        tasks = twin.details()["tasks"]
        return any(t["id"] != task["id"] and t["phase"] == "healthy" for t in tasks)

    load = Load(twin.base).start(clients=1)  # traffic, so that the twin does not sleep meanwhile
    try:
        wait_for(replaced, 120, "a new healthy task in place of the unhealthy one", interval=0.5)
    finally:
        load.stop()
    assert "container web unhealthy" in twin.log()
    wait_for(lambda: pod not in app_pods(), 60, "the unhealthy task's pod removed")
    page = twin.client.get("/", headers=BROWSER_HEADERS, follow_redirects=True)
    assert page.status_code == 200
