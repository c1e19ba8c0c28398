"""A local stand-in for OSRM's route service: `python -m osrm.server --port 5000`.

Run from examples/cityguided. Real OSRM binaries cannot be installed on the machines this project is
built on (no package in Debian bookworm; the npm package downloads prebuilt binaries from a host that
is not reachable; the PyPI bindings are source only and need OSRM's C++ toolchain), so the local twin
and the tests run this server instead. On AWS the service runs the official
``ghcr.io/project-osrm/osrm-backend`` image (``osrm/Dockerfile``).

What it speaks: the part of OSRM's HTTP API (v5, ``docs/http.md`` of osrm-backend) that CityGuided
uses, answered the way osrm-routed answers it:

- ``GET /route/v1/{profile}/{lon},{lat};{lon},{lat}[;...][.json]`` with ``overview``
  (``simplified``, the default, ``full`` or ``false``) and ``geometries`` (``polyline``, the default,
  ``polyline6`` or ``geojson``). The answer has ``code: "Ok"``, ``routes[0]`` with ``distance`` (m),
  ``duration`` (s), ``weight``, ``weight_name``, ``geometry`` and ``legs``, and ``waypoints`` (``name``,
  ``location`` as [lon, lat], ``distance`` from the input coordinate, ``hint``).
- Errors answer HTTP 400 with OSRM's codes: ``InvalidUrl``, ``InvalidService``, ``InvalidVersion``,
  ``InvalidOptions``, ``InvalidQuery``, ``InvalidValue``, ``NoSegment``, ``TooBig`` and ``NoRoute``.
- ``GET /health``: 200 once the map is loaded (osrm-routed has no health path; this one is for the
  twin's health check).

Where it is simpler than OSRM, and says so rather than answering something else: a coordinate snaps to
the nearest street node (OSRM snaps to the nearest point of a segment); ``steps``, ``alternatives``
and ``annotations`` other than ``false`` are refused with ``InvalidOptions``; ``simplified`` drops
points closer than a few metres to the line (Douglas-Peucker) instead of OSRM's zoom-level rule.

``--load-seconds`` waits before listening, as osrm-routed does while it loads its data: the twin can
give the stand-in the slow start the real service has.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import heapq
import itertools
import json
import math
import re
import signal
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_MAP = Path(__file__).with_name("paris-synthetic.json")
EARTH_RADIUS_M = 6_372_797.560856  # the radius OSRM's haversine uses (util/coordinate_calculation)
MAX_SNAP_METERS = 1_000.0  # farther from every street node than this: NoSegment
MAX_COORDINATES = 25
SIMPLIFY_TOLERANCE_M = 5.0
GEOMETRIES = ("polyline", "polyline6", "geojson")
OVERVIEWS = ("simplified", "full", "false")
COORDINATES = re.compile(r"^(?P<coordinates>[^/]+?)(?:\.json)?$")


class RoutingError(Exception):
    """An OSRM error answer: its ``code`` and ``message`` (HTTP 400, as osrm-routed answers)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Edge:
    to: int
    distance_m: float
    duration_s: float
    name: str


