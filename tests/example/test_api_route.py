"""The API's `/api/route`: a route from OSRM, or an answer the client can act on, never a hang.

Real processes over loopback: the API (uvicorn) asks the local OSRM stand-in for real routes, and a
scriptable fake OSRM (a real HTTP server in this process) for the answers a sleeping service gives:
the waker's 503 with Retry-After, no listener at all, a listener that never answers, one that answers
a byte at a time.
"""

from __future__ import annotations

import email.utils
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.example.support import EXAMPLE_DIR, FakeOsrm, Running, port_is_bound, start_api, start_osrm
from warmkeeper.local.loopback import free_port

EIFFEL = "48.85837,2.294481"  # LAT,LON: the API's order
LOUVRE = "48.860611,2.337644"
ISLAND = "48.8492,2.2672"  # the synthetic map's closed estate: no road to it
TIMEOUT_SECONDS = 1.0  # OSRM_TIMEOUT_SECONDS given to the API that talks to the fake


@pytest.fixture
def fake(fake_osrm: FakeOsrm) -> Iterator[FakeOsrm]:
    fake_osrm.released.clear()
    fake_osrm.mode, fake_osrm.retry_after, fake_osrm.requests = "cold", "17", 0
    fake_osrm.cold_answers, fake_osrm.ok_body = 0, b""
    yield fake_osrm
    fake_osrm.released.set()


def started_api(osrm_url: str) -> Running:
    api = start_api(free_port(), env={"OSRM_URL": osrm_url, "OSRM_TIMEOUT_SECONDS": str(TIMEOUT_SECONDS)})
    api.wait_ready("/api/health")
    return api


@pytest.fixture(scope="module")
def routed_api(osrm: Running) -> Iterator[Running]:
    api = started_api(f"http://127.0.0.1:{osrm.port}/")
    yield api
    api.stop()


@pytest.fixture(scope="module")
def api_on_fake(fake_osrm: FakeOsrm) -> Iterator[Running]:
    api = started_api(f"http://127.0.0.1:{fake_osrm.server_address[1]}")
    yield api
    api.stop()


def ask(api: Running, **params: str) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{api.port}", trust_env=False, timeout=15) as client:
        return client.get("/api/route", params=params)


def test_a_route_comes_from_osrm(routed_api: Running, osrm: Running) -> None:
    response = ask(routed_api, **{"from": EIFFEL, "to": LOUVRE})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"distance_m", "duration_s", "geometry"}
    # The same route OSRM gives for the same points (longitude first on OSRM's side).
    direct = httpx.get(
        f"http://127.0.0.1:{osrm.port}/route/v1/driving/2.294481,48.85837;2.337644,48.860611",
        params={"overview": "full", "geometries": "geojson"},
        trust_env=False,
    ).json()["routes"][0]
    assert body["distance_m"] == direct["distance"] and body["duration_s"] == direct["duration"]
    assert body["geometry"] == direct["geometry"] and body["geometry"]["type"] == "LineString"
    assert body["distance_m"] > 1000 and body["duration_s"] > 60


def test_no_road_between_the_points_is_a_404(routed_api: Running) -> None:
    response = ask(routed_api, **{"from": EIFFEL, "to": ISLAND})
    assert response.status_code == 404
    assert response.json()["osrm_code"] == "NoRoute" and "no route" in response.json()["error"]
    far = ask(routed_api, **{"from": EIFFEL, "to": "45.7640,4.8357"})
    assert far.status_code == 404 and far.json()["osrm_code"] == "NoSegment"


@pytest.mark.parametrize(
    ("params", "parameter", "words"),
    [
        ({"to": LOUVRE}, "from", "missing"),
        ({"from": EIFFEL}, "to", "missing"),
        ({"from": "48.85", "to": LOUVRE}, "from", "LAT,LON"),
        ({"from": EIFFEL, "to": "north,west"}, "to", "numbers"),
        ({"from": "95.0,2.3", "to": LOUVRE}, "from", "latitude"),
        ({"from": EIFFEL, "to": "48.8,200"}, "to", "longitude"),
        ({"from": "nan,2.3", "to": LOUVRE}, "from", "latitude"),
        ({"from": EIFFEL, "to": "48.8,2.3,1"}, "to", "LAT,LON"),
    ],
)
def test_bad_coordinates_are_a_400_naming_the_parameter(
    routed_api: Running, params: dict[str, str], parameter: str, words: str
) -> None:
    response = ask(routed_api, **params)
    assert response.status_code == 400
    body = response.json()
    assert body["parameter"] == parameter
    assert body["error"].startswith(f"{parameter}:") and words in body["error"]


