"""The waker's answer to an internal wake: a call from the app's task to a sleeping internal service.

The calling task's Caddy sends a call it could not deliver (no address, refused, timed out) to the
waker with the service's name and the environment's wake secret in two headers. The answer is
planned here once, for the Lambda and the local twin alike:

- a missing or wrong secret: 403, and nothing is woken (the secret is compared in constant time);
- a service the app does not declare: 404 naming it;
- otherwise the service is woken once (the caller's ``wake`` does that, under the service's own wake
  lock) and the answer is a 503 with ``Retry-After`` at once: an internal caller has its own client
  with its own timeout, so the waker never holds it.

Standard library only, no I/O: the caller passes the headers' values and a ``wake`` function.
"""

from __future__ import annotations

import hmac
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

from warmkeeper.core.pages import HttpResponse, json_response

# A service that already has a healthy task, asked for again: the caller's discovery has not caught
# up yet (Cloud Map's DNS on AWS); it should try again shortly.
ALREADY_UP_RETRY_AFTER_SECONDS = 2
# The shortest Retry-After of a wake in progress: a caller asked to come back at once would only
# come back to the waker.
MIN_WAKING_RETRY_AFTER_SECONDS = 2


@dataclass(frozen=True)
class ServiceWake:
    """What the wake of one internal service found: whether it already had a healthy task, and the
    estimated seconds until it has one (0 when it has)."""

    healthy: bool
    ready_in_seconds: float


def internal_retry_after(wake: ServiceWake) -> int:
    """The Retry-After of an internal wake's 503, in whole seconds."""
    if wake.healthy:
        return ALREADY_UP_RETRY_AFTER_SECONDS
    return max(MIN_WAKING_RETRY_AFTER_SECONDS, math.ceil(wake.ready_in_seconds))


def secret_matches(given: str, secret: str) -> bool:
    """Constant-time comparison; an empty secret on either side never matches."""
    if not given or not secret:
        return False
    return hmac.compare_digest(given.encode("utf-8"), secret.encode("utf-8"))


def answer_internal_wake(
    *,
    service: str,
    given_secret: str,
    secret: str,
    services: Collection[str],
    wake: Callable[[str], ServiceWake],
) -> HttpResponse:
    """The answer to one internal wake call (see the module's docstring). ``wake`` is called only
    after the secret and the service's name are checked, at most once."""
    if not secret_matches(given_secret, secret):
        return json_response(403, {"error": "forbidden", "message": "missing or wrong wake secret"})
    if service not in services:
        known = ", ".join(sorted(services)) or "none"
        return json_response(
            404, {"error": "not_found", "message": f"no internal service {service!r} (known: {known})"}
        )
    found = wake(service)
    retry_after = internal_retry_after(found)
    return json_response(
        503,
        {"service": service, "state": "waking", "retry_after": retry_after},
        headers={"Retry-After": str(retry_after)},
    )
