"""The herd on the simulated AWS: one JSON object of **simulated** figures.

Run from the repository root:

    .venv/bin/python bench/bench_sim.py --herd 1000 --json
    .venv/bin/python bench/bench_sim.py --herd 300 --front-door http_api --json

Deterministic: the same --seed gives the same numbers on any machine (only the wall time differs).
Every AWS number behind it is in src/warmkeeper_sim/figures.py with its source.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from warmkeeper.core.front_doors import HTTP_API, LOAD_BALANCER  # noqa: E402
from warmkeeper_sim.scenarios import herd  # noqa: E402
from warmkeeper_sim.world import SimConfig  # noqa: E402


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive whole number")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--herd", type=positive, default=1000, help="cold clients (default 1000)")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which they arrive")
    parser.add_argument("--seed", type=int, default=1)
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
        "--json", action="store_true", help="print one JSON object (the default prints it indented)"
    )
    args = parser.parse_args(argv)
    if not 0 < args.spread <= 600:
        parser.error("--spread: must be > 0 and <= 600 seconds")
    config = SimConfig(front_door=args.front_door)
    if args.concurrency is not None:
        config.account_concurrency = args.concurrency
    config.reserved_concurrency = args.reserved
    started = time.perf_counter()
    run = herd(args.herd, spread_seconds=args.spread, seed=args.seed, config=config)
    result = {"herd": args.herd, "spread_seconds": args.spread, **run.summary()}
    result["wall_seconds"] = round(time.perf_counter() - started, 2)
    print(json.dumps(result, sort_keys=True) if args.json else json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