@dataclass
class StreetMap:
    """Street nodes (id -> (lon, lat)) and a directed adjacency list, read once from the JSON map."""

    name: str
    nodes: dict[int, tuple[float, float]]
    edges: dict[int, list[Edge]] = field(default_factory=dict)
    street_of: dict[int, str] = field(default_factory=dict)
    max_speed_ms: float = 1.0

    @classmethod
    def load(cls, path: Path) -> StreetMap:
        """Read and check the map; a broken file stops the server before it listens."""
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise SystemExit(f"osrm stand-in: cannot read the map {path}: {error}") from None
        try:
            nodes = {int(n[0]): (float(n[1]), float(n[2])) for n in raw["nodes"]}
            result = cls(name=str(raw.get("name", path.stem)), nodes=nodes)
            for number, way in enumerate(raw["ways"]):
                result._add_way(number, way)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise SystemExit(f"osrm stand-in: the map {path} is malformed: {error!r}") from None
        if not result.edges:
            raise SystemExit(f"osrm stand-in: the map {path} has no streets")
        return result

    def _add_way(self, number: int, way: dict[str, object]) -> None:
        ids = [int(i) for i in way["nodes"]]  # type: ignore[attr-defined]
        speed_kmh = float(way["speed_kmh"])  # type: ignore[arg-type]
        if speed_kmh <= 0:
            raise ValueError(f"way {number}: speed_kmh must be positive")
        speed = speed_kmh / 3.6
        self.max_speed_ms = max(self.max_speed_ms, speed)
        name = str(way.get("name", ""))
        for a, b in itertools.pairwise(ids):
            if a not in self.nodes or b not in self.nodes:
                raise ValueError(f"way {number} ({name!r}) names a node that does not exist")
            length = haversine(self.nodes[a], self.nodes[b])
            self.edges.setdefault(a, []).append(Edge(b, length, length / speed, name))
            self.street_of.setdefault(a, name)
            self.street_of.setdefault(b, name)
            if not way.get("oneway"):
                self.edges.setdefault(b, []).append(Edge(a, length, length / speed, name))

    def snap(self, point: tuple[float, float]) -> tuple[int, float]:
        """The nearest node on a street and its distance; NoSegment when none is close enough."""
        best, best_distance = -1, math.inf
        for node in self.street_of:
            distance = haversine(point, self.nodes[node])
            if distance < best_distance:
                best, best_distance = node, distance
        if best_distance > MAX_SNAP_METERS:
            raise RoutingError("NoSegment", "Could not find a matching segment for any coordinate.")
        return best, best_distance

    def fastest_path(self, start: int, goal: int) -> list[tuple[int, Edge | None]]:
        """A* on travel time (the heuristic: straight line at the map's top speed, never above the
        truth); returns the nodes with the edge that reached each. NoRoute when none connects."""
        if start == goal:
            return [(start, None)]
        goal_point = self.nodes[goal]
        best: dict[int, float] = {start: 0.0}
        came: dict[int, tuple[int, Edge]] = {}
        frontier: list[tuple[float, float, int]] = [(0.0, 0.0, start)]
        while frontier:
            _, elapsed, node = heapq.heappop(frontier)
            if node == goal:
                path: list[tuple[int, Edge | None]] = []
                while node in came:
                    previous, edge = came[node]
                    path.append((node, edge))
                    node = previous
                path.append((start, None))
                return path[::-1]
            if elapsed > best.get(node, math.inf):
                continue
            for edge in self.edges.get(node, ()):
                candidate = elapsed + edge.duration_s
                if candidate < best.get(edge.to, math.inf):
                    best[edge.to] = candidate
                    came[edge.to] = (node, edge)
                    estimate = haversine(self.nodes[edge.to], goal_point) / self.max_speed_ms
                    heapq.heappush(frontier, (candidate + estimate, candidate, edge.to))
        raise RoutingError("NoRoute", "Impossible route between points")


def haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance in metres between two (lon, lat) points."""
    lon1, lat1, lon2, lat2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def encode_polyline(points: Sequence[tuple[float, float]], precision: int) -> str:
    """Google's encoded polyline of (lon, lat) points, in (lat, lon) order as OSRM writes it."""
    factor = 10**precision
    out: list[str] = []
    previous = (0, 0)
    for lon, lat in points:
        current = (round(lat * factor), round(lon * factor))
        for value in (current[0] - previous[0], current[1] - previous[1]):
            value = ~(value << 1) if value < 0 else value << 1
            while value >= 0x20:
                out.append(chr((0x20 | (value & 0x1F)) + 63))
                value >>= 5
            out.append(chr(value + 63))
        previous = current
    return "".join(out)


def decode_polyline(text: str, precision: int) -> list[tuple[float, float]]:
    """The inverse of `encode_polyline`: (lon, lat) points."""
    factor = 10**precision
    points: list[tuple[float, float]] = []
    index, lat, lon = 0, 0, 0
    while index < len(text):
        deltas = []
        for _ in range(2):
            shift, result = 0, 0
            while True:
                byte = ord(text[index]) - 63
                index += 1
                result |= (byte & 0x1F) << shift
                shift += 5
                if byte < 0x20:
                    break
            deltas.append(~(result >> 1) if result & 1 else result >> 1)
        lat += deltas[0]
        lon += deltas[1]
        points.append((lon / factor, lat / factor))
    return points


