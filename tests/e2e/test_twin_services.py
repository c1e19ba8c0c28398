"""An internal service in the twin end to end: CityGuided's OSRM (the local stand-in) sleeps and wakes
on its own, behind the app's real Caddy and the twin's real waker, all on loopback.

The API reaches OSRM as OSRM_URL, through its task's Caddy (caddy/osrm-caller.Caddyfile): while OSRM
sleeps, that site sends the call to the waker, which wakes OSRM alone and answers 503 + Retry-After,
and the API says "routing is warming up"; once OSRM is up the route comes back. The app never waits
for OSRM, nor OSRM for the app.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.support import API_HEADERS, BROWSER_HEADERS, TwinProcess, example_config, run_cli, wait_for

pytestmark = pytest.mark.e2e

ROUTE = {"from": "48.8584,2.2945", "to": "48.8606,2.3376"}  # the Eiffel Tower to the Louvre
OSRM_IDLE_SECONDS = 6


def osrm(twin: TwinProcess) -> dict[str, Any]:
    (service,) = [s for s in twin.details()["services"] if s["name"] == "osrm"]
    return service


def environ(pid: int) -> dict[str, str]:
    """A process's environment as the kernel holds it (same user)."""
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(entry.decode().split("=", 1) for entry in raw if b"=" in entry)


class Visitors:
    """Pages of the app asked for every 0.2 s in a thread, each status counted."""

    def __init__(self, twin: TwinProcess) -> None:
        self.statuses: Counter[int] = Counter()
        self._stop = threading.Event()
        self._twin = twin
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Visitors:
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(base_url=self._twin.base, trust_env=False, timeout=30) as client:
            while not self._stop.wait(0.2):
                for path, headers in (("/api/places", API_HEADERS), ("/", BROWSER_HEADERS)):
                    self.statuses[client.get(path, headers=headers).status_code] += 1

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


@pytest.fixture(scope="module")
def warm_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinProcess]:
    """The app stays warm for the module (idle 300 s); OSRM sleeps after OSRM_IDLE_SECONDS."""
    folder = tmp_path_factory.mktemp("services")
    config = example_config(folder, "v1")
    twin = TwinProcess(
        config, idle=300, log_dir=folder, extra=("--service-idle", f"osrm={OSRM_IDLE_SECONDS}")
    )
    try:
        yield twin
    finally:
        code = twin.stop()
        assert code == 0, twin.log()
        assert twin.leftovers() == [], twin.log()


def test_a_route_wakes_osrm_alone_while_the_app_answers_then_osrm_sleeps_on_its_own(
    warm_app: TwinProcess,
) -> None:
    twin = warm_app
    client = twin.client
    assert client.get("/api/places", headers=API_HEADERS, follow_redirects=True).status_code == 200
    twin.wait_state("WARM")
    app_tasks = twin.details()["tasks_started"]
    assert osrm(twin)["state"] == "COLD" and osrm(twin)["desired"] == 0

    with Visitors(twin) as visitors:
        first = client.get("/api/route", params=ROUTE, headers=API_HEADERS)
        # The first answer at once: a retry the client can act on, OSRM waking (and only OSRM).
        assert first.status_code == 503, first.text
        retry_after = int(first.headers["retry-after"])
        assert 1 <= retry_after <= 30
        assert first.json() == {
            "error": f"routing is warming up, retry in {retry_after} s",
            "retry_after": retry_after,
        }
        woken = osrm(twin)
        assert woken["wakes"] == 1 and woken["desired"] == 1 and woken["state"] in ("WAKING", "WARM")
        answers: list[int] = [first.status_code]

        def routed() -> httpx.Response | None:
            answer = client.get("/api/route", params=ROUTE, headers=API_HEADERS)
            answers.append(answer.status_code)
            if answer.status_code == 503:
                assert answer.json()["error"].startswith("routing is warming up, retry in ")
            return answer if answer.status_code == 200 else None

        route = wait_for(routed, 60, "the route once OSRM is up", interval=0.5)
        time.sleep(0.5)  # one more round of the app's pages after OSRM's wake
    body = route.json()
    assert body["distance_m"] > 1000 and body["duration_s"] > 60
    assert body["geometry"]["type"] == "LineString"
    assert set(answers) == {503, 200}
    # The rest of the app answered throughout, from the same task: OSRM's wake touched nothing else.
    assert visitors.statuses and set(visitors.statuses) == {200}, visitors.statuses
    details = twin.details()
    assert details["tasks_started"] == app_tasks and details["wakes"] == 1
    up = osrm(twin)
    assert up["state"] == "WARM" and up["wakes"] == 1 and up["healthy"] == 1
    assert up["wake_calls"] >= 1 and up["connections"] >= 1

    # OSRM sleeps after its own idle time, counted from its last call; the app stays warm meanwhile.
    last_call = time.monotonic()
    wait_for(lambda: osrm(twin)["state"] != "WARM", OSRM_IDLE_SECONDS + 20, "OSRM going to sleep")
    assert time.monotonic() - last_call >= OSRM_IDLE_SECONDS - 1
    asleep = wait_for(
        lambda: (s := osrm(twin))["state"] == "COLD" and s["running"] == 0 and s,
        40,
        "OSRM asleep, no process",
    )
    assert asleep["sleeps"] == 1 and asleep["routing"] == "waker"
    assert twin.status().state == "WARM" and twin.details()["tasks_started"] == app_tasks
    assert client.get("/api/places", headers=API_HEADERS).status_code == 200
    # `warmkeeper status --env local` shows each service's state.
    shown = run_cli("status", "--env", "local", "--config", str(twin.config), "--port", str(twin.port))
    assert shown.returncode == 0, shown.stderr
    assert "service     osrm: COLD" in shown.stdout and "cityguided local: WARM" in shown.stdout


