"""The twin modelling an HTTP API front door: real Caddy, real processes, loopback only.

With ``front_door = "http_api"`` in ``[environments.local]`` (or ``warmkeeper up --front-door
http_api``) the edge routes from a discovery list of healthy tasks that it looks up again only every
``discovery_cache_seconds`` (API Gateway's cached Cloud Map discovery), and a rolling deploy stops the
old task at once (ECS with Cloud Map). The old task's Caddy keeps accepting requests for
``drain_seconds`` after SIGTERM (``shutdown_delay``); the deploy is lossless only if that covers the
cache, which the last test shows by failing requests with a window of 0.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.support import (
    API_HEADERS,
    BROWSER_HEADERS,
    TwinProcess,
    example_config,
    run_cli,
    wait_for,
)
from tests.e2e.test_twin_behaviour import _herd, routed_and_healthy

pytestmark = pytest.mark.e2e

IDLE_SECONDS = 3
CACHE_SECONDS = 1.5  # the discovery cache, short for the test (the default models ~60 s)
DRAIN_SECONDS = 4  # above the cache, with room for the controller's 0.25 s tick
HTTP_API = {
    "front_door": "http_api",
    "discovery_cache_seconds": CACHE_SECONDS,
    "drain_seconds": DRAIN_SECONDS,
}


@pytest.fixture(scope="module")
def http_api_twin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinProcess]:
    folder = tmp_path_factory.mktemp("http-api")
    config = example_config(folder, "v1", local_settings=HTTP_API)
    twin = TwinProcess(config, idle=IDLE_SECONDS, log_dir=folder)
    try:
        yield twin
    finally:
        code = twin.stop()
        assert code == 0, twin.log()
        assert twin.leftovers() == [], twin.log()


@pytest.fixture
def cold_http_api_twin(http_api_twin: TwinProcess) -> TwinProcess:
    http_api_twin.make_cold()
    return http_api_twin


def test_the_twin_says_which_front_door_it_models(http_api_twin: TwinProcess) -> None:
    wait_for(lambda: "front door: http_api" in http_api_twin.log(), 10, "the front door line")
    assert f"discovery list cached {CACHE_SECONDS:g} s; entry drain window {DRAIN_SECONDS} s" in (
        http_api_twin.log()
    )


def test_cold_browser_request_gets_the_waiting_page(cold_http_api_twin: TwinProcess) -> None:
    twin = cold_http_api_twin
    page = twin.client.get("/", headers=BROWSER_HEADERS)
    assert page.status_code == 503
    assert "cityguided is waking up" in page.text
    wait_for(lambda: routed_and_healthy(twin), 60, "traffic routed to a healthy task")
    app = twin.client.get("/", headers=BROWSER_HEADERS)
    assert app.status_code == 200 and 'id="places"' in app.text


def test_cold_api_request_is_held_then_answered(cold_http_api_twin: TwinProcess) -> None:
    twin = cold_http_api_twin
    held_before = twin.details()["held_requests"]
    response = twin.client.get("/api/places", headers=API_HEADERS, follow_redirects=True)
    assert [r.status_code for r in response.history] + [response.status_code] == [307, 200]
    assert response.json()[0]["id"] == "eiffel-tower"
    details = twin.details()
    assert details["held_requests"] == held_before + 1
    assert details["edge"]["requests"]["service_5xx"] == 0


def test_herd_of_cold_requests_starts_one_task(cold_http_api_twin: TwinProcess) -> None:
    twin = cold_http_api_twin
    before = twin.details()
    statuses, errors, _elapsed = _herd(twin.base, 100)
    after = twin.details()
    assert errors == []
    assert statuses == Counter({200: 100})
    assert after["tasks_started"] == before["tasks_started"] + 1
    assert after["wakes"] == before["wakes"] + 1


@dataclass
class Load:
    """Clients on keep-alive connections, back to back: each answer's time, status and version."""

    base: str
    answers: list[tuple[float, int | str, str]] = field(default_factory=list)  # (sent, status, version)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self, clients: int = 2) -> Load:
        for index in range(clients):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            self._threads.append(thread)
            thread.start()
        return self

    def _client(self, index: int) -> None:
        with httpx.Client(base_url=self.base, trust_env=False, timeout=30) as client:
            while not self._stop.is_set():
                sent = time.time()
                try:
                    if index % 2 == 0:
                        response = client.get("/api/version", headers=API_HEADERS)
                        version = response.json()["version"] if response.status_code == 200 else ""
                    else:
                        response = client.get("/", headers={"User-Agent": "e2e-load"})
                        version = response.headers.get("x-app-version", "")
                except (httpx.HTTPError, ValueError) as exc:
                    self.answers.append((sent, type(exc).__name__, ""))
                    continue
                self.answers.append((sent, response.status_code, version))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(30)

    @property
    def count(self) -> int:
        return len(self.answers)

    @property
    def failures(self) -> list[int | str]:
        return [status for _sent, status, _version in self.answers if status != 200]


