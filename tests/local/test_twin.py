"""The twin's core policy: the local environment's settings with the twin's time overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from warmkeeper.config import load_config
from warmkeeper.local.statefile import state_file
from warmkeeper.local.twin import twin_policy

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "warmkeeper.toml"


def test_defaults_come_from_the_local_environment_and_the_policy_section() -> None:
    cfg = load_config(EXAMPLE)
    settings = cfg.environment("local")
    policy = twin_policy(cfg, settings)
    assert policy.scale_to_zero is True
    assert policy.idle_minutes == settings.idle_minutes == 1
    # min_warm_minutes (2 in the file) is capped at the idle time on the twin.
    assert policy.min_warm_minutes == 1
    assert policy.hold_seconds == cfg.scale_to_zero.hold_seconds == 25
    assert policy.ignore_user_agents == tuple(cfg.scale_to_zero.ignore_user_agents)
    assert (policy.min_tasks, policy.max_tasks) == (settings.min_tasks, settings.max_tasks)


def test_idle_override_is_in_seconds_and_caps_the_minimum_warm_time() -> None:
    cfg = load_config(EXAMPLE)
    policy = twin_policy(cfg, cfg.environment("local"), idle_seconds=3)
    assert policy.idle_minutes == pytest.approx(3 / 60)
    assert policy.min_warm_minutes == pytest.approx(3 / 60)


def test_explicit_minimum_warm_time_wins_over_the_cap() -> None:
    cfg = load_config(EXAMPLE)
    policy = twin_policy(cfg, cfg.environment("local"), idle_seconds=3, min_warm_seconds=30)
    assert policy.min_warm_minutes == pytest.approx(0.5)


def test_an_always_on_environment_keeps_its_task_counts() -> None:
    cfg = load_config(EXAMPLE)
    production = cfg.environment("production")
    policy = twin_policy(cfg, production)
    assert policy.scale_to_zero is False
    assert (policy.min_tasks, policy.max_tasks, policy.wake_count) == (1, 3, 1)


def test_state_file_lives_next_to_the_config() -> None:
    cfg = load_config(EXAMPLE)
    assert state_file(cfg, 8123) == EXAMPLE.parent / ".warmkeeper" / "twin-8123.json"
