"""Wake overhead of the local twin, and the 200-request herd (a benchmark, not a test).

Wake overhead = time to the first successful response through a cold twin minus the app's own boot
time. The app's boot is measured on the same processes without the twin: the containers' local
commands started in depends_on order (api and web together, caddy once both are healthy), health
polled every 10 ms, until `GET /api/places` through the task's Caddy answers 200. The two are
measured alternately, so both see the same machine load.

Run from the repository root:

    .venv/bin/python bench/bench_wake.py --runs 20 --herd 200 --herd-runs 3

Loopback only; every process it starts is stopped before it exits.
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
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from warmkeeper.config import AppConfig, expand_local, load_config  # noqa: E402
from warmkeeper.local.loopback import free_port  # noqa: E402
from warmkeeper.local.supervisor import startup_order  # noqa: E402
from warmkeeper.local.twin_client import TwinControl  # noqa: E402

CONFIG = ROOT / "examples" / "cityguided" / "warmkeeper.toml"
API = {"Accept": "application/json", "User-Agent": "bench"}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[rank]


def boot_without_twin(cfg: AppConfig, client: httpx.Client) -> float:
    """Start the task's processes directly; seconds until GET /api/places through its Caddy is 200."""
    ports = {c.name: free_port() for c in cfg.containers}
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    processes: list[subprocess.Popen[bytes]] = []
    healthy: set[str] = set()
    started = time.monotonic()
    launched: set[str] = set()
    try:
        order = startup_order(cfg.containers)
        while len(healthy) < len(order):
            for c in order:
                if c.name not in launched and set(c.depends_on) <= healthy:
                    argv = [expand_local(a, c.name, ports) for a in c.local.command]
                    extra = {k: expand_local(v, c.name, ports) for k, v in c.local.environment.items()}
                    processes.append(
                        subprocess.Popen(
                            argv,
                            cwd=cfg.base_dir / c.local.cwd,
                            env={**env, **extra},
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            start_new_session=True,
                        )
                    )
                    launched.add(c.name)
            for name in launched - healthy:
                c = cfg.container(name)
                try:
                    if client.get(f"http://127.0.0.1:{ports[name]}{c.health.path}").status_code < 400:
                        healthy.add(name)
                except httpx.HTTPError:
                    pass
            time.sleep(0.01)
        entry = ports[cfg.entry_container.name]
        while client.get(f"http://127.0.0.1:{entry}/api/places").status_code != 200:
            time.sleep(0.01)
        return time.monotonic() - started
    finally:
        for process in reversed(processes):
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


class Twin:
    def __init__(self, cfg: AppConfig) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        argv = [sys.executable, "-m", "warmkeeper", "up", "--config", str(CONFIG), "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*argv, "--idle", "3600"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        settings = cfg.environment("local").model_copy(update={"edge_port": self.port})
        self.control = TwinControl(cfg, settings)
        self.client = httpx.Client(base_url=self.base, trust_env=False, timeout=60)
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.client.get("/_warmkeeper/status").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise SystemExit("warmkeeper up did not start")
            time.sleep(0.1)

    def details(self) -> dict[str, Any]:
        return self.control.details()

    def make_cold(self) -> None:
        if self.control.status().state != "COLD":
            self.control.sleep(force=True)
        while (report := self.control.status()).state != "COLD" or report.running:
            time.sleep(0.05)

    def cold_request(self) -> tuple[float, float]:
        """Seconds to a 200 on a cold twin, and the boot time of the task that answered it."""
        self.make_cold()
        started = time.monotonic()
        response = self.client.get("/api/places", headers=API, follow_redirects=True)
        elapsed = time.monotonic() - started
        if response.status_code != 200:
            raise SystemExit(f"cold request answered {response.status_code}")
        healthy = [t for t in self.details()["tasks"] if t["phase"] == "healthy"]
        return elapsed, float(healthy[-1]["boot_seconds"])

    def close(self) -> None:
        self.client.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def herd(base: str, count: int) -> tuple[Counter[int], list[str], float]:
    """`count` independent clients (a thread and a connection each, as `count` people would be)
    send one API request each at the same instant, following the 307, until their answer.

    One shared `httpx.AsyncClient` is not used: after 200 simultaneous 307s on kept-alive
    connections, its connection pool takes seconds to send the redirected requests (measured: the
    edge served each in 2-22 ms, but they reached it over 8 s), which would measure httpx.
    """
    results: list[int | str] = []
    start = threading.Barrier(count + 1)

    def one() -> None:
        with httpx.Client(base_url=base, trust_env=False, timeout=60, follow_redirects=True) as client:
            start.wait()
            try:
                results.append(client.get("/api/places", headers=API).status_code)
            except httpx.HTTPError as exc:
                results.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one) for _ in range(count)]
    for thread in threads:
        thread.start()
    start.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join(120)
    elapsed = time.monotonic() - started
    return (
        Counter(r for r in results if isinstance(r, int)),
        [r for r in results if isinstance(r, str)],
        elapsed,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="cold starts (and as many plain boots)")
    parser.add_argument("--herd", type=int, default=200, help="concurrent requests on a cold twin")
    parser.add_argument("--herd-runs", type=int, default=3)
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()

    cfg = load_config(CONFIG)
    boots: list[float] = []
    wakes: list[float] = []
    task_boots: list[float] = []
    twin = Twin(cfg)
    try:
        with httpx.Client(trust_env=False, timeout=5) as client:
            boot_without_twin(cfg, client)  # warm the file cache: not counted
            twin.cold_request()
            for run in range(args.runs):
                boots.append(boot_without_twin(cfg, client))
                wake, task_boot = twin.cold_request()
                wakes.append(wake)
                task_boots.append(task_boot)
                print(
                    f"run {run + 1:2d}: boot without twin {boots[-1]:.3f} s  cold request {wake:.3f} s  "
                    f"(that task's boot {task_boot:.3f} s)",
                    flush=True,
                )
        herds = []
        for _ in range(args.herd_runs):
            twin.make_cold()
            before = twin.details()
            statuses, errors, elapsed = herd(twin.base, args.herd)
            after = twin.details()
            herds.append(
                {
                    "requests": args.herd,
                    "statuses": dict(statuses),
                    "errors": errors[:5],
                    "error_count": len(errors),
                    "tasks_started": after["tasks_started"] - before["tasks_started"],
                    "wakes": after["wakes"] - before["wakes"],
                    "seconds_to_last_response": round(elapsed, 3),
                }
            )
            print(f"herd: {herds[-1]}", flush=True)
    finally:
        twin.close()

    overheads = [w - b for w, b in zip(wakes, boots, strict=True)]
    # The same difference against the boot of the very task that answered (same moment, same load):
    # what the twin adds on top of the app's boot, without the run-to-run noise of a busy machine.
    paired = [w - b for w, b in zip(wakes, task_boots, strict=True)]
    result = {
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
        "runs": args.runs,
        "boot_seconds": {"median": statistics.median(boots), "p95": percentile(boots, 95)},
        "cold_request_seconds": {"median": statistics.median(wakes), "p95": percentile(wakes, 95)},
        "overhead_seconds": {
            "median": statistics.median(overheads),
            "p95": percentile(overheads, 95),
            "median_difference": statistics.median(wakes) - statistics.median(boots),
        },
        "overhead_vs_same_task_boot_seconds": {
            "median": statistics.median(paired),
            "p95": percentile(paired, 95),
        },
        "herds": herds,
        "raw": {"boots": boots, "cold_requests": wakes, "task_boots": task_boots},
    }
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))


if __name__ == "__main__":
    main()
