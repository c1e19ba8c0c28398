"""The discrete-event kernel: a simulated clock, one seeded random generator, and processes.

The engine under test is synchronous: it calls boto3 methods and ``sleep`` and reads a clock. Each
simulated actor (a client, a Lambda invocation, the ECS scheduler) runs as a greenlet; whenever it
waits (a simulated API call's latency, the engine's injected ``sleep``, a backoff) it hands control
back to the kernel, which resumes the next process due. Only one process runs at a time and events
due at the same instant run in the order they were scheduled, so a run is a pure function of its
seed: the same seed gives the same numbers.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from greenlet import GreenletExit, greenlet

SIM_EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


class Killed(GreenletExit):  # type: ignore[misc]
    """Raised inside a process that was stopped from outside (a Lambda invocation past its timeout)."""


class Process:
    def __init__(self, kernel: Kernel, run: Callable[[], Any], name: str) -> None:
        self.kernel = kernel
        self.name = name
        self.done = False
        self.killed = False
        self.result: Any = None
        self._waiters: list[Callable[[], None]] = []
        self._greenlet = greenlet(self._main, parent=kernel._loop)
        self._run = run

    def _main(self) -> None:
        try:
            self.result = self._run()
        except Killed:
            pass
        finally:
            self.done = True
            waiters, self._waiters = self._waiters, []
            for wake in waiters:
                wake()

    def resume(self) -> None:
        if self.done:
            return
        if self.killed:
            self._greenlet.throw(Killed())
        else:
            self._greenlet.switch()

    def kill(self) -> None:
        """Stop the process the next time it would run."""
        if not self.done:
            self.killed = True

    def on_done(self, callback: Callable[[], None]) -> None:
        if self.done:
            callback()
        else:
            self._waiters.append(callback)


class Kernel:
    def __init__(self, seed: int, epoch: datetime = SIM_EPOCH) -> None:
        self.seed = seed
        self.random = random.Random(seed)
        self.epoch = epoch
        self.now = 0.0
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._loop = greenlet.getcurrent()
        self._current: Process | None = None

    # --- time ----------------------------------------------------------------------------------------

    def datetime(self) -> datetime:
        return self.epoch + timedelta(seconds=self.now)

    def at(self, delay: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (self.now + max(0.0, delay), next(self._order), action))

    # --- processes -----------------------------------------------------------------------------------

    def spawn(self, run: Callable[[], Any], *, delay: float = 0.0, name: str = "process") -> Process:
        process = Process(self, run, name)
        self.at(delay, lambda: self._resume(process))
        return process

    def _resume(self, process: Process) -> None:
        previous = self._current
        self._current = process
        try:
            process.resume()
        finally:
            self._current = previous

    def current(self) -> Process:
        if self._current is None:
            raise RuntimeError("not inside a simulated process")
        return self._current

    def sleep(self, seconds: float) -> None:
        """Suspend the calling process for ``seconds`` of simulated time."""
        process = self.current()
        self.at(seconds, lambda: self._resume(process))
        self._loop.switch()
        if process.killed:
            raise Killed()

    def wait(self, other: Process, timeout: float) -> bool:
        """Wait for ``other`` to finish, at most ``timeout`` seconds; True when it finished."""
        process = self.current()
        if other.done:
            return True
        resumed = [False]

        def wake() -> None:
            if not resumed[0]:
                resumed[0] = True
                self.at(0.0, lambda: self._resume(process))

        other.on_done(wake)
        self.at(timeout, wake)
        self._loop.switch()
        if process.killed:
            raise Killed()
        return other.done

    # --- the loop --------------------------------------------------------------------------------------

    def run(self, until: float) -> None:
        """Run every event due up to ``until`` seconds (simulated), then stop the clock there."""
        self._loop = greenlet.getcurrent()
        while self._queue and self._queue[0][0] <= until:
            when, _, action = heapq.heappop(self._queue)
            self.now = when
            action()
        self.now = max(self.now, until)

    def every(self, period: float, action: Callable[[], None], *, first: float | None = None) -> None:
        """Call ``action`` every ``period`` seconds (in the kernel, not as a process)."""

        def tick() -> None:
            action()
            self.at(period, tick)

        self.at(period if first is None else first, tick)
