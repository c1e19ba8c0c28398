"""caddy/osrm-caller.Caddyfile with real Caddy: the calling task's side of the internal wake.

A loopback site of the example's Caddy (its Caddyfile imports it) that the API calls as OSRM_URL: it
proxies to OSRM while OSRM answers, and sends the request to the waker (here a fake answering as the
waker does, 503 + Retry-After) when OSRM has no listener, and the API turns that into "routing is
warming up". On AWS the upstream is the OSRM service's Cloud Map DNS name; here it is a loopback
address, so the DNS side is not exercised (tests/e2e/test_twin_services.py runs it in the twin).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.example.support import FakeOsrm, Running, start_api, start_caddy, start_osrm
from warmkeeper.local.loopback import free_port

SECRET = "test-wake-secret"


def start_caller_caddy(osrm_port: int, waker: FakeOsrm | None) -> Running:
    """The example's Caddy (its public site on a port nobody calls here) with the caller site on
    `Running.port`, as warmkeeper sets its variables."""
    caller_port = free_port()
    env = {"OSRM_CALLER_PORT": str(caller_port), "WARMKEEPER_OSRM_HOST": "127.0.0.1"}
    env["WARMKEEPER_OSRM_PORT"] = str(osrm_port)
    if waker is not None:
        env["WARMKEEPER_WAKER"] = f"http://127.0.0.1:{waker.server_address[1]}"
        env["WARMKEEPER_WAKE_SECRET"] = SECRET
    caddy = start_caddy(free_port(), free_port(), free_port(), env=env)
    caddy.port = caller_port
    return caddy


@pytest.fixture
def waker(fake_osrm: FakeOsrm) -> Iterator[FakeOsrm]:
    fake_osrm.mode, fake_osrm.retry_after, fake_osrm.requests, fake_osrm.cold_answers = "cold", "23", 0, 0
    fake_osrm.last_headers = {}
    yield fake_osrm


def wait_listening(caddy: Running) -> None:
    """The site has no health path of its own: ready once it accepts a connection."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        assert caddy.process.poll() is None, caddy.output()
        try:
            socket.create_connection(("127.0.0.1", caddy.port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"caller Caddy not listening:\n{caddy.output()}")


def test_cold_osrm_goes_to_the_waker_then_warm_osrm_answers(waker: FakeOsrm) -> None:
    osrm_port = free_port()
    caddy = start_caller_caddy(osrm_port, waker)
    api = start_api(free_port(), env={"OSRM_URL": f"http://127.0.0.1:{caddy.port}"})
    osrm: Running | None = None
    try:
        wait_listening(caddy)
        api.wait_ready("/api/health")
        # No OSRM listening: the waker is asked, with the service's name and the secret.
        with httpx.Client(trust_env=False, timeout=10) as client:
            direct = client.get(
                f"http://127.0.0.1:{caddy.port}/route/v1/driving/2.2945,48.8584;2.3376,48.8606"
            )
            routed = client.get(
                f"http://127.0.0.1:{api.port}/api/route",
                params={"from": "48.8584,2.2945", "to": "48.8606,2.3376"},
            )
        assert direct.status_code == 503 and direct.headers["retry-after"] == "23"
        assert waker.last_headers.get("X-Warmkeeper-Service") == "osrm"
        assert waker.last_headers.get("X-Warmkeeper-Wake-Secret") == SECRET
        assert routed.status_code == 503
        assert routed.json() == {"error": "routing is warming up, retry in 23 s", "retry_after": 23}
        assert waker.requests == 2
        # OSRM is up: the same site proxies to it, and the waker hears nothing more.
        osrm = start_osrm(osrm_port)
        osrm.wait_ready("/health")
        with httpx.Client(trust_env=False, timeout=10) as client:
            warm = client.get(
                f"http://127.0.0.1:{api.port}/api/route",
                params={"from": "48.8584,2.2945", "to": "48.8606,2.3376"},
            )
        assert warm.status_code == 200 and warm.json()["distance_m"] > 1000
        assert waker.requests == 2
    finally:
        api.stop()
        caddy.stop()
        if osrm is not None:
            osrm.stop()


def test_without_a_waker_a_failed_call_gets_a_503_that_says_so() -> None:
    caddy = start_caller_caddy(free_port(), None)
    try:
        wait_listening(caddy)
        with httpx.Client(trust_env=False, timeout=10) as client:
            answer = client.get(
                f"http://127.0.0.1:{caddy.port}/route/v1/driving/2.2945,48.8584;2.3376,48.8606"
            )
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        assert "WARMKEEPER_WAKER" in answer.json()["error"]
    finally:
        caddy.stop()
