"""Internal services: each sleeps on its own, and a call from the app's tasks wakes it.

An internal service (config ``[[services]]``, :class:`~warmkeeper.aws.lambda_settings.InternalService`)
has no front door and no warm route: the app's tasks find it by its Cloud Map DNS name. While it has
no task, the caller's Caddy sends the failed call to the waker's function URL with the service's name
and the wake secret (payload format 2.0, the HTTP API's shape, from ``<url-id>.lambda-url.<region>.on.aws``).
The waker then:

- checks the secret first (constant time), and wakes nothing on a missing or wrong one (403);
- names an unknown service (404);
- wakes that service only, under that service's own wake lock (an SSM parameter under
  ``<parameter_prefix>/service/<name>/``: the same compare-and-set as the app's), together with the
  services it lists in ``wake_with``; and answers 503 + Retry-After at once, from the service's own
  recorded wakes, never holding the caller;
- answers a service that already has a healthy task (the caller's DNS has not caught up) with a
  short Retry-After.

Each service sleeps on its own: its idle alarm (``idle_alarm_name``) and the scheduled reconcile run
:meth:`ServiceKeeper.step`, which decides with the same pure :func:`warmkeeper.core.decide` and the
same guards as the app (min warm time, a wake in flight, a lease), reading the service's activity
from its custom metric (``activity_metric`` in the settings' namespace, no dimensions). The app's
sleep never touches a service, and a service's never touches the app: each changes only its own
ECS service and its own parameters.

A service is "healthy" when ECS runs one of its tasks with a healthy container (DescribeTasks): the
container health check is what says osrm-routed listens. Cloud Map applies that status to DNS about
30 s later, which is why a caller may still reach the waker then (the short Retry-After).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from warmkeeper.aws.adapters import (
    EcsService,
    KeepaliveSecret,
    LastWake,
    Metrics,
    StateStore,
    StoredState,
    WakeLock,
    utc_now,
)
from warmkeeper.aws.lambda_settings import InternalService, Settings
from warmkeeper.aws.logs import log
from warmkeeper.aws.ports import SecretPort, ServicePort, StatePort
from warmkeeper.core import (
    Action,
    Decision,
    HttpResponse,
    IncomingRequest,
    Observation,
    Routing,
    decide,
    json_response,
)
from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.hold import (
    RECENT_WAKES,
    apply_decision,
    ready_in_seconds,
    wake_estimate_seconds,
)
from warmkeeper.core.internal_wake import (
    SERVICE_HEADER,
    WAKE_SECRET_HEADER,
    ServiceWake,
    answer_internal_wake,
)
from warmkeeper.core.report import service_summary

if TYPE_CHECKING:
    from mypy_boto3_ecs.client import ECSClient

    from warmkeeper.aws.clients import AwsClients

# Where a service's own wake lock, lease and last wake live, under the settings' parameter prefix.
SERVICE_PARAMETERS = "service"
# A wake lock with no task wanted, this old, is an interrupted wake (as the app's, see the engine).
STALE_SERVICE_LOCK_SECONDS = 60.0
# The secret could not be read, or the waker failed: the caller is told to come back (nothing is
# woken by a call that was not checked).
INTERNAL_ERROR_RETRY_SECONDS = 10
FUNCTION_URL_DOMAIN = ".lambda-url."
NO_ROUTE = "no route to switch (callers find an internal service through Cloud Map)"
# What one service's step may fail with (an AWS error, its ECS service gone) without stopping the
# app's wake or the other services' reconcile.
_STEP_ERRORS = (ClientError, BotoCoreError, WarmkeeperError)


def is_function_url_event(event: Mapping[str, Any]) -> bool:
    """A request through the waker's Lambda function URL: payload format 2.0 whose domain is the
    function URL's own (``<url-id>.lambda-url.<region>.on.aws``; Lambda sets it, a client cannot),
    never an HTTP API's (``<api-id>.execute-api...`` or the owner's custom domain)."""
    context = event.get("requestContext")
    if not isinstance(context, Mapping):
        return False
    domain = context.get("domainName")
    return isinstance(domain, str) and FUNCTION_URL_DOMAIN in domain


class TaskHealthPort(Protocol):
    """How many of a service's tasks ECS runs with a healthy container."""

    def healthy(self) -> int: ...