def test_the_app_containers_get_the_internal_wake_variables_and_a_wrong_secret_wakes_nothing(
    warm_app: TwinProcess,
) -> None:
    twin = warm_app
    assert twin.client.get("/api/places", headers=API_HEADERS, follow_redirects=True).status_code == 200
    twin.wait_state("WARM")
    details = twin.details()
    (task,) = [t for t in details["tasks"] if t["phase"] == "healthy"]
    variables = environ(task["pids"]["caddy"])
    service = osrm(twin)
    assert service["state"] == "COLD"
    assert f"{variables['WARMKEEPER_OSRM_HOST']}:{variables['WARMKEEPER_OSRM_PORT']}" == service["address"]
    # The internal wakes' own port (the Lambda's function URL), not the edge's waker.
    assert variables["WARMKEEPER_WAKER"] == f"http://127.0.0.1:{details['internal_waker_port']}"
    assert details["internal_waker_port"] != details["waker_port"]
    secret = variables["WARMKEEPER_WAKE_SECRET"]
    assert len(secret) >= 32 and environ(task["pids"]["api"])["WARMKEEPER_WAKE_SECRET"] == secret
    # The API reaches OSRM through its Caddy's caller site on a port of the task's own.
    assert environ(task["pids"]["api"])["OSRM_URL"] == f"http://127.0.0.1:{task['ports']['osrm']}"

    waker = variables["WARMKEEPER_WAKER"]
    with httpx.Client(trust_env=False, timeout=10) as client:
        for wrong in ("", "not-the-secret", secret[:-1]):
            refused = client.get(
                f"{waker}/route/v1/driving/2.29,48.85;2.33,48.86",
                headers={"X-Warmkeeper-Service": "osrm", "X-Warmkeeper-Wake-Secret": wrong},
            )
            assert refused.status_code == 403 and refused.json()["error"] == "forbidden"
        unknown = client.get(
            f"{waker}/", headers={"X-Warmkeeper-Service": "geocoder", "X-Warmkeeper-Wake-Secret": secret}
        )
        assert unknown.status_code == 404 and "'geocoder'" in unknown.json()["message"]
    time.sleep(1)  # a wake would have shown by now (the controller runs every 0.25 s)
    after = osrm(twin)
    assert after["state"] == "COLD" and after["desired"] == 0 and after["running"] == 0
    assert after["wakes"] == service["wakes"] and after["wake_calls"] == service["wake_calls"]


def test_the_app_sleeps_without_waiting_for_osrm(tmp_path: Path) -> None:
    """The app idle 4 s, OSRM 60 s: once routing stops, the app goes to sleep while OSRM stays up."""
    config = example_config(tmp_path, "v1")
    twin = TwinProcess(config, idle=4, log_dir=tmp_path, extra=("--service-idle", "osrm=60"))
    try:
        client = twin.client
        assert client.get("/api/places", headers=API_HEADERS, follow_redirects=True).status_code == 200
        wait_for(
            lambda: client.get("/api/route", params=ROUTE, headers=API_HEADERS).status_code == 200,
            60,
            "the route",
            interval=0.5,
        )
        assert osrm(twin)["state"] == "WARM"
        twin.wait_state("COLD", timeout=40, running=0)
        service = osrm(twin)
        assert service["state"] == "WARM" and service["healthy"] == 1 and service["sleeps"] == 0
    finally:
        code = twin.stop()
    assert code == 0, twin.log()
    assert twin.leftovers() == [], twin.log()