def simplify(points: list[tuple[float, float]], tolerance_m: float) -> list[tuple[float, float]]:
    """Douglas-Peucker on a local flat projection (fine over a city)."""
    if len(points) < 3:
        return points
    lat0 = math.radians(points[0][1])

    def xy(p: tuple[float, float]) -> tuple[float, float]:
        return (math.radians(p[0]) * math.cos(lat0) * EARTH_RADIUS_M, math.radians(p[1]) * EARTH_RADIUS_M)

    flat = [xy(p) for p in points]
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        (ax, ay), (bx, by) = flat[first], flat[last]
        length = math.hypot(bx - ax, by - ay)
        worst, worst_index = 0.0, -1
        for i in range(first + 1, last):
            px, py = flat[i]
            if length == 0:
                distance = math.hypot(px - ax, py - ay)
            else:
                distance = abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / length
            if distance > worst:
                worst, worst_index = distance, i
        if worst > tolerance_m:
            keep[worst_index] = True
            stack += [(first, worst_index), (worst_index, last)]
    return [p for p, kept in zip(points, keep, strict=True) if kept]


@dataclass(frozen=True)
class RouteQuery:
    coordinates: list[tuple[float, float]]
    geometries: str = "polyline"
    overview: str = "simplified"


def parse_route_path(path: str) -> RouteQuery:
    """Read ``/route/v1/{profile}/{coordinates}?options`` the way osrm-routed judges it."""
    split = urlsplit(path)
    parts = split.path.split("/")
    # ['', service, version, profile, coordinates]
    if len(parts) != 5 or not all(parts[1:]):
        raise RoutingError("InvalidUrl", f"URL string malformed: {split.path!r}")
    _, service, version, _profile, raw = parts
    if service != "route":
        raise RoutingError("InvalidService", f"Service {service} not found!")
    if version != "v1":
        raise RoutingError("InvalidVersion", f"Service {service} not found!")
    match = COORDINATES.match(unquote(raw))
    if match is None:
        raise RoutingError("InvalidUrl", "URL string malformed: no coordinates")
    coordinates: list[tuple[float, float]] = []
    for position, pair in enumerate(match["coordinates"].split(";")):
        try:
            lon_text, lat_text = pair.split(",")
            lon, lat = float(lon_text), float(lat_text)
        except ValueError:
            malformed = f"URL string malformed close to coordinate {position}: {pair!r}"
            raise RoutingError("InvalidUrl", malformed) from None
        if not (math.isfinite(lon) and math.isfinite(lat)) or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise RoutingError("InvalidValue", "Invalid coordinate value.")
        coordinates.append((lon, lat))
    if len(coordinates) < 2:
        raise RoutingError("InvalidOptions", "Number of coordinates needs to be at least two.")
    if len(coordinates) > MAX_COORDINATES:
        too_many = f"Number of entries {len(coordinates)} is higher than current maximum ({MAX_COORDINATES})"
        raise RoutingError("TooBig", too_many)
    options = dict(parse_qsl(split.query, keep_blank_values=True))
    geometries = options.pop("geometries", "polyline")
    overview = options.pop("overview", "simplified")
    if geometries not in GEOMETRIES or overview not in OVERVIEWS:
        raise RoutingError("InvalidQuery", f"Query string malformed: {split.query!r}")
    for flag in ("steps", "alternatives", "annotations"):
        value = options.pop(flag, "false")
        if value not in ("true", "false"):
            raise RoutingError("InvalidQuery", f"Query string malformed: {flag}={value!r}")
        if value == "true":
            raise RoutingError("InvalidOptions", f"{flag}=true is not implemented by the local OSRM stand-in")
    for accepted in ("generate_hints", "continue_straight"):
        options.pop(accepted, None)
    if options:
        raise RoutingError("InvalidQuery", f"Query string malformed: unknown option {next(iter(options))!r}")
    return RouteQuery(coordinates, geometries, overview)


