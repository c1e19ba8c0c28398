"""Rolling deploys on the local twin under constant load (a benchmark, not a test).

A twin of a copy of the CityGuided config runs warm; a second process sends requests at a constant
rate (open loop: request i is due at start + i / rate, whether or not earlier ones answered) on
keep-alive connections, half `GET /api/version`, half `GET /` (the web page, `X-App-Version`);
meanwhile `warmkeeper deploy --env local` rolls a new `APP_VERSION` several times. Reported: failed
requests (must be zero), latency (from each request's due time, so queueing counts) in steady state
against during the deploys, each deploy's duration and steps, and whether any request that started
after a switch was answered by the old version.

Also printed: the MODELLED duration of the same deploy on Fargate (staging), from the stack's
settings (`warmkeeper.infra`) and the model of `warmkeeper.deploy.duration`. Nothing of AWS is measured.

Run from the repository root:

    .venv/bin/python bench/bench_deploy.py --rate 150 --deploys 3
    .venv/bin/python bench/bench_deploy.py --rate 150 --deploys 3 --front-door http_api

With ``--front-door http_api`` the twin models an HTTP API front door: its edge routes from a
discovery list whose changes show ``--discovery-cache`` seconds late, the old task is stopped at once,
and its Caddy accepts requests for ``--drain`` seconds after SIGTERM (``shutdown_delay``). Both are
shortened from the defaults (60 s assumed, 75 s) to keep the run short; the race is the same.

Loopback only (127.0.0.1), bounded in count and time (`--max-seconds`); every process it starts is
stopped before it exits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.e2e.support import API_HEADERS, EXAMPLE_CONFIG, TwinProcess, example_config  # noqa: E402

from warmkeeper.config import load_config  # noqa: E402

WORKER_THREADS = 16  # requests in flight at most


# -- the load generator (runs as its own process: `--load-worker`) ---------------------------------------


def _load(url: str, rate: float, max_seconds: float, max_requests: int, stop_file: Path) -> list[Any]:
    """Send request i at start + i / rate from a pool of threads, each on its own keep-alive client.

    A request whose thread is still busy when it is due waits for one: its latency counts from when
    it was due (open loop), so a slow server shows as latency rather than as a lower rate.
    """
    results: list[Any] = []
    lock = threading.Lock()
    next_index = [0]
    started_wall, started = time.time(), time.perf_counter()

    def worker() -> None:
        with httpx.Client(base_url=url, trust_env=False, timeout=30) as client:
            while True:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                due = started + index / rate
                if index >= max_requests or due - started > max_seconds or stop_file.exists():
                    return
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                sent = time.perf_counter()
                path = "/api/version" if index % 2 == 0 else "/"
                try:
                    if path == "/":
                        response = client.get(path, headers={"User-Agent": "bench-deploy"})
                        version = response.headers.get("x-app-version", "")
                    else:
                        response = client.get(path, headers=API_HEADERS)
                        version = response.json().get("version", "") if response.status_code == 200 else ""
                    outcome: str | int = response.status_code
                except (httpx.HTTPError, ValueError) as exc:
                    outcome, version = f"{type(exc).__name__}: {exc}", ""
                done = time.perf_counter()
                sample = [started_wall + (due - started), done - due, sent - due, path, outcome, version]
                with lock:
                    results.append(sample)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(WORKER_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max_seconds + 60)
    return results


def load_worker(args: argparse.Namespace) -> None:
    if not args.url.startswith("http://127.0.0.1:"):
        raise SystemExit("the load goes to 127.0.0.1 only")
    Path(args.ready).write_text("ready")
    results = _load(args.url, args.rate, args.max_seconds, args.max_requests, Path(args.stop))
    Path(args.out).write_text(json.dumps(results))


# -- the benchmark ------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return ordered[rank]


@dataclass
class DeployRecord:
    version: str
    cli_seconds: float
    exit_code: int
    twin: dict[str, Any]  # the twin's record of the deploy (outcome, seconds, phases)
    window: tuple[float, float]  # wall clock, from the twin's start of the deploy to its end
    switched_at: float | None
    deregistered_at: float | None  # http_api model: the old task left discovery and got SIGTERM


def run_deploy(
    config: Path, twin: TwinProcess, version: str, local_settings: dict[str, str | int | float]
) -> DeployRecord:
    example_config(config.parent, version, local_settings=local_settings)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "warmkeeper", "deploy", "--env", "local", "--config", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    cli_seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"deploy of {version} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    record = twin.details()["deploy"]
    begin = datetime.fromisoformat(record["started_at"]).timestamp()
    switched = record["phases"].get("switched")
    deregistered = record["phases"].get("deregistered")
    return DeployRecord(
        version,
        cli_seconds,
        result.returncode,
        record,
        (begin, begin + float(record["seconds"])),
        begin + switched if switched is not None else None,
        begin + deregistered if deregistered is not None else None,
    )


def summarize(samples: list[list[Any]]) -> dict[str, Any]:
    latencies = [s[1] for s in samples]
    failures = [s for s in samples if s[4] != 200]
    return {
        "requests": len(samples),
        "failed": len(failures),
        "p50_ms": 1000 * percentile(latencies, 50) if latencies else None,
        "p99_ms": 1000 * percentile(latencies, 99) if latencies else None,
        "max_ms": 1000 * max(latencies) if latencies else None,
        "examples": [s[4] for s in failures[:5]],
    }


def modelled_fargate(config: Path) -> list[str]:
    """The staging deploy on Fargate, MODELLED from the stack's settings (nothing measured)."""
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    from warmkeeper.deploy.duration import SOURCES, StackTimings, model_cold_deploy, model_warm_deploy
    from warmkeeper.infra.ingress import (
        DEREGISTRATION_DELAY_SECONDS,
        HEALTH_CHECK_INTERVAL_SECONDS,
        HEALTHY_THRESHOLD,
    )

    cfg = load_config(config)
    timings = StackTimings(
        health_interval_seconds=HEALTH_CHECK_INTERVAL_SECONDS,
        healthy_threshold=HEALTHY_THRESHOLD,
        deregistration_delay_seconds=DEREGISTRATION_DELAY_SECONDS,
        stop_timeout_seconds=max(c.stop_timeout_seconds for c in cfg.containers),
    )
    lines = [
        "MODELLED (not measured) staging deploy on Fargate, one warm task, from:",
        f"  warmkeeper.infra.ingress: health check every {timings.health_interval_seconds} s, "
        f"{timings.healthy_threshold} healthy, "
        f"deregistration delay {timings.deregistration_delay_seconds} s;",
        f"  {config}: longest container stop timeout {timings.stop_timeout_seconds} s.",
        f"  {'phase':<58} {'low':>6} {'typical':>8} {'high':>6}",
    ]

    def row(name: str, low: float, typical: float, high: float) -> str:
        return f"  {name:<58} {low:>6.0f} {typical:>8.1f} {high:>6.0f}"

    for model_name, model in (("warm", model_warm_deploy(timings)), ("cold", model_cold_deploy())):
        for phase, band in model.phases.items():
            lines.append(row(f"[{model_name}] {phase}", band.low, band.typical, band.high))
        total = model.total
        lines.append(row(f"{model_name} deploy, total", total.low, total.typical, total.high))
    lines.append("sources:")
    lines += [f"  {key}: {text}" for key, text in SOURCES.items()]
    return lines