def _deploy_under_load(twin: TwinProcess, folder: Path, version: str, settings: dict[str, object]) -> Load:
    assert twin.client.get("/api/version", headers=API_HEADERS, follow_redirects=True).status_code == 200
    load = Load(twin.base).start(clients=2)
    try:
        wait_for(lambda: load.count > 50, 20, "load on the warm task")
        example_config(folder, version, local_settings=settings)  # type: ignore[arg-type]
        result = run_cli("deploy", "--env", "local", "--config", str(twin.config), timeout=180)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "deregistered from discovery" in result.stdout
        # Load after the deploy, once the cache shows it: the new version answers everything then.
        time.sleep(CACHE_SECONDS + 0.5)
        seen = load.count
        wait_for(lambda: load.count > seen + 50, 20, "load after the deploy")
    finally:
        load.stop()
    return load


def test_rolling_deploy_under_load_drops_nothing_when_the_drain_covers_the_cache(
    http_api_twin: TwinProcess,
) -> None:
    twin = http_api_twin
    folder = twin.config.parent
    load = _deploy_under_load(twin, folder, "v2", HTTP_API)
    assert load.failures == [], load.failures[:10]
    assert load.answers[-1][2] == "v2"
    record = twin.details()["deploy"]
    phases = record["phases"]
    # The deploy waited the old task's drain window out (its Caddy accepted requests that long).
    assert phases["stopped"] - phases["deregistered"] >= DRAIN_SECONDS - 0.2, phases
    # The race was real: the old version answered requests sent after its task was deregistered and
    # sent SIGTERM, as long as the edge's cached list named it (each change shows CACHE_SECONDS late),
    # and none after.
    deregistered = datetime.fromisoformat(record["started_at"]).timestamp() + phases["deregistered"]
    old_after = [sent - deregistered for sent, _status, version in load.answers if version == "v1"]
    assert max(old_after) > CACHE_SECONDS - 0.5, "the old task stopped getting requests before the cache"
    assert max(old_after) < CACHE_SECONDS + 1.0, max(old_after)


def test_without_a_drain_window_the_cached_discovery_drops_requests(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """The same deploy with drain_seconds = 0: the old Caddy stops accepting at SIGTERM while the
    edge's cached list still sends it requests, which fail (as API Gateway's 503s after a deploy)."""
    folder = tmp_path_factory.mktemp("http-api-no-drain")
    settings: dict[str, object] = {"discovery_cache_seconds": CACHE_SECONDS, "drain_seconds": 0}
    config = example_config(folder, "v1", local_settings=settings)  # type: ignore[arg-type]
    twin = TwinProcess(config, idle=60, log_dir=folder, extra=("--front-door", "http_api"))
    try:
        wait_for(lambda: "a deploy WILL drop requests" in twin.log(), 10, "the warning at start")
        load = _deploy_under_load(twin, folder, "v2", settings)
    finally:
        code = twin.stop()
    assert code == 0, twin.log()
    assert twin.leftovers() == [], twin.log()
    assert load.failures, "a deploy without a drain window lost nothing: the race is not modelled"
    # The edge's own error for an upstream that refuses the connection (API Gateway would say 503).
    assert set(load.failures) == {502}, Counter(load.failures)
    assert load.answers[-1][2] == "v2"


# An entry that ignores WARMKEEPER_DRAIN_SECONDS: the standard library's server ends at SIGTERM.
NO_DRAIN_APP = """
[app]
name = "no-drain"

[[containers]]
name = "web"
image = "python:3.12-slim"
port = 8000
entry = true
stop_timeout_seconds = 15
[containers.health]
path = "/"
command = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/')"]
[containers.local]
command = ["python", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
environment = { APP_VERSION = "VERSION" }

[environments.local]
front_door = "http_api"
discovery_cache_seconds = 1
drain_seconds = 4
"""


def test_a_deploy_whose_old_entry_stops_answering_inside_its_drain_window_fails(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    folder = tmp_path_factory.mktemp("http-api-drain-rule")
    config = folder / "warmkeeper.toml"
    config.write_text(NO_DRAIN_APP.replace("VERSION", "v1"), encoding="utf-8")
    twin = TwinProcess(config, idle=60, log_dir=folder)
    try:
        wait_for(
            lambda: twin.client.get("/", headers=API_HEADERS, follow_redirects=True).status_code == 200,
            60,
            "the app awake",
        )
        config.write_text(NO_DRAIN_APP.replace("VERSION", "v2"), encoding="utf-8")
        result = run_cli("deploy", "--env", "local", "--config", str(config), timeout=180)
    finally:
        code = twin.stop()
    assert code == 0, twin.log()
    assert twin.leftovers() == [], twin.log()
    assert result.returncode == 1, result.stdout + result.stderr
    assert "before its drain window of 4 s ended" in result.stderr, result.stderr
    assert "the entry container stopped answering" in result.stderr
    assert "must keep accepting requests for WARMKEEPER_DRAIN_SECONDS seconds after SIGTERM" in result.stderr