class ActivityPort(Protocol):
    """The last minute a service counted a request (None: no data, which counts as idle)."""

    def last_activity(self, now: datetime, lookback_minutes: float) -> datetime | None: ...


class ServiceTasks:
    """A service's running tasks whose container ECS finds healthy (ListTasks, DescribeTasks)."""

    def __init__(self, ecs: ECSClient, cluster: str, service: str) -> None:
        self._ecs = ecs
        self.cluster = cluster
        self.service = service

    def healthy(self) -> int:
        arns: list[str] = []
        paginator = self._ecs.get_paginator("list_tasks")
        for page in paginator.paginate(
            cluster=self.cluster, serviceName=self.service, desiredStatus="RUNNING"
        ):
            arns.extend(page.get("taskArns", []))
        count = 0
        for start in range(0, len(arns), 100):
            described = self._ecs.describe_tasks(cluster=self.cluster, tasks=arns[start : start + 100])
            count += sum(
                1
                for task in described.get("tasks", [])
                if task.get("lastStatus") == "RUNNING"
                and task.get("desiredStatus") == "RUNNING"
                and task.get("healthStatus") == "HEALTHY"
            )
        return count


class ServiceActivity(Metrics):
    """A service's request metric: ``metric_name`` in ``namespace``, no dimensions (a CloudWatch Logs
    metric filter on the service's request log feeds it), read like the app's request metric."""

    def __init__(self, cloudwatch: Any, namespace: str, metric_name: str | None, app: str, env: str) -> None:
        super().__init__(cloudwatch, namespace, app, env)
        self.metric_name = metric_name

    def _request_metric(self) -> Any:
        if not self.metric_name:
            return None
        return {"Namespace": self.namespace, "MetricName": self.metric_name, "Dimensions": []}


@dataclass(frozen=True)
class ServiceStep:
    """One decision about one internal service: what was seen, decided and done."""

    service: str
    observation: Observation
    decision: Decision
    applied: tuple[str, ...]
    stored: StoredState
    now: datetime
    estimate_seconds: float

    @property
    def healthy(self) -> bool:
        return self.observation.healthy > 0

    def ready_in_seconds(self) -> float:
        requested = self.observation.wake_requested_at
        return ready_in_seconds(
            healthy=self.healthy,
            wake_elapsed_seconds=(self.now - requested).total_seconds() if requested else None,
            estimate_seconds=self.estimate_seconds,
        )


