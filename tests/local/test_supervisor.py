"""The twin's task scheduling rules that need no process: start order, health bound, revisions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from warmkeeper.config import AppConfig, Container, load_config, parse_config
from warmkeeper.local.supervisor import (
    LocalService,
    TaskPhase,
    TaskSpec,
    health_deadline_seconds,
    startup_order,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "warmkeeper.toml"


def container(name: str, depends_on: list[str] | None = None, **extra: Any) -> Container:
    return Container.model_validate(
        {
            "name": name,
            "image": "public.ecr.aws/docker/library/python:3.12-slim",
            "port": 8000 + len(name),
            "depends_on": depends_on or [],
            "health": {"path": "/health", **extra.pop("health", {})},
            "local": {"command": ["python", "-m", name]},
            **extra,
        }
    )


def test_the_example_starts_api_and_web_before_caddy() -> None:
    cfg = load_config(EXAMPLE)
    order = [c.name for c in startup_order(cfg.containers)]
    assert order.index("caddy") == 2 and set(order[:2]) == {"api", "web"}


def test_every_container_comes_after_its_dependencies() -> None:
    containers = [
        container("edge", ["app", "cache"]),
        container("app", ["db", "cache"]),
        container("cache"),
        container("db"),
    ]
    order = [c.name for c in startup_order(containers)]
    for c in containers:
        for dependency in c.depends_on:
            assert order.index(dependency) < order.index(c.name), order
    assert order[-1] == "edge"


def test_a_dependency_cycle_is_a_start_failure() -> None:
    with pytest.raises(ValueError, match="cycle between containers one, two"):
        startup_order([container("one", ["two"]), container("two", ["one"]), container("free")])


def test_health_bound_is_ecs_start_period_plus_retries_times_interval() -> None:
    slow = container("app", health={"start_period_seconds": 10, "retries": 3, "interval_seconds": 5})
    assert health_deadline_seconds(slow) == 25
    fast = container("app", health={"start_period_seconds": 0, "retries": 1, "interval_seconds": 5})
    assert health_deadline_seconds(fast) == 5


def test_revision_labels() -> None:
    cfg = load_config(EXAMPLE)
    assert TaskSpec(cfg).version == "r1"
    assert TaskSpec(cfg, 7, "abc123").version == "r7 (abc123)"


def other_revision(cfg: AppConfig) -> AppConfig:
    data = cfg.model_dump(mode="json")
    data["containers"][1]["local"]["environment"] = {"APP_VERSION": "2"}
    return parse_config(data, cfg.source)


def test_a_checked_rollout_on_a_cold_service_starts_one_task_out_of_service_and_stops_it() -> None:
    cfg = load_config(EXAMPLE)
    service = LocalService(cfg, on_event=lambda kind, message: None)
    try:
        new = TaskSpec(other_revision(cfg), 2)
        rollout = service.begin_rollout(new, verify_cold=True)
        assert rollout is not None and rollout.trial and rollout.old_tasks == []
        (trial,) = rollout.new_tasks
        assert not trial.in_service and service.snapshot().desired == 0
        service.end_rollout(rollout, succeeded=True)
        assert trial.phase is TaskPhase.STOPPED
        snapshot = service.snapshot()
        assert snapshot.spec is new and snapshot.rollout is None and snapshot.desired == 0
        # A failed check gives the previous revision back.
        newer = TaskSpec(other_revision(cfg), 3)
        failed = service.begin_rollout(newer, verify_cold=True)
        assert failed is not None
        service.end_rollout(failed, succeeded=False)
        assert service.snapshot().spec is new
    finally:
        service.close()
    assert service.leftovers() == []


def test_a_rollout_on_a_cold_service_starts_nothing_and_makes_the_revision_current() -> None:
    cfg = load_config(EXAMPLE)
    events: list[tuple[str, str]] = []
    service = LocalService(cfg, on_event=lambda kind, message: events.append((kind, message)))
    try:
        new = TaskSpec(other_revision(cfg), 2)
        assert service.begin_rollout(new) is None
        snapshot = service.snapshot()
        assert snapshot.spec is new and snapshot.rollout is None
        assert (snapshot.desired, snapshot.running, snapshot.tasks_started) == (0, 0, 0)
        assert service.cfg.container("api").local.environment == {"APP_VERSION": "2"}
        assert events == []
    finally:
        service.close()
    assert service.leftovers() == []
