"""The twin's deploy bookkeeping: revisions, the deploy that runs, the last few for the CLI to follow.

The local counterpart of what ECS keeps about a service's deployments. One deploy at a time; each
gets the next revision (``r2``, ``r3``...) and a deploy id named after it (``d2``). Revisions only
ever go up, failed deploys included: a revision (and its deploy id) names one version, and a client
following an old deploy must never see another's events. The rollout itself
(:func:`warmkeeper.local.rollout.run_rollout`) is handed in by the twin and runs in a thread of its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from warmkeeper.local.rollout import DeployRequest, DeployRequestError, DeployRun
from warmkeeper.local.supervisor import TaskSpec

# How many finished deploys stay readable by `GET /_warmkeeper/deploy?id=...`.
KEPT_DEPLOYS = 10

# Carries out one deploy: the run to record into, and a callback for each line it says.
RolloutRunner = Callable[[DeployRun, Callable[[str], None]], None]


class Deployments:
    """Every deploy one twin accepted since it started (kept in memory, as the rest of its state)."""

    def __init__(
        self,
        run_rollout: RolloutRunner,
        *,
        stopping: Callable[[], bool],
        emit: Callable[[str], None] | None = None,
        kept: int = KEPT_DEPLOYS,
    ) -> None:
        self._run_rollout = run_rollout
        self._stopping = stopping
        self._emit = emit
        self._kept = kept
        self._lock = threading.Lock()
        self._runs: dict[str, DeployRun] = {}  # the last `kept`, oldest first
        self._last_revision = 0  # the highest revision ever given to a deploy
        self._latest: DeployRun | None = None
        self._thread: threading.Thread | None = None

    @property
    def latest(self) -> DeployRun | None:
        return self._latest

    @property
    def in_progress(self) -> bool:
        run = self._latest
        return run is not None and run.running

    def start(self, request: DeployRequest, current_revision: int) -> DeployRun:
        """Give `request` the next revision after `current_revision` (the one the service runs) and
        every revision given before, record it, and start its rollout.

        Raises :class:`DeployRequestError` 409 while another deploy runs, 503 once the twin stops.
        """
        with self._lock:
            if self._stopping():
                raise DeployRequestError(503, "the twin is stopping")
            current = self._latest
            if current is not None and current.running:
                raise DeployRequestError(
                    409,
                    f"deploy {current.run_id} of {current.spec.version} is in progress "
                    f"(started {current.elapsed():.0f} s ago); wait for it to finish",
                )
            self._last_revision = max(self._last_revision, current_revision) + 1
            spec = TaskSpec(request.cfg, self._last_revision, request.label)
            run = DeployRun(f"d{spec.revision}", spec, request.timeout_seconds, verify=request.verify)
            for note in request.notes:
                run.add(note)
            self._runs[run.run_id] = run
            for old in list(self._runs)[: -self._kept]:
                del self._runs[old]
            self._latest = run
            self._say(f"deploy {run.run_id}: {request.cfg.source} as {spec.version}")
            self._thread = threading.Thread(
                target=self._run_rollout,
                args=(run, lambda message: self._say(f"deploy {run.run_id}: {message}")),
                name=f"deploy-{run.run_id}",
                daemon=True,
            )
            self._thread.start()
        return run

    def progress(self, run_id: str, since: int = 0) -> dict[str, Any] | None:
        """The deploy's record from event number `since` on; None for an id not (or no longer) kept."""
        run = self._runs.get(run_id)
        return None if run is None else run.to_json(max(0, since))

    def latest_json(self) -> dict[str, Any] | None:
        """The latest deploy's record without its events (`next` counts them): the twin's counters."""
        run = self._latest
        return None if run is None else run.to_json(len(run.events))

    def join(self, timeout: float) -> None:
        """Wait (at most `timeout` s) for the rollout thread; the twin cancels the rollout first."""
        thread = self._thread
        if thread is not None and thread.is_alive():
            thread.join(timeout=timeout)

    def _say(self, message: str) -> None:
        if self._emit is not None:
            self._emit(message)
