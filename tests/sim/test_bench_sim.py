"""bench/bench_sim.py: the scenarios over seeds as one JSON object, and bad arguments refused."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_sim.py"
KEYS = {
    "failed_requests",
    "front_door_own_answers",
    "update_service_calls",
    "wakes",
    "sleeps",
    "sleeps_while_in_use",
    "seconds_from_last_request_to_sleep",
    "client_seconds_to_200_p50",
    "client_seconds_to_200_max",
    "throttled_calls",
    "throttled_calls_given_up",
    "peak_lambda_concurrency",
}


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_sim_cli", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_scenario_over_seeds_gives_each_seed_and_the_largest_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    bench = _bench()
    args = ["--scenario", "wake-sleep-wake", "--front-door", "http_api", "--seeds", "1-2", "--json"]
    assert bench.main([*args, "--initial-health", "healthy"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["simulated"] is True and result["initial_health"] == "healthy"
    assert [s["seed"] for s in result["per_seed"]] == [1, 2]
    assert set(result["max"]) >= KEYS and set(result["per_seed"][0]) >= KEYS
    for key in ("wakes", "client_seconds_to_200_max", "peak_lambda_concurrency"):
        assert result["max"][key] == max(s[key] for s in result["per_seed"])
    assert result["model"]["cloudmap.health_update"] == [30, 31]
    assert result["model"]["cloudmap.initial_health_healthy"] == [1.0, 1.0]
    assert result["front_service"] is True and result["model"]["cloudmap.front_service"] == [1.0, 1.0]
    assert result["model"]["ecs.entry_waits_for_healthy"] == [0.0, 0.0]
    assert result["model"]["ecs.entry_starts_with"] == [2.0, 2.0]


def test_without_the_front_service_the_deploy_with_tasks_starting_healthy_fails_requests(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The comparison docs/benchmarks.md quotes: the stack before its front service (seed 3)."""
    args = ["--scenario", "deploy", "--front-door", "http_api", "--initial-health", "healthy", "--json"]
    args += ["--seeds", "3"]
    assert _bench().main([*args, "--no-front-service"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["front_service"] is False and result["model"]["cloudmap.front_service"] == [0.0, 0.0]
    assert result["max"]["failed_requests"] > 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--scenario", "herd", "--seeds", "5-1"], "--seeds"),
        (["--scenario", "nap"], "--scenario"),
        (["--scenario", "herd", "--herd", "10"], "--herd"),
        (["--initial-health", "sick"], "--initial-health"),
        (["--api-rate-limit", "0"], "--api-rate-limit"),
    ],
)
def test_bad_arguments_are_refused_with_the_argument_named(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        _bench().main(args)
    assert exit_info.value.code == 2
    assert named in capsys.readouterr().err
