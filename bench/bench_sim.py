"""Scenarios on the simulated AWS over many seeds: one JSON object of **simulated** figures.

Run from the repository root:

    .venv/bin/python bench/bench_sim.py --scenario herd --front-door http_api --seeds 1-10 --json
    .venv/bin/python bench/bench_sim.py --scenario deploy --front-door http_api --seeds 1-10 \\
        --initial-health healthy --json
    .venv/bin/python bench/bench_sim.py --herd 1000 --concurrency 10 --json   # one herd, one seed

Scenarios: herd (1,000 cold clients in 10 s), deploy (a rolling deploy under 50 requests/s),
idle-edge (one request every idle_minutes - 1 minutes for 2 hours), wake-sleep-wake, status-flood
(200 status requests/s for 60 s while 5 visitors/s use the app), api-flood (200 requests/s on an
app path, same visitors), warm-window (a morning of the example's warm schedule: is the first
visitor of the day answered by the app at once?), second-service (the app warm, its osrm service
asleep: 20 routes asked in a minute while 5 visitors a second use the app). The output has each
seed's figures and, under "max", the largest value of each over the seeds, and "model": every
figure the runs used (name -> [low, high]).

Deterministic: the same seeds give the same numbers on any machine (only the wall time differs).
Every AWS number behind it is in src/warmkeeper_sim/figures.py with its source.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from warmkeeper.core.front_doors import HTTP_API, LOAD_BALANCER  # noqa: E402
from warmkeeper_sim.scenarios import (  # noqa: E402
    PEAK_PER_SECOND,
    SCENARIOS,
    SIZED_FOR_PEAK,
    herd,
    model,
    run_scenario,
    scenario_config,
)
from warmkeeper_sim.schedule_scenario import warm_window_summary  # noqa: E402
from warmkeeper_sim.second_service import SCENARIO as SECOND_SERVICE  # noqa: E402
from warmkeeper_sim.second_service import second_service_summary  # noqa: E402
from warmkeeper_sim.world import INITIAL_HEALTH, SimConfig  # noqa: E402

WARM_WINDOW = "warm-window"


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def seed_range(text: str) -> list[int]:
    """``3`` or ``1-10``."""
    first, _, last = text.partition("-")
    try:
        low = int(first)
        high = int(last) if last else low
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed or a range like 1-10") from None
    if low < 1 or high < low or high - low >= 100:
        raise argparse.ArgumentTypeError(f"{text!r}: seeds from 1, at most 100 of them, low-high")
    return list(range(low, high + 1))


def aggregate(per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """The largest value of every number over the seeds (None where no seed had one)."""
    keys = [k for k, v in per_seed[0].items() if k != "seed" and (v is None or isinstance(v, int | float))]
    result: dict[str, Any] = {}
    for key in keys:
        values = [s[key] for s in per_seed if isinstance(s.get(key), int | float)]
        result[key] = max(values) if values else None
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scenario",
        choices=[*SCENARIOS, WARM_WINDOW, SECOND_SERVICE],
        default=None,
        help="a scenario over --seeds",
    )
    parser.add_argument("--seeds", type=seed_range, default=None, help="seeds, e.g. 1-10 (default 1)")
    parser.add_argument(
        "--initial-health",
        choices=INITIAL_HEALTH,
        default="unhealthy",
        help="Cloud Map's first health status for a new task (undocumented: run both)",
    )
    parser.add_argument("--herd", type=positive, default=None, help="one herd of N cold clients (old form)")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which the herd arrives")
    parser.add_argument("--seed", type=positive, default=None, help="one seed (the old form of --seeds)")
    parser.add_argument(
        "--concurrency",
        type=positive,
        default=None,
        help="the account's Lambda concurrency (default 1000; a new account: 10)",
    )
    parser.add_argument("--reserved", type=positive, default=None, help="the waker's reserved concurrency")
    parser.add_argument(
        "--front-door",
        choices=(LOAD_BALANCER, HTTP_API),
        default=LOAD_BALANCER,
        help="the ALB listener (default) or the HTTP API with Cloud Map and its run-time warm routes",
    )
    parser.add_argument(
        "--api-rate-limit",
        type=positive,
        default=None,
        help="the HTTP API stage's throttle per route, requests/s (default: the example config's)",
    )
    parser.add_argument(
        "--api-burst-limit",
        type=positive,
        default=None,
        help="the HTTP API stage's burst per route (default: the example config's)",
    )
    parser.add_argument(
        "--throttles",
        choices=("sized", "example"),
        default="sized",
        help=(
            f"the HTTP API's throttles: 'sized' sets every route's for the scenario's peak (herd and "
            f"deploy: {PEAK_PER_SECOND} requests/s, burst 10x), 'example' keeps the example staging's "
            "(other scenarios run with the example's either way)"
        ),
    )
    parser.add_argument(
        "--vpc-link-idle-days",
        type=float,
        default=0.0,
        help="days the HTTP API's VPC link carried no traffic before the run (60 or more: INACTIVE)",
    )
    parser.add_argument(
        "--no-front-service",
        action="store_true",
        help=(
            "the HTTP API reads ECS's own Cloud Map service, as stacks did before the front service "
            "the waker alone registers in (to compare)"
        ),
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object (the default prints it indented)"
    )
    args = parser.parse_args(argv)
    if not 0 < args.spread <= 600:
        parser.error("--spread: must be > 0 and <= 600 seconds")
    if args.scenario and args.herd:
        parser.error("--herd and --scenario: give one (--scenario herd is 1,000 clients)")
    if args.seed is not None and args.seeds is not None:
        parser.error("--seed and --seeds: give one")
    seeds = args.seeds or [args.seed or 1]
    if not 0 <= args.vpc_link_idle_days <= 3650:
        parser.error("--vpc-link-idle-days: must be between 0 and 3650")
    config = SimConfig(
        front_door=args.front_door,
        initial_health=args.initial_health,
        vpc_link_idle_days=args.vpc_link_idle_days,
        front_service=not args.no_front_service,
    )
    if args.scenario is not None:
        config = scenario_config(args.scenario, config, args.throttles)
    if args.concurrency is not None:
        config.account_concurrency = args.concurrency
    config.reserved_concurrency = args.reserved
    if args.api_rate_limit is not None:
        config.api_rate_limit = args.api_rate_limit
    if args.api_burst_limit is not None:
        config.api_burst_limit = args.api_burst_limit
    if config.api_burst_limit < config.api_rate_limit:
        parser.error(
            "--api-burst-limit: must be at least the rate limit (API Gateway refuses a smaller burst)"
        )
    started = time.perf_counter()
    result: dict[str, Any]
    if args.scenario is None:
        herd_size = args.herd or 1000
        if len(seeds) != 1:
            parser.error("--herd runs one seed: use --scenario herd --seeds A-B for many")
        run = herd(herd_size, spread_seconds=args.spread, seed=seeds[0], config=config)
        result = {"herd": herd_size, "spread_seconds": args.spread, **run.summary(), "model": model(config)}
    elif args.scenario == WARM_WINDOW:
        # A working-hours window on the example's schedule: the first visitor of the day, a visitor
        # twenty minutes later, the sleep after the window (src/warmkeeper_sim/schedule_scenario.py).
        result = warm_window_summary(range(seeds[0], seeds[-1] + 1), args.front_door)
    elif args.scenario == SECOND_SERVICE:
        # The app warm, its internal osrm service asleep with a slow start: 20 routing requests and
        # 5 visitors a second (src/warmkeeper_sim/second_service.py).
        result = second_service_summary(seeds, args.front_door, args.initial_health)
    else:
        per_seed = [run_scenario(args.scenario, seed, config, "as-given").figures() for seed in seeds]
        result = {
            "scenario": args.scenario,
            "front_door": args.front_door,
            "initial_health": args.initial_health,
            "front_service": config.front_service,
            # What the run's HTTP API throttles were, as config keys an environment sets.
            "throttles": "sized"
            if args.scenario in SIZED_FOR_PEAK and args.throttles == "sized"
            else "example",
            "settings": {
                f"{'api' if name == 'stage' else name}_{what}_limit": value
                for name, pair in config.throttles().items()
                for what, value in zip(("rate", "burst"), pair, strict=True)
            },
            "seeds": [seeds[0], seeds[-1]],
            "simulated": True,
            "max": aggregate(per_seed),
            "per_seed": per_seed,
            "model": model(config),
        }
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result, sort_keys=True) if args.json else json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
