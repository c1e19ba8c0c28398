"""The engine: observe AWS, ask :func:`warmkeeper.core.decide`, apply the actions, record, log.

One class drives every entry point: the Lambda (ALB requests, the idle alarm, the keep-alive
webhook, the scheduled reconcile) and the CLI (``warmkeeper status / wake / sleep / keepalive``), so
they cannot disagree. It holds no state between calls: everything lives in ECS, the listener and
three SSM parameters (:class:`~warmkeeper.aws.adapters.StateStore`).

The wake is a compare-and-set: the first caller that creates the SSM wake-lock parameter
(``Overwrite=False``) calls ``UpdateService(desiredCount=1)``; every concurrent caller sees the
parameter exists and does nothing. The lock is deleted after a sleep. A lock left behind with no
task wanted (an invocation that died between the two calls, or a service scaled to zero by hand) is
"stale" after :data:`STALE_LOCK_SECONDS` and is repaired by the next reconcile or request.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from warmkeeper.aws.adapters import (
    EcsService,
    KeepaliveSecret,
    LastWake,
    LoadBalancerRouting,
    Metrics,
    ServiceState,
    StateStore,
    StoredState,
    TargetHealth,
    WakeLock,
    utc_now,
)
from warmkeeper.aws.http_api_routing import FrontDoorCheck, HttpApiRouting
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.logs import log
from warmkeeper.aws.metrics import MetricName
from warmkeeper.aws.ports import (
    FrontDoorPort,
    MetricsPort,
    RoutingPort,
    SecretPort,
    ServicePort,
    StatePort,
)
from warmkeeper.core import (
    Action,
    ColdAnswer,
    Decision,
    EndpointRefusal,
    HttpResponse,
    IncomingRequest,
    Observation,
    RequestKind,
    Routing,
    State,
    StatusReport,
    answer_while_cold,
    classify_request,
    decide,
    decide_sleep,
    extend_lease,
    is_ready,
    json_response,
    keepalive_minutes,
    lease_active,
    not_found,
    require_method,
    status_report,
    unavailable,
)

if TYPE_CHECKING:
    from warmkeeper.aws.clients import AwsClients

# A wake lock with no task wanted is an interrupted wake (or sleep) once it is this old: long
# enough that a wake in flight (lock taken, UpdateService not yet answered) is never mistaken for it.
STALE_LOCK_SECONDS = 60.0

WARM_ROUTE_CREATED = "warm route created"

# A held request polls at first this often, then backs off by HOLD_POLL_BACKOFF up to
# HOLD_POLL_MAX_SECONDS: many held requests must not exhaust the API rate limits.
AWS_HOLD_POLL_SECONDS = 1.0
HOLD_POLL_BACKOFF = 1.5
HOLD_POLL_MAX_SECONDS = 4.0
# A hold ends this long before the invocation would: the last poll, the 307 or 503 and the
# response's way back through the load balancer must fit.
HOLD_MARGIN_SECONDS = 5.0

# How old a shared observation may be (seconds) for each caller; see SnapshotCache. A cold request
# and a held one need a fresh view (they may wake or redirect); a waiting page's status poll only
# shows progress, and 700 pages polling every few seconds must not cost 700 observations.
REQUEST_SNAPSHOT_SECONDS = 1.0
STATUS_SNAPSHOT_SECONDS = 2.0
# After the first healthy target is recorded, requests and polls trust the record this long.
JUST_WARM_SECONDS = 30.0
# How long a new warm route may take to apply everywhere after the first healthy target: neither
# ALB (listener rules) nor API Gateway (routes of an auto-deploy stage) publishes a figure; these are
# the upper ends of the simulation's assumed ranges (warmkeeper_sim/figures.py alb.rule_propagation,
# apigw.route_propagation). Until then an API client gets 503 + Retry-After instead of a 307 loop.
ALB_RULE_SETTLE_SECONDS = 3.0
HTTP_API_ROUTE_SETTLE_SECONDS = 5.0
# Added to the estimate in a Retry-After: a client told to come back should find the service
# routed, not be held (hundreds of concurrent holds, one per execution, would exceed the API quotas).
RETRY_SLACK_SECONDS = 5

# The readiness estimate when no wake was ever recorded: inside the 30-80 s Fargate cold start
# modelled in docs/technical/aws-model.md (a model, not a measurement), towards its slow end so
# that a first wake rather answers at once than holds in vain.
DEFAULT_WAKE_ESTIMATE_SECONDS = 60.0
# How many recent wake durations the last-wake record keeps for the estimate.
RECENT_WAKES = 5


class SnapshotCache:
    """The last observation of one execution environment, shared by its invocations.

    A Lambda execution environment runs one invocation at a time and keeps module-level state
    between them: a snapshot kept here is reused by the next requests and status polls for a short
    time instead of each asking ECS, ELB and SSM again. Each snapshot lives for
    ``max_age`` times a random factor in [0.5, 1]: environments started together by a herd do not
    refresh together. Anything the engine changes (a wake, a route) clears it.
    """

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()  # noqa: S311 (jitter, not a secret)
        self._snapshot: Snapshot | None = None
        self._factor = 1.0

    def get(self, now: datetime, max_age: float) -> Snapshot | None:
        snapshot = self._snapshot
        if snapshot is None:
            return None
        age = (now - snapshot.now).total_seconds()
        if age < 0.0:
            return None
        if snapshot.valid_until is not None and now < snapshot.valid_until:
            return snapshot
        return snapshot if age <= max_age * self._factor else None

    def put(self, snapshot: Snapshot) -> None:
        self._snapshot = snapshot
        self._factor = self._rng.uniform(0.5, 1.0)

    def clear(self) -> None:
        self._snapshot = None


# One cache per engine settings in this execution environment (the Lambda's module state).
_SHARED_SNAPSHOTS: dict[Settings, SnapshotCache] = {}


def shared_snapshots(settings: Settings) -> SnapshotCache:
    """The execution environment's snapshot cache for these settings (created on first use)."""
    return _SHARED_SNAPSHOTS.setdefault(settings, SnapshotCache())


