"""Internal services in moto (ECS, SSM, CloudWatch, Secrets Manager): the calls and the state an
internal wake and a service's sleep leave behind, through the Lambda's handler and the real adapters."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.aws.conftest import ALARM_NAME, WAKE_TOKEN, World, alarm_event, call, scheduled_event
from tests.aws.test_internal_wake import function_url_event
from warmkeeper.aws import lambda_handler
from warmkeeper.aws.adapters import WakeLock
from warmkeeper.aws.engine import build_engine
from warmkeeper.aws.lambda_settings import InternalService, Settings, SettingsError
from warmkeeper.aws.metrics import METRICS_NAMESPACE
from warmkeeper.core import Policy

OSRM = "cityguided-osrm"
OSRM_ALARM = "cityguided-staging-osrm-idle"
OSRM_METRIC = "cityguided-staging-osrm-Requests"
SECRET = WAKE_TOKEN
SPEC = InternalService(
    name="osrm",
    service=OSRM,
    policy=Policy(idle_minutes=10, min_warm_minutes=2, wake_timeout_seconds=180),
    cloud_map_service_id="srv-osrm",
    idle_alarm_name=OSRM_ALARM,
    activity_metric=OSRM_METRIC,
)


class Osrm:
    """The osrm service beside the shared staging app in moto, and the app's settings that list it."""

    def __init__(self, world: World) -> None:
        self.world = world
        ecs = world.clients.ecs
        if not ecs.describe_services(cluster=world.cluster, services=[OSRM])["services"]:
            definition = ecs.register_task_definition(
                family=OSRM,
                networkMode="awsvpc",
                requiresCompatibilities=["FARGATE"],
                cpu="512",
                memory="3072",
                containerDefinitions=[{"name": "osrm", "image": "osrm", "memory": 2944}],
            )["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(
                cluster=world.cluster, serviceName=OSRM, taskDefinition=definition, desiredCount=0
            )
        # The environment's wake secret (the app's beacon reports and the internal wakes share it).
        assert world.settings.wake_secret_arn is not None
        self.secret_arn = world.settings.wake_secret_arn
        self.prefix = f"{world.prefix}/service/osrm"
        world.clients.ssm.delete_parameters(
            Names=[f"{self.prefix}/wake-lock", f"{self.prefix}/lease-until", f"{self.prefix}/last-wake"]
        )
        self.set_desired(0)
        self.updates = world.count_calls(ecs, "UpdateService")

    def settings(self, wake_with: tuple[str, ...] = ()) -> Settings:
        return replace(
            self.world.settings,
            internal_services=(SPEC,),
            wake_secret_arn=self.secret_arn,
            wake_with=wake_with,
        )

    def desired(self) -> int:
        found = self.world.clients.ecs.describe_services(cluster=self.world.cluster, services=[OSRM])
        return int(found["services"][0]["desiredCount"])

    def set_desired(self, count: int) -> None:
        self.world.clients.ecs.update_service(cluster=self.world.cluster, service=OSRM, desiredCount=count)

    def lock(self) -> str | None:
        try:
            value = self.world.clients.ssm.get_parameter(Name=f"{self.prefix}/wake-lock")["Parameter"][
                "Value"
            ]
        except self.world.clients.ssm.exceptions.ParameterNotFound:
            return None
        return str(value)

    def put_lock(self, requested_ago: timedelta) -> None:
        at = datetime.now(UTC) - requested_ago
        lock = WakeLock(requested_at=at, healthy_at=at + timedelta(seconds=100))
        self.world.clients.ssm.put_parameter(
            Name=f"{self.prefix}/wake-lock", Value=lock.to_json(), Type="String", Overwrite=True
        )

    def routed(self, minutes_ago: float) -> None:
        """The metric filter on osrm's request log counted a route then (namespace, name, no dimensions)."""
        self.world.clients.cloudwatch.put_metric_data(
            Namespace=METRICS_NAMESPACE,
            MetricData=[
                {
                    "MetricName": OSRM_METRIC,
                    "Timestamp": datetime.now(UTC) - timedelta(minutes=minutes_ago),
                    "Value": 1,
                    "Unit": "Count",
                }
            ],
        )

    def updates_of(self, service: str) -> list[int]:
        return [int(c["desiredCount"]) for c in self.updates if c["service"] == service]


@pytest.fixture
def osrm(world: World) -> Iterator[Osrm]:
    made = Osrm(world)
    yield made
    lambda_handler.use(None)


def use(world: World, settings: Settings) -> None:
    lambda_handler.use(build_engine(settings, world.clients, sleep=lambda _: None))


def wake_event(secret: str = SECRET, service: str = "osrm") -> dict[str, Any]:
    return function_url_event({"x-warmkeeper-service": service, "x-warmkeeper-wake-secret": secret})


