"""The CityGuided example: its API, its web server and its Caddyfile, as real processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.example.support import (
    EXAMPLE_DIR,
    Running,
    port_is_bound,
    start_api,
    start_caddy,
    start_web,
)
from warmkeeper.local.loopback import free_port

# Paris, inside the Boulevard Périphérique: every bundled place must be there.
PARIS_LATITUDE = (48.81, 48.91)
PARIS_LONGITUDE = (2.22, 2.47)


def test_api_health_and_places(api: Running) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{api.port}", trust_env=False) as client:
        assert client.get("/api/health").json() == {"status": "ok"}
        response = client.get("/api/places")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    places = response.json()
    bundled = json.loads((EXAMPLE_DIR / "api" / "places.json").read_text(encoding="utf-8"))
    assert places == bundled
    assert len(places) >= 5
    assert len({p["id"] for p in places}) == len(places)
    for place in places:
        assert PARIS_LATITUDE[0] < place["latitude"] < PARIS_LATITUDE[1], place
        assert PARIS_LONGITUDE[0] < place["longitude"] < PARIS_LONGITUDE[1], place
    eiffel = next(p for p in places if p["id"] == "eiffel-tower")
    assert abs(eiffel["latitude"] - 48.8584) < 0.001 and abs(eiffel["longitude"] - 2.2945) < 0.001


def test_api_one_place_and_unknown_place(api: Running) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{api.port}", trust_env=False) as client:
        assert client.get("/api/places/louvre").json()["name"] == "Musée du Louvre"
        missing = client.get("/api/places/atlantis")
    assert missing.status_code == 404
    assert "atlantis" in missing.json()["detail"]


def test_api_refuses_to_start_on_a_broken_places_file(tmp_path: Path) -> None:
    broken = tmp_path / "places.json"
    broken.write_text('[{"id": "x", "name": "No coordinates"}]', encoding="utf-8")
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=EXAMPLE_DIR,
        env={**os.environ, "PLACES_FILE": str(broken)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "latitude" in result.stderr
    assert not port_is_bound(port)


def test_web_serves_the_page_and_healthz(web: Running) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{web.port}", trust_env=False) as client:
        assert client.get("/healthz").text == "ok\n"
        page = client.get("/")
        script = client.get("/app.js")
        missing = client.get("/no-such-file.txt")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="places"' in page.text and "/app.js" in page.text
    assert script.status_code == 200 and 'fetch("/api/places"' in script.text
    assert missing.status_code == 404


def test_web_finishes_a_request_in_flight_on_sigterm() -> None:
    """SIGTERM while a slow client is mid-request: the response still completes, then exit 0."""
    web = start_web(free_port())
    web.wait_ready("/healthz")
    result: dict[str, object] = {}

    def slow_client() -> None:
        import socket

        with socket.create_connection(("127.0.0.1", web.port)) as sock:
            sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: x\r\n")  # headers not finished yet
            time.sleep(0.6)
            sock.sendall(b"Connection: close\r\n\r\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
            result["response"] = b"".join(chunks)

    client = threading.Thread(target=slow_client)
    client.start()
    time.sleep(0.3)
    # An idle keep-alive connection must not hold the stop up either.
    idle = httpx.Client(trust_env=False)
    idle.get(f"http://127.0.0.1:{web.port}/healthz")
    web.terminate()
    client.join(10)
    code = web.stop()
    idle.close()
    assert code == 0
    response = result["response"]
    assert isinstance(response, bytes)
    assert response.startswith(b"HTTP/1.1 200") and b'id="places"' in response
    assert not port_is_bound(web.port)


def test_api_stops_gracefully_on_sigterm() -> None:
    api = start_api(free_port())
    api.wait_ready("/api/health")
    started = time.monotonic()
    code = api.stop()
    # uvicorn re-raises the signal after its graceful shutdown: killed "by" SIGTERM, not SIGKILL.
    assert code in (0, -signal.SIGTERM)
    assert time.monotonic() - started < 5
    assert not port_is_bound(api.port)


@pytest.fixture
def caddy(api: Running, web: Running) -> Iterator[Running]:
    running = start_caddy(free_port(), api.port, web.port)
    running.wait_ready("/healthz")
    yield running
    assert running.stop() == 0


def test_caddyfile_routes_api_and_web(caddy: Running, api: Running, web: Running) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{caddy.port}", trust_env=False) as client:
        places = client.get("/api/places")
        page = client.get("/")
        health = client.get("/healthz")
        api_404 = client.get("/api/unknown")
    assert places.status_code == 200 and places.json()[0]["id"] == "eiffel-tower"
    assert page.status_code == 200 and 'id="places"' in page.text
    # Answered by whom: the web server names itself; /api/* never reaches it.
    assert page.headers["server"].startswith("cityguided-web")
    assert "cityguided-web" not in places.headers.get("server", "")
    # Caddy's readiness goes through both upstreams: the last answer is the web's own /healthz.
    assert health.status_code == 200 and health.text == "ok\n"
    assert api_404.status_code == 404 and api_404.json() == {"detail": "Not Found"}


def _wait_bound(running: Running, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not port_is_bound(running.port):
        assert running.process.poll() is None, f"exited early:\n{running.output()}"
        assert time.monotonic() < deadline, f"not listening on :{running.port}:\n{running.output()}"
        time.sleep(0.05)


def test_caddy_is_ready_only_once_both_upstreams_answer() -> None:
    """Caddy starts together with the api and the web (ECS START dependencies): its /healthz, what the
    load balancer, ECS and the twin ask, must say 200 only once both of them answer theirs."""
    api_port, web_port = free_port(), free_port()
    caddy = start_caddy(free_port(), api_port, web_port)
    api = web = None
    try:
        _wait_bound(caddy)
        with httpx.Client(base_url=f"http://127.0.0.1:{caddy.port}", trust_env=False) as client:
            assert client.get("/healthz").status_code == 502
            assert client.get("/api/places").status_code == 502
            api = start_api(api_port)
            api.wait_ready("/api/health")
            assert client.get("/healthz").status_code == 502  # the web is still down
            assert client.get("/api/places").status_code == 200
            web = start_web(web_port)
            web.wait_ready("/healthz")
            assert client.get("/healthz").status_code == 200
            api.stop()
            api = None
            assert client.get("/healthz").status_code == 502  # and again once the api is gone
    finally:
        for running in (api, web):
            if running is not None:
                running.stop()
        assert caddy.stop() == 0
    assert not port_is_bound(caddy.port)


def test_caddyfile_defaults_without_environment() -> None:
    """The ECS values are the defaults: port 8080, upstreams 127.0.0.1:8000 and :3000, no admin API."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "caddy"), "adapt", "--config", "caddy/Caddyfile"],
        cwd=EXAMPLE_DIR,
        env={
            k: v
            for k, v in os.environ.items()
            if k not in ("PORT", "API_UPSTREAM", "WEB_UPSTREAM", "CADDY_ADMIN", "OSRM_CALLER_PORT")
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    config = json.loads(result.stdout)
    servers = list(config["apps"]["http"]["servers"].values())
    server = next(s for s in servers if s["listen"] != ["127.0.0.1:5000"])
    assert server["listen"] == [":8080"]
    dials = json.dumps(server["routes"])
    assert "127.0.0.1:8000" in dials and "127.0.0.1:3000" in dials
    # Nothing reconfigures a running task, and on ECS the other containers share Caddy's localhost.
    assert config["admin"]["disabled"] is True and "listen" not in config["admin"]
    # The internal service's caller site (osrm-caller.Caddyfile): loopback port 5000 in the task, the
    # API's OSRM_URL on ECS.
    caller = [s for s in servers if s is not server]
    assert [s["listen"] for s in caller] == [["127.0.0.1:5000"]]
