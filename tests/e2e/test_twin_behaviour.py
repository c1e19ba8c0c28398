"""The local twin end to end: real Caddy edge, real waker, real app processes, loopback HTTP only."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from tests.e2e.conftest import IDLE_SECONDS
from tests.e2e.support import (
    API_HEADERS,
    BROWSER_HEADERS,
    EXAMPLE_CONFIG,
    ROOT,
    TwinProcess,
    pid_alive,
    port_is_bound,
    wait_for,
)
from warmkeeper.clikit import UserError

pytestmark = pytest.mark.e2e


def routed_and_healthy(twin: TwinProcess) -> bool:
    report = twin.status()
    return report.routing == "service" and report.healthy > 0


def test_cold_browser_request_gets_the_waiting_page_then_the_app(cold_twin: TwinProcess) -> None:
    started_before = cold_twin.details()["tasks_started"]
    page = cold_twin.client.get("/", headers=BROWSER_HEADERS)
    assert page.status_code == 503
    assert "cityguided is waking up" in page.text
    assert page.headers["retry-after"] and "no-store" in page.headers["cache-control"]
    # What the waiting page's script does: poll the status endpoint, then reload the same URL.
    wait_for(lambda: routed_and_healthy(cold_twin), 60, "traffic routed to a healthy task")
    app = cold_twin.client.get("/", headers=BROWSER_HEADERS)
    assert app.status_code == 200
    assert 'id="places"' in app.text
    assert app.headers["server"].startswith("cityguided-web")
    assert cold_twin.details()["tasks_started"] == started_before + 1


def test_cold_api_request_is_held_then_answered_by_the_app(cold_twin: TwinProcess) -> None:
    held_before = cold_twin.details()["held_requests"]
    response = cold_twin.client.get("/api/places", headers=API_HEADERS, follow_redirects=True)
    statuses = [r.status_code for r in response.history] + [response.status_code]
    assert statuses == [307, 200], statuses
    assert response.history[0].headers["location"] == "/api/places"
    assert response.json()[0]["id"] == "eiffel-tower"
    details = cold_twin.details()
    assert details["held_requests"] == held_before + 1
    assert details["edge"]["requests"]["service_5xx"] == 0


def _herd(base: str, count: int) -> tuple[Counter[int], list[str], float]:
    """`count` independent clients (a thread and a connection each, as `count` people would be)
    send one API request each at the same instant and follow the 307.

    Not one shared `httpx.AsyncClient`: its pool takes seconds to send 200 redirected requests on
    kept-alive connections (measured without the twin too), long enough for a twin with a 3 s idle
    time to fall asleep in between and wake a second time.
    """
    results: list[int | str] = []
    start = threading.Barrier(count + 1)

    def one() -> None:
        with httpx.Client(base_url=base, trust_env=False, timeout=60, follow_redirects=True) as client:
            start.wait()
            try:
                response = client.get("/api/places", headers=API_HEADERS)
            except httpx.HTTPError as exc:
                results.append(f"{type(exc).__name__}: {exc}")
                return
            right = response.json()[0]["id"] == "eiffel-tower"
            results.append(response.status_code if right else "wrong body")

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join(120)
    statuses = Counter(r for r in results if isinstance(r, int))
    errors = [r for r in results if isinstance(r, str)]
    return statuses, errors, time.monotonic() - started


def test_herd_of_200_cold_requests_starts_one_task_and_all_succeed(cold_twin: TwinProcess) -> None:
    before = cold_twin.details()
    statuses, errors, _elapsed = _herd(cold_twin.base, 200)
    after = cold_twin.details()
    assert errors == []
    assert statuses == Counter({200: 200})
    assert after["tasks_started"] == before["tasks_started"] + 1
    assert after["wakes"] == before["wakes"] + 1
    assert after["edge"]["requests"]["service_5xx"] == 0


def test_idle_twin_sleeps_then_the_next_request_wakes_it(cold_twin: TwinProcess) -> None:
    assert cold_twin.client.get("/api/health", headers=API_HEADERS, follow_redirects=True).status_code == 200
    task = cold_twin.details()["tasks"][0]
    assert task["phase"] == "healthy"
    # idle 3 s (and the minimum warm time, capped at the idle time): asleep a few seconds later.
    report = cold_twin.wait_state("COLD", timeout=IDLE_SECONDS * 2 + 20, running=0)
    assert report.routing == "waker"
    details = cold_twin.details()
    assert details["edge"]["routing"] == "waker" and details["edge"]["service_ports"] == []
    assert details["tasks"] == []
    assert [pid for pid in task["pids"].values() if pid_alive(pid)] == []
    assert [port for port in task["ports"].values() if port_is_bound(port)] == []
    # The next request wakes it again, on a new task.
    response = cold_twin.client.get("/api/places", headers=API_HEADERS, follow_redirects=True)
    assert response.status_code == 200
    assert cold_twin.details()["tasks_started"] == details["tasks_started"] + 1


def test_keepalive_lease_holds_it_warm_past_the_idle_time(cold_twin: TwinProcess) -> None:
    started_before = cold_twin.details()["tasks_started"]
    for headers in ({"Authorization": "Bearer not-the-token"}, {"Authorization": "Basic abc"}, {}):
        refused = cold_twin.client.post("/_warmkeeper/keepalive", params={"minutes": "1"}, headers=headers)
        assert refused.status_code == 401, headers
        assert refused.json()["error"] == "unauthorized"
    assert cold_twin.status().state == "COLD"  # a refused keep-alive wakes nothing
    assert cold_twin.details()["tasks_started"] == started_before

    message = cold_twin.control.keepalive(1)
    assert "kept warm until" in message
    report = cold_twin.wait_state("WARM", timeout=60)
    task_id = report.tasks[0].task_id
    time.sleep(IDLE_SECONDS * 2 + 1)  # well past idle + minimum warm time, with no traffic at all
    report = cold_twin.status()
    assert report.state == "WARM" and report.lease_until is not None
    assert [t.task_id for t in report.tasks] == [task_id]
    with pytest.raises(UserError, match="lease"):
        cold_twin.control.sleep()  # without --force the lease wins
    assert "routed to the waker" in cold_twin.control.sleep(force=True)
    cold_twin.wait_state("COLD", timeout=30, running=0)


def test_configured_bots_never_wake_it(cold_twin: TwinProcess) -> None:
    started_before = cold_twin.details()["tasks_started"]
    response = cold_twin.client.get("/", headers={"User-Agent": "Mozilla/5.0 (compatible; UptimeRobot/2.0)"})
    assert response.status_code == 503
    assert response.json()["error"] == "asleep"
    time.sleep(0.5)
    assert cold_twin.status().state == "COLD"
    assert cold_twin.details()["tasks_started"] == started_before


def test_status_and_wake_through_twin_control(cold_twin: TwinProcess) -> None:
    report = cold_twin.status()
    assert (report.app, report.env, report.state, report.routing) == ("cityguided", "local", "COLD", "waker")
    assert report.url == f"http://localhost:{cold_twin.port}"
    assert "waking" in cold_twin.control.wake()
    report = cold_twin.wait_state("WARM", timeout=60)
    assert report.healthy == 1 and report.last_wake_seconds is not None
    assert cold_twin.control.wake() == "already warm"


def test_cli_status_reads_the_running_twin(cold_twin: TwinProcess) -> None:
    """`warmkeeper status --env local` finds the twin through its state file and reports it."""
    demo_state = EXAMPLE_CONFIG.parent / ".warmkeeper" / "twin-8080.json"
    if demo_state.exists():
        pytest.skip("a twin on port 8080 (make demo) runs on this machine: the CLI would report that one")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "warmkeeper",
            "status",
            "--env",
            "local",
            "--config",
            str(EXAMPLE_CONFIG),
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["state"] == "COLD" and report["env"] == "local"
    assert report["url"] == f"http://localhost:{cold_twin.port}"
