"""In-memory fakes of the AWS engine's ports (no moto, no boto3 client), and an engine built on them.

Shared by the engine's own tests and by the test that feeds the same world to the Lambda and the twin."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from warmkeeper.aws.adapters import LastWake, ServiceState, StoredState, TargetHealth, WakeLock
from warmkeeper.aws.engine import Warmkeeper
from warmkeeper.aws.internal_services import InternalWaker, ServiceKeeper
from warmkeeper.aws.lambda_settings import InternalService, Settings
from warmkeeper.aws.ports import MetricsPort, RoutingPort, SecretPort, ServicePort, StatePort
from warmkeeper.aws_limits import METRIC_VISIBILITY_SECONDS
from warmkeeper.core import Policy, Routing, TaskStatus
from warmkeeper.core.activity import ActivityReport

START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
POLICY = Policy(idle_minutes=5, min_warm_minutes=2, hold_seconds=3, wake_timeout_seconds=180)
SETTINGS = Settings(
    app="cityguided",
    env="staging",
    cluster="cityguided-staging",
    service="cityguided",
    listener_arn="arn:aws:elasticloadbalancing:eu-west-3:123456789012:listener/app/x/1/2",
    service_target_group_arn="arn:aws:elasticloadbalancing:eu-west-3:123456789012:targetgroup/y/3",
    parameter_prefix="/warmkeeper/cityguided/staging",
    policy=POLICY,
)


@dataclass
class FakeAws:
    """One environment in memory; every fake below reads and writes it."""

    now: datetime = START
    desired: int = 0
    healthy_ips: set[str] = field(default_factory=set)
    routing: Routing = Routing.WAKER
    lock: WakeLock | None = None
    lease_until: datetime | None = None
    last_wake: LastWake | None = None
    calls: list[str] = field(default_factory=list)
    metrics: list[tuple[str, float]] = field(default_factory=list)
    activity: datetime | None = None  # the last minute the request metric counted a request
    beacon: ActivityReport | None = None  # what the app's tasks reported (stored merged)


@dataclass
class FakeService:
    aws: FakeAws

    def describe(self) -> ServiceState:
        return ServiceState(
            desired=self.aws.desired, running=self.aws.desired, pending=0, deployment_in_progress=False
        )

    def set_desired(self, count: int) -> None:
        self.aws.calls.append(f"set_desired({count})")
        self.aws.desired = count

    def tasks(self, healthy_ips: frozenset[str] = frozenset()) -> list[TaskStatus]:
        return [TaskStatus(task_id=ip, health="healthy") for ip in sorted(healthy_ips)]


@dataclass
class FakeRouting:
    aws: FakeAws

    def target_health(self) -> TargetHealth:
        return TargetHealth(healthy=len(self.aws.healthy_ips), healthy_ips=frozenset(self.aws.healthy_ips))

    def routing(self) -> Routing:
        return self.aws.routing

    def route_to_service(self) -> bool:
        self.aws.calls.append("route_to_service")
        created = self.aws.routing is Routing.WAKER
        self.aws.routing = Routing.SERVICE
        return created

    def route_to_waker(self) -> bool:
        self.aws.calls.append("route_to_waker")
        deleted = self.aws.routing is Routing.SERVICE
        self.aws.routing = Routing.WAKER
        return deleted


@dataclass
class FakeState:
    aws: FakeAws

    def read(self) -> StoredState:
        return StoredState(
            lock=self.aws.lock,
            lease_until=self.aws.lease_until,
            last_wake=self.aws.last_wake,
            activity=self.aws.beacon,
        )

    def take_wake_lock(self, lock: WakeLock) -> bool:
        if self.aws.lock is not None:
            return False
        self.aws.calls.append("take_wake_lock")
        self.aws.lock = lock
        return True

    def update_wake_lock(self, lock: WakeLock) -> None:
        self.aws.lock = lock

    def clear_wake_lock(self) -> bool:
        existed = self.aws.lock is not None
        self.aws.lock = None
        return existed

    def put_lease(self, until: datetime) -> None:
        self.aws.lease_until = until

    def clear_lease(self) -> None:
        self.aws.lease_until = None

    def put_last_wake(self, record: LastWake) -> None:
        self.aws.last_wake = record

    def record_activity(self, report: ActivityReport) -> ActivityReport:
        self.aws.beacon = self.aws.beacon.merged_with(report) if self.aws.beacon else report
        return self.aws.beacon


@dataclass
class FakeMetrics:
    aws: FakeAws

    def put(self, name: str, value: float, unit: str = "Count") -> None:
        self.aws.metrics.append((name, value))

    def last_activity(
        self, now: datetime, lookback_minutes: float, *, margin_seconds: float = METRIC_VISIBILITY_SECONDS
    ) -> datetime | None:
        # The fake's activity is the metric's busy-minute end plus the full margin: a smaller margin
        # moves it back by the difference.
        if self.aws.activity is None:
            return None
        return self.aws.activity - timedelta(seconds=METRIC_VISIBILITY_SECONDS - margin_seconds)


@dataclass
class FakeSecret:
    def token(self) -> str | None:
        return "t0ken"


def engine(
    aws: FakeAws,
    settings: Settings = SETTINGS,
    internal: InternalWaker | None = None,
    wake_secret: SecretPort | None = None,
) -> Warmkeeper:
    ports: tuple[ServicePort, RoutingPort, StatePort, MetricsPort, SecretPort] = (
        FakeService(aws),
        FakeRouting(aws),
        FakeState(aws),
        FakeMetrics(aws),
        FakeSecret(),
    )
    ecs, balancer, store, metrics, secret = ports

    def sleep(seconds: float) -> None:
        aws.now += timedelta(seconds=seconds)
        if aws.desired and not aws.healthy_ips:
            aws.healthy_ips.add("10.0.1.10")  # the task became healthy while the request was held

    return Warmkeeper(
        settings,
        ecs=ecs,
        router=balancer,
        store=store,
        metrics=metrics,
        secret=secret,
        clock=lambda: aws.now,
        sleep=sleep,
        internal=internal,
        wake_secret=wake_secret,
    )


# --- internal services: each one its own FakeAws (its desired count, healthy tasks, lock, activity) -----

WAKE_SECRET = "w4ke-s3cret"
SERVICE_POLICY = Policy(idle_minutes=10, min_warm_minutes=2, wake_timeout_seconds=180)


def internal_spec(name: str, wake_with: tuple[str, ...] = ()) -> InternalService:
    return InternalService(
        name=name,
        service=f"cityguided-{name}",
        policy=SERVICE_POLICY,
        cloud_map_service_id=f"srv-{name}",
        idle_alarm_name=f"cityguided-staging-{name}-idle",
        activity_metric=f"cityguided-staging-{name}-Requests",
        wake_with=wake_with,
    )


@dataclass
class FakeTasks:
    aws: FakeAws

    def healthy(self) -> int:
        return len(self.aws.healthy_ips) if self.aws.desired else 0


@dataclass
class FakeWakeSecret:
    value: str | None = WAKE_SECRET
    reads: int = 0

    def token(self) -> str | None:
        self.reads += 1
        return self.value


def internal_engine(
    app: FakeAws,
    services: dict[str, FakeAws],
    *,
    wake_with: tuple[str, ...] = (),
    service_wake_with: dict[str, tuple[str, ...]] | None = None,
    secret: FakeWakeSecret | None = None,
) -> Warmkeeper:
    """The app's engine on ``app`` with internal services, each on its own fake world (the app's clock)."""
    specs = tuple(internal_spec(name, (service_wake_with or {}).get(name, ())) for name in services)
    settings = replace(SETTINGS, internal_services=specs, wake_secret_arn="arn:wake", wake_with=wake_with)
    keepers = {
        spec.name: ServiceKeeper(
            spec,
            ecs=FakeService(services[spec.name]),
            tasks=FakeTasks(services[spec.name]),
            store=FakeState(services[spec.name]),
            activity=FakeMetrics(services[spec.name]),
            app=settings.app,
            env=settings.env,
            clock=lambda: app.now,
        )
        for spec in specs
    }
    internal = InternalWaker(keepers, secret or FakeWakeSecret(), wake_with)
    return engine(app, settings, internal)