def machine() -> str:
    caddy = subprocess.run(
        [str(Path(sys.executable).parent / "caddy"), "version"], capture_output=True, text=True, check=False
    ).stdout.split()
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({platform.machine()}), Python {platform.python_version()}, "
        f"caddy {caddy[0] if caddy else '?'}, load average {load}"
    )


def bench(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-deploy-") as folder_name:
        folder = Path(folder_name)
        local_settings: dict[str, str | int | float] = {}
        if args.front_door == "http_api":
            local_settings = {
                "front_door": "http_api",
                "discovery_cache_seconds": args.discovery_cache,
                "drain_seconds": args.drain,
            }
            print(
                f"front door: http_api model, discovery changes seen {args.discovery_cache:g} s late, "
                f"drain window {args.drain} s",
                flush=True,
            )
        config = example_config(folder, "v1", local_settings=local_settings)
        print(f"machine before: {machine()}", flush=True)
        twin = TwinProcess(config, idle=600, log_dir=folder)
        worker: subprocess.Popen[bytes] | None = None
        try:
            response = twin.client.get("/api/version", headers=API_HEADERS, follow_redirects=True)
            response.raise_for_status()
            ready, stop, out = folder / "ready", folder / "stop", folder / "results.json"
            worker = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--load-worker",
                    f"--url={twin.base}",
                    f"--rate={args.rate}",
                    f"--max-seconds={args.max_seconds}",
                    f"--max-requests={int(args.rate * args.max_seconds)}",
                    f"--ready={ready}",
                    f"--stop={stop}",
                    f"--out={out}",
                ],
                cwd=ROOT,
            )
            while not ready.exists():
                if worker.poll() is not None:
                    raise SystemExit("the load worker exited at start")
                time.sleep(0.05)
            load_started = time.time()
            time.sleep(args.steady)
            deploys = []
            for number in range(2, args.deploys + 2):
                record = run_deploy(config, twin, f"v{number}", local_settings)
                deploys.append(record)
                print(
                    f"deploy v{number}: CLI {record.cli_seconds:.2f} s, twin {record.twin['seconds']:.2f} s, "
                    f"phases {record.twin['phases']}",
                    flush=True,
                )
                time.sleep(args.gap)
            stop.write_text("stop")
            worker.wait(timeout=args.max_seconds + 60)
            samples: list[list[Any]] = json.loads(out.read_text())
            leftover_before = twin.details()
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait(10)
            code = twin.stop()
            leftovers = twin.leftovers()
        print(f"machine after: {machine()}")
        print(f"twin exit code {code}; leftovers: {leftovers or 'none'}")

    span = max(s[0] for s in samples) - min(s[0] for s in samples)
    steady = [s for s in samples if load_started + 1 <= s[0] < load_started + args.steady]
    during = [s for s in samples if any(d.window[0] <= s[0] <= d.window[1] for d in deploys)]
    old_after_switch = []
    for previous, record in zip(["v1", *[d.version for d in deploys]], deploys, strict=False):
        if record.switched_at is None:
            continue
        # A request that started after the switch (with a 50 ms margin for the two clocks' reads).
        switched, ended = record.switched_at + 0.05, record.window[1]
        old_after_switch += [s for s in samples if switched < s[0] <= ended and s[5] == previous]
    # The http_api model's race: requests the old task answered after it was deregistered and stopping
    # (the edge's cached discovery still named it), which the drain window must cover.
    old_after_deregistration: list[float] = []
    for previous, record in zip(["v1", *[d.version for d in deploys]], deploys, strict=False):
        if record.deregistered_at is not None:
            old_after_deregistration += [
                s[0] - record.deregistered_at
                for s in samples
                if record.deregistered_at < s[0] <= record.window[1] and s[5] == previous
            ]
    lags = [s[2] for s in samples]
    print()
    print(f"requests: {len(samples)} in {span:.1f} s = {len(samples) / span:.0f}/s (asked {args.rate:g}/s)")
    lag_p50, lag_p99 = 1000 * percentile(lags, 50), 1000 * percentile(lags, 99)
    print(f"client lag (due to sent): p50 {lag_p50:.1f} ms, p99 {lag_p99:.1f} ms")
    print(f"failed (any status but 200, or an error): {sum(1 for s in samples if s[4] != 200)}")
    everything = [s for s in samples if s[0] >= load_started + 1]
    groups = (("steady state", steady), ("during the deploys", during), ("all (after 1 s)", everything))
    for name, part in groups:
        summary = summarize(part)
        print(
            f"{name:<20} {summary['requests']:>6} requests, {summary['failed']} failed, "
            f"p50 {summary['p50_ms']:.1f} ms, p99 {summary['p99_ms']:.1f} ms, max {summary['max_ms']:.1f} ms"
            + (f" {summary['examples']}" if summary["examples"] else "")
        )
    if args.front_door == "http_api":
        latest = f", the last {max(old_after_deregistration):.2f} s after" if old_after_deregistration else ""
        print(
            f"answered by the old version after its deregistration and SIGTERM (the cache's race, which "
            f"the drain window must cover): {len(old_after_deregistration)}{latest}"
        )
    else:
        print(f"answered by the old version after the switch: {len(old_after_switch)}")
    cli = [d.cli_seconds for d in deploys]
    twin_seconds = [float(d.twin["seconds"]) for d in deploys]
    print(
        f"deploy duration: twin median {statistics.median(twin_seconds):.2f} s "
        f"(min {min(twin_seconds):.2f}, max {max(twin_seconds):.2f}); "
        f"CLI wall clock median {statistics.median(cli):.2f} s (includes starting Python)"
    )
    for phase in ("started", "healthy", "switched", "deregistered", "drained", "stopped"):
        values = [float(d.twin["phases"][phase]) for d in deploys if phase in d.twin["phases"]]
        if values:
            print(f"  {phase:<9} at {statistics.median(values):.2f} s (median from the deploy's start)")
    final_tasks = [t["id"] for t in leftover_before["tasks"]]
    print(f"final twin state: {leftover_before['version']}, tasks {final_tasks}")
    print()
    if args.front_door == "http_api":
        print(
            "Fargate behind an HTTP API is not modelled here: ECS deregisters the old task from Cloud Map "
            "and stops it at once; its stop takes the drain window (drain_seconds, 75 s by default, from "
            "an ASSUMED 60 s discovery cache) plus the graceful stop, and the deploy waits for it."
        )
        return
    for line in modelled_fargate(EXAMPLE_CONFIG):
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=150, help="requests per second (at least 100)")
    parser.add_argument("--deploys", type=int, default=3)
    parser.add_argument("--steady", type=float, default=10, help="seconds of steady load first")
    parser.add_argument("--gap", type=float, default=4, help="seconds of load after each deploy")
    parser.add_argument("--max-seconds", type=float, default=120, help="bound of the load, in seconds")
    parser.add_argument(
        "--front-door",
        choices=("load_balancer", "http_api"),
        default="load_balancer",
        help="the front door the twin models",
    )
    parser.add_argument(
        "--discovery-cache", type=float, default=2.0, help="http_api: seconds a discovery change shows late"
    )
    parser.add_argument("--drain", type=int, default=5, help="http_api: the entry's drain window, seconds")
    parser.add_argument("--load-worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--max-requests", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--stop", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.load_worker:
        load_worker(args)
        return
    if args.rate < 100 or args.rate > 1000:
        parser.error("--rate: between 100 and 1000 requests per second")
    if not 1 <= args.deploys <= 10:
        parser.error("--deploys: 1 to 10")
    bench(args)


if __name__ == "__main__":
    main()
