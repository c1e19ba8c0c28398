"""The Lambda's shared observations: one snapshot of AWS per execution environment, reused briefly.

A Lambda execution environment runs one invocation at a time and keeps module-level state between
them. The engine (:mod:`warmkeeper.aws.engine`) keeps its last observation here so that the next
requests and status polls of the same environment need not ask ECS, ELB and SSM again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from warmkeeper.aws.adapters import ServiceState, StoredState, TargetHealth, WakeLock
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.core import Observation

# How old a shared observation may be (seconds) for each caller; see SnapshotCache. A cold request
# and a held one need a fresh view (they may wake or redirect); a waiting page's status poll only
# shows progress, and 700 pages polling every few seconds must not cost 700 observations.
REQUEST_SNAPSHOT_SECONDS = 1.0
STATUS_SNAPSHOT_SECONDS = 2.0
# A status poll while nothing is in motion (asleep, or warm and settled: no wake in flight) may be
# answered from a snapshot this old. The status endpoint is public and every request reaches the
# Lambda: with this, an execution environment observes AWS at most once per
# STATUS_SETTLED_SNAPSHOT_SECONDS / 2 (the cache's jitter) whatever the request rate, so the whole
# function reads at most (reserved concurrency) x (reads per observation) / 15 s: 100 x 5 / 15, about
# 33 calls a second over every API together, the same at 20 or at 2,000 status requests a second.
STATUS_SETTLED_SNAPSHOT_SECONDS = 30.0


class SnapshotCache:
    """The last observation of one execution environment, shared by its invocations.

    A Lambda execution environment runs one invocation at a time and keeps module-level state
    between them: a snapshot kept here is reused by the next requests and status polls for a short
    time instead of each asking ECS, ELB and SSM again. Each snapshot lives for
    ``max_age`` times a random factor in [0.5, 1]: environments started together by a herd do not
    refresh together. Anything the engine changes (a wake, a route) clears it.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self._snapshot: Snapshot | None = None
        self._factor = 1.0

    def get(self, now: datetime, max_age: float) -> Snapshot | None:
        snapshot = self._snapshot
        if snapshot is None:
            return None
        age = (now - snapshot.now).total_seconds()
        if age < 0.0:
            return None
        if snapshot.valid_until is not None and now < snapshot.valid_until:
            return snapshot
        return snapshot if age <= max_age * self._factor else None

    def put(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._factor = self._rng.uniform(0.5, 1.0)

    def clear(self) -> None:
        self._snapshot = None


# One cache per engine settings in this execution environment (the Lambda's module state).
_SHARED_SNAPSHOTS: dict[Settings, SnapshotCache] = {}


def shared_snapshots(settings: Settings) -> SnapshotCache:
    """The execution environment's snapshot cache for these settings (created on first use)."""
    return _SHARED_SNAPSHOTS.setdefault(settings, SnapshotCache())


@dataclass(frozen=True)
class Snapshot:
    """One observation of AWS with what the decision needs beside the core Observation."""

    observation: Observation
    service: ServiceState
    health: TargetHealth
    stored: StoredState
    now: datetime
    shared: bool = False  # taken from the environment's snapshot cache, not observed by this call
    # Until then nothing observable can change the answers built on this snapshot (the first half
    # of an estimated wake), so every caller of the environment may reuse it, whatever its age.
    valid_until: datetime | None = None

    @property
    def lock(self) -> WakeLock | None:
        return self.stored.lock
