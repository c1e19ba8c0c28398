"""Simulated Amazon CloudWatch: the front door's request metric as it is published (a delay per
minute), the idle alarm, and the custom metrics the waker puts."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from warmkeeper_sim.events import alarm_event
from warmkeeper_sim.figures import figure

if TYPE_CHECKING:
    from warmkeeper_sim.world import World


class CloudWatch:
    def __init__(self, world: World) -> None:
        self.world = world
        self.custom: list[tuple[float, str, float]] = []
        self._visible_after: dict[int, float] = {}
        self.alarm_state = "INSUFFICIENT_DATA"
        self.alarm_changes: list[tuple[float, str]] = []

    def _published(self, minute: int) -> bool:
        if minute not in self._visible_after:
            delay = figure("cloudwatch.metric_delay").draw(self.world.kernel.random)
            self._visible_after[minute] = (minute + 1) * 60 + delay
        return self._visible_after[minute] <= self.world.kernel.now

    def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]], **_: Any) -> dict[str, Any]:
        for datum in MetricData:
            self.custom.append(
                (self.world.kernel.now, str(datum["MetricName"]), float(datum.get("Value", 0)))
            )
        return {}

    def get_metric_data(
        self, MetricDataQueries: list[dict[str, Any]], StartTime: datetime, EndTime: datetime, **_: Any
    ) -> dict[str, Any]:
        start = int((StartTime - self.world.kernel.epoch).total_seconds() // 60)
        end = int((EndTime - self.world.kernel.epoch).total_seconds() // 60)
        counts = self.world.front.app_requests_by_minute
        minutes = [m for m in range(max(0, start), end + 1) if counts.get(m) and self._published(m)]
        return {
            "MetricDataResults": [
                {
                    "Id": MetricDataQueries[0]["Id"],
                    "Timestamps": [self.world.at(m * 60.0) for m in reversed(minutes)],
                    "Values": [float(counts[m]) for m in reversed(minutes)],
                }
            ]
        }

    def evaluate_alarm(self) -> None:
        """The idle alarm: `idle_minutes` one-minute sums under one request, missing data breaching."""
        periods = int(self.world.config.policy.idle_minutes)
        newest = int(self.world.kernel.now // 60) - 1
        while newest >= 0 and not self._published(newest):
            newest -= 1
        breaching = all(
            self.world.front.app_requests_by_minute.get(m, 0) < 1
            for m in range(newest - periods + 1, newest + 1)
        )
        state = "ALARM" if breaching else "OK"
        if state != self.alarm_state:
            previous, self.alarm_state = self.alarm_state, state
            self.alarm_changes.append((self.world.kernel.now, state))
            self.world.events.put(alarm_event(self.world.kernel, state, previous))