@pytest.mark.usefixtures("atomic_moto")
def test_concurrent_calls_wake_the_service_once(world: World, osrm: Osrm) -> None:
    use(world, osrm.settings())
    answers: list[dict[str, Any]] = []
    lock = threading.Lock()

    def caller() -> None:
        answer = call(wake_event())
        with lock:
            answers.append(answer)

    threads = [threading.Thread(target=caller) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [a["statusCode"] for a in answers] == [503] * 12
    assert all(int(a["headers"]["Retry-After"]) > 0 for a in answers)
    assert osrm.updates_of(OSRM) == [1]  # one UpdateService, whatever the concurrency
    assert osrm.updates_of(world.service) == [] and world.desired() == 0  # the app is left alone
    assert osrm.desired() == 1 and osrm.lock() is not None


def test_a_wrong_secret_wakes_nothing(world: World, osrm: Osrm) -> None:
    use(world, osrm.settings())
    answer = call(wake_event(secret="guess"))
    assert answer["statusCode"] == 403
    assert osrm.updates == [] and osrm.lock() is None and osrm.desired() == 0


def test_the_secret_is_read_once_per_execution_environment(world: World, osrm: Osrm) -> None:
    reads = world.count_calls(world.clients.secretsmanager, "GetSecretValue")
    use(world, osrm.settings())
    for _ in range(3):
        call(wake_event())
    assert len(reads) == 1


def test_the_services_alarm_sleeps_it_and_not_the_app(world: World, osrm: Osrm) -> None:
    world.set_desired(1)
    world.task_healthy()
    world.put_lock(timedelta(hours=1), healthy_ago=timedelta(hours=1))
    osrm.set_desired(1)
    osrm.put_lock(timedelta(minutes=30))
    osrm.updates.clear()
    use(world, osrm.settings())
    answer = call(alarm_event(alarm_name=OSRM_ALARM))
    assert answer["decision"]["actions"] == ["SCALE_TO_ZERO"]
    assert osrm.updates_of(OSRM) == [0] and osrm.lock() is None
    assert osrm.updates_of(world.service) == [] and world.desired() == 1


def test_the_apps_alarm_sleeps_the_app_and_not_the_service(world: World, osrm: Osrm) -> None:
    world.set_desired(1)
    world.task_healthy()
    world.create_warm_rule()
    world.put_lock(timedelta(hours=1), healthy_ago=timedelta(hours=1))
    osrm.set_desired(1)
    osrm.put_lock(timedelta(minutes=30))
    osrm.updates.clear()
    use(world, osrm.settings())
    call(alarm_event(alarm_name=ALARM_NAME))
    assert osrm.updates_of(world.service) == [0]
    assert osrm.updates_of(OSRM) == [] and osrm.desired() == 1 and osrm.lock() is not None


def test_a_service_busy_by_its_own_metric_is_not_slept(world: World, osrm: Osrm) -> None:
    osrm.set_desired(1)
    osrm.put_lock(timedelta(minutes=30))
    osrm.routed(minutes_ago=4)
    osrm.updates.clear()
    use(world, osrm.settings())
    answer = call(alarm_event(alarm_name=OSRM_ALARM))
    assert answer["decision"]["actions"] == []
    assert "not_idle" in answer["decision"]["blocked_by"]
    assert osrm.updates == [] and osrm.desired() == 1


def test_the_reconcile_sleeps_an_idle_service(world: World, osrm: Osrm) -> None:
    # A lost alarm event: the scheduled reconcile decides for the service too.
    osrm.set_desired(1)
    osrm.put_lock(timedelta(minutes=30))
    osrm.updates.clear()
    use(world, osrm.settings())
    call(scheduled_event())
    assert osrm.updates_of(OSRM) == [0]
    decisions = [json.loads(line) for line in world.logs if '"service": "osrm"' in line]
    assert any(d.get("trigger") == "reconcile" for d in decisions)


def test_wake_with_wakes_the_service_with_the_app(world: World, osrm: Osrm) -> None:
    engine = build_engine(osrm.settings(wake_with=("osrm",)), world.clients, sleep=lambda _: None)
    engine.wake()
    assert osrm.updates_of(world.service) == [1] and osrm.updates_of(OSRM) == [1]
    assert osrm.lock() is not None
    engine.wake()  # the app's lock is held: no second scale-up of either
    assert osrm.updates_of(world.service) == [1] and osrm.updates_of(OSRM) == [1]


def test_wake_with_travels_through_the_lambda_settings(world: World, osrm: Osrm) -> None:
    settings = osrm.settings(wake_with=("osrm",))
    spec = replace(SPEC, wake_with=("osrm",))
    settings = replace(settings, internal_services=(spec,))
    variables = settings.to_env()
    assert json.loads(variables["WK_WAKE_WITH"]) == ["osrm"]
    assert Settings.from_env(variables) == settings
    # Without wake_with, neither the variable nor the service's key appears (older stacks read alike).
    plain = osrm.settings().to_env()
    assert "WK_WAKE_WITH" not in plain and "wake_with" not in plain["WK_INTERNAL_SERVICES"]


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('["tiles"]', "WK_WAKE_WITH: 'tiles' is not a service of WK_INTERNAL_SERVICES"),
        ('"osrm"', "WK_WAKE_WITH: expected a JSON list"),
        ("[osrm", "WK_WAKE_WITH: not valid JSON"),
    ],
)
def test_a_bad_wake_with_is_named(world: World, osrm: Osrm, value: str, problem: str) -> None:
    variables = {**osrm.settings().to_env(), "WK_WAKE_WITH": value}
    with pytest.raises(SettingsError, match=problem):
        Settings.from_env(variables)
