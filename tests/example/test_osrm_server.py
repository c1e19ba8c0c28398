"""The local OSRM stand-in (examples/cityguided/osrm): OSRM's route answers over the synthetic map.

Over real HTTP against the server run as a process, plus its pure parts (polyline, shortest path,
the map's recipe) in-process, checked against independent computations.
"""

from __future__ import annotations

import heapq
import importlib.util
import itertools
import json
import math
import random
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.example.support import EXAMPLE_DIR, Running, port_is_bound, start_osrm
from warmkeeper.local.loopback import free_port

EIFFEL = (2.294481, 48.85837)  # (lon, lat): OSRM's order
LOUVRE = (2.337644, 48.860611)
SACRE_COEUR = (2.343104, 48.886705)
PANTHEON = (2.346414, 48.846222)
ISLAND = (2.2672, 48.8492)  # the closed estate west of the grid, joined to no street of it
FAR_AWAY = (4.8357, 45.7640)  # Lyon: nowhere near the map


def load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


server = load("cityguided_osrm_server", EXAMPLE_DIR / "osrm" / "server.py")
make_map = load("cityguided_osrm_make_map", EXAMPLE_DIR / "osrm" / "make_map.py")


def route_path(*points: tuple[float, float], options: str = "") -> str:
    coordinates = ";".join(f"{lon},{lat}" for lon, lat in points)
    return f"/route/v1/driving/{coordinates}" + (f"?{options}" if options else "")


def get(osrm: Running, path: str) -> httpx.Response:
    with httpx.Client(base_url=f"http://127.0.0.1:{osrm.port}", trust_env=False, timeout=10) as client:
        return client.get(path)


