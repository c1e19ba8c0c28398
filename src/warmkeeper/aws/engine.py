"""The engine: observe AWS, ask :func:`warmkeeper.core.decide`, apply the actions, record, log.

The plans it shares with the local twin live in :mod:`warmkeeper.core.hold` (a cold request's wake,
hold and answer; the application of a decision's actions): this module implements their ports on
AWS. The environment's shared observation is :mod:`warmkeeper.aws.snapshots`.

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

import time
import urllib.error
import urllib.request
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
from warmkeeper.aws.clients import CallDeadline, CallDeadlineError
from warmkeeper.aws.http_api_routing import (
    LINK_PROBE_PATH,
    CloudMapReadiness,
    FrontDoorCheck,
    HttpApiRouting,
    VpcLinkUnavailableError,
    WarmRoutesIncompleteError,
)
from warmkeeper.aws.internal_services import InternalWaker, ServiceStep, build_internal_waker
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.logs import log
from warmkeeper.aws.metrics import MetricName
from warmkeeper.aws.ports import (
    FrontDoorPort,
    MetricsPort,
    ReadinessPort,
    RoutingPort,
    SecretPort,
    ServicePort,
    StatePort,
)
from warmkeeper.aws.snapshots import (
    REQUEST_SNAPSHOT_SECONDS,
    STATUS_SETTLED_SNAPSHOT_SECONDS,
    STATUS_SNAPSHOT_SECONDS,
    Snapshot,
    SnapshotCache,
)
from warmkeeper.aws_limits import HTTP_API_INTEGRATION_TIMEOUT_SECONDS
from warmkeeper.core import (
    Action,
    Decision,
    EndpointRefusal,
    HttpResponse,
    IncomingRequest,
    Observation,
    RequestKind,
    Routing,
    StatusReport,
    classify_request,
    decide,
    decide_sleep,
    extend_lease,
    json_response,
    keepalive_minutes,
    lease_active,
    not_found,
    require_method,
    status_report,
)
from warmkeeper.core.activity import IDLE_HEADER, ActivityReport, answer_activity, latest
from warmkeeper.core.activity import describe as describe_activity
from warmkeeper.core.front_doors import RouteSwitch, front_door
from warmkeeper.core.hold import (
    RECENT_WAKES,
    ColdView,
    answer_cold_request,
    apply_decision,
    cold_view,
    ready_in_seconds,
    wake_estimate_seconds,
)
from warmkeeper.core.internal_wake import WAKE_SECRET_HEADER

if TYPE_CHECKING:
    from warmkeeper.aws.clients import AwsClients

# A wake lock with no task wanted is an interrupted wake (or sleep) once it is this old: long
# enough that a wake in flight (lock taken, UpdateService not yet answered) is never mistaken for it.
STALE_LOCK_SECONDS = 60.0

WARM_ROUTE_CREATED = "warm route created"

# After the first healthy target is recorded, requests and polls trust the record this long.
JUST_WARM_SECONDS = 30.0
# The readiness estimate when no wake was ever recorded: inside the 25-65 s Fargate cold start
# modelled in docs/technical/ecs-scale-to-zero.md (a model, not a measurement), towards its slow end so
# that a first wake rather answers at once than holds in vain.
DEFAULT_WAKE_ESTIMATE_SECONDS = 60.0
# Behind Cloud Map, how often one execution environment asks ECS whether a task's container is
# healthy (DescribeTasks) while an address is not known ready: half the container health check's
# shortest interval. A check that retries within its run turns healthy when the app first answers,
# not on the interval's grid, and a herd's environments all start asking when the first half of the
# wake ends, in phase: at 5 s the waker learned of a healthy task up to 5 s late (simulated herd,
# seed 9: healthy at 35.2 s, asked at 34 s and 40 s). The cost: one more DescribeTasks per
# environment every 5 s during a wake's second half (ECS's cluster reads: 20/s, burst 50).
READINESS_POLL_SECONDS = 2.5
# A registration of the waker's own Cloud Map instance is asked again after this long if it has not
# shown up (RegisterInstance is asynchronous).
REGISTER_RETRY_SECONDS = 10.0
# How long a reconcile waits for its own new registration to be discoverable before it removes the
# instance of a task that is going (so that API Gateway's discovery never finds neither).
REGISTRATION_WAIT_SECONDS = 8.0
# The AWS calls of a request's answer end this long before the front door's (or the invocation's)
# end: the answer's way back through the front door.
ANSWER_MARGIN_SECONDS = 2.0
# The HTTP API's VPC link found not AVAILABLE (INACTIVE after 60 days without traffic, then PENDING
# for "a few minutes" while API Gateway reprovisions it): the warm routes are held back, requests are
# told why, and one execution environment looks again only after LINK_RECHECK_SECONDS.
LINK_HELD_BACK = "warm routes held back: VPC link not available"
LINK_RECHECK_SECONDS = 20.0
# At the waking moment every execution environment that finds the task ready tries the warm routes:
# API Gateway's control plane throttles them (a few calls a second per account). The route calls get
# this much retrying; throttled past it, that environment leaves the creation to another (or to its
# own next request or reconcile after ROUTE_BACKOFF_SECONDS) instead of holding the invocation on
# botocore's backoff (each held invocation is concurrency the herd needs) or answering the catch-all.
ROUTE_ATTEMPT_SECONDS = 3.0
ROUTE_BACKOFF_SECONDS = 5.0
ROUTE_THROTTLED = "warm routes throttled: left to another invocation"
LINK_RETRY_SECONDS = 60.0
LINK_NOTE = (
    "The service is up, but AWS is re-creating the network link to it (unused for 60 days, it was "
    "switched off); this takes a few minutes."
)
LINK_PROBE_TIMEOUT_SECONDS = 3.0


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
        readiness: ReadinessPort | None = None,
        deadline: CallDeadline | None = None,
        link_probe: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
        snapshots: SnapshotCache | None = None,
        internal: InternalWaker | None = None,
        wake_secret: SecretPort | None = None,
    ) -> None:
        self.settings = settings
        # What the app's tasks send with a beacon report (None: the environment has no wake secret).
        self.wake_secret = wake_secret
        # The app's internal services (each sleeps on its own; None: the app has none).
        self.internal = internal
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
        # Behind Cloud Map: readiness by the container's health, and the waker's own registrations.
        self.readiness = readiness
        # The clients' deadline: set while a request is answered, so that botocore's retries never
        # carry it past the front door's timeout.
        self.deadline = deadline
        # A request through the VPC link (the probe route), which makes API Gateway reprovision it.
        self.link_probe = link_probe
        self._link_down_until: datetime | None = None
        self._route_backoff_until: datetime | None = None
        self._ready_ips: frozenset[str] = frozenset()  # addresses ECS found healthy (this environment)
        self._asked_ecs_at: datetime | None = None
        self._registered_at: dict[str, datetime] = {}

    # --- readiness behind Cloud Map ---------------------------------------------------------------------

    def _target_health(self, now: datetime, *, fresh: bool = False) -> tuple[TargetHealth, int]:
        """Healthy targets, and (behind Cloud Map) how many ready tasks are still being registered.

        A load balancer checks its targets itself: its target health is the answer. Behind Cloud
        Map a task counts once ECS finds its container healthy *and* Cloud Map shows an instance of
        it healthy: never on Cloud Map's word alone (a task may start HEALTHY there before it
        listens), and not 30 s late either (the waker registers its own instance of a ready task,
        see :class:`~warmkeeper.aws.http_api_routing.CloudMapReadiness`). ECS is asked at most every
        :data:`READINESS_POLL_SECONDS` per environment, at once with ``fresh``."""
        readiness = self.readiness
        if readiness is None:
            return self.router.target_health(), 0
        instances = readiness.instances()
        registered = frozenset(i.ip for i in instances)
        known = self._ready_ips & registered
        # ``fresh`` (a task stopping, the reconcile) asks even when every address is known: a task
        # ECS no longer runs may still be known through the waker's own instance of it.
        if fresh or (registered - known and self._may_ask_ecs(now)):
            self._asked_ecs_at = now
            task_ids = sorted({i.instance_id for i in instances if not i.own})
            known = readiness.container_healthy(task_ids)
        self._ready_ips = known
        shown = frozenset(i.ip for i in instances if i.healthy) & known
        pending = 0
        for ip in sorted(known - shown):
            ecs_instance = next((i for i in instances if i.ip == ip and not i.own), None)
            if ecs_instance is None or any(i.own and i.ip == ip for i in instances):
                pending += 1  # registered, not shown yet
                continue
            last = self._registered_at.get(ip)
            if last is None or (now - last).total_seconds() >= REGISTER_RETRY_SECONDS:
                self._registered_at[ip] = now
                readiness.register(ecs_instance.instance_id, ip, ecs_instance.port)
            pending += 1
        return TargetHealth(healthy=len(shown), healthy_ips=shown), pending

    def _may_ask_ecs(self, now: datetime) -> bool:
        last = self._asked_ecs_at
        return last is None or not 0.0 <= (now - last).total_seconds() < READINESS_POLL_SECONDS

    def _await_registration(self, health: TargetHealth) -> TargetHealth:
        """A full observation (the reconcile, a keep-warm lease, the CLI) that just registered a
        ready task: wait the moments the registration takes (it is asynchronous), so the warm route
        follows in this invocation rather than a minute later, at the next reconcile."""
        waited = 0.0
        while waited < REGISTRATION_WAIT_SECONDS:
            self._sleep(1.0)
            waited += 1.0
            health, pending = self._target_health(self.clock())
            if health.healthy or not pending:
                break
        return health

    def _tidy_registrations(self, snapshot: Snapshot) -> list[str]:
        """Remove the waker's own instances of tasks no longer ready: once the ready tasks' own
        instances are discoverable (waited for briefly), or at once when no task is ready."""
        readiness = self.readiness
        if readiness is None:
            return []
        keep = self._ready_ips
        waited = 0.0
        while keep:
            shown = {i.ip for i in readiness.instances() if i.healthy}
            if keep <= shown or waited >= REGISTRATION_WAIT_SECONDS:
                break
            self._sleep(1.0)
            waited += 1.0
        stale = readiness.deregister_own(keep)
        return [f"{stale} Cloud Map instance(s) of the waker removed (task gone)"] if stale else []

    # --- observe ------------------------------------------------------------------------------------

    def observe(
        self,
        *,
        wake_pending: bool = False,
        max_age: float = 0.0,
        may_sleep: bool = True,
        live_targets_only: bool = False,
        settled_max_age: float = 0.0,
    ) -> Snapshot:
        """Observe AWS; with ``max_age`` > 0, the environment's shared snapshot when it is recent
        enough, and only what a wake in flight needs (below) when it is not."""
        now = self.clock()
        # Without a shared cache (the CLI, tests), every call observes everything afresh.
        if self.snapshots is None:
            max_age = 0.0
        if max_age > 0 and self.snapshots is not None:
            cached = self.snapshots.get(now, max_age)
            if cached is None and settled_max_age > max_age:
                # Nothing in motion in the last snapshot: an older one answers as well.
                older = self.snapshots.get(now, settled_max_age)
                if older is not None and self._settled(older, now):
                    cached = older
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
            # A task still being registered does not count yet: the warm route must not open before
            # API Gateway can discover it (it would keep an empty answer for its cache time).
            health, _ = self._target_health(now)
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
        health, pending = self._target_health(now, fresh=live_targets_only or max_age <= 0)
        if pending and not health.healthy and max_age <= 0:
            health = self._await_registration(health)
            now = self.clock()  # what is decided from here (the warm route's moment) is now
        if live_targets_only and health.healthy:
            # A task told to stop (a Spot interruption) stays healthy in the target group until it
            # is deregistered: only targets of tasks ECS still wants running count.
            live = sum(1 for task in self.ecs.tasks(health.healthy_ips) if task.health == "healthy")
            health = replace(health, healthy=min(health.healthy, live))
        routing = self.router.routing()
        if pending and routing is Routing.SERVICE:
            # Warm, and a ready task's registration is on its way (a rolling deploy: the old task's
            # instance is gone): keep the warm routes; the instance shows within seconds.
            health = replace(health, healthy=health.healthy + pending)
        last_activity = None
        # RequestCount only matters to the sleep guards: skip the read when nothing can sleep.
        if service.desired > 0 and not wake_pending and may_sleep and self.policy.scale_to_zero:
            last_activity = self._last_activity(now, stored.activity)
        return self._snapshot(now, service, health, routing, stored, last_activity, wake_pending)

    def _last_activity(self, now: datetime, report: ActivityReport | None) -> datetime | None:
        """The last request the sleep guards count from. With fresh beacon reports, the tasks' own
        word, and the metric's busy minutes without the visibility margin (the reports cover the
        minutes not yet published); without, the metric and its margin (see core/activity.py)."""
        if report is None or not report.fresh(now):
            return self.metrics.last_activity(now, self.policy.idle_minutes)
        seen = self.metrics.last_activity(now, self.policy.idle_minutes, margin_seconds=0.0)
        return latest(report.last_request_at, seen)

    def activity_report(self, request: IncomingRequest) -> HttpResponse:
        """A beacon report from one of the app's tasks (``POST /_warmkeeper/activity`` on the function
        URL): checked against the wake secret, then merged into the stored activity."""
        if self.wake_secret is None:
            return json_response(
                404, {"error": "not_found", "message": "this environment takes no beacon reports"}
            )
        try:
            expected = self.wake_secret.token()
        except Exception as exc:  # the secret cannot be read: refuse, the beacon reports again soon
            log.error("wake secret unreadable", extra={"error": str(exc)})
            return json_response(
                503, {"error": "unavailable", "message": "the wake secret cannot be checked"}
            )

        def record(report: ActivityReport) -> None:
            stored = self.store.record_activity(report)
            log.info(
                "activity reported",
                extra={
                    "last_request_at": _iso(stored.last_request_at),
                    "reported_at": _iso(stored.reported_at),
                },
            )

        answer = answer_activity(
            method=request.method,
            given_secret=request.header(WAKE_SECRET_HEADER),
            secret=expected,
            idle_header=request.header(IDLE_HEADER),
            now=self.clock(),
            record=record,
        )
        if answer.status != 204:
            log.warning("activity report refused", extra={"status": answer.status, "answer": answer.body})
        return answer

    def _settled(self, snapshot: Snapshot, now: datetime) -> bool:
        """Nothing in motion: asleep with no wake asked, or warm on a healthy target past the first
        moments of a wake, no deployment rolling (what a status poll shows changes slowly then)."""
        observation = snapshot.observation
        lock = snapshot.lock
        if observation.deployment_in_progress:
            return False
        if lock is None:
            return observation.desired == 0 and observation.routing is Routing.WAKER
        return (
            lock.healthy_at is not None
            and not self._just_warm(lock, now)
            and observation.healthy > 0
            and observation.routing is Routing.SERVICE
        )

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
        lock = WakeLock(requested_at=snapshot.now)
        if not self.store.take_wake_lock(lock):
            return "wake already asked by a concurrent caller"
        self.ecs.set_desired(count)
        self.metrics.put(MetricName.WAKES, 1)
        done = f"scale-up: desired {snapshot.service.desired} -> {count}"
        if self.internal is not None and self.settings.wake_with:
            # The services woken with the app (wake_with), each under its own lock.
            woken = self.internal.wake_companions(self.settings.wake_with, "wake-with app")
            done += "".join(f"; {line}" for line in woken)
        if self.front_door is not None and self.link_probe is not None:
            # The one caller that woke the service looks at the front door's link once: a link
            # switched off after 60 idle days is reprovisioned while the task starts, not after.
            try:
                if not self.front_door.link_available():
                    self._link_unavailable(snapshot.now, VpcLinkUnavailableError("not AVAILABLE", None))
                    delayed = replace(lock, link_delayed=True)
                    self._write_best_effort(lambda: self.store.update_wake_lock(delayed), "link delayed")
                    done += "; VPC link not available: its reprovisioning started"
            except (ClientError, BotoCoreError) as exc:
                log.warning("vpc link not checked", extra={"error": str(exc)})
        return done

    def apply(self, snapshot: Snapshot, decision: Decision) -> list[str]:
        """Apply the actions in the decision's order; return what was done."""
        return apply_decision(decision, _EngineActuators(self, snapshot))

    # --- one step: observe, record, decide, apply, log -------------------------------------------------

    def step(
        self,
        trigger: str,
        *,
        wake_pending: bool = False,
        may_sleep: bool = True,
        max_age: float = 0.0,
        live_targets_only: bool = False,
        settled_max_age: float = 0.0,
    ) -> StepResult:
        observed = self.observe(
            wake_pending=wake_pending,
            max_age=max_age,
            may_sleep=may_sleep,
            live_targets_only=live_targets_only,
            settled_max_age=settled_max_age,
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
            if created:
                snapshot = self._settling_from_now(snapshot)
            # The invocation that created the warm route records the wake (one per wake: ALB refuses
            # a second rule at the priority); a reconcile repairs a record that was never written.
            if created or (trigger == "reconcile" and observed.observation.routing is Routing.SERVICE):
                done.append(self._record_first_healthy(snapshot, publish=created))
        if trigger == "reconcile":
            done.extend(self._reconcile_front_door(snapshot, decision))
        if trigger in ("reconcile", "task-state") and Action.SCALE_TO_ZERO not in decision.actions:
            done.extend(self._write_tidy(snapshot))
        held_back = any(line.startswith(LINK_HELD_BACK) for line in done)
        if self.snapshots is not None:
            if (
                decision.actions == (Action.ROUTE_TO_SERVICE,)
                and snapshot.observation.healthy > 0
                and not held_back
            ):
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

    def _settling_from_now(self, snapshot: Snapshot) -> Snapshot:
        """The warm routes were just created: the front door's settle time (what other invocations
        wait before sending a client back) runs from the last route change, not from the look that
        decided it (each route is its own call; a reconcile may have waited for a registration)."""
        lock = snapshot.lock
        assert lock is not None and lock.healthy_at is not None
        lock = replace(lock, healthy_at=max(lock.healthy_at, self.clock()))
        observation = replace(snapshot.observation, warm_since=lock.healthy_at)
        return replace(snapshot, stored=replace(snapshot.stored, lock=lock), observation=observation)

    def _record_first_healthy(self, snapshot: Snapshot, *, publish: bool) -> str:
        lock = snapshot.lock
        assert lock is not None and lock.healthy_at is not None
        seconds = max(0.0, (lock.healthy_at - lock.requested_at).total_seconds())
        previous = snapshot.stored.last_wake
        earlier = previous.durations() if previous and not lock.adopted else ()
        # A wake that waited for the front door's link to be re-created is no estimate of the next:
        # the earlier ones stand, else the default (an empty list would fall back on this wake).
        recent = (earlier or (DEFAULT_WAKE_ESTIMATE_SECONDS,)) if lock.link_delayed else (*earlier, seconds)
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

    def _link_unavailable(self, now: datetime, error: VpcLinkUnavailableError) -> str:
        """The warm routes wait for the VPC link; a request through it starts its reprovisioning."""
        self._link_down_until = now + timedelta(seconds=LINK_RECHECK_SECONDS)
        if self.link_probe is not None:
            try:
                self.link_probe()
            except Exception as exc:  # the probe's answer does not matter, its passage does
                log.warning("vpc link probe failed", extra={"error": str(exc)})
        log.warning(
            "vpc link unavailable",
            extra={"app": self.settings.app, "env": self.settings.env, "state": error.state},
        )
        return f"{LINK_HELD_BACK} ({error.state})"

    def _write_tidy(self, snapshot: Snapshot) -> list[str]:
        try:
            return self._tidy_registrations(snapshot)
        except (ClientError, BotoCoreError) as exc:
            log.warning("bookkeeping not written", extra={"what": "cloud map instances", "error": str(exc)})
            return []

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
        result = self.step(trigger)
        if self.internal is not None:
            # Each internal service's own decision, after the app's (which never waits for them).
            self.internal.reconcile()
        return result

    def on_task_stopping(self) -> StepResult:
        """A task of the service is stopping (ECS Task State Change): reconcile at once, counting
        only the targets of tasks still wanted, so the warm route goes when none remains instead of
        forwarding to an empty target group until the next scheduled reconcile."""
        return self.step("task-state", live_targets_only=True)

    def on_alarm(self, detail: dict[str, Any]) -> StepResult | ServiceStep | None:
        """The idle alarm changed state. ALARM: try to sleep (the guards decide); other states and
        other alarms: nothing to do beyond what the reconcile does anyway. An internal service's idle
        alarm concerns that service alone."""
        name = detail.get("alarmName")
        state = (detail.get("state") or {}).get("value")
        keeper = self.internal.by_alarm(name) if self.internal is not None else None
        if keeper is not None:
            return keeper.on_alarm(state)
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
        invocation (the Lambda context's): a hold ends
        :data:`~warmkeeper.core.hold.HOLD_MARGIN_SECONDS` before it."""
        kind = classify_request(request, self.policy)
        try:
            if kind is RequestKind.STATUS:
                require_method(request, "GET", "HEAD")
                # The waiting page polls this: moving a freshly healthy service to the warm route
                # here makes the wake as fast as the polling, not as slow as the one-minute reconcile.
                # Served from the environment's shared snapshot: hundreds of pages poll at once.
                result = self.step(
                    "status",
                    may_sleep=False,
                    max_age=STATUS_SNAPSHOT_SECONDS,
                    settled_max_age=STATUS_SETTLED_SNAPSHOT_SECONDS,
                )
                return json_response(200, self._report(result.snapshot, result.decision).to_json_dict())
            if kind is RequestKind.KEEPALIVE:
                return self._keepalive_request(request)
        except EndpointRefusal as refused:
            return refused.response
        if kind is RequestKind.UNKNOWN_ENDPOINT:
            return not_found(request.path)
        # The twin's waker answers through the same plan: see core/hold.py.
        hold = _RequestHold(self, remaining_seconds, self._door_timeout())
        try:
            return answer_cold_request(
                request, kind, self.policy, app_name=self.settings.title or self.settings.app, port=hold
            )
        finally:
            if self.deadline is not None:
                self.deadline.set(None)

    def internal_wake(self, request: IncomingRequest) -> HttpResponse:
        """A call from the app's tasks to an internal service that had no address (the function URL)."""
        if self.internal is None:
            return json_response(404, {"error": "not_found", "message": "this app has no internal services"})
        return self.internal.answer(request)

    def _door_timeout(self) -> float | None:
        """How long the front door waits for the waker's answer (None: as long as the invocation)."""
        if front_door(self.settings.front_door).route_switch is RouteSwitch.API_ROUTES:
            return float(HTTP_API_INTEGRATION_TIMEOUT_SECONDS)
        return None

    def cold_view(self, snapshot: Snapshot, decision: Decision) -> ColdView:
        """What a request sees in this snapshot and decision (see :func:`warmkeeper.core.hold.cold_view`):
        the wake estimate from the recorded wakes, the front door's route settling time."""
        return cold_view(
            snapshot.observation,
            decision,
            snapshot.now,
            estimate_seconds=self.wake_estimate_seconds(snapshot.stored),
            route_settle_seconds=front_door(self.settings.front_door).route_settle_seconds,
        )

    def wake_estimate_seconds(self, stored: StoredState) -> float:
        """How long a wake takes, from the recorded ones (else the modelled default)."""
        durations = stored.last_wake.durations() if stored.last_wake else ()
        return wake_estimate_seconds(durations, DEFAULT_WAKE_ESTIMATE_SECONDS)

    def ready_in_seconds(self, snapshot: Snapshot) -> float:
        """Estimated seconds until a target is healthy (0: it is, or should be by now)."""
        requested = snapshot.observation.wake_requested_at
        return ready_in_seconds(
            healthy=snapshot.observation.healthy > 0,
            wake_elapsed_seconds=(snapshot.now - requested).total_seconds() if requested else None,
            estimate_seconds=self.wake_estimate_seconds(snapshot.stored),
        )

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
        report = self._report(snapshot, decision, with_tasks=with_tasks, url=url)
        if self.internal is None:
            return report
        return replace(report, services=self.internal.summaries())

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
            activity_beacon=self._beacon_status(snapshot),
        )

    def _beacon_status(self, snapshot: Snapshot) -> str | None:
        """What the sleep is counted from, while a scale-to-zero service that takes reports is awake."""
        awake = snapshot.observation.desired > 0
        if self.wake_secret is None or not self.policy.scale_to_zero or not awake:
            return None
        return describe_activity(snapshot.stored.activity, snapshot.now)


def build_engine(settings: Settings, clients: AwsClients, **engine_options: Any) -> Warmkeeper:
    """Wire the adapters around the clients: the Lambda and the CLI build the engine this one way
    (the Lambda passes ``snapshots=shared_snapshots(settings)``)."""
    switch = front_door(settings.front_door).route_switch
    # One reader of the wake secret for the beacon reports and the internal wakes (one cache).
    clock = engine_options.get("clock", utc_now)
    wake_secret = (
        KeepaliveSecret(clients.secretsmanager, settings.wake_secret_arn, clock=clock)
        if settings.wake_secret_arn
        else None
    )
    router, door, api = _ROUTERS[switch](settings, clients, engine_options.get("sleep", time.sleep))
    if switch is RouteSwitch.API_ROUTES and "link_probe" not in engine_options:
        engine_options = {**engine_options, "link_probe": _https_probe(settings, clients)}
    return Warmkeeper(
        settings,
        ecs=EcsService(clients.ecs, settings.cluster, settings.service),
        router=router,
        front_door=door,
        readiness=_readiness(settings, clients),
        deadline=clients.deadline,
        store=StateStore(clients.ssm, settings.parameter_prefix),
        metrics=Metrics(
            clients.cloudwatch,
            settings.metrics_namespace,
            settings.app,
            settings.env,
            settings.load_balancer_dimension,
            settings.target_group_dimension,
            api=api,
            clock=clock,
            custom_metrics=settings.custom_metrics,
        ),
        secret=KeepaliveSecret(clients.secretsmanager, settings.keepalive_secret_arn),
        internal=build_internal_waker(settings, clients, clock, wake_secret),
        wake_secret=wake_secret,
        **engine_options,
    )


# What build_engine wires for each way of switching routes: the router, the front door to check
# (None: nothing beyond the router) and the API dimensions of the request metric.
_Router = tuple[RoutingPort, FrontDoorPort | None, tuple[str, str] | None]


def _listener_rule_router(settings: Settings, clients: AwsClients, _: Callable[[float], None]) -> _Router:
    assert settings.listener_arn and settings.service_target_group_arn
    router = LoadBalancerRouting(
        clients.elbv2,
        settings.listener_arn,
        settings.service_target_group_arn,
        settings.warm_rule_priority,
    )
    return router, None, None


def _api_routes_router(settings: Settings, clients: AwsClients, pause: Callable[[float], None]) -> _Router:
    assert settings.api_id and settings.api_stage  # Settings checks them for this front door
    http_api = HttpApiRouting(
        clients.apigatewayv2,
        clients.servicediscovery,
        api_id=settings.api_id,
        service_integration_id=settings.service_integration_id or "",
        warm_route_keys=settings.warm_route_keys,
        vpc_link_id=settings.vpc_link_id or "",
        cloud_map_namespace=settings.cloud_map_namespace or "",
        # What API Gateway discovers: the waker's front service when the stack has one.
        cloud_map_service_name=settings.cloud_map_front_service_name or settings.cloud_map_service_name or "",
        pause=pause,
    )
    return http_api, http_api, (settings.api_id, settings.api_stage)


def _https_probe(settings: Settings, clients: AwsClients) -> Callable[[], None]:
    """A GET of the probe route through the API's own URL (its answer does not matter)."""
    url = f"https://{settings.api_id}.execute-api.{clients.region}.amazonaws.com{LINK_PROBE_PATH}"

    def probe() -> None:
        request = urllib.request.Request(url, headers={"user-agent": "warmkeeper-vpc-link-probe"})
        try:
            with urllib.request.urlopen(request, timeout=LINK_PROBE_TIMEOUT_SECONDS):  # noqa: S310
                pass
        except urllib.error.HTTPError:
            pass  # API Gateway's 503 while the link is down: the request went through it

    return probe


def _readiness(settings: Settings, clients: AwsClients) -> ReadinessPort | None:
    """Behind Cloud Map (the stack passes its service id): readiness by the container's health."""
    if front_door(settings.front_door).route_switch is not RouteSwitch.API_ROUTES:
        return None
    if not settings.cloud_map_service_id:
        return None
    return CloudMapReadiness(
        clients.servicediscovery,
        clients.ecs,
        cluster=settings.cluster,
        cloud_map_service_id=settings.cloud_map_service_id,
        cloud_map_namespace=settings.cloud_map_namespace or "",
        cloud_map_service_name=settings.cloud_map_service_name or "",
        front_service_id=settings.cloud_map_front_service_id,
        front_service_name=settings.cloud_map_front_service_name,
    )


_ROUTERS: dict[RouteSwitch, Callable[[Settings, AwsClients, Callable[[float], None]], _Router]] = {
    RouteSwitch.LISTENER_RULE: _listener_rule_router,
    RouteSwitch.API_ROUTES: _api_routes_router,
}


def _throttled(exc: Exception) -> bool:
    """A call refused by a throttle, or whose retry the deadline refused."""
    if isinstance(exc, CallDeadlineError):
        return True
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return "Throttl" in code or code in ("TooManyRequestsException", "RequestLimitExceeded")


class _EngineActuators:
    """The engine's side of :func:`warmkeeper.core.hold.apply_decision` for one observed snapshot."""

    def __init__(self, engine: Warmkeeper, snapshot: Snapshot) -> None:
        self._engine = engine
        self._snapshot = snapshot

    def scale_up(self, count: int | None) -> str:
        engine = self._engine
        count = count or engine.policy.wake_count
        if engine.policy.scale_to_zero:
            return engine._wake(self._snapshot, count)
        engine.ecs.set_desired(count)
        return f"desired {self._snapshot.service.desired} -> {count} (min_tasks)"

    def route_to_service(self) -> str:
        engine = self._engine
        now = self._snapshot.now
        if engine._link_down_until is not None and now < engine._link_down_until:
            return f"{LINK_HELD_BACK} (seen moments ago)"
        if engine._route_backoff_until is not None and now < engine._route_backoff_until:
            return f"{ROUTE_THROTTLED} (moments ago)"
        deadline = engine.deadline
        kept = deadline.at if deadline is not None else None
        if deadline is not None:  # a short try (the next request or reconcile tries again)
            short = deadline.clock() + ROUTE_ATTEMPT_SECONDS
            deadline.at = short if kept is None else min(kept, short)
        try:
            created = engine.router.route_to_service()
        except WarmRoutesIncompleteError as exc:
            # The first warm route is this call's: so are the wake's record and its cold-start metric
            # (left to nobody, they were lost: simulated herd, seeds 2, 7 and 9 of ten). The rest of
            # the set is the next caller's, after the same backoff as a throttled call.
            engine._route_backoff_until = now + timedelta(seconds=ROUTE_BACKOFF_SECONDS)
            log.warning(
                "warm routes incomplete: the rest left to the next invocation",
                extra={"error": str(exc.cause)},
            )
            return WARM_ROUTE_CREATED
        except VpcLinkUnavailableError as exc:
            return engine._link_unavailable(now, exc)
        except (ClientError, CallDeadlineError) as exc:
            if deadline is None or not _throttled(exc):
                raise
            engine._route_backoff_until = now + timedelta(seconds=ROUTE_BACKOFF_SECONDS)
            log.info("warm routes throttled", extra={"error": str(exc)})
            return ROUTE_THROTTLED
        finally:
            if deadline is not None:
                deadline.at = kept
        engine._link_down_until = None
        engine._route_backoff_until = None
        return WARM_ROUTE_CREATED if created else "warm route already there"

    def route_to_waker(self) -> str:
        deleted = self._engine.router.route_to_waker()
        return "warm route deleted" if deleted else "warm route already gone"

    def scale_to_zero(self) -> str:
        engine = self._engine
        engine.ecs.set_desired(0)
        if engine.readiness is not None:
            # The waker's own Cloud Map instances go with the tasks (ECS removes its own); one left
            # behind is removed by the next reconcile.
            readiness = engine.readiness

            def forget() -> None:
                readiness.deregister_own(frozenset())

            engine._write_best_effort(forget, "cloud map instances")
            engine._ready_ips = frozenset()
        # The lock goes last: while it exists, no concurrent request can start a wake that this
        # sleep would then cancel.
        engine.store.clear_wake_lock()
        engine.metrics.put(MetricName.SLEEPS, 1)
        return f"scale to zero: desired {self._snapshot.service.desired} -> 0"


class _RequestHold:
    """The engine's side of the shared hold (:class:`warmkeeper.core.hold.HoldPort`) for one request:
    each look is a step of the engine (which wakes, and creates the warm route when a target is
    healthy), the pause is the engine's sleep, and the end is the first of the Lambda invocation's
    and the front door's (the HTTP API's 30 s): the clients' deadline is set to it, so that a
    throttled call's retries cannot carry the answer past it (the request is then answered 503 with
    Retry-After at once)."""

    def __init__(
        self, engine: Warmkeeper, remaining_seconds: Callable[[], float] | None, door_timeout: float | None
    ) -> None:
        self._engine = engine
        self._remaining = remaining_seconds
        self._door_timeout = door_timeout
        self._started = engine.clock()
        self._cut = False
        self._last: ColdView | None = None
        available = self.remaining_seconds()
        if engine.deadline is not None and available is not None:
            engine.deadline.set(max(0.0, available - ANSWER_MARGIN_SECONDS))

    def observe_first(self, wake: bool) -> ColdView:
        engine = self._engine
        if not wake:
            # An ignored client: a look at the shared snapshot, nothing applied.
            snapshot = engine.observe(max_age=REQUEST_SNAPSHOT_SECONDS, may_sleep=False)
            return engine.cold_view(snapshot, decide(snapshot.observation, engine.policy, snapshot.now))
        self._last = self._view(engine.step("request", wake_pending=True, max_age=REQUEST_SNAPSHOT_SECONDS))
        return self._last

    def observe_after(self, waited: float) -> ColdView:
        try:
            self._last = self._view(self._engine.step("hold", wake_pending=True, max_age=waited))
        except CallDeadlineError:
            # A retry could not fit before the front door gives up: answer now with what was seen.
            self._cut = True
            assert self._last is not None
            return replace(self._last, ready=False)
        return self._last

    def _view(self, result: StepResult) -> ColdView:
        # What the step applied (a scale-up, the warm route) is the world now.
        snapshot = result.snapshot
        observation = _after(snapshot.observation, result.decision)
        if any(line.startswith(LINK_HELD_BACK) for line in result.applied):
            # Up, but not reachable through the front door: say why, and when to come back.
            view = self._engine.cold_view(
                replace(snapshot, observation=replace(observation, routing=Routing.WAKER)), result.decision
            )
            return replace(view, ready=False, ready_in_seconds=LINK_RETRY_SECONDS, note=LINK_NOTE)
        return self._engine.cold_view(replace(snapshot, observation=observation), result.decision)

    def pause(self, seconds: float) -> float:
        self._engine._sleep(seconds)
        return seconds

    def remaining_seconds(self) -> float | None:
        if self._cut:
            return 0.0
        ends = [self._remaining()] if self._remaining is not None else []
        if self._door_timeout is not None:
            elapsed = (self._engine.clock() - self._started).total_seconds()
            ends.append(self._door_timeout - elapsed)
        return min(ends) if ends else None

    def started_holding(self) -> None:
        self._engine.metrics.put(MetricName.HELD_REQUESTS, 1)

    def answered_after_holding(self, held_seconds: float) -> None:
        return None  # the Lambda counts held requests as they start (HELD_REQUESTS)


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
