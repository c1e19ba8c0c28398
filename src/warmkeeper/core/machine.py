"""The scale-to-zero state machine: one pure function from what is observed to what to do.

``decide(observation, policy, now)`` is shared by the AWS Lambda and the local twin. It does no I/O:
the caller observes (ECS counts, target health, listener routing, lease, activity), calls
:func:`decide`, then applies the ordered actions of the returned :class:`Decision` and records what it
did. Calling it again on the world after those actions converges: it asks for nothing more until
something else changes (a target turns healthy, time passes, a request arrives).

Times are timezone-aware datetimes (UTC); durations in the policy are minutes or seconds as named.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from warmkeeper.core.errors import WarmkeeperError


class State(StrEnum):
    """Where the service is, derived from an observation (never stored)."""

    COLD = "COLD"  # 0 tasks wanted, none running, traffic to the waker
    WAKING = "WAKING"  # a task is wanted, no healthy target routed yet
    WARM = "WARM"  # a healthy target and traffic routed to the service
    DRAINING = "DRAINING"  # 0 tasks wanted, tasks still stopping (traffic to the waker)
    ALWAYS_ON = "ALWAYS_ON"  # scale-to-zero off (production): reported instead of the four above


class Routing(StrEnum):
    """Where the load balancer (or the twin's edge) sends ordinary traffic."""

    WAKER = "waker"
    SERVICE = "service"


class Action(StrEnum):
    """One change to the world. A decision lists them in the order they must be applied."""

    SCALE_UP = "SCALE_UP"  # desired count -> Decision.desired_count (a conditional, idempotent wake)
    ROUTE_TO_SERVICE = "ROUTE_TO_SERVICE"  # create the warm route
    ROUTE_TO_WAKER = "ROUTE_TO_WAKER"  # remove the warm route
    SCALE_TO_ZERO = "SCALE_TO_ZERO"  # desired count -> 0 (always after ROUTE_TO_WAKER)


class PolicyError(WarmkeeperError, ValueError):
    """A WK_POLICY value is missing or out of range: names the key and the problem."""


# Agents that must never wake the service, matched by whole words (core/requests.py): a name
# matches where its words appear in a row in the User-Agent, so "bot" matches "Googlebot/2.1
# (+http://www.google.com/bot.html)" through its URL but not a phone model such as "CUBOT X30".
# Uptime checkers and health probes first, then link previews (chat apps fetch a link to draw its
# card), then crawlers by name, then the generic words crawlers put in their User-Agent.
DEFAULT_IGNORE_USER_AGENTS: tuple[str, ...] = (
    "ELB-HealthChecker",
    "Amazon-Route53-Health-Check-Service",
    "CloudWatchSynthetics",
    "GoogleStackdriverMonitoring-UptimeChecks",
    "GoogleHC",
    "Datadog/Synthetics",
    "kube-probe",
    "Uptime-Kuma",
    "UptimeRobot",
    "Pingdom",
    "StatusCake",
    "Better Uptime Bot",
    "facebookexternalhit",
    "facebookcatalog",
    "WhatsApp",
    "Slackbot",
    "Slackbot-LinkExpanding",
    "Slack-ImgProxy",
    "Twitterbot",
    "LinkedInBot",
    "Discordbot",
    "TelegramBot",
    "SkypeUriPreview",
    "Googlebot",
    "bingbot",
    "Applebot",
    "YandexBot",
    "DuckDuckBot",
    "Baiduspider",
    "AhrefsBot",
    "SemrushBot",
    "GPTBot",
    "bot",
    "crawler",
    "spider",
)


@dataclass(frozen=True)
class Policy:
    """The scale-to-zero policy of one environment, from plain values.

    Field names are the keys of the ``WK_POLICY`` JSON object of the contract; :meth:`from_dict`
    parses that object (the infra code builds it from the typed config).
    """

    scale_to_zero: bool = True
    idle_minutes: float = 5
    min_warm_minutes: float = 2
    hold_seconds: float = 25
    wake_timeout_seconds: float = 180
    retry_after_seconds: int = 10
    default_lease_minutes: int = 30
    max_lease_minutes: int = 240
    ignore_user_agents: tuple[str, ...] = DEFAULT_IGNORE_USER_AGENTS
    min_tasks: int = 0
    max_tasks: int = 1
    # A private environment: only clients from these address ranges may wake it (empty: anyone).
    wake_allowed_from: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        checks: list[tuple[str, bool, str]] = [
            ("idle_minutes", self.idle_minutes > 0, "must be > 0"),
            ("min_warm_minutes", self.min_warm_minutes >= 0, "must be >= 0"),
            ("hold_seconds", 0 < self.hold_seconds <= 60, "must be > 0 and <= 60"),
            ("wake_timeout_seconds", self.wake_timeout_seconds > 0, "must be > 0"),
            ("retry_after_seconds", self.retry_after_seconds >= 1, "must be >= 1"),
            ("default_lease_minutes", self.default_lease_minutes >= 1, "must be >= 1"),
            ("max_lease_minutes", self.max_lease_minutes >= 1, "must be >= 1"),
            (
                "default_lease_minutes",
                self.default_lease_minutes <= self.max_lease_minutes,
                "must not exceed max_lease_minutes",
            ),
            ("min_tasks", self.min_tasks >= 0, "must be >= 0"),
            ("max_tasks", self.max_tasks >= 1, "must be >= 1"),
            ("min_tasks", self.min_tasks <= self.max_tasks, "must not exceed max_tasks"),
            (
                "min_tasks",
                self.min_tasks >= 1 or self.scale_to_zero,
                "must be >= 1 when scale_to_zero is false",
            ),
        ]
        for key, ok, problem in checks:
            if not ok:
                raise PolicyError(f"WK_POLICY.{key}: {problem}")
        for cidr in self.wake_allowed_from:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise PolicyError(f"WK_POLICY.wake_allowed_from: {cidr!r} is not an address range") from None

    @property
    def wake_count(self) -> int:
        """How many tasks a wake (or an always-on repair) asks for."""
        return min(max(1, self.min_tasks), self.max_tasks)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Policy:
        """Parse the ``WK_POLICY`` object. Unknown keys are errors (a typo must not be ignored)."""
        if not isinstance(data, Mapping):
            raise PolicyError("WK_POLICY: must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise PolicyError(f"WK_POLICY: unknown key(s) {unknown}")
        values: dict[str, Any] = {}
        for key, value in data.items():
            values[key] = _coerce(key, value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The ``WK_POLICY`` JSON object for this policy (inverse of :meth:`from_dict`)."""
        return {
            "scale_to_zero": self.scale_to_zero,
            "idle_minutes": self.idle_minutes,
            "min_warm_minutes": self.min_warm_minutes,
            "hold_seconds": self.hold_seconds,
            "wake_timeout_seconds": self.wake_timeout_seconds,
            "retry_after_seconds": self.retry_after_seconds,
            "default_lease_minutes": self.default_lease_minutes,
            "max_lease_minutes": self.max_lease_minutes,
            "ignore_user_agents": list(self.ignore_user_agents),
            "min_tasks": self.min_tasks,
            "max_tasks": self.max_tasks,
            "wake_allowed_from": list(self.wake_allowed_from),
        }


_INT_KEYS = frozenset(
    {"retry_after_seconds", "default_lease_minutes", "max_lease_minutes", "min_tasks", "max_tasks"}
)
_NUMBER_KEYS = frozenset({"idle_minutes", "min_warm_minutes", "hold_seconds", "wake_timeout_seconds"})


def _coerce(key: str, value: Any) -> Any:
    if key == "scale_to_zero":
        if not isinstance(value, bool):
            raise PolicyError(f"WK_POLICY.{key}: must be true or false, got {value!r}")
        return value
    if key in ("ignore_user_agents", "wake_allowed_from"):
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise PolicyError(f"WK_POLICY.{key}: must be a list of strings")
        if not all(isinstance(v, str) and any(ch.isalnum() for ch in v) for v in value):
            raise PolicyError(f"WK_POLICY.{key}: every entry must be a string with a letter or digit")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PolicyError(f"WK_POLICY.{key}: must be a number, got {value!r}")
    if not math.isfinite(value):
        raise PolicyError(f"WK_POLICY.{key}: must be finite")
    if key in _INT_KEYS:
        if value != int(value):
            raise PolicyError(f"WK_POLICY.{key}: must be a whole number, got {value!r}")
        return int(value)
    if key in _NUMBER_KEYS:
        return float(value)
    raise PolicyError(f"WK_POLICY: unknown key {key!r}")  # pragma: no cover - from_dict filters first


@dataclass(frozen=True)
class Observation:
    """What the caller saw just now. Counts are never negative.

    - ``desired``, ``running``: the ECS service's (or twin's) desired and running task counts.
    - ``healthy``: targets reported healthy by the load balancer (twin: passing health checks).
    - ``routing``: where ordinary traffic goes now.
    - ``last_activity_at``: the last time real traffic was seen; ``None`` when the metrics have no
      data (counts as idle, like the alarm's TreatMissingData = breaching).
    - ``lease_until``: end of the keep-alive lease; a time in the past means no lease.
    - ``deployment_in_progress``: a rolling deploy is running (never sleep in the middle of one).
    - ``wake_requested_at``: when the current wake was asked (the wake lock); ``None`` when no wake
      is recorded (cold, or a service scaled up outside warmkeeper).
    - ``warm_since``: when the first healthy target was seen after that wake.
    - ``wake_pending``: the event being handled wants the service awake (a request that reached the
      waker, a keep-alive, ``warmkeeper wake``).
    """

    desired: int
    running: int
    healthy: int
    routing: Routing
    last_activity_at: datetime | None = None
    lease_until: datetime | None = None
    deployment_in_progress: bool = False
    wake_requested_at: datetime | None = None
    warm_since: datetime | None = None
    wake_pending: bool = False

    def __post_init__(self) -> None:
        if self.desired < 0 or self.running < 0 or self.healthy < 0:
            raise ValueError("task and target counts must not be negative")


class Guard(StrEnum):
    """A reason not to sleep (reported when it blocks a sleep)."""

    NOT_IDLE = "not_idle"
    LEASE_ACTIVE = "lease_active"
    DEPLOYMENT_IN_PROGRESS = "deployment_in_progress"
    MIN_WARM = "min_warm"
    WAKE_PENDING = "wake_pending"
    STILL_WAKING = "still_waking"  # never healthy since the wake, not yet timed out


@dataclass(frozen=True)
class Decision:
    """What to do, in order, and why.

    ``actions`` is empty when nothing needs to change. ``desired_count`` is the count to set when the
    actions include SCALE_UP or SCALE_TO_ZERO. ``blocked_by`` lists the guards that keep an awake
    service from sleeping (empty when it may sleep or is not awake).
    """

    state: State
    actions: tuple[Action, ...]
    reason: str
    desired_count: int | None = None
    wake_failed: bool = False
    lease_active: bool = False
    idle_seconds: float | None = None  # None: no activity known at all (counts as idle)
    seconds_until_sleep: float | None = None  # when awake and sleep can be predicted
    blocked_by: tuple[Guard, ...] = field(default_factory=tuple)

    @property
    def sleeping(self) -> bool:
        return Action.SCALE_TO_ZERO in self.actions

    @property
    def waking(self) -> bool:
        return Action.SCALE_UP in self.actions

    def to_log_dict(self) -> dict[str, Any]:
        """The decision as plain JSON values (one structured log line per decision)."""
        return {
            "state": self.state.value,
            "actions": [a.value for a in self.actions],
            "reason": self.reason,
            "desired_count": self.desired_count,
            "wake_failed": self.wake_failed,
            "lease_active": self.lease_active,
            "idle_seconds": self.idle_seconds,
            "seconds_until_sleep": self.seconds_until_sleep,
            "blocked_by": [g.value for g in self.blocked_by],
        }


def derive_state(observation: Observation, policy: Policy) -> State:
    """The state an observation shows (see the module doc of the states)."""
    if not policy.scale_to_zero:
        return State.ALWAYS_ON
    if observation.desired == 0:
        return State.DRAINING if observation.running > 0 else State.COLD
    if observation.healthy > 0 and observation.routing is Routing.SERVICE:
        return State.WARM
    return State.WAKING


def is_ready(observation: Observation) -> bool:
    """Traffic goes to a healthy target: a held request may be sent back to the same URL."""
    return observation.healthy > 0 and observation.routing is Routing.SERVICE and observation.desired > 0


def lease_active(observation: Observation, now: datetime) -> bool:
    return observation.lease_until is not None and observation.lease_until > now


def activity_reference(observation: Observation) -> datetime | None:
    """The latest sign that somebody wants the service: traffic, or the wake and its first health.

    A wake counts as activity: the request that caused it went to the waker, which the service's
    RequestCount does not see, so without this a freshly woken service would look idle at once.
    """
    times = [
        t
        for t in (observation.last_activity_at, observation.wake_requested_at, observation.warm_since)
        if t is not None
    ]
    return max(times) if times else None


def idle_seconds(observation: Observation, now: datetime) -> float | None:
    """Seconds since the activity reference; ``None`` when nothing is known (counts as idle)."""
    reference = activity_reference(observation)
    if reference is None:
        return None
    return max(0.0, (now - reference).total_seconds())


def wake_failed(observation: Observation, policy: Policy, now: datetime) -> bool:
    """A scale-up that has not produced a healthy target within ``wake_timeout_seconds``."""
    if observation.desired == 0 or observation.healthy > 0 or observation.wake_requested_at is None:
        return False
    if observation.warm_since is not None:
        # It was healthy once since this wake: losing health later is a different problem (the
        # load balancer's unhealthy-target alarm), not a failed wake.
        return False
    waited = (now - observation.wake_requested_at).total_seconds()
    return waited >= policy.wake_timeout_seconds


def _sleep_guards(observation: Observation, policy: Policy, now: datetime) -> tuple[tuple[Guard, ...], float]:
    """The guards that block a sleep now, and the seconds until the time-based ones all pass."""
    blocked: list[Guard] = []
    waits: list[float] = [0.0]
    idle = idle_seconds(observation, now)
    idle_limit = policy.idle_minutes * 60
    if idle is not None and idle < idle_limit:
        blocked.append(Guard.NOT_IDLE)
        waits.append(idle_limit - idle)
    if lease_active(observation, now):
        blocked.append(Guard.LEASE_ACTIVE)
        assert observation.lease_until is not None
        waits.append((observation.lease_until - now).total_seconds())
    if observation.deployment_in_progress:
        blocked.append(Guard.DEPLOYMENT_IN_PROGRESS)
    awake_since = observation.warm_since or observation.wake_requested_at
    # Unknown wake time (scaled up outside warmkeeper): the min-warm guard has nothing to protect.
    if awake_since is not None:
        awake = (now - awake_since).total_seconds()
        min_warm = policy.min_warm_minutes * 60
        if awake < min_warm:
            blocked.append(Guard.MIN_WARM)
            waits.append(min_warm - awake)
    if observation.wake_pending:
        blocked.append(Guard.WAKE_PENDING)
    if (
        observation.healthy == 0
        and observation.warm_since is None
        and observation.wake_requested_at is not None
        and not wake_failed(observation, policy, now)
    ):
        # Give a wake its full wake_timeout before idleness may end it: a visitor on the waiting
        # page is not counted by the service's RequestCount yet.
        blocked.append(Guard.STILL_WAKING)
        waits.append(policy.wake_timeout_seconds - (now - observation.wake_requested_at).total_seconds())
    return tuple(blocked), max(waits)


def decide(observation: Observation, policy: Policy, now: datetime) -> Decision:
    """From an observation, a policy and the current time, the ordered actions to take.

    Invariants (property-tested): ROUTE_TO_SERVICE only with a healthy target and a desired count
    above zero once the actions are applied; never SCALE_TO_ZERO while a lease is active, a
    deployment is in progress or a wake is pending; ROUTE_TO_WAKER always precedes SCALE_TO_ZERO;
    applying the actions and deciding again asks for nothing more.
    """
    state = derive_state(observation, policy)
    leased = lease_active(observation, now)
    idle = idle_seconds(observation, now)
    failed = wake_failed(observation, policy, now)
    common: dict[str, Any] = {
        "state": state,
        "wake_failed": failed,
        "lease_active": leased,
        "idle_seconds": idle,
    }
    if not policy.scale_to_zero:
        return _decide_always_on(observation, policy, common)

    routed = observation.routing is Routing.SERVICE
    healthy = observation.healthy > 0
    wanted = observation.wake_pending or leased

    if observation.desired == 0:
        if wanted:
            actions: list[Action] = []
            if routed and not healthy:
                actions.append(Action.ROUTE_TO_WAKER)
            actions.append(Action.SCALE_UP)
            if healthy and not routed:
                actions.append(Action.ROUTE_TO_SERVICE)
            why = "keep-alive lease active" if leased and not observation.wake_pending else "wake requested"
            return Decision(
                actions=tuple(actions),
                reason=f"{why}: asking for {policy.wake_count} task(s)",
                desired_count=policy.wake_count,
                **common,
            )
        if routed:
            # Nothing should reach tasks that are going away (a sleep whose routing step was lost).
            return Decision(
                actions=(Action.ROUTE_TO_WAKER,),
                reason="no task wanted but traffic goes to the service: routing back to the waker",
                **common,
            )
        if state is State.DRAINING:
            return Decision(actions=(), reason="tasks stopping; traffic already to the waker", **common)
        return Decision(actions=(), reason="cold; traffic to the waker", **common)

    # Awake (desired > 0): should it sleep?
    blocked, wait = _sleep_guards(observation, policy, now)
    if not blocked:
        actions = [Action.ROUTE_TO_WAKER] if routed else []
        actions.append(Action.SCALE_TO_ZERO)
        idle_text = "no traffic data" if idle is None else f"idle {_duration(idle)}"
        prefix = "wake failed and " if failed else ""
        return Decision(
            actions=tuple(actions),
            reason=(
                f"{prefix}{idle_text} >= {_duration(policy.idle_minutes * 60)}, no lease, no deploy: sleeping"
            ),
            desired_count=0,
            **common,
        )
    until_sleep = None if Guard.DEPLOYMENT_IN_PROGRESS in blocked or Guard.WAKE_PENDING in blocked else wait

    if healthy and not routed:
        return Decision(
            actions=(Action.ROUTE_TO_SERVICE,),
            reason="a target is healthy: routing traffic to the service",
            seconds_until_sleep=until_sleep,
            blocked_by=blocked,
            **common,
        )
    if not healthy and routed:
        return Decision(
            actions=(Action.ROUTE_TO_WAKER,),
            reason="no healthy target but traffic goes to the service: routing back to the waker",
            seconds_until_sleep=until_sleep,
            blocked_by=blocked,
            **common,
        )
    if failed:
        assert observation.wake_requested_at is not None
        waited = (now - observation.wake_requested_at).total_seconds()
        reason = (
            f"wake failed: no healthy target {waited:.0f} s after the scale-up "
            f"(timeout {policy.wake_timeout_seconds:g} s); keeping the task asked, the waker answers"
        )
    elif healthy:
        reason = "warm; traffic to the service"
    else:
        reason = "waking; waiting for a healthy target"
    return Decision(
        actions=(),
        reason=reason,
        seconds_until_sleep=until_sleep,
        blocked_by=blocked,
        **common,
    )


def _decide_always_on(observation: Observation, policy: Policy, common: dict[str, Any]) -> Decision:
    """Scale-to-zero off: keep at least ``min_tasks``; route to the service when it is healthy."""
    actions: list[Action] = []
    reasons: list[str] = []
    desired_count = None
    routed = observation.routing is Routing.SERVICE
    healthy = observation.healthy > 0
    if observation.desired < policy.min_tasks:
        actions.append(Action.SCALE_UP)
        desired_count = policy.min_tasks
        reasons.append(f"desired {observation.desired} < min_tasks {policy.min_tasks}")
    if healthy and not routed:
        actions.append(Action.ROUTE_TO_SERVICE)
        reasons.append("a target is healthy: routing to the service")
    elif not healthy and routed:
        actions.append(Action.ROUTE_TO_WAKER)
        reasons.append("no healthy target: routing to the waker")
    return Decision(
        actions=tuple(actions),
        reason="always on: " + ("; ".join(reasons) if reasons else "nothing to do"),
        desired_count=desired_count,
        **common,
    )


def decide_sleep(observation: Observation, policy: Policy, now: datetime, force: bool = False) -> Decision:
    """An explicit sleep (``warmkeeper sleep``): route to the waker, then scale to zero.

    Asking to sleep overrides idleness, but not the other guards (an active lease, a deployment in
    progress, min_warm, a wake still in its timeout); ``force`` overrides them all (the caller also
    ends the lease, or the next reconcile would wake the service again). Scale-to-zero off: never,
    since the next reconcile would scale back to ``min_tasks`` anyway.
    """
    state = derive_state(observation, policy)
    common: dict[str, Any] = {
        "state": state,
        "wake_failed": wake_failed(observation, policy, now),
        "lease_active": lease_active(observation, now),
        "idle_seconds": idle_seconds(observation, now),
    }
    if not policy.scale_to_zero:
        return Decision(
            actions=(),
            reason="scale_to_zero is off for this environment: it keeps at least min_tasks running",
            **common,
        )
    routed = observation.routing is Routing.SERVICE
    if observation.desired == 0:
        actions = (Action.ROUTE_TO_WAKER,) if routed else ()
        return Decision(actions=actions, reason="already asleep (desired count 0)", **common)
    blocked: tuple[Guard, ...] = ()
    if not force:
        blocked, _wait = _sleep_guards(replace(observation, wake_pending=False), policy, now)
        blocked = tuple(g for g in blocked if g is not Guard.NOT_IDLE)
    if blocked:
        names = ", ".join(g.value for g in blocked)
        return Decision(
            actions=(),
            reason=f"not sleeping: blocked by {names} (use force to override)",
            blocked_by=blocked,
            **common,
        )
    actions_list = [Action.ROUTE_TO_WAKER] if routed else []
    actions_list.append(Action.SCALE_TO_ZERO)
    return Decision(
        actions=tuple(actions_list),
        reason="forced sleep" if force else "sleep asked",
        desired_count=0,
        **common,
    )


def _duration(seconds: float) -> str:
    """A duration for a reason line: seconds below two minutes (the twin idles in seconds)."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