def test_a_route_has_the_fields_osrm_answers(osrm: Running) -> None:
    response = get(osrm, route_path(EIFFEL, LOUVRE, options="overview=full&geometries=geojson"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert body["code"] == "Ok"
    best = body["routes"][0]
    assert {"distance", "duration", "weight", "weight_name", "geometry", "legs"} <= best.keys()
    assert len(best["legs"]) == 1 and best["legs"][0]["distance"] == best["distance"]
    start, end = (w["location"] for w in body["waypoints"])
    line = best["geometry"]["coordinates"]
    assert best["geometry"]["type"] == "LineString"
    assert line[0] == start and line[-1] == end
    # Each waypoint snapped to a named street close to the input coordinate.
    for waypoint, asked in zip(body["waypoints"], (EIFFEL, LOUVRE), strict=True):
        assert waypoint["name"] and waypoint["hint"]
        assert waypoint["distance"] == pytest.approx(
            server.haversine(asked, tuple(waypoint["location"])), abs=0.01
        )
        assert waypoint["distance"] < 250
    # The distance is the length of the line, no shorter than the crow flies; the speed is a city's.
    length = sum(server.haversine(tuple(a), tuple(b)) for a, b in itertools.pairwise(line))
    assert best["distance"] == pytest.approx(length, abs=0.2)
    assert best["distance"] >= server.haversine(tuple(start), tuple(end))
    speed_kmh = best["distance"] / best["duration"] * 3.6
    assert 30 <= speed_kmh <= 50


def test_polyline_geometries_are_the_same_line(osrm: Running) -> None:
    full = get(osrm, route_path(SACRE_COEUR, PANTHEON, options="overview=full&geometries=geojson")).json()
    line = full["routes"][0]["geometry"]["coordinates"]
    for kind, precision in (("polyline", 5), ("polyline6", 6)):
        body = get(osrm, route_path(SACRE_COEUR, PANTHEON, options=f"overview=full&geometries={kind}")).json()
        encoded = body["routes"][0]["geometry"]
        assert isinstance(encoded, str)
        decoded = server.decode_polyline(encoded, precision)
        assert len(decoded) == len(line)
        for (lon, lat), expected in zip(decoded, line, strict=True):
            assert lon == pytest.approx(expected[0], abs=10**-precision)
            assert lat == pytest.approx(expected[1], abs=10**-precision)
    # The default is OSRM's: a simplified polyline (precision 5), never more points than the full line.
    default = get(osrm, route_path(SACRE_COEUR, PANTHEON)).json()["routes"][0]
    simplified = server.decode_polyline(default["geometry"], 5)
    assert 2 <= len(simplified) <= len(line)
    assert default["distance"] == full["routes"][0]["distance"]
    without = get(osrm, route_path(SACRE_COEUR, PANTHEON, options="overview=false")).json()["routes"][0]
    assert "geometry" not in without and without["duration"] == full["routes"][0]["duration"]


def test_the_polyline_encoder_matches_googles_example() -> None:
    # The worked example of Google's encoded polyline algorithm format, in (lon, lat) order.
    points = [(-120.2, 38.5), (-120.95, 40.7), (-126.453, 43.252)]
    assert server.encode_polyline(points, 5) == "_p~iF~ps|U_ulLnnqC_mqNvxq`@"
    decoded = server.decode_polyline("_p~iF~ps|U_ulLnnqC_mqNvxq`@", 5)
    assert [coordinate for point in decoded for coordinate in point] == pytest.approx(
        [coordinate for point in points for coordinate in point]
    )


def test_one_way_streets_make_a_route_and_its_reverse_differ(osrm: Running) -> None:
    there = get(osrm, route_path(EIFFEL, LOUVRE)).json()["routes"][0]
    back = get(osrm, route_path(LOUVRE, EIFFEL)).json()["routes"][0]
    assert there["duration"] != back["duration"]


def test_a_route_between_the_banks_crosses_on_a_bridge(osrm: Running) -> None:
    raw = json.loads((EXAMPLE_DIR / "osrm" / "paris-synthetic.json").read_text(encoding="utf-8"))
    where = {node: (lon, lat) for node, lon, lat in raw["nodes"]}
    bridges = {
        frozenset(where[n] for n in way["nodes"]) for way in raw["ways"] if way["name"].startswith("Pont")
    }
    assert len(bridges) >= 5
    # The Panthéon is south of the river, the Sacré-Cœur north of it.
    assert not make_map.north_of_river(PANTHEON) and make_map.north_of_river(SACRE_COEUR)
    body = get(osrm, route_path(PANTHEON, SACRE_COEUR, options="overview=full&geometries=geojson")).json()
    line = [tuple(p) for p in body["routes"][0]["geometry"]["coordinates"]]
    crossings = [
        frozenset(pair)
        for pair in itertools.pairwise(line)
        if make_map.north_of_river(pair[0]) != make_map.north_of_river(pair[1])
    ]
    assert crossings and all(crossing in bridges for crossing in crossings)


def test_the_same_point_twice_is_a_zero_route(osrm: Running) -> None:
    body = get(osrm, route_path(LOUVRE, LOUVRE, options="geometries=geojson")).json()
    assert body["code"] == "Ok"
    assert body["routes"][0]["distance"] == 0 and body["routes"][0]["duration"] == 0
    assert len(body["routes"][0]["geometry"]["coordinates"]) == 2


@pytest.mark.parametrize(
    ("path", "code"),
    [
        (route_path(EIFFEL, ISLAND), "NoRoute"),
        (route_path(EIFFEL, FAR_AWAY), "NoSegment"),
        (route_path(EIFFEL), "InvalidOptions"),
        (route_path(*([EIFFEL] * 26)), "TooBig"),
        ("/route/v1/driving/2.29,48.85;not-a-number,48.86", "InvalidUrl"),
        ("/route/v1/driving/2.29,48.85;2.33", "InvalidUrl"),
        ("/route/v1/driving/2.29,48.85;2.33,95.0", "InvalidValue"),
        (route_path(EIFFEL, LOUVRE, options="geometries=wkt"), "InvalidQuery"),
        (route_path(EIFFEL, LOUVRE, options="overview=maybe"), "InvalidQuery"),
        (route_path(EIFFEL, LOUVRE, options="colour=blue"), "InvalidQuery"),
        (route_path(EIFFEL, LOUVRE, options="steps=true"), "InvalidOptions"),
        ("/table/v1/driving/2.29,48.85;2.33,48.86", "InvalidService"),
        ("/route/v2/driving/2.29,48.85;2.33,48.86", "InvalidVersion"),
        ("/", "InvalidUrl"),
    ],
)
def test_errors_answer_400_with_osrms_code(osrm: Running, path: str, code: str) -> None:
    response = get(osrm, path)
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == code and body["message"]
    assert "routes" not in body


def test_health(osrm: Running) -> None:
    response = get(osrm, "/health")
    assert response.status_code == 200 and response.json()["status"] == "ok"


def dijkstra(street_map: object, start: int) -> dict[int, float]:
    """Plain Dijkstra on travel time, written independently of the server's A*."""
    edges = street_map.edges  # type: ignore[attr-defined]
    best = {start: 0.0}
    queue = [(0.0, start)]
    while queue:
        elapsed, node = heapq.heappop(queue)
        if elapsed > best[node]:
            continue
        for edge in edges.get(node, ()):
            if elapsed + edge.duration_s < best.get(edge.to, math.inf):
                best[edge.to] = elapsed + edge.duration_s
                heapq.heappush(queue, (best[edge.to], edge.to))
    return best


def test_the_fastest_path_is_the_fastest() -> None:
    street_map = server.StreetMap.load(server.DEFAULT_MAP)
    grid = sorted(n for n in street_map.street_of if n <= make_map.ROWS * make_map.COLUMNS)
    rng = random.Random(7)
    for start in rng.sample(grid, 8):
        times = dijkstra(street_map, start)
        # Every grid street node is reachable from every other (one-way rows, two-way columns)...
        assert set(grid) <= times.keys()
        # ...and not one node of the closed estate is.
        assert not (set(street_map.street_of) - set(grid)) & times.keys()
        for goal in rng.sample(grid, 10):
            path = street_map.fastest_path(start, goal)
            assert path[0][0] == start and path[-1][0] == goal
            assert sum(edge.duration_s for _, edge in path if edge) == pytest.approx(times[goal])


def test_the_map_is_what_its_recipe_makes() -> None:
    shipped = (EXAMPLE_DIR / "osrm" / "paris-synthetic.json").read_text(encoding="utf-8")
    assert make_map.render() == shipped
    raw = json.loads(shipped)
    assert 300 <= len(raw["nodes"]) <= 600


def test_load_seconds_delays_listening_and_sigterm_stops_it() -> None:
    slow = start_osrm(free_port(), "--load-seconds", "2")
    try:
        time.sleep(0.8)
        assert slow.process.poll() is None
        assert not port_is_bound(slow.port)
        started = time.monotonic()
        slow.wait_ready("/health", timeout=10)
        assert time.monotonic() - started > 0.5
    finally:
        code = slow.stop()
    assert code == 0
    assert not port_is_bound(slow.port)


def test_a_broken_map_stops_it_before_it_listens(tmp_path: Path) -> None:
    broken = tmp_path / "map.json"
    broken.write_text(
        '{"nodes": [[1, 2.3, 48.8]], "ways": [{"nodes": [1, 99], "speed_kmh": 30}]}', encoding="utf-8"
    )
    port = free_port()
    result = subprocess.run(
        [sys.executable, "-m", "osrm.server", "--port", str(port), "--map", str(broken)],
        cwd=EXAMPLE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert str(broken) in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr
    assert not port_is_bound(port)
