"""The waker's answer to an internal wake: a call from the app's task to a sleeping internal service.

The calling task's Caddy sends a call it could not deliver (no address, refused, timed out) to the
waker with the service's name and the environment's wake secret in two headers. The answer is
planned here once, for the Lambda and the local twin alike:

- a missing or wrong secret: 403, and nothing is woken (the secret is compared in constant time);
- a service the app does not declare: 404 naming it;
- otherwise the service is woken once (the caller's ``wake`` does that, under the service's own wake
  lock) and the answer is a 503 with ``Retry-After`` at once: an internal caller has its own client
  with its own timeout, so the waker never holds it. The wait is the wake's estimate plus the same
  slack as a public cold request's; past the estimate, the policy's ``retry_after_seconds``; a
  service that already has a healthy task (its callers' discovery lags: Cloud Map applies a health
  change about 30 s late on AWS), a few seconds.

Standard library only, no I/O: the caller passes the headers' values and a ``wake`` function.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

from warmkeeper.core.hold import RETRY_SLACK_SECONDS
from warmkeeper.core.lease import token_matches
from warmkeeper.core.pages import HttpResponse, json_response

# The two headers the caller's Caddy adds to a call it sends to the waker (the service's name in the
# config, and the environment's wake secret).
SERVICE_HEADER = "X-Warmkeeper-Service"
WAKE_SECRET_HEADER = "X-Warmkeeper-Wake-Secret"  # noqa: S105 - a header's name

# A service that already has a healthy task, asked for again: the caller's discovery has not caught
# up yet; it should try again shortly.
ALREADY_UP_RETRY_AFTER_SECONDS = 5
# Past the estimate, unless the policy says otherwise (Policy.retry_after_seconds' default).
DEFAULT_OVERDUE_RETRY_SECONDS = 10
# A service name is shown back at most this long (it comes from a header).
_SHOWN_NAME_CHARACTERS = 40


@dataclass(frozen=True)
class ServiceWake:
    """What the wake of one internal service found: whether it already had a healthy task, the
    estimated seconds until it has one (0 when it has), and the wait to give once that is overdue."""

    healthy: bool
    ready_in_seconds: float
    overdue_retry_seconds: int = DEFAULT_OVERDUE_RETRY_SECONDS


def internal_retry_after(wake: ServiceWake) -> int:
    """The Retry-After of an internal wake's 503, in whole seconds."""
    if wake.healthy:
        return ALREADY_UP_RETRY_AFTER_SECONDS
    if wake.ready_in_seconds >= 1:
        return math.ceil(wake.ready_in_seconds) + RETRY_SLACK_SECONDS
    return wake.overdue_retry_seconds


def answer_internal_wake(
    *,
    service: str,
    given_secret: str,
    secret: str | None,
    services: Collection[str],
    wake: Callable[[str], ServiceWake],
) -> HttpResponse:
    """The answer to one internal wake call (see the module's docstring). ``wake`` is called only
    after the secret and the service's name are checked, at most once."""
    if not token_matches(given_secret or None, secret):
        return json_response(403, {"error": "forbidden", "message": f"missing or wrong {WAKE_SECRET_HEADER}"})
    name = service.strip()
    if name not in services:
        shown = name if len(name) <= _SHOWN_NAME_CHARACTERS else name[: _SHOWN_NAME_CHARACTERS - 3] + "..."
        known = ", ".join(sorted(services)) or "none"
        return json_response(
            404,
            {
                "error": "not_found",
                "message": f"no internal service {shown!r} ({SERVICE_HEADER}; known: {known})",
            },
        )
    found = wake(name)
    retry_after = internal_retry_after(found)
    return json_response(
        503,
        {"service": name, "state": "warm" if found.healthy else "waking", "retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )
