"""The twin's HTTP API model: the cached discovery list and the entry container's drain window."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_CONFIG
from warmkeeper.config import DRAIN_ENVIRONMENT_VARIABLE, load_config
from warmkeeper.local.discovery_cache import DiscoveryCache, with_drain_window


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_change_reaches_the_edge_cache_seconds_late() -> None:
    clock = Clock()
    cache = DiscoveryCache(2.0, clock)
    assert cache.refresh([5001]) == (5001,)  # the wake's route switch: seen at once
    clock.now += 10
    assert cache.lookup([5002]) == (5001,)  # a deploy: t1 deregistered, t2 registered
    clock.now += 1.9
    assert cache.lookup([5002]) == (5001,)  # still the old task: API Gateway's cache
    clock.now += 0.1
    assert cache.lookup([5002]) == (5002,)
    assert cache.ports == (5002,)


def test_each_change_keeps_its_own_delay() -> None:
    clock = Clock()
    cache = DiscoveryCache(1.0, clock)
    cache.refresh([1])
    cache.lookup([1, 2])  # t=0: a second task registers
    clock.now += 0.5
    cache.lookup([2])  # t=0.5: the first one leaves
    clock.now += 0.5
    assert cache.lookup([2]) == (1, 2)  # t=1: the first change only
    clock.now += 0.5
    assert cache.lookup([2]) == (2,)  # t=1.5: the second


def test_a_zero_cache_follows_the_registrations_at_once() -> None:
    cache = DiscoveryCache(0.0, Clock())
    assert cache.lookup([7]) == (7,)
    assert cache.lookup([8]) == (8,)


def test_a_negative_cache_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        DiscoveryCache(-1)


def test_the_entry_container_learns_its_drain_window_and_the_others_do_not() -> None:
    cfg = load_config(EXAMPLE_CONFIG)
    changed = with_drain_window(cfg, 12)
    assert changed.entry_container.local.environment[DRAIN_ENVIRONMENT_VARIABLE] == "12"  # processes
    assert changed.entry_container.environment[DRAIN_ENVIRONMENT_VARIABLE] == "12"  # containers runtime
    # The rest of the entry's variables are kept, the other containers untouched, the original too.
    assert changed.entry_container.local.environment["PORT"] == "{port}"
    assert [c for c in changed.containers if not c.entry] == [c for c in cfg.containers if not c.entry]
    assert DRAIN_ENVIRONMENT_VARIABLE not in cfg.entry_container.local.environment
    assert changed.source == cfg.source
