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

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
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
from warmkeeper.aws.http_api import FrontDoorCheck, HttpApiRouting
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
from warmkeeper.aws.settings import Settings
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
    StatusReport,
    answer_while_cold,
    classify_request,
    decide,
    decide_sleep,
    extend_lease,
    hold_poll_delay,
    is_ready,
    json_response,
    keepalive_minutes,
    lease_active,
    not_found,
    require_method,
    status_report,
)

if TYPE_CHECKING:
    from warmkeeper.aws.clients import AwsClients

# A wake lock with no task wanted is an interrupted wake (or sleep) once it is this old: long
# enough that a wake in flight (lock taken, UpdateService not yet answered) is never mistaken for it.
STALE_LOCK_SECONDS = 60.0

WARM_ROUTE_CREATED = "warm route created"

# The waker polls target health at most this often while it holds a request (each poll is four
# read calls to ECS, ELB and SSM; many held requests must not exhaust the API rate limits).
AWS_HOLD_POLL_SECONDS = 1.0


@dataclass(frozen=True)
class Snapshot:
    """One observation of AWS with what the decision needs beside the core Observation."""

    observation: Observation
    service: ServiceState
    health: TargetHealth
    stored: StoredState
    now: datetime

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
        balancer: RoutingPort,
        store: StatePort,
        metrics: MetricsPort,
        secret: SecretPort,
        front_door: FrontDoorPort | None = None,
        clock: Callable[[], datetime] = utc_now,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.front_door = front_door
        self.policy = settings.policy
        self.ecs = ecs
        self.balancer = balancer
        self.store = store
        self.metrics = metrics
        self.secret = secret
        self.clock = clock
        self._sleep = sleep

    # --- observe ------------------------------------------------------------------------------------

    def observe(self, *, wake_pending: bool = False) -> Snapshot:
        now = self.clock()
        service = self.ecs.describe()
        health = self.balancer.target_health()
        routing = self.balancer.routing()
        stored = self.store.read()
        lock = stored.lock
        last_activity = None
        # RequestCount only matters to the sleep guards: skip the read when nothing can sleep.
        if service.desired > 0 and not wake_pending and self.policy.scale_to_zero:
            last_activity = self.metrics.last_activity(now, self.policy.idle_minutes)
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
            # parameter fail with TooManyUpdates (issue 11 defect 2).
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
                created = self.balancer.route_to_service()
                done.append(WARM_ROUTE_CREATED if created else "warm route already there")
            elif action is Action.ROUTE_TO_WAKER:
                deleted = self.balancer.route_to_waker()
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

    def step(self, trigger: str, *, wake_pending: bool = False, may_sleep: bool = True) -> StepResult:
        observed = self.observe(wake_pending=wake_pending)
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
        if trigger != "hold" or decision.actions or done:
            self._log_decision(trigger, snapshot, decision, done)
        return StepResult(snapshot=snapshot, decision=decision, applied=tuple(done))

    def _record_first_healthy(self, snapshot: Snapshot, *, publish: bool) -> str:
        lock = snapshot.lock
        assert lock is not None and lock.healthy_at is not None
        seconds = max(0.0, (lock.healthy_at - lock.requested_at).total_seconds())
        last = LastWake(requested_at=lock.requested_at, healthy_at=lock.healthy_at, seconds=seconds)

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
        if warm and self.balancer.route_to_service():
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

    def handle_request(self, request: IncomingRequest) -> HttpResponse:
        kind = classify_request(request, self.policy)
        try:
            if kind is RequestKind.STATUS:
                require_method(request, "GET", "HEAD")
                # The waiting page polls this: moving a freshly healthy service to the warm route
                # here makes the wake as fast as the polling, not as slow as the one-minute reconcile.
                result = self.step("status", may_sleep=False)
                return json_response(200, self._report(result.snapshot, result.decision).to_json_dict())
            if kind is RequestKind.KEEPALIVE:
                return self._keepalive_request(request)
        except EndpointRefusal as refused:
            return refused.response
        if kind is RequestKind.UNKNOWN_ENDPOINT:
            return not_found(request.path)
        if kind is RequestKind.IGNORED:
            snapshot = self.observe()
            decision = decide(snapshot.observation, self.policy, snapshot.now)
            answer = self._answer(request, kind, snapshot, decision, held=0.0)
            assert answer.response is not None  # an ignored client is never held
            return answer.response
        return self._hold(request, kind)

    def _answer(
        self, request: IncomingRequest, kind: RequestKind, snapshot: Snapshot, decision: Decision, held: float
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
        )

    def _hold(self, request: IncomingRequest, kind: RequestKind) -> HttpResponse:
        """Wake (once, whatever the concurrency), then answer; API calls are held while target
        health is polled, within the policy's hold bound."""
        result = self.step("request", wake_pending=True)
        held = 0.0
        counted = False
        while True:
            snapshot = result.snapshot
            # What the step applied (a scale-up, the warm route) is the world now.
            observation = _after(snapshot.observation, result.decision)
            answer = self._answer(
                request, kind, replace(snapshot, observation=observation), result.decision, held
            )
            if not answer.hold:
                assert answer.response is not None
                return answer.response
            if not counted:
                self.metrics.put(MetricName.HELD_REQUESTS, 1)
                counted = True
            delay = min(hold_poll_delay(held, self.policy), AWS_HOLD_POLL_SECONDS)
            if delay <= 0:
                held = self.policy.hold_seconds
                continue
            self._sleep(delay)
            held += delay
            result = self.step("hold", wake_pending=True)

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
        )


def build_engine(settings: Settings, clients: AwsClients, **engine_options: Any) -> Warmkeeper:
    """Wire the adapters around the clients: the Lambda and the CLI build the engine this one way."""
    balancer: RoutingPort
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
        balancer = front_door = http_api
        api = (settings.api_id, settings.api_stage)
    else:
        assert settings.listener_arn and settings.service_target_group_arn
        balancer = LoadBalancerRouting(
            clients.elbv2,
            settings.listener_arn,
            settings.service_target_group_arn,
            settings.warm_rule_priority,
        )
    return Warmkeeper(
        settings,
        ecs=EcsService(clients.ecs, settings.cluster, settings.service),
        balancer=balancer,
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