@dataclass(frozen=True)
class Snapshot:
    """One observation of AWS with what the decision needs beside the core Observation."""

    observation: Observation
    service: ServiceState
    health: TargetHealth
    stored: StoredState
    now: datetime
    shared: bool = False  # taken from the environment's snapshot cache, not observed by this call
    # Until then nothing observable can change the answers built on this snapshot (the first half
    # of an estimated wake), so every caller of the environment may reuse it, whatever its age.
    valid_until: datetime | None = None

    @property
    def lock(self) -> WakeLock | None:
        return self.stored.lock


@dataclass(frozen=True)
class StepResult:
    snapshot: Snapshot
    decision: Decision
    applied: tuple[str, ...]


class Warmkeeper:
    """Scale-to-zero of one ECS service, driven by :func:`warmkeeper.core.decide`."""

    def __init__(
        self,
        settings: Settings,
        *,
        ecs: ServicePort,
        router: RoutingPort,
        store: StatePort,
        metrics: MetricsPort,
        secret: SecretPort,
        front_door: FrontDoorPort | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        snapshots: SnapshotCache | None = None,
    ) -> None:
        self.settings = settings
        self.front_door = front_door
        self.policy = settings.policy
        self.ecs = ecs
        self.router = router
        self.store = store
        self.metrics = metrics
        self.secret = secret
        self.clock = clock
        self._sleep = sleep
        # None: every call observes afresh (the CLI, tests); the Lambda shares one per environment.
        self.snapshots = snapshots

    # --- observe ------------------------------------------------------------------------------------

    def observe(
        self,
        *,
        wake_pending: bool = False,
        max_age: float = 0.0,
        may_sleep: bool = True,
        live_targets_only: bool = False,
    ) -> Snapshot:
        """Observe AWS; with ``max_age`` > 0, the environment's shared snapshot when it is recent
        enough, and only what a wake in flight needs (below) when it is not."""
        now = self.clock()
        # Without a shared cache (the CLI, tests), every call observes everything afresh.
        if self.snapshots is None:
            max_age = 0.0
        if max_age > 0 and self.snapshots is not None:
            cached = self.snapshots.get(now, max_age)
            if cached is not None:
                observation = replace(cached.observation, wake_pending=wake_pending)
                return replace(cached, observation=observation, now=now, shared=True)
        stored = self.store.read()
        lock = stored.lock
        service: ServiceState | None = None
        no_target = TargetHealth(healthy=0, healthy_ips=frozenset())
        if max_age > 0 and self._waking(lock, now):
            # A wake in flight with no healthy target yet: only target health can change how a
            # request or a poll is answered (the warm route is created when it turns healthy), so
            # ECS and the listener rules are not asked; nor is target health in the first half of
            # the estimated wake (nothing can be healthy so soon, and a herd starts many
            # environments at once then).
            waking = ServiceState(
                desired=self.policy.wake_count, running=0, pending=0, deployment_in_progress=False
            )
            assert lock is not None
            elapsed = (now - lock.requested_at).total_seconds()
            half = self.wake_estimate_seconds(stored) / 2
            if elapsed < half:
                early = self._snapshot(now, waking, no_target, Routing.WAKER, stored, None, wake_pending)
                # An execution environment left idle while others served the herd would otherwise
                # find its snapshot expired when traffic spills over to it, and every environment
                # would read SSM in the same instant: on a low concurrency quota that cascade
                # throttled invocations (simulated herd on a new account's quota of 10).
                return replace(early, valid_until=lock.requested_at + timedelta(seconds=half))
            # Healthy: the warm route is due. Whether it exists is the route creation's own check
            # (ALB refuses a second rule at the priority), so the rules are not read here either.
            health = self.router.target_health()
            return self._snapshot(now, waking, health, Routing.WAKER, stored, None, wake_pending)
        elif max_age > 0 and self._just_warm(lock, now):
            # The warm route was created moments ago (its creator wrote healthy_at): every page
            # reloads and every held client comes back now, so the lock alone answers them. A
            # route taken away since is noticed once this window ends.
            warm = ServiceState(
                desired=self.policy.wake_count, running=1, pending=0, deployment_in_progress=False
            )
            health = TargetHealth(healthy=1, healthy_ips=frozenset())
            return self._snapshot(now, warm, health, Routing.SERVICE, stored, None, wake_pending)
        elif max_age > 0 and lock is None:
            # No wake asked: a service at zero has no target and no warm route (the reconcile
            # repairs anything else), so a cold request needs no ELB call to wake it.
            service = self.ecs.describe()
            if service.desired == 0:
                return self._snapshot(now, service, no_target, Routing.WAKER, stored, None, wake_pending)
        service = service or self.ecs.describe()
        health = self.router.target_health()
        if live_targets_only and health.healthy:
            # A task told to stop (a Spot interruption) stays healthy in the target group until it
            # is deregistered: only targets of tasks ECS still wants running count.
            live = sum(1 for task in self.ecs.tasks(health.healthy_ips) if task.health == "healthy")
            health = replace(health, healthy=min(health.healthy, live))
        routing = self.router.routing()
        last_activity = None
        # RequestCount only matters to the sleep guards: skip the read when nothing can sleep.
        if service.desired > 0 and not wake_pending and may_sleep and self.policy.scale_to_zero:
            last_activity = self.metrics.last_activity(now, self.policy.idle_minutes)
        return self._snapshot(now, service, health, routing, stored, last_activity, wake_pending)

    def _waking(self, lock: WakeLock | None, now: datetime) -> bool:
        """A wake asked and not yet healthy, within the wake timeout (a failed wake is left to the
        full observation, which reports it; a lock left by an interrupted wake to the reconcile)."""
        if lock is None or lock.healthy_at is not None or lock.adopted:
            return False
        elapsed = (now - lock.requested_at).total_seconds()
        return 0.0 <= elapsed < self.policy.wake_timeout_seconds

    def _just_warm(self, lock: WakeLock | None, now: datetime) -> bool:
        if lock is None or lock.healthy_at is None or lock.adopted:
            return False
        return 0.0 <= (now - lock.healthy_at).total_seconds() < JUST_WARM_SECONDS

    def _snapshot(
        self,
        now: datetime,
        service: ServiceState,
        health: TargetHealth,
        routing: Routing,
        stored: StoredState,
        last_activity: datetime | None,
        wake_pending: bool,
    ) -> Snapshot:
        lock = stored.lock
        observation = Observation(
            desired=service.desired,
            running=service.running,
            healthy=health.healthy,
            routing=routing,
            last_activity_at=last_activity,
            lease_until=stored.lease_until,
            deployment_in_progress=service.deployment_in_progress,
            wake_requested_at=lock.requested_at if lock else None,
            warm_since=lock.healthy_at if lock else None,
            wake_pending=wake_pending,
        )
        return Snapshot(observation=observation, service=service, health=health, stored=stored, now=now)

    def _stale(self, snapshot: Snapshot) -> bool:
        lock = snapshot.lock
        if lock is None or snapshot.service.desired > 0:
            return False
        return (snapshot.now - lock.requested_at).total_seconds() >= STALE_LOCK_SECONDS

    def _record(self, snapshot: Snapshot) -> tuple[Snapshot, list[str]]:
        """Bookkeeping before deciding: repair a stale lock, adopt a service found awake, note the
        first healthy target of a wake (cold-start seconds)."""
        done: list[str] = []
        lock = snapshot.lock
        stored = snapshot.stored
        if self._stale(snapshot):
            self.store.clear_wake_lock()
            done.append("repaired a stale wake lock")
            lock = None
        elif lock is None and snapshot.service.desired > 0 and self.policy.scale_to_zero:
            # Awake without a lock (scaled up by hand, or the lock was lost): adopt it, so min_warm
            # and the idle clock start now instead of the service sleeping at once.
            adopted = WakeLock(requested_at=snapshot.now, adopted=True)
            if self.store.take_wake_lock(adopted):
                done.append("adopted a service found awake without a wake lock")
                lock = adopted
        if lock is not None and lock.healthy_at is None and snapshot.health.healthy > 0:
            # True for this decision at once, but written by one invocation only (the one that
            # creates the warm route, see step): when the first target turns healthy, every held
            # request and polling page sees it in the same second, and concurrent overwrites of one
            # parameter fail with TooManyUpdates.
            lock = replace(lock, healthy_at=snapshot.now)
        if lock is not snapshot.lock:
            stored = replace(stored, lock=lock)
            observation = replace(
                snapshot.observation,
                wake_requested_at=lock.requested_at if lock else None,
                warm_since=lock.healthy_at if lock else None,
            )
            snapshot = replace(snapshot, stored=stored, observation=observation)
        return snapshot, done

    # --- apply ---------------------------------------------------------------------------------------

    def _wake(self, snapshot: Snapshot, count: int) -> str:
        if snapshot.lock is not None:
            return "wake already asked (wake lock held)"
        if not self.store.take_wake_lock(WakeLock(requested_at=snapshot.now)):
            return "wake already asked by a concurrent caller"
        self.ecs.set_desired(count)
        self.metrics.put(MetricName.WAKES, 1)
        return f"scale-up: desired {snapshot.service.desired} -> {count}"

    def apply(self, snapshot: Snapshot, decision: Decision) -> list[str]:
        """Apply the actions in the decision's order; return what was done."""
        done: list[str] = []
        for action in decision.actions:
            if action is Action.SCALE_UP:
                count = decision.desired_count or self.policy.wake_count
                if self.policy.scale_to_zero:
                    done.append(self._wake(snapshot, count))
                else:
                    self.ecs.set_desired(count)
                    done.append(f"desired {snapshot.service.desired} -> {count} (min_tasks)")
            elif action is Action.ROUTE_TO_SERVICE:
                created = self.router.route_to_service()
                done.append(WARM_ROUTE_CREATED if created else "warm route already there")
            elif action is Action.ROUTE_TO_WAKER:
                deleted = self.router.route_to_waker()
                done.append("warm route deleted" if deleted else "warm route already gone")
            elif action is Action.SCALE_TO_ZERO:
                self.ecs.set_desired(0)
                # The lock goes last: while it exists, no concurrent request can start a wake that
                # this sleep would then cancel.
                self.store.clear_wake_lock()
                self.metrics.put(MetricName.SLEEPS, 1)
                done.append(f"scale to zero: desired {snapshot.service.desired} -> 0")
        return done

    # --- one step: observe, record, decide, apply, log -------------------------------------------------

    def step(
        self,
        trigger: str,
        *,
        wake_pending: bool = False,
        may_sleep: bool = True,
        max_age: float = 0.0,
        live_targets_only: bool = False,
    ) -> StepResult:
        observed = self.observe(
            wake_pending=wake_pending,
            max_age=max_age,
            may_sleep=may_sleep,
            live_targets_only=live_targets_only,
        )
        snapshot, done = self._record(observed)
        decision = decide(snapshot.observation, self.policy, snapshot.now)
        if decision.wake_failed and snapshot.lock is not None and not snapshot.lock.failure_reported:
            lock = replace(snapshot.lock, failure_reported=True)
            # Every concurrent invocation sees the failure at once: the first write wins, the
            # others' TooManyUpdates is no reason to fail a request.
            if self._write_best_effort(lambda: self.store.update_wake_lock(lock), "wake failure"):
                self.metrics.put(MetricName.WAKE_FAILURES, 1)
                done.append("wake failure reported")
            snapshot = replace(snapshot, stored=replace(snapshot.stored, lock=lock))
        if decision.sleeping and not may_sleep:
            done.append("sleep due; left to the idle alarm and the reconcile")
        else:
            done.extend(self.apply(snapshot, decision))
            current = snapshot.lock
            if (
                Action.ROUTE_TO_WAKER in decision.actions
                and Action.SCALE_TO_ZERO not in decision.actions
                and current is not None
                and current.healthy_at is not None
            ):
                # The warm service lost its last healthy target (a Spot interruption) and ECS starts
                # a replacement: that is a new wake, timed from now, so requests are answered from
                # its estimate instead of holding for a task that was healthy long ago.
                rewake = WakeLock(requested_at=snapshot.now)
                if self._write_best_effort(lambda: self.store.update_wake_lock(rewake), "rewake"):
                    done.append("wake lock restarted: waiting for a replacement task")
        first_healthy = (
            observed.lock is not None
            and observed.lock.healthy_at is None
            and snapshot.lock is not None
            and snapshot.lock.healthy_at is not None
        )
        if first_healthy:
            created = WARM_ROUTE_CREATED in done
            # The invocation that created the warm route records the wake (one per wake: ALB refuses
            # a second rule at the priority); a reconcile repairs a record that was never written.
            if created or (trigger == "reconcile" and observed.observation.routing is Routing.SERVICE):
                done.append(self._record_first_healthy(snapshot, publish=created))
        if trigger == "reconcile":
            done.extend(self._reconcile_front_door(snapshot, decision))
        if self.snapshots is not None:
            if decision.actions == (Action.ROUTE_TO_SERVICE,) and snapshot.observation.healthy > 0:
                # Routed to a healthy target (by this step or a concurrent one): that is the world
                # now, and every page polling this environment may reload at once.
                routed = _after(snapshot.observation, decision)
                self.snapshots.put(replace(snapshot, observation=routed, shared=False))
            elif done:
                # What this step changed is not in the snapshot: the next caller observes afresh.
                self.snapshots.clear()
            elif not observed.shared:
                self.snapshots.put(snapshot)
        # Polls that change nothing are not decisions worth a log line each (hundreds a second).
        if trigger not in ("hold", "status") or decision.actions or done:
            self._log_decision(trigger, snapshot, decision, done)
        return StepResult(snapshot=snapshot, decision=decision, applied=tuple(done))

    def _record_first_healthy(self, snapshot: Snapshot, *, publish: bool) -> str:
        lock = snapshot.lock
        assert lock is not None and lock.healthy_at is not None
        seconds = max(0.0, (lock.healthy_at - lock.requested_at).total_seconds())
        previous = snapshot.stored.last_wake
        recent = (previous.durations() if previous and not lock.adopted else ()) + (seconds,)
        last = LastWake(
            requested_at=lock.requested_at,
            healthy_at=lock.healthy_at,
            seconds=seconds,
            recent_seconds=recent[-RECENT_WAKES:] if not lock.adopted else (),
        )

        def write() -> None:
            self.store.update_wake_lock(lock)
            self.store.put_last_wake(last)

        if not self._write_best_effort(write, "first healthy target"):
            return "first healthy target seen; its record is left to the next reconcile"
        if publish and not lock.adopted:
            self.metrics.put(MetricName.COLD_START_SECONDS, seconds, unit=MetricName.COLD_START_SECONDS.unit)
        return f"first healthy target {seconds:.1f} s after the wake"

    def _write_best_effort(self, write: Callable[[], None], what: str) -> bool:
        """Bookkeeping that must never fail the request being answered: False when not written."""
        try:
            write()
        except (ClientError, BotoCoreError) as exc:
            log.warning("bookkeeping not written", extra={"what": what, "error": str(exc)})
            return False
        return True

    def _reconcile_front_door(self, snapshot: Snapshot, decision: Decision) -> list[str]:
        """The reconcile's repairs beyond the decision: a warm route that exists but drifted (an HTTP
        API warm route missing or re-pointed by hand) is set right again while traffic should go
        to the service; an HTTP API VPC link found INACTIVE is reported (metric and log line)."""
        done: list[str] = []
        leaving = any(a in decision.actions for a in (Action.ROUTE_TO_WAKER, Action.SCALE_TO_ZERO))
        warm = snapshot.observation.routing is Routing.SERVICE and not leaving
        # Idempotent: nothing is changed when the route is as it should be.
        if warm and self.router.route_to_service():
            done.append("warm route repaired (drift)")
        if self.front_door is not None:
            check = self.front_door.check()
            if check.link_inactive:
                self.metrics.put(MetricName.VPC_LINK_INACTIVE, 1)
                log.warning(
                    "vpc link inactive",
                    extra={
                        "app": self.settings.app,
                        "env": self.settings.env,
                        "problems": list(check.problems),
                    },
                )
                done.append("VPC link INACTIVE reported")
        return done

    def _log_decision(self, trigger: str, snapshot: Snapshot, decision: Decision, done: list[str]) -> None:
        observation = snapshot.observation
        fields: dict[str, Any] = {
            "app": self.settings.app,
            "env": self.settings.env,
            "trigger": trigger,
            **decision.to_log_dict(),
            "observed": {
                "desired": observation.desired,
                "running": observation.running,
                "healthy": observation.healthy,
                "routing": observation.routing.value,
                "deployment_in_progress": observation.deployment_in_progress,
                "lease_until": _iso(observation.lease_until),
                "last_activity_at": _iso(observation.last_activity_at),
                "wake_requested_at": _iso(observation.wake_requested_at),
                "warm_since": _iso(observation.warm_since),
            },
            "applied": done,
            "time": _iso(snapshot.now),
        }
        log.info("decision", extra=fields)

    # --- entry points ---------------------------------------------------------------------------------

    def reconcile(self, trigger: str = "reconcile") -> StepResult:
        return self.step(trigger)

    def on_task_stopping(self) -> StepResult:
        """A task of the service is stopping (ECS Task State Change): reconcile at once, counting
        only the targets of tasks still wanted, so the warm route goes when none remains instead of
        forwarding to an empty target group until the next scheduled reconcile."""
        return self.step("task-state", live_targets_only=True)

    def on_alarm(self, detail: dict[str, Any]) -> StepResult | None:
        """The idle alarm changed state. ALARM: try to sleep (the guards decide); other states and
        other alarms: nothing to do beyond what the reconcile does anyway."""
        name = detail.get("alarmName")
        state = (detail.get("state") or {}).get("value")
        if self.settings.idle_alarm_name and name != self.settings.idle_alarm_name:
            log.warning("ignored alarm", extra={"alarm": name})
            return None
        if state != "ALARM":
            return self.step(f"alarm-{str(state).lower()}")
        return self.step("idle-alarm")

    def handle_request(
        self, request: IncomingRequest, *, remaining_seconds: Callable[[], float] | None = None
    ) -> HttpResponse:
        """Answer one request that reached the waker. ``remaining_seconds`` is what is left of the
        invocation (the Lambda context's): a hold ends :data:`HOLD_MARGIN_SECONDS` before it."""
        kind = classify_request(request, self.policy)
        try:
            if kind is RequestKind.STATUS:
                require_method(request, "GET", "HEAD")
                # The waiting page polls this: moving a freshly healthy service to the warm route
                # here makes the wake as fast as the polling, not as slow as the one-minute reconcile.
                # Served from the environment's shared snapshot: hundreds of pages poll at once.
                result = self.step("status", may_sleep=False, max_age=STATUS_SNAPSHOT_SECONDS)
                return json_response(200, self._report(result.snapshot, result.decision).to_json_dict())
            if kind is RequestKind.KEEPALIVE:
                return self._keepalive_request(request)
        except EndpointRefusal as refused:
            return refused.response
        if kind is RequestKind.UNKNOWN_ENDPOINT:
            return not_found(request.path)
        if kind is RequestKind.IGNORED:
            snapshot = self.observe(max_age=REQUEST_SNAPSHOT_SECONDS, may_sleep=False)
            decision = decide(snapshot.observation, self.policy, snapshot.now)
            answer = self._answer(request, kind, snapshot, decision, held=0.0)
            assert answer.response is not None  # an ignored client is never held
            return answer.response
        return self._hold(request, kind, remaining_seconds)

    def _answer(
        self,
        request: IncomingRequest,
        kind: RequestKind,
        snapshot: Snapshot,
        decision: Decision,
        held: float,
        *,
        settled: bool = False,
    ) -> ColdAnswer:
        observation = snapshot.observation
        elapsed = None
        if observation.wake_requested_at is not None:
            elapsed = (snapshot.now - observation.wake_requested_at).total_seconds()
        return answer_while_cold(
            request,
            kind,
            self.policy,
            app_name=self.settings.app,
            state=decision.state,
            ready=is_ready(observation),
            held_seconds=held,
            wake_elapsed_seconds=elapsed,
            wake_failed=decision.wake_failed,
            route_settling_seconds=0.0 if settled else self._route_settling_seconds(snapshot),
        )

    def _route_settling_seconds(self, snapshot: Snapshot) -> float:
        """Seconds the front door may still need to apply the warm route of the current wake."""
        warm_since = snapshot.observation.warm_since
        if warm_since is None or snapshot.observation.routing is not Routing.SERVICE:
            return 0.0
        settle = HTTP_API_ROUTE_SETTLE_SECONDS if self.settings.http_api else ALB_RULE_SETTLE_SECONDS
        return max(0.0, settle - (snapshot.now - warm_since).total_seconds())

    def wake_estimate_seconds(self, stored: StoredState) -> float:
        """How long a wake takes, from the recorded ones: the slowest of the recent wakes (a hold
        that cannot succeed costs an execution for nothing), else the modelled default."""
        durations = stored.last_wake.durations() if stored.last_wake else ()
        return max(durations) if durations else DEFAULT_WAKE_ESTIMATE_SECONDS

    def ready_in_seconds(self, snapshot: Snapshot) -> float:
        """Estimated seconds until a target is healthy (0: it is, or should be by now)."""
        if snapshot.observation.healthy > 0:
            return 0.0
        requested = snapshot.observation.wake_requested_at
        elapsed = (snapshot.now - requested).total_seconds() if requested else 0.0
        return max(0.0, self.wake_estimate_seconds(snapshot.stored) - elapsed)

    def _hold_left(self, held: float, remaining_seconds: Callable[[], float] | None) -> float:
        """Seconds this request may still be held: the policy's bound, and the invocation's end."""
        left = self.policy.hold_seconds - held
        if remaining_seconds is not None:
            left = min(left, remaining_seconds() - HOLD_MARGIN_SECONDS)
        return left

    def _hold(
        self, request: IncomingRequest, kind: RequestKind, remaining_seconds: Callable[[], float] | None
    ) -> HttpResponse:
        """Wake (once, whatever the concurrency), then answer. An API call is held only when the
        estimate says a target will be healthy within the hold (polling with backoff from the shared
        snapshot); otherwise it gets 503 with the estimate as Retry-After at once."""
        result = self.step("request", wake_pending=True, max_age=REQUEST_SNAPSHOT_SECONDS)
        held = 0.0
        delay = AWS_HOLD_POLL_SECONDS
        counted = False
        while True:
            snapshot = result.snapshot
            # What the step applied (a scale-up, the warm route) is the world now.
            view = replace(snapshot, observation=_after(snapshot.observation, result.decision))
            settling = self._route_settling_seconds(view) if held > 0 else 0.0
            if settling > 0:
                # Held until healthy and the warm route is new: what is left of the hold goes to
                # letting the route apply, then the 307 (the client was promised an answer, not a
                # Retry-After; a 307 that still comes back is the rare, short loop that remains).
                pause = max(0.0, min(settling, self._hold_left(held, remaining_seconds)))
                self._sleep(pause)
                held += pause
            answer = self._answer(request, kind, view, result.decision, held=0.0, settled=settling > 0)
            if not answer.hold:
                assert answer.response is not None
                return answer.response
            left = self._hold_left(held, remaining_seconds)
            ready_in = self.ready_in_seconds(view)
            if ready_in > left or left <= 0:
                return self._not_ready(result.decision, ready_in, held)
            if not counted:
                self.metrics.put(MetricName.HELD_REQUESTS, 1)
                counted = True
            # Poll at the backed-off pace, or later when the estimate says it is early.
            wait = min(left, max(delay, ready_in / 2))
            self._sleep(wait)
            held += wait
            delay = min(delay * HOLD_POLL_BACKOFF, HOLD_POLL_MAX_SECONDS)
            result = self.step("hold", wake_pending=True, max_age=wait)

    def _not_ready(self, decision: Decision, ready_in: float, held: float) -> HttpResponse:
        """503 with Retry-After: the estimated seconds until ready, or the policy's retry delay when
        the estimate is already due (the wake is slower than the recent ones)."""
        retry = (
            math.ceil(ready_in) + RETRY_SLACK_SECONDS if ready_in >= 1 else self.policy.retry_after_seconds
        )
        if held > 0:
            message = f"The service is starting; it was not ready within {held:.0f} s. Retry shortly."
        else:
            message = f"The service is starting; it should be ready in about {retry} s."
        # The wake this request asked for is under way: say so, not the state observed before it.
        state = State.WAKING if Action.SCALE_UP in decision.actions else decision.state
        return unavailable(state, retry, message)

    def _keepalive_request(self, request: IncomingRequest) -> HttpResponse:
        minutes = keepalive_minutes(request, self.policy, self._keepalive_token)
        until, result = self.keepalive(minutes)
        return json_response(
            202,
            {
                "lease_until": _iso(until),
                "minutes": minutes,
                "state": result.decision.state.value,
                "actions": [a.value for a in result.decision.actions],
            },
        )

    def _keepalive_token(self) -> str | None:
        try:
            return self.secret.token()
        except Exception as exc:  # any failure to read the secret: refuse, never wake
            log.error("keep-alive secret unreadable", extra={"error": str(exc)})
            raise EndpointRefusal(
                json_response(503, {"error": "unavailable", "message": "keep-alive token cannot be checked"})
            ) from None

    def keepalive(self, minutes: int) -> tuple[datetime, StepResult]:
        """Extend the lease by ``minutes`` (already bounded) and wake if needed."""
        now = self.clock()
        current = self.store.read().lease_until
        until = extend_lease(current, minutes, now)
        if until != current:
            self.store.put_lease(until)
        return until, self.step("keepalive", wake_pending=True)

    def wake(self) -> StepResult:
        return self.step("wake", wake_pending=True)

    def sleep_now(self, force: bool = False) -> StepResult:
        """An explicit sleep (the CLI): see :func:`warmkeeper.core.decide_sleep`."""
        snapshot, done = self._record(self.observe())
        decision = decide_sleep(snapshot.observation, self.policy, snapshot.now, force=force)
        if force and decision.sleeping and lease_active(snapshot.observation, snapshot.now):
            self.store.clear_lease()
            done.append("lease ended (forced sleep)")
        done.extend(self.apply(snapshot, decision))
        self._log_decision("sleep-forced" if force else "sleep", snapshot, decision, done)
        return StepResult(snapshot=snapshot, decision=decision, applied=tuple(done))

    def status(self, *, with_tasks: bool = True, url: str | None = None) -> StatusReport:
        """Observe and decide without applying anything (the CLI's read-only view)."""
        snapshot = self.observe()
        decision = decide(snapshot.observation, self.policy, snapshot.now)
        return self._report(snapshot, decision, with_tasks=with_tasks, url=url)

    def _report(
        self, snapshot: Snapshot, decision: Decision, *, with_tasks: bool = False, url: str | None = None
    ) -> StatusReport:
        last = snapshot.stored.last_wake
        lock = snapshot.lock
        if lock is not None and not lock.adopted and (last is None or last.requested_at != lock.requested_at):
            # The current wake (its record may not be written yet, or was lost).
            seconds = (lock.healthy_at - lock.requested_at).total_seconds() if lock.healthy_at else None
            last = LastWake(requested_at=lock.requested_at, healthy_at=lock.healthy_at, seconds=seconds)
        tasks = self.ecs.tasks(snapshot.health.healthy_ips) if with_tasks else []
        problems: list[str] = []
        if self._stale(snapshot):
            problems.append("stale wake lock (no task wanted): the next reconcile removes it")
        check = self.front_door.check() if self.front_door is not None and with_tasks else FrontDoorCheck()
        problems.extend(check.problems)
        return status_report(
            app=self.settings.app,
            env=self.settings.env,
            observation=snapshot.observation,
            decision=decision,
            policy=self.policy,
            now=snapshot.now,
            tasks=tasks,
            last_wake_at=last.requested_at if last else None,
            last_wake_seconds=last.seconds if last else None,
            url=url,
            problems=problems,
            front_door=dict(check.details),
            ready_in_seconds=self.ready_in_seconds(snapshot),
        )


