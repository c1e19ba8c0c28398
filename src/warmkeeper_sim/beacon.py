"""The example's activity beacon in a simulated task: examples/cityguided/caddy/activity-beacon.sh,
step by step, reporting through the waker's function URL to the real handler.

The script looks at its request log's modification time once a second (``stat -c %Y``: whole
seconds) and posts the seconds since then (``date +%s`` minus that time) at once after a quiet
minute, at most every 10 s while requests come, and every 30 s in any case; a failed report waits
5 s. A task's request is logged when its answer is written, which is when the front door models
count it (:func:`served`). The report's way from the task to the function (the task's Caddy, the
internet, TLS, the function URL) takes ``beacon.report_path``; the invocation itself is the
simulated Lambda's (its cold starts, its concurrency, its throttles).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from warmkeeper.core.activity import (
    ACTIVITY_PATH,
    HEARTBEAT_SECONDS,
    IDLE_HEADER,
    NO_REQUEST,
    POLL_SECONDS,
    QUIET_SECONDS,
    REPORT_GAP_SECONDS,
)
from warmkeeper_sim.figures import figure
from warmkeeper_sim.lambda_service import function_url_event

if TYPE_CHECKING:
    from warmkeeper_sim.ecs import Task
    from warmkeeper_sim.world import World

# The script's wait after a report that failed.
RETRY_SECONDS = 5


def served(task: Task, now: float) -> None:
    """The task's Caddy answered a request (its access log line is written now)."""
    task.last_request = now


def run(world: World, task: Task) -> None:
    """One task's beacon, from its entry container's start until the container stops serving."""
    kernel = world.kernel
    sent_at: float = -math.inf  # the script's 0: the first report is due at once
    reported: int | None = None
    wait_until: float = 0
    while task.serving:
        now = math.floor(kernel.now)
        last = None if task.last_request is None else math.floor(task.last_request)
        due = False
        if now >= wait_until:
            if last is not None and last != reported:
                quiet = reported is None or last - reported >= QUIET_SECONDS
                due = quiet or now - sent_at >= REPORT_GAP_SECONDS
            due = due or now - sent_at >= HEARTBEAT_SECONDS
        if due:
            idle = NO_REQUEST if last is None else str(max(0, now - last))
            world.beacon_reports.append((kernel.now, idle))
            if _report(world, idle):
                sent_at, reported = now, last
            else:
                world.beacon_failures += 1
                wait_until = now + RETRY_SECONDS
        kernel.sleep(POLL_SECONDS)


def _report(world: World, idle: str) -> bool:
    """One POST to the function URL, as the task's Caddy forwards it; True when the waker took it."""
    kernel = world.kernel
    kernel.sleep(figure("beacon.report_path").draw(kernel.random))
    headers = {IDLE_HEADER.lower(): idle, "content-length": "0"}
    event = function_url_event("POST", ACTIVITY_PATH, headers, user_agent="Wget")
    outcome, result = world.function.invoke(event)
    return outcome == "ok" and isinstance(result, dict) and result.get("statusCode") == 204
