"""The kernel makes a run a pure function of its seed."""

from __future__ import annotations

from warmkeeper_sim.scenarios import herd


def test_the_same_seed_gives_the_same_run() -> None:
    first = herd(40, seed=7, until=150).summary()
    second = herd(40, seed=7, until=150).summary()
    assert first == second
    assert herd(40, seed=8, until=150).summary() != first
