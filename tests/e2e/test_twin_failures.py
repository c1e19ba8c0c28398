"""A broken app under the twin: clear status, bounded retries with backoff, no crash, no flapping."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.support import API_HEADERS, TwinProcess, pid_alive, wait_for

pytestmark = pytest.mark.e2e

CONFIG = """
[app]
name = "broken"

[[containers]]
name = "app"
image = "public.ecr.aws/docker/library/python:3.12-slim"
port = 8000
entry = true
[containers.health]
path = "/health"
interval_seconds = 5
retries = 1
start_period_seconds = 0
[containers.local]
command = {command}

[environments.local]
idle_minutes = 1
"""

EXITS_AT_ONCE = (
    '["python", "-c", "import sys; print(\'boom: DATABASE_URL is not set\', flush=True); sys.exit(3)"]'
)
# Answers HTTP, but 404 on the health path: it never becomes healthy.
NEVER_HEALTHY = '["python", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]'


def start(tmp_path: Path, command: str, attempts: int) -> TwinProcess:
    config = tmp_path / "warmkeeper.toml"
    config.write_text(CONFIG.format(command=command), encoding="utf-8")
    return TwinProcess(config, idle=3, log_dir=tmp_path, extra=["--max-attempts", str(attempts)])


@pytest.fixture
def crashing_twin(tmp_path: Path) -> Iterator[TwinProcess]:
    twin = start(tmp_path, EXITS_AT_ONCE, attempts=3)
    yield twin
    assert twin.stop() == 0, twin.log()
    assert twin.leftovers() == []


@pytest.fixture
def unhealthy_twin(tmp_path: Path) -> Iterator[TwinProcess]:
    twin = start(tmp_path, NEVER_HEALTHY, attempts=2)
    yield twin
    assert twin.stop() == 0, twin.log()
    assert twin.leftovers() == []


def test_app_that_exits_at_once(crashing_twin: TwinProcess) -> None:
    twin = crashing_twin
    started = time.monotonic()
    response = twin.client.get("/api/things", headers=API_HEADERS)
    # Held while the attempts run, then a clear 503 as soon as the twin gives up (not after 25 s).
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert time.monotonic() - started < 20
    details = wait_for(lambda: (d := twin.details())["gave_up"] and d, 30, "giving up")
    assert details["tasks_started"] == 3 and details["attempts_this_wake"] == 3
    failure = details["last_failure"]
    assert failure["container"] == "app"
    assert "exited with code 3" in failure["reason"]
    assert "boom: DATABASE_URL is not set" in failure["output_tail"]
    report = twin.status()
    assert report.state == "WAKING" and report.running == 0 and report.healthy == 0
    assert any("gave up after 3 failed task starts" in p and "code 3" in p for p in report.problems)
    # The output tail is printed where the person running `warmkeeper up` looks.
    log = twin.log()
    assert "boom: DATABASE_URL is not set" in log and "retrying in 1 s" in log and "retrying in 2 s" in log
    # No flapping: nothing more is started while it stays given up, and the twin keeps answering.
    time.sleep(3)
    assert twin.details()["tasks_started"] == 3
    assert twin.process.poll() is None
    # An explicit wake tries again, with a fresh, bounded series.
    assert "trying again" in twin.control.wake()
    wait_for(lambda: twin.details()["tasks_started"] > 3, 10, "a new attempt")


def test_app_that_never_becomes_healthy(unhealthy_twin: TwinProcess) -> None:
    twin = unhealthy_twin
    assert "waking" in twin.control.wake()
    first = wait_for(lambda: (d := twin.details())["tasks"] and d["tasks"][0]["pids"] and d, 10, "a task")
    app_pid = first["tasks"][0]["pids"]["app"]
    details = wait_for(lambda: (d := twin.details())["gave_up"] and d, 40, "giving up")
    assert details["tasks_started"] == 2
    assert "not healthy after" in details["last_failure"]["reason"]
    assert "GET /health" in details["last_failure"]["reason"]
    # The server's own log line for the failed health check is in the output tail.
    assert any("/health" in line and "404" in line for line in details["last_failure"]["output_tail"])
    report = twin.status()
    assert report.problems and "gave up after 2 failed task starts" in report.problems[0]
    assert report.running == 0
    assert not pid_alive(app_pid)
    time.sleep(2)
    assert twin.details()["tasks_started"] == 2