def route(street_map: StreetMap, query: RouteQuery) -> dict[str, object]:
    """The Ok answer for a route query (raises RoutingError with OSRM's code otherwise)."""
    snapped = [street_map.snap(point) for point in query.coordinates]
    legs: list[dict[str, object]] = []
    line: list[tuple[float, float]] = []
    total_distance = total_duration = 0.0
    for (start, _), (goal, _) in itertools.pairwise(snapped):
        path = street_map.fastest_path(start, goal)
        distance = sum(edge.distance_m for _, edge in path if edge)
        duration = sum(edge.duration_s for _, edge in path if edge)
        points = [street_map.nodes[node] for node, _ in path]
        if len(points) == 1:
            points = points * 2  # OSRM answers a zero-length route with its point twice
        line += points if not line else points[1:]
        legs.append(
            {
                "distance": round(distance, 1),
                "duration": round(duration, 1),
                "weight": round(duration, 1),
                "summary": "",
                "steps": [],
            }
        )
        total_distance += distance
        total_duration += duration
    result: dict[str, object] = {
        "distance": round(total_distance, 1),
        "duration": round(total_duration, 1),
        "weight": round(total_duration, 1),
        "weight_name": "duration",
        "legs": legs,
    }
    if query.overview != "false":
        shape = line if query.overview == "full" else simplify(line, SIMPLIFY_TOLERANCE_M)
        result["geometry"] = geometry(shape, query.geometries)
    waypoints = [
        {
            "hint": base64.urlsafe_b64encode(f"node:{node}".encode()).decode(),
            "distance": round(distance, 6),
            "name": street_map.street_of.get(node, ""),
            "location": list(street_map.nodes[node]),
        }
        for node, distance in snapped
    ]
    return {"code": "Ok", "routes": [result], "waypoints": waypoints}


def geometry(points: list[tuple[float, float]], kind: str) -> object:
    if kind == "geojson":
        return {"type": "LineString", "coordinates": [list(p) for p in points]}
    return encode_polyline(points, 6 if kind == "polyline6" else 5)


class RoutingHandler(BaseHTTPRequestHandler):
    server_version = "osrm-stand-in"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    # An idle keep-alive connection is closed after 5 s, as osrm-routed's --keepalive-timeout (default
    # 5 s) does: without it a client's idle connection (a health checker's) holds the server's stop.
    timeout = 5
    disable_nagle_algorithm = True
    server: RoutingServer

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path == "/health":
            self._send_json(HTTPStatus.OK, {"status": "ok", "map": self.server.street_map.name})
            return
        try:
            answer = route(self.server.street_map, parse_route_path(self.path))
        except RoutingError as error:
            self._send_json(HTTPStatus.BAD_REQUEST, {"code": error.code, "message": error.message})
            return
        self._send_json(HTTPStatus.OK, answer)

    def _send_json(self, status: HTTPStatus, body: dict[str, object]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"osrm: {self.address_string()} {format % args}\n")


class RoutingServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], street_map: StreetMap) -> None:
        self.street_map = street_map
        super().__init__(address, RoutingHandler)


def serve(host: str, port: int, map_path: Path, load_seconds: float) -> None:
    street_map = StreetMap.load(map_path)
    sys.stderr.write(f"osrm: {len(street_map.nodes)} nodes from {map_path}\n")
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        sys.stderr.write(f"osrm: signal {signal.Signals(signum).name}, stopping\n")
        stop_requested.set()
        if server is not None:
            # shutdown() waits for serve_forever(), which runs in this thread: call it from another.
            threading.Thread(target=server.shutdown, daemon=True).start()

    server: RoutingServer | None = None
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if load_seconds > 0 and stop_requested.wait(load_seconds):
        return  # stopped while "loading": nothing was listening yet
    server = RoutingServer((host, port), street_map)
    sys.stderr.write(f"osrm: listening on http://{host}:{port}\n")
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    sys.stderr.write("osrm: stopped\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m osrm.server", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=5000, help="port to bind (default: 5000, as osrm-routed)")
    parser.add_argument(
        "--map", type=Path, default=DEFAULT_MAP, help=f"street map JSON (default: {DEFAULT_MAP.name})"
    )
    parser.add_argument(
        "--load-seconds",
        type=float,
        default=0.0,
        help="wait this long before listening, as osrm-routed does while loading its data (default: 0)",
    )
    args = parser.parse_args(argv)
    if args.load_seconds < 0:
        parser.error(f"--load-seconds must be 0 or more, got {args.load_seconds}")
    with contextlib.suppress(KeyboardInterrupt):
        serve(args.host, args.port, args.map, args.load_seconds)


if __name__ == "__main__":
    main()