def build_engine(settings: Settings, clients: AwsClients, **engine_options: Any) -> Warmkeeper:
    """Wire the adapters around the clients: the Lambda and the CLI build the engine this one way
    (the Lambda passes ``snapshots=shared_snapshots(settings)``)."""
    router: RoutingPort
    front_door: FrontDoorPort | None = None
    api: tuple[str, str] | None = None
    if settings.http_api:
        assert settings.api_id and settings.api_stage  # Settings checks them for this front door
        http_api = HttpApiRouting(
            clients.apigatewayv2,
            clients.servicediscovery,
            api_id=settings.api_id,
            service_integration_id=settings.service_integration_id or "",
            warm_route_keys=settings.warm_route_keys,
            vpc_link_id=settings.vpc_link_id or "",
            cloud_map_namespace=settings.cloud_map_namespace or "",
            cloud_map_service_name=settings.cloud_map_service_name or "",
        )
        router = front_door = http_api
        api = (settings.api_id, settings.api_stage)
    else:
        assert settings.listener_arn and settings.service_target_group_arn
        router = LoadBalancerRouting(
            clients.elbv2,
            settings.listener_arn,
            settings.service_target_group_arn,
            settings.warm_rule_priority,
        )
    return Warmkeeper(
        settings,
        ecs=EcsService(clients.ecs, settings.cluster, settings.service),
        router=router,
        front_door=front_door,
        store=StateStore(clients.ssm, settings.parameter_prefix),
        metrics=Metrics(
            clients.cloudwatch,
            settings.metrics_namespace,
            settings.app,
            settings.env,
            settings.load_balancer_dimension,
            settings.target_group_dimension,
            api=api,
            clock=engine_options.get("clock", utc_now),
        ),
        secret=KeepaliveSecret(clients.secretsmanager, settings.keepalive_secret_arn),
        **engine_options,
    )


def _after(observation: Observation, decision: Decision) -> Observation:
    """The observation once the decision's actions are applied."""
    result = observation
    for action in decision.actions:
        if action is Action.ROUTE_TO_SERVICE:
            result = replace(result, routing=Routing.SERVICE)
        elif action is Action.ROUTE_TO_WAKER:
            result = replace(result, routing=Routing.WAKER)
        elif action in (Action.SCALE_UP, Action.SCALE_TO_ZERO) and decision.desired_count is not None:
            result = replace(result, desired=decision.desired_count)
    return result


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