class ServiceKeeper:
    """Scale-to-zero of one internal service, driven by :func:`warmkeeper.core.decide`."""

    def __init__(
        self,
        spec: InternalService,
        *,
        ecs: ServicePort,
        tasks: TaskHealthPort,
        store: StatePort,
        activity: ActivityPort,
        app: str,
        env: str,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.spec = spec
        self.policy = spec.policy
        self.ecs = ecs
        self.tasks = tasks
        self.store = store
        self.activity = activity
        self.app = app
        self.env = env
        self.clock = clock

    @property
    def name(self) -> str:
        return self.spec.name

    def estimate_seconds(self, stored: StoredState) -> float:
        durations = stored.last_wake.durations() if stored.last_wake else ()
        return wake_estimate_seconds(durations, self.spec.first_wake_seconds)

    def _observe(self, wake_pending: bool) -> tuple[datetime, Observation, StoredState]:
        now = self.clock()
        stored = self.store.read()
        service = self.ecs.describe()
        healthy = self.tasks.healthy() if service.desired > 0 or service.running > 0 else 0
        last_activity = None
        # Its request metric only matters to the sleep guards: not read when nothing can sleep.
        if service.desired > 0 and not wake_pending and self.policy.scale_to_zero:
            last_activity = self.activity.last_activity(now, self.policy.idle_minutes)
        lock = stored.lock
        observation = Observation(
            desired=service.desired,
            running=service.running,
            healthy=healthy,
            # No route to switch: "routed" is simply "a task is healthy", so the decision never
            # asks for a route of its own.
            routing=Routing.SERVICE if healthy else Routing.WAKER,
            last_activity_at=last_activity,
            lease_until=stored.lease_until,
            deployment_in_progress=service.deployment_in_progress,
            wake_requested_at=lock.requested_at if lock else None,
            warm_since=lock.healthy_at if lock else None,
            wake_pending=wake_pending,
        )
        return now, observation, stored

    def summary(self) -> str:
        """Its state in one line, read only (for `warmkeeper status`)."""
        now, observation, _ = self._observe(wake_pending=False)
        return service_summary(observation, decide(observation, self.policy, now), self.policy)

    def step(self, trigger: str, *, wake_pending: bool = False) -> ServiceStep:
        now, observation, stored = self._observe(wake_pending)
        done: list[str] = []
        lock = stored.lock
        if lock is not None and observation.desired == 0:
            if (now - lock.requested_at).total_seconds() >= STALE_SERVICE_LOCK_SECONDS:
                self.store.clear_wake_lock()
                done.append("repaired a stale wake lock")
                lock = None
        elif lock is None and observation.desired > 0 and self.policy.scale_to_zero:
            adopted = WakeLock(requested_at=now, adopted=True)
            if self.store.take_wake_lock(adopted):
                done.append("adopted a service found awake without a wake lock")
                lock = adopted
        if lock is not None and lock.healthy_at is None and observation.healthy > 0:
            lock = replace(lock, healthy_at=now)
            done.append(self._record_first_healthy(lock, stored))
        stored = replace(stored, lock=lock)
        observation = replace(
            observation,
            wake_requested_at=lock.requested_at if lock else None,
            warm_since=lock.healthy_at if lock else None,
        )
        decision = decide(observation, self.policy, now)
        done.extend(apply_decision(decision, _ServiceActuators(self, observation, stored, now)))
        if (
            not decision.sleeping
            and lock is not None
            and lock.healthy_at is not None
            and not lock.adopted
            and observation.desired > 0
            and observation.healthy == 0
        ):
            # Healthy once, no healthy task now and staying up (a Spot interruption, a crash): ECS
            # starts a replacement, a new wake timed from now, so the Retry-After is honest again.
            rewake = WakeLock(requested_at=now)
            if self._best_effort(lambda: self.store.update_wake_lock(rewake), "rewake"):
                done.append("wake lock restarted: waiting for a replacement task")
                stored = replace(stored, lock=rewake)
                observation = replace(observation, wake_requested_at=now, warm_since=None)
        if Action.SCALE_UP in decision.actions and self.policy.scale_to_zero and stored.lock is None:
            # What this step asked is the world now: the wake's lock, timed from now.
            observation = replace(observation, desired=decision.desired_count or 1, wake_requested_at=now)
        if decision.actions or done or trigger not in ("internal-wake",):
            self._log(trigger, observation, decision, done, now)
        return ServiceStep(
            service=self.name,
            observation=observation,
            decision=decision,
            applied=tuple(done),
            stored=stored,
            now=now,
            estimate_seconds=self.estimate_seconds(stored),
        )

    def wake(self, trigger: str) -> ServiceStep:
        return self.step(trigger, wake_pending=True)

    def on_alarm(self, state: str | None) -> ServiceStep:
        """Its idle alarm changed state: ALARM tries to sleep (the guards decide)."""
        if state != "ALARM":
            return self.step(f"alarm-{str(state).lower()}")
        return self.step("idle-alarm")

    def _take_lock_and_scale(self, now: datetime, count: int, previous: int) -> str:
        lock = WakeLock(requested_at=now)
        if not self.store.take_wake_lock(lock):
            return "wake already asked by a concurrent caller"
        self.ecs.set_desired(count)
        return f"scale-up: desired {previous} -> {count}"

    def _record_first_healthy(self, lock: WakeLock, stored: StoredState) -> str:
        assert lock.healthy_at is not None
        seconds = max(0.0, (lock.healthy_at - lock.requested_at).total_seconds())
        previous = stored.last_wake
        earlier = previous.durations() if previous and not lock.adopted else ()
        record = LastWake(
            requested_at=lock.requested_at,
            healthy_at=lock.healthy_at,
            seconds=seconds,
            recent_seconds=(*earlier, seconds)[-RECENT_WAKES:] if not lock.adopted else (),
        )

        def write() -> None:
            self.store.update_wake_lock(lock)
            self.store.put_last_wake(record)

        # Every caller in that moment sees it; the first write wins, the others' TooManyUpdates is
        # no reason to fail the call being answered.
        if not self._best_effort(write, "first healthy task"):
            return "first healthy task seen; its record is left to the next step"
        return f"first healthy task {seconds:.1f} s after the wake"

    def _best_effort(self, write: Callable[[], None], what: str) -> bool:
        try:
            write()
        except (ClientError, BotoCoreError) as exc:
            log.warning(
                "bookkeeping not written", extra={"service": self.name, "what": what, "error": str(exc)}
            )
            return False
        return True

    def _log(
        self, trigger: str, observation: Observation, decision: Decision, done: list[str], now: datetime
    ) -> None:
        log.info(
            "decision",
            extra={
                "app": self.app,
                "env": self.env,
                "service": self.name,
                "trigger": trigger,
                **decision.to_log_dict(),
                "observed": {
                    "desired": observation.desired,
                    "running": observation.running,
                    "healthy": observation.healthy,
                    "last_activity_at": _iso(observation.last_activity_at),
                    "wake_requested_at": _iso(observation.wake_requested_at),
                    "warm_since": _iso(observation.warm_since),
                },
                "applied": done,
                "time": _iso(now),
            },
        )


class _ServiceActuators:
    """A service's side of :func:`warmkeeper.core.hold.apply_decision`: its desired count and its
    wake lock; no route."""

    def __init__(
        self, keeper: ServiceKeeper, observation: Observation, stored: StoredState, now: datetime
    ) -> None:
        self._keeper = keeper
        self._observation = observation
        self._stored = stored
        self._now = now

    def scale_up(self, count: int | None) -> str:
        keeper = self._keeper
        count = count or keeper.policy.wake_count
        if not keeper.policy.scale_to_zero:
            keeper.ecs.set_desired(count)
            return f"desired {self._observation.desired} -> {count} (min_tasks)"
        if self._stored.lock is not None:
            return "wake already asked (wake lock held)"
        return keeper._take_lock_and_scale(self._now, count, self._observation.desired)

    def route_to_service(self) -> str:
        return NO_ROUTE

    def route_to_waker(self) -> str:
        return NO_ROUTE

    def scale_to_zero(self) -> str:
        keeper = self._keeper
        keeper.ecs.set_desired(0)
        # The lock goes last: while it exists, no concurrent call can start a wake this sleep cancels.
        keeper.store.clear_wake_lock()
        return f"scale to zero: desired {self._observation.desired} -> 0"


class InternalWaker:
    """Every internal service of the app: the wake a caller asks for, each service's idle alarm and
    reconcile, and the services woken with the app (``wake_with``)."""

    def __init__(
        self, keepers: Mapping[str, ServiceKeeper], secret: SecretPort, wake_with: tuple[str, ...] = ()
    ) -> None:
        self.keepers = dict(keepers)
        self.secret = secret
        self.wake_with = wake_with

    def by_alarm(self, alarm_name: object) -> ServiceKeeper | None:
        return next(
            (
                k
                for k in self.keepers.values()
                if k.spec.idle_alarm_name and k.spec.idle_alarm_name == alarm_name
            ),
            None,
        )

    def answer(self, request: IncomingRequest) -> HttpResponse:
        """A call from the app's tasks (the caller's Caddy) that could not reach the service."""
        try:
            expected = self.secret.token()
        except Exception as exc:  # any failure to read the secret: refuse, never wake
            log.error("wake secret unreadable", extra={"error": str(exc)})
            retry = INTERNAL_ERROR_RETRY_SECONDS
            return json_response(
                503,
                {
                    "error": "unavailable",
                    "message": "the wake secret cannot be checked",
                    "retry_after": retry,
                },
                headers={"Retry-After": str(retry)},
            )

        def wake(name: str) -> ServiceWake:
            keeper = self.keepers[name]
            result = keeper.wake("internal-wake")
            if result.decision.waking:
                self.wake_companions(keeper.spec.wake_with, f"wake-with {name}")
            return ServiceWake(
                healthy=result.healthy,
                ready_in_seconds=0.0 if result.healthy else result.ready_in_seconds(),
                overdue_retry_seconds=keeper.policy.retry_after_seconds,
            )

        answer = answer_internal_wake(
            service=request.header(SERVICE_HEADER),
            given_secret=request.header(WAKE_SECRET_HEADER),
            secret=expected,
            services=self.keepers.keys(),
            wake=wake,
        )
        if answer.status == 403:
            log.warning("internal wake refused: missing or wrong secret")
        return answer

    def wake_companions(self, names: tuple[str, ...], trigger: str) -> list[str]:
        """Wake ``names`` (each under its own lock); a failure is logged, never raised: the wake that
        asked for them goes on."""
        done: list[str] = []
        for name in names:
            keeper = self.keepers.get(name)
            if keeper is None:
                continue
            try:
                result = keeper.wake(trigger)
            except _STEP_ERRORS as exc:
                log.warning("companion not woken", extra={"service": name, "error": str(exc)})
                done.append(f"{name}: not woken ({exc})")
                continue
            done.extend(f"{name}: {line}" for line in result.applied)
        return done

    def summaries(self) -> dict[str, str]:
        """Each service's state in one line; a service that cannot be read says so (the app's status
        must not fail with it)."""
        found: dict[str, str] = {}
        for name, keeper in self.keepers.items():
            try:
                found[name] = keeper.summary()
            except (BotoCoreError, ClientError) as exc:
                found[name] = f"unknown (could not be read: {exc})"
        return found

    def reconcile(self) -> list[ServiceStep]:
        """Each service's own decision (stuck waking, stale desired count, asleep but busy...); one
        service's failure does not keep the others from theirs."""
        results: list[ServiceStep] = []
        for keeper in self.keepers.values():
            try:
                results.append(keeper.step("reconcile"))
            except _STEP_ERRORS as exc:
                log.warning(
                    "internal service not reconciled", extra={"service": keeper.name, "error": str(exc)}
                )
        return results


def build_internal_waker(
    settings: Settings,
    clients: AwsClients,
    clock: Callable[[], datetime] = utc_now,
    wake_secret: SecretPort | None = None,
) -> InternalWaker | None:
    """The keepers of the settings' internal services around the clients (None: the app has none);
    ``wake_secret``: the engine's reader of the wake secret, shared (else one is made here)."""
    if not settings.internal_services:
        return None
    keepers = {
        spec.name: ServiceKeeper(
            spec,
            ecs=EcsService(clients.ecs, settings.cluster, spec.service),
            tasks=ServiceTasks(clients.ecs, settings.cluster, spec.service),
            store=StateStore(clients.ssm, f"{settings.parameter_prefix}/{SERVICE_PARAMETERS}/{spec.name}"),
            activity=ServiceActivity(
                clients.cloudwatch,
                settings.metrics_namespace,
                spec.activity_metric,
                settings.app,
                settings.env,
            ),
            app=settings.app,
            env=settings.env,
            clock=clock,
        )
        for spec in settings.internal_services
    }
    secret = wake_secret or KeepaliveSecret(clients.secretsmanager, settings.wake_secret_arn, clock=clock)
    return InternalWaker(keepers, secret, settings.wake_with)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