def test_the_wakers_503_becomes_warming_up_with_its_retry_after(api_on_fake: Running, fake: FakeOsrm) -> None:
    response = ask(api_on_fake, **{"from": EIFFEL, "to": LOUVRE})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "17"
    assert response.json() == {"error": "routing is warming up, retry in 17 s", "retry_after": 17}
    assert fake.requests == 1


def test_a_retry_after_date_becomes_seconds(api_on_fake: Running, fake: FakeOsrm) -> None:
    fake.retry_after = email.utils.formatdate(time.time() + 30, usegmt=True)
    response = ask(api_on_fake, **{"from": EIFFEL, "to": LOUVRE})
    assert response.status_code == 503
    assert 27 <= response.json()["retry_after"] <= 31
    assert response.headers["retry-after"] == str(response.json()["retry_after"])


@pytest.mark.parametrize("header", [None, "soon, maybe", "later", "-3"])
def test_a_503_without_a_usable_retry_after_still_says_when(
    api_on_fake: Running, fake: FakeOsrm, header: str | None
) -> None:
    fake.retry_after = header
    response = ask(api_on_fake, **{"from": EIFFEL, "to": LOUVRE})
    assert response.status_code == 503
    assert response.json()["retry_after"] == 5 and response.headers["retry-after"] == "5"


@pytest.mark.parametrize("mode", ["hang", "drip"])
def test_an_osrm_that_does_not_finish_answering_is_cut_at_the_bound(
    api_on_fake: Running, fake: FakeOsrm, mode: str
) -> None:
    """No answer, or one byte every 0.2 s (each read within a per-read timeout): bounded all the same."""
    fake.mode = mode
    started = time.monotonic()
    response = ask(api_on_fake, **{"from": EIFFEL, "to": LOUVRE})
    elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["error"] == "routing is warming up, retry in 5 s"
    assert TIMEOUT_SECONDS * 0.9 <= elapsed < TIMEOUT_SECONDS + 1.5


@pytest.mark.parametrize(("mode", "status"), [("error", 500), ("garbage", 200), ("invalid", 400)])
def test_an_answer_that_is_not_a_route_is_a_502(
    api_on_fake: Running, fake: FakeOsrm, mode: str, status: int
) -> None:
    fake.mode = mode
    response = ask(api_on_fake, **{"from": EIFFEL, "to": LOUVRE})
    assert response.status_code == 502
    assert response.json()["error"] == f"the routing service answered HTTP {status}"


def test_without_osrm_url_routing_says_it_is_not_configured(api: Running) -> None:
    response = ask(api, **{"from": EIFFEL, "to": LOUVRE})
    assert response.status_code == 503
    assert "OSRM_URL" in response.json()["error"] and "retry-after" not in response.headers


def test_first_a_retry_then_the_route_once_osrm_listens() -> None:
    """The wake as the API sees it: nothing listens (the service has no task), then OSRM starts."""
    port = free_port()
    api = started_api(f"http://127.0.0.1:{port}")
    osrm: Running | None = None
    try:
        started = time.monotonic()
        cold = ask(api, **{"from": EIFFEL, "to": LOUVRE})
        assert cold.status_code == 503 and cold.json()["retry_after"] == 5
        assert time.monotonic() - started < TIMEOUT_SECONDS + 1
        osrm = start_osrm(port)
        osrm.wait_ready("/health")
        warm = ask(api, **{"from": EIFFEL, "to": LOUVRE})
        assert warm.status_code == 200 and warm.json()["distance_m"] > 1000
    finally:
        api.stop()
        if osrm is not None:
            osrm.stop()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("OSRM_URL", "ftp://osrm.internal"),
        ("OSRM_URL", "osrm:5000"),
        ("OSRM_TIMEOUT_SECONDS", "soon"),
        ("OSRM_TIMEOUT_SECONDS", "0"),
    ],
)
def test_a_bad_routing_setting_stops_the_start_naming_it(variable: str, value: str) -> None:
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=EXAMPLE_DIR,
        env={**os.environ, "OSRM_URL": "http://127.0.0.1:5000", variable: value},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert f"cityguided api: {variable} must be" in result.stderr and repr(value) in result.stderr
    assert "Traceback" not in result.stderr
    assert not port_is_bound(port)
