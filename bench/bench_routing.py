"""Routing on loopback: the OSRM stand-in and the example API's /api/route (a benchmark, not a test).

Measures, on this machine, with real processes:

- the stand-in's start, from process launch to `GET /health` 200 (`--starts` times);
- `GET /route/v1/driving/...` on the stand-in and `GET /api/route` through the API, for every
  ordered pair of the bundled places, `--rounds` times;
- `GET /api/route` while nothing listens at OSRM_URL (what a caller gets while OSRM sleeps, before
  any waker is in the path): status and time to the answer, `--cold` requests.

These are figures of the stand-in and of the API's client code on one machine, not of OSRM or AWS.
Run from the repository root:

    .venv/bin/python bench/bench_routing.py --starts 5 --rounds 5 --cold 50

Loopback only, sequential requests; every process it starts is stopped before it exits.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "cityguided"
sys.path.insert(0, str(ROOT / "src"))

from warmkeeper.local.loopback import free_port  # noqa: E402


def ready_after(url: str, started: float, limit: float = 30) -> float:
    with httpx.Client(trust_env=False, timeout=2) as client:
        while time.monotonic() - started < limit:
            try:
                if client.get(url).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.005)
    raise SystemExit(f"bench_routing: {url} not ready within {limit} s")


@contextmanager
def process(argv: list[str], env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    child = subprocess.Popen(argv, cwd=EXAMPLE, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield child
    finally:
        child.terminate()
        child.wait(20)


def stand_in(port: int) -> list[str]:
    return [sys.executable, "-m", "osrm.server", "--host", "127.0.0.1", "--port", str(port)]


def api(port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", "api.main:app", "--port", str(port), "--log-level", "warning"]


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "count": len(ordered),
        "median_ms": round(statistics.median(ordered) * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--starts", type=int, default=5, help="stand-in starts to time (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="passes over every pair of places (default 5)")
    parser.add_argument("--cold", type=int, default=50, help="requests with nothing at OSRM_URL (default 50)")
    args = parser.parse_args()
    if min(args.starts, args.rounds, args.cold) < 1 or max(args.starts, args.rounds, args.cold) > 1000:
        parser.error("--starts, --rounds and --cold must be between 1 and 1000")
    places = json.loads((EXAMPLE / "api" / "places.json").read_text(encoding="utf-8"))
    pairs = list(itertools.permutations(places, 2))
    osrm_port, api_port = free_port(), free_port()
    result: dict[str, Any] = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}

    starts = []
    for _ in range(args.starts):
        started = time.monotonic()
        with process(stand_in(osrm_port)):
            starts.append(ready_after(f"http://127.0.0.1:{osrm_port}/health", started))
    result["stand_in_start"] = summary(starts)

    environment = {**os.environ, "OSRM_URL": f"http://127.0.0.1:{osrm_port}", "OSRM_TIMEOUT_SECONDS": "1"}
    direct, through_api = [], []
    with process(stand_in(osrm_port)), process(api(api_port), environment):
        ready_after(f"http://127.0.0.1:{osrm_port}/health", time.monotonic())
        ready_after(f"http://127.0.0.1:{api_port}/api/health", time.monotonic())
        with httpx.Client(trust_env=False, timeout=10) as client:
            for _ in range(args.rounds):
                for a, b in pairs:
                    coordinates = f"{a['longitude']},{a['latitude']};{b['longitude']},{b['latitude']}"
                    started = time.monotonic()
                    answer = client.get(
                        f"http://127.0.0.1:{osrm_port}/route/v1/driving/{coordinates}",
                        params={"overview": "full", "geometries": "geojson"},
                    )
                    direct.append(time.monotonic() - started)
                    assert answer.status_code == 200, answer.text
                    started = time.monotonic()
                    answer = client.get(
                        f"http://127.0.0.1:{api_port}/api/route",
                        params={
                            "from": f"{a['latitude']},{a['longitude']}",
                            "to": f"{b['latitude']},{b['longitude']}",
                        },
                    )
                    through_api.append(time.monotonic() - started)
                    assert answer.status_code == 200, answer.text
    result["stand_in_route"] = summary(direct)
    result["api_route_warm"] = summary(through_api)

    environment["OSRM_URL"] = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    cold, statuses = [], set()
    with process(api(api_port), environment):
        ready_after(f"http://127.0.0.1:{api_port}/api/health", time.monotonic())
        with httpx.Client(trust_env=False, timeout=10) as client:
            for _ in range(args.cold):
                started = time.monotonic()
                answer = client.get(
                    f"http://127.0.0.1:{api_port}/api/route",
                    params={"from": "48.8584,2.2945", "to": "48.8606,2.3376"},
                )
                cold.append(time.monotonic() - started)
                statuses.add((answer.status_code, answer.headers.get("retry-after")))
    result["api_route_nothing_listening"] = {**summary(cold), "answers": sorted(statuses)}
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
