"""The one controller of a cold request: wake, hold, answer; and the application of a decision.

The Lambda's engine (:mod:`warmkeeper.aws.engine`) and the local twin's waker
(:mod:`warmkeeper.local.waker`) both answer an ordinary request that reached the waker with
:func:`answer_cold_request`, through the :class:`HoldPort` each implements; and both apply a
:class:`~warmkeeper.core.machine.Decision` with :func:`apply_decision`, through the
:class:`Actuators` each implements. Everything planned here (when a request is held and for how
long, what a cold request gets, the Retry-After, the texts, the poll pacing, the margin before an
invocation ends, the wait for a new route to apply) is therefore planned once: a change to the wake
behaviour is made here, and the twin shows what the Lambda does.

Standard library only, no I/O: the ports do the observing, the waiting and the counting.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from warmkeeper.core.machine import Action, Decision, Observation, Policy, Routing, State, is_ready
from warmkeeper.core.pages import HttpResponse, unavailable
from warmkeeper.core.requests import IncomingRequest, RequestKind, answer_while_cold

# A held request polls at first this often, then backs off by HOLD_POLL_BACKOFF up to
# HOLD_POLL_MAX_SECONDS: on AWS many held requests must not exhaust the API rate limits.
HOLD_FIRST_POLL_SECONDS = 1.0
HOLD_POLL_BACKOFF = 1.5
HOLD_POLL_MAX_SECONDS = 4.0
# A hold ends this long before the invocation would: the last poll, the 307 or 503 and the
# response's way back through the front door must fit.
HOLD_MARGIN_SECONDS = 5.0
# Added to the estimate in a Retry-After: a client told to come back should find the service
# routed, not be held again (on AWS hundreds of concurrent holds, one execution each, would exceed
# the API quotas).
RETRY_SLACK_SECONDS = 5
# How many recent wake durations the estimate looks at.
RECENT_WAKES = 5


def wake_estimate_seconds(recent_durations: Sequence[float], default_seconds: float) -> float:
    """How long a wake takes: the slowest of the recent wakes (a hold that cannot succeed is a
    client kept waiting for nothing), else ``default_seconds`` (the caller's model of a first wake)."""
    recent = tuple(recent_durations)[-RECENT_WAKES:]
    return max(recent) if recent else default_seconds


def ready_in_seconds(*, healthy: bool, wake_elapsed_seconds: float | None, estimate_seconds: float) -> float:
    """Estimated seconds until a target is healthy (0: it is, or should be by now)."""
    if healthy:
        return 0.0
    elapsed = wake_elapsed_seconds if wake_elapsed_seconds is not None else 0.0
    return max(0.0, estimate_seconds - elapsed)


def route_settling_seconds(observation: Observation, now: datetime, settle_seconds: float) -> float:
    """Seconds the front door may still need to apply the warm route of the current wake
    (``settle_seconds``: how long it may take in all, from the front door's description)."""
    warm_since = observation.warm_since
    if warm_since is None or observation.routing is not Routing.SERVICE:
        return 0.0
    return max(0.0, settle_seconds - (now - warm_since).total_seconds())


@dataclass(frozen=True)
class ColdView:
    """What a request at the waker sees of the service at one moment: all the planning reads."""

    state: State  # the state the decision started from
    ready: bool  # a target is healthy and traffic is routed to it
    wake_elapsed_seconds: float | None  # since the current wake was asked (None: no wake)
    wake_failed: bool
    ready_in_seconds: float  # the estimate (see ready_in_seconds)
    route_settling_seconds: float  # how long a new warm route may still take to apply
    wake_asked: bool = False  # the decision behind this view asked for the scale-up
    # Why the service cannot be reached although it is up (said in the 503), e.g. the front door's
    # network link being re-created; None: nothing to add.
    note: str | None = None


def cold_view(
    observation: Observation,
    decision: Decision,
    now: datetime,
    *,
    estimate_seconds: float,
    route_settle_seconds: float,
) -> ColdView:
    """The view of ``observation`` (with the decision's actions already applied to it, when they
    were) at ``now``: a wake that takes ``estimate_seconds``, a route that takes
    ``route_settle_seconds`` to apply."""
    requested = observation.wake_requested_at
    elapsed = (now - requested).total_seconds() if requested is not None else None
    return ColdView(
        state=decision.state,
        ready=is_ready(observation),
        wake_elapsed_seconds=elapsed,
        wake_failed=decision.wake_failed,
        ready_in_seconds=ready_in_seconds(
            healthy=observation.healthy > 0, wake_elapsed_seconds=elapsed, estimate_seconds=estimate_seconds
        ),
        route_settling_seconds=route_settling_seconds(observation, now, route_settle_seconds),
        wake_asked=Action.SCALE_UP in decision.actions,
    )


class HoldPort(Protocol):
    """What :func:`answer_cold_request` needs of the side answering (one port per request)."""

    def observe_first(self, wake: bool) -> ColdView:
        """The request's own look, after asking for a wake when ``wake`` (a bot does not)."""
        ...

    def observe_after(self, waited: float) -> ColdView:
        """Look again after a pause of ``waited`` seconds (an observation that young will do)."""
        ...

    def pause(self, seconds: float) -> float:
        """Wait up to ``seconds``; return the seconds actually waited (earlier on a change)."""
        ...

    def remaining_seconds(self) -> float | None:
        """What is left of the invocation answering (None: no end in sight)."""
        ...

    def started_holding(self) -> None:
        """The request is held (called once per request)."""
        ...

    def answered_after_holding(self, held_seconds: float) -> None:
        """A held request is answered now, after ``held_seconds``."""
        ...


def hold_left(policy: Policy, held_seconds: float, remaining_seconds: float | None) -> float:
    """Seconds a request may still be held: the policy's bound, and the invocation's end."""
    left = policy.hold_seconds - held_seconds
    if remaining_seconds is not None:
        left = min(left, remaining_seconds - HOLD_MARGIN_SECONDS)
    return left


def not_ready(policy: Policy, view: ColdView, ready_in: float, held_seconds: float) -> HttpResponse:
    """503 with Retry-After: the estimated seconds until ready (plus slack), or the policy's retry
    delay when the estimate is already due (the wake is slower than the recent ones)."""
    retry = math.ceil(ready_in) + RETRY_SLACK_SECONDS if ready_in >= 1 else policy.retry_after_seconds
    if view.note:
        message = f"{view.note} Retry in about {retry} s."
    elif held_seconds > 0:
        message = f"The service is starting; it was not ready within {held_seconds:.0f} s. Retry shortly."
    else:
        message = f"The service is starting; it should be ready in about {retry} s."
    # The wake this request asked for is under way: say so, not the state observed before it.
    state = State.WAKING if view.wake_asked else view.state
    return unavailable(state, retry, message)


def answer_cold_request(
    request: IncomingRequest, kind: RequestKind, policy: Policy, *, app_name: str, port: HoldPort
) -> HttpResponse:
    """Wake (through the port), then answer an ordinary request that reached the waker.

    An API call is held only when the estimate says a target will be healthy within what is left
    of the hold; it polls at a backed-off pace (or later, when the estimate says it is early) and is
    sent back to the same URL (307) once ready. Held until the warm route was created, it waits for
    the route to apply before the 307 (the client was promised an answer, not a Retry-After).
    Otherwise it gets 503 with the estimate as Retry-After at once. :func:`answer_while_cold` plans
    every answer that is not a hold (the waiting page, the bot's 503, the settling route's 503);
    the hold's bound is :func:`hold_left`.
    """
    view = port.observe_first(kind is not RequestKind.IGNORED)
    held = 0.0
    delay = HOLD_FIRST_POLL_SECONDS
    holding = False
    while True:
        settling = view.route_settling_seconds if held > 0 else 0.0
        if settling > 0:
            # Held until healthy and the warm route is new: what is left of the hold goes to letting
            # the route apply, then the 307 (a 307 that still comes back is the rare, short loop
            # that remains).
            pause = max(0.0, min(settling, hold_left(policy, held, port.remaining_seconds())))
            held += port.pause(pause)
        answer = answer_while_cold(
            request,
            kind,
            policy,
            app_name=app_name,
            state=view.state,
            ready=view.ready,
            wake_elapsed_seconds=view.wake_elapsed_seconds,
            wake_failed=view.wake_failed,
            route_settling_seconds=0.0 if settling > 0 else view.route_settling_seconds,
        )
        if not answer.hold:
            assert answer.response is not None
            return _answered(port, answer.response, held if holding else None)
        left = hold_left(policy, held, port.remaining_seconds())
        ready_in = view.ready_in_seconds
        if ready_in > left or left <= 0:
            return _answered(port, not_ready(policy, view, ready_in, held), held if holding else None)
        if not holding:
            port.started_holding()
            holding = True
        # Poll at the backed-off pace, or later when the estimate says it is early.
        wait = min(left, max(delay, ready_in / 2))
        held += port.pause(wait)
        delay = min(delay * HOLD_POLL_BACKOFF, HOLD_POLL_MAX_SECONDS)
        view = port.observe_after(wait)


def _answered(port: HoldPort, response: HttpResponse, held_seconds: float | None) -> HttpResponse:
    if held_seconds is not None:
        port.answered_after_holding(held_seconds)
    return response


class Actuators(Protocol):
    """The four things a decision can ask for, each returning a line saying what was done."""

    def scale_up(self, count: int | None) -> str: ...

    def route_to_service(self) -> str: ...

    def route_to_waker(self) -> str: ...

    def scale_to_zero(self) -> str: ...


def apply_decision(decision: Decision, actuators: Actuators) -> list[str]:
    """Apply the decision's actions in its order (a scale-up before a route, the route to the waker
    before the scale to zero); return what was done."""
    done: list[str] = []
    for action in decision.actions:
        if action is Action.SCALE_UP:
            done.append(actuators.scale_up(decision.desired_count))
        elif action is Action.ROUTE_TO_SERVICE:
            done.append(actuators.route_to_service())
        elif action is Action.ROUTE_TO_WAKER:
            done.append(actuators.route_to_waker())
        elif action is Action.SCALE_TO_ZERO:
            done.append(actuators.scale_to_zero())
    return done
