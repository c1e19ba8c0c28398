"""The twin's warm schedule: what EventBridge Scheduler and the Lambda's lease do on AWS.

On AWS a schedule invokes the Lambda a lead before each window and the Lambda takes a lease until the
window's end. The twin has no scheduler: its controller asks :class:`WarmWindowKeeper` on every tick
whether a window is under way or about to open, and holds a lease until its end. The lease is the
same one ``warmkeeper keepalive`` takes, so a window never shortens a longer keep-alive and the idle
rule applies once it has ended.

The schedule is read on a clock of its own (``schedule_clock``; the wall clock unless a test or a
demonstration passes another), so that a test can set the twin at 08:29 on a Monday in Paris while
the processes, the edge and the leases run on real time: the lease's end is "now" plus what remains
of the window on the schedule's clock.

On a skip date (``warm_schedule_skip``) no window opens: no lease, as the Lambda takes none on AWS;
:meth:`WarmWindowKeeper.skipped` names the window left closed so that the twin can say why.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from warmkeeper.core.schedule import (
    WarmWindow,
    WindowOccurrence,
    keep_warm_until,
    next_window,
    wake_lead_minutes,
)


def wall_clock() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WindowLease:
    until: datetime  # on the twin's real clock
    window: WindowOccurrence | None  # the window it holds (None: one about to open, not yet under way)


class WarmWindowKeeper:
    """Says when the twin must hold a lease for its warm windows."""

    def __init__(
        self,
        windows: Sequence[WarmWindow],
        wake_estimate_seconds: Callable[[], float],
        schedule_clock: Callable[[], datetime] = wall_clock,
        skip: frozenset[date] = frozenset(),
    ) -> None:
        self.windows = tuple(windows)
        self.skip = skip
        self._wake_estimate = wake_estimate_seconds
        self._clock = schedule_clock

    @property
    def lead_minutes(self) -> int:
        """The twin's lead: its own wake estimate (no scheduler delivery to wait for)."""
        return wake_lead_minutes(self._wake_estimate(), delivery_seconds=0.0)

    def lease(self, real_now: datetime) -> WindowLease | None:
        """The lease a window asks for now (None outside the windows and their lead)."""
        if not self.windows:
            return None
        schedule_now = self._clock()
        end = keep_warm_until(self.windows, schedule_now, self.lead_minutes, self.skip)
        if end is None:
            return None
        upcoming = next_window(self.windows, schedule_now, self.skip)
        return WindowLease(until=real_now + (end - schedule_now), window=upcoming)

    def skipped(self) -> WindowOccurrence | None:
        """The window that would be held now (under way or within the lead) but falls on a skip date."""
        if not self.windows or not self.skip:
            return None
        schedule_now = self._clock()
        if keep_warm_until(self.windows, schedule_now, self.lead_minutes, self.skip) is not None:
            return None
        if keep_warm_until(self.windows, schedule_now, self.lead_minutes) is None:
            return None
        return next_window(self.windows, schedule_now)

    def next_window(self) -> WindowOccurrence | None:
        return next_window(self.windows, self._clock(), self.skip) if self.windows else None
