"""An internal service's wake in the local twin: CityGuided's OSRM (a benchmark, not a test).

Runs `warmkeeper up` on the example (the app kept warm, OSRM's idle time `--osrm-idle` seconds) and,
`--rounds` times, with OSRM asleep: sends `GET /api/route` through the twin's edge, then asks again
every 0.25 s until the route comes back. Measures, on this machine, with real processes:

- the first answer (503 "routing is warming up"): its time and its Retry-After;
- the time from that first request to the first 200 with the route;
- OSRM's wake as the twin records it (wake call to its address routed to the healthy task);
- the time from the last route to OSRM asleep again with no process (its idle time, then its stop);
- a wake call with a wrong secret (403): its time, and that nothing was woken.

The OSRM task is the local stand-in (`python -m osrm.server --load-seconds 3`), not OSRM: these are
figures of the twin on one machine, not of AWS. Run from the repository root:

    .venv/bin/python bench/bench_internal_wake.py --rounds 5 --osrm-idle 3

Loopback only, sequential requests; the twin is stopped (and checked to stop cleanly) before it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.e2e.support import example_config, wait_for  # noqa: E402

from warmkeeper.config import load_config  # noqa: E402
from warmkeeper.local.loopback import free_port  # noqa: E402
from warmkeeper.local.statefile import state_file  # noqa: E402

ROUTE = {"from": "48.8584,2.2945", "to": "48.8606,2.3376"}
HEADERS = {"Accept": "application/json", "User-Agent": "bench-internal-wake"}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "median": round(statistics.median(ordered), 3),
        "min": round(ordered[0], 3),
        "max": round(ordered[-1], 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5, help="wakes of OSRM to measure (default 5)")
    parser.add_argument("--osrm-idle", type=float, default=3, help="OSRM's idle seconds (default 3)")
    args = parser.parse_args()
    if args.rounds < 1 or args.osrm_idle < 1:
        parser.error("--rounds and --osrm-idle must be at least 1")
    folder = Path(tempfile.mkdtemp(prefix="bench-internal-wake-"))
    config = example_config(folder, "bench")
    port = free_port()
    argv = [sys.executable, "-m", "warmkeeper", "up", "--config", str(config), "--port", str(port)]
    argv += ["--idle", "600", "--service-idle", f"osrm={args.osrm_idle:g}"]
    log = (folder / "twin.log").open("wb")
    twin = subprocess.Popen(argv, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    result: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        },
        "osrm_idle_seconds": args.osrm_idle,
    }
    try:
        with httpx.Client(base_url=base, trust_env=False, timeout=30) as client:
            wait_for(lambda: client.get("/_warmkeeper/status").status_code == 200, 30, "the twin")
            token = json.loads(state_file(load_config(config), port).read_text(encoding="utf-8"))["token"]
            auth = {"Authorization": f"Bearer {token}"}

            def osrm() -> dict[str, Any]:
                services = client.get("/_warmkeeper/twin", headers=auth).json()["services"]
                found: dict[str, Any] = next(s for s in services if s["name"] == "osrm")
                return found

            assert client.get("/api/places", headers=HEADERS, follow_redirects=True).status_code == 200
            first_answer, retry_after, to_route, recorded, to_sleep = [], [], [], [], []
            for _ in range(args.rounds):
                wait_for(lambda: osrm()["state"] == "COLD" and osrm()["running"] == 0, 60, "OSRM asleep")
                started = time.monotonic()
                first = client.get("/api/route", params=ROUTE, headers=HEADERS)
                first_answer.append(time.monotonic() - started)
                assert first.status_code == 503, first.text
                retry_after.append(float(first.headers["retry-after"]))
                while client.get("/api/route", params=ROUTE, headers=HEADERS).status_code != 200:
                    time.sleep(0.25)
                to_route.append(time.monotonic() - started)
                last_route = time.monotonic()
                recorded.append(float(osrm()["last_wake_seconds"]))
                wait_for(lambda: osrm()["state"] == "COLD" and osrm()["running"] == 0, 60, "OSRM asleep")
                to_sleep.append(time.monotonic() - last_route)
            internal_port = client.get("/_warmkeeper/twin", headers=auth).json()["internal_waker_port"]
            waker = f"http://127.0.0.1:{internal_port}"
            before = osrm()["wakes"]
            refused = []
            for _ in range(20):
                started = time.monotonic()
                answer = httpx.get(
                    f"{waker}/route/v1/driving/2.29,48.85;2.33,48.86",
                    headers={"X-Warmkeeper-Service": "osrm", "X-Warmkeeper-Wake-Secret": "wrong"},
                    trust_env=False,
                )
                refused.append(time.monotonic() - started)
                assert answer.status_code == 403
            time.sleep(1)
            assert osrm()["wakes"] == before and osrm()["desired"] == 0
            result |= {
                "first_answer_503_seconds": summary(first_answer),
                "first_retry_after_seconds": summary(retry_after),
                "first_request_to_route_seconds": summary(to_route),
                "osrm_wake_recorded_seconds": summary(recorded),
                "last_route_to_osrm_asleep_seconds": summary(to_sleep),
                "wrong_secret_403_seconds": summary(refused),
                "wrong_secret_wakes": osrm()["wakes"] - before,
            }
    finally:
        twin.send_signal(signal.SIGTERM)
        code = twin.wait(60)
        log.close()
    if code != 0:
        raise SystemExit(f"bench_internal_wake: the twin exited {code}; see {folder / 'twin.log'}")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
