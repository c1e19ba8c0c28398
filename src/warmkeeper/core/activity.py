"""The task's own word on its traffic: the activity beacon.

Warm requests go from the front door straight to the task; the waker never sees them. The only other
record of them is the front door's request metric, published per minute and visible minutes later
(AWS documents no visibility delay: three minutes is assumed). Sleeping on that alone means waiting
out the delay after the last busy minute, or else sleeping while someone is still using the app.

So the app's entry container reports what it sees, at once: a small loop next to its Caddy looks at
the time of the last request Caddy logged (health checks are not logged) and sends the seconds since
then to the waker's function URL (``POST /_warmkeeper/activity``, with the wake secret):

- at once when a request comes after :data:`QUIET_SECONDS` without one (the start of a visit is
  never late: that is the request a sleep could cut);
- at most every :data:`REPORT_GAP_SECONDS` while requests keep coming;
- every :data:`HEARTBEAT_SECONDS` in any case, so that silence is known to be silence.

The waker keeps the latest request any report named (never moving it back) and when the last report
came. While reports are fresh (:data:`REPORT_FRESH_SECONDS`) the sleep guards read the last request
from them, and the metric only adds its busy minutes without the visibility margin; without fresh
reports (an entry container without the loop, a task that cannot reach the waker) the engine falls
back to the metric and its margin, as before.

Standard library only, no I/O: the caller reads the secret and stores the report.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.lease import token_matches
from warmkeeper.core.pages import HttpResponse, json_response, method_not_allowed

ACTIVITY_PATH = "/_warmkeeper/activity"
# Seconds since the task's last request, a whole or decimal number, or "none" (no request since the
# task started).
IDLE_HEADER = "X-Warmkeeper-Idle-Seconds"
NO_REQUEST = "none"

# The beacon's pace (the example's caddy/activity-beacon.sh keeps the same numbers).
POLL_SECONDS = 1
QUIET_SECONDS = 60
REPORT_GAP_SECONDS = 10
HEARTBEAT_SECONDS = 30
# A report older than this is not trusted to speak for the present: two heartbeats and a margin for
# one lost on the way. Beyond it, the metric with its visibility margin decides again.
REPORT_FRESH_SECONDS = 2 * HEARTBEAT_SECONDS + 15
# An idle time beyond this is a broken clock or a bad caller, not a task's uptime.
MAX_IDLE_SECONDS = 366 * 24 * 3600


class ActivityError(WarmkeeperError, ValueError):
    """A report's idle time that is not a number of seconds (names the header and the value)."""


@dataclass(frozen=True)
class ActivityReport:
    """What the beacons said, merged: the last request any of them named, and the last report's time."""

    reported_at: datetime
    last_request_at: datetime | None

    def fresh(self, now: datetime) -> bool:
        """Recent enough to speak for the present (a report from the future is a clock skew: fresh)."""
        return (now - self.reported_at).total_seconds() <= REPORT_FRESH_SECONDS

    def merged_with(self, later: ActivityReport) -> ActivityReport:
        """A later report added to this one: the last request never moves back (with two tasks, the one
        that saw no request must not hide the other's)."""
        return ActivityReport(
            reported_at=max(self.reported_at, later.reported_at),
            last_request_at=latest(self.last_request_at, later.last_request_at),
        )


def describe(report: ActivityReport | None, now: datetime) -> str:
    """The beacon's state in words (``warmkeeper status``): what the sleep is counted from."""
    if report is None:
        return "no report from the tasks: the request metric decides (a sleep about 3 min later)"
    age = max(0.0, (now - report.reported_at).total_seconds())
    said = "no request since the task started"
    if report.last_request_at is not None:
        said = f"last request {max(0.0, (now - report.last_request_at).total_seconds()):.0f} s ago"
    if report.fresh(now):
        return f"last report {age:.0f} s ago, {said}"
    return f"last report {age:.0f} s ago, too old: the request metric decides (a sleep about 3 min later)"


def latest(*times: datetime | None) -> datetime | None:
    """The latest of the known times (None when none is known)."""
    known = [t for t in times if t is not None]
    return max(known) if known else None


def parse_idle_seconds(value: str) -> float | None:
    """The header's value: seconds (>= 0), or None for ``none``. Raises :class:`ActivityError`."""
    text = value.strip()
    if text.lower() == NO_REQUEST:
        return None
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_IDLE_SECONDS:
        shown = text if len(text) <= 20 else text[:17] + "..."
        raise ActivityError(
            f"{IDLE_HEADER}: {shown!r} is not a number of seconds between 0 and {MAX_IDLE_SECONDS}, "
            f"nor {NO_REQUEST!r}"
        )
    return seconds


def report_at(now: datetime, idle_seconds: float | None) -> ActivityReport:
    """The report received at ``now`` saying the last request was ``idle_seconds`` ago."""
    last = None if idle_seconds is None else now - timedelta(seconds=idle_seconds)
    return ActivityReport(reported_at=now, last_request_at=last)


def answer_activity(
    *,
    method: str,
    given_secret: str,
    secret: str | None,
    idle_header: str,
    now: datetime,
    record: Callable[[ActivityReport], None],
) -> HttpResponse:
    """The waker's answer to one beacon report: 405, 403 (missing or wrong secret, checked in
    constant time before anything else is read), 400 (a bad idle time), or 204 once ``record`` stored
    the report."""
    if method != "POST":
        return method_not_allowed("POST")
    if not token_matches(given_secret or None, secret):
        return json_response(403, {"error": "forbidden", "message": "missing or wrong wake secret"})
    if not idle_header.strip():
        return json_response(400, {"error": "bad_request", "message": f"{IDLE_HEADER}: missing"})
    try:
        idle = parse_idle_seconds(idle_header)
    except ActivityError as exc:
        return json_response(400, {"error": "bad_request", "message": str(exc)})
    record(report_at(now, idle))
    return HttpResponse(status=204, headers={}, body="")
