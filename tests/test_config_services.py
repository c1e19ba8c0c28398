"""Internal services ([[services]]): an app with one service keeps its file; a second service has its
own task size, scaling and sleep per environment, and every mistake names its key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG, run_cli
from tests.test_config import MINIMAL, write
from warmkeeper.aws.lambda_settings import InternalService, Settings, SettingsError
from warmkeeper.config import ConfigError, load_config, parse_s3_location
from warmkeeper.core import Policy

ROUTER = """
[[services]]
name = "router"
cpu = 512
memory = 2048
idle_minutes = 12
[[services.containers]]
name = "router"
image = "example.org/router:1"
port = 5000
entry = true
cpu = 256
memory = 1024
[services.containers.health]
path = "/health"
[services.environments.production]
cpu = 1024
memory = 4096
spot = true
"""


def with_router() -> str:
    assert "\n[defaults]" in MINIMAL
    return MINIMAL.replace("\n[defaults]", ROUTER + "\n[defaults]", 1)


def test_a_file_without_services_has_the_app_alone(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, MINIMAL))
    assert cfg.services == []
    assert cfg.all_containers == cfg.containers
    assert cfg.wakes_with(cfg.app.name) == []


def test_a_service_resolves_per_environment(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, with_router()))
    staging = cfg.service_settings("router", "staging")
    production = cfg.service_settings("router", "production")
    assert (staging.cpu, staging.memory, staging.idle_minutes, staging.port) == (512, 2048, 12, 5000)
    assert (production.cpu, production.memory, production.spot) == (1024, 4096, True)
    # Its own sleep: production's app is always on, the service still scales to zero.
    assert not cfg.environment("production").scale_to_zero
    assert production.scale_to_zero
    policy = cfg.service_policy("router", "production")
    assert policy.scale_to_zero and policy.idle_minutes == 12 and policy.wake_allowed_from == ()
    assert [c.name for c in cfg.all_containers] == ["edge", "api", "router"]


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (("cpu = 512\nmemory = 2048", "cpu = 512\nmemory = 100"), "services[0]", "impossible with cpu 512"),
        (('name = "router"\ncpu', 'name = "demo"\ncpu'), "", "the name is used twice"),
        (
            ('name = "router"\nimage', 'name = "api"\nimage'),
            "",
            "container name 'api' is already used by the app",
        ),
        (("entry = true\ncpu = 256", "cpu = 256"), "", "services[0] (router): no entry container"),
        (
            ("[services.environments.production]", "[services.environments.qa]"),
            "",
            "no environment of that name",
        ),
        (("memory = 1024\n[services", "memory = 4096\n[services"), "services[0].memory", "reserve 4096 MiB"),
        (
            ("idle_minutes = 12", 'idle_minutes = 12\nwake_with = ["nowhere"]'),
            "",
            "'nowhere' is not an internal service",
        ),
        (("idle_minutes = 12", 'idle_minutes = 12\nwake_with = ["router"]'), "", "would wake itself"),
        (("idle_minutes = 12", 'idle_minutes = 12\nexposure = "public"'), "services[0].exposure", "internal"),
        (
            ("idle_minutes = 12", 'idle_minutes = 12\nread_s3 = ["maps-bucket/data"]'),
            "services[0].read_s3",
            "must start with s3://",
        ),
        (
            ("idle_minutes = 12", 'idle_minutes = 12\nread_s3 = ["s3://Maps_Bucket/data"]'),
            "services[0].read_s3",
            "'Maps_Bucket' is not an S3 bucket name",
        ),
        (
            ("idle_minutes = 12", 'idle_minutes = 12\nread_s3 = ["s3://maps-bucket/data/*"]'),
            "services[0].read_s3",
            "may not hold wildcards",
        ),
        (
            ("idle_minutes = 12", 'idle_minutes = 12\nread_s3 = ["s3://maps-bucket", "s3://maps-bucket"]'),
            "services[0].read_s3",
            "listed twice",
        ),
    ],
)
def test_a_wrong_service_is_named(tmp_path: Path, change: tuple[str, str], key: str, problem: str) -> None:
    text = with_router()
    assert change[0] in text, change[0]
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text.replace(change[0], change[1], 1)))
    message = str(caught.value)
    assert problem in message, message
    assert key in message, message


def test_read_s3_names_buckets_and_prefixes(tmp_path: Path) -> None:
    text = with_router().replace(
        "idle_minutes = 12", 'idle_minutes = 12\nread_s3 = ["s3://maps-bucket/idf/", "s3://other.bucket"]', 1
    )
    cfg = load_config(write(tmp_path, text))
    assert cfg.service("router").read_s3 == ["s3://maps-bucket/idf/", "s3://other.bucket"]
    assert [parse_s3_location(uri) for uri in cfg.service("router").read_s3] == [
        ("maps-bucket", "idf"),
        ("other.bucket", ""),
    ]
    example = load_config(EXAMPLE_CONFIG)
    assert example.service("osrm").read_s3 == ["s3://cityguided-osrm-data/ile-de-france"]
    # The init container copies from that very bucket and prefix.
    init = next(c for c in example.service("osrm").containers if c.name == "osrm-data")
    assert (init.environment["OSRM_DATA_BUCKET"], init.environment["OSRM_DATA_PREFIX"]) == (
        "cityguided-osrm-data",
        "ile-de-france",
    )
    assert example.service("osrm").runs_to_completion("osrm-data")
    assert not example.service("osrm").runs_to_completion("osrm")


def test_app_wake_with_names_an_internal_service(tmp_path: Path) -> None:
    text = with_router().replace('name = "demo"', 'name = "demo"\nwake_with = ["router"]', 1)
    cfg = load_config(write(tmp_path, text))
    assert cfg.wakes_with("demo") == ["router"]
    wrong = with_router().replace('name = "demo"', 'name = "demo"\nwake_with = ["geo"]', 1)
    with pytest.raises(ConfigError, match=r"app\.wake_with: 'geo' is not an internal service"):
        load_config(write(tmp_path, wrong))


def test_the_app_task_may_name_an_internal_service_in_a_port_placeholder(tmp_path: Path) -> None:
    # `{port:router}` in the app's task: the loopback port where that task calls the service.
    placeholder = 'command = ["python", "-m", "http.server", "{port}"]'
    assert placeholder in with_router()
    calling = placeholder + '\nenvironment = { ROUTER_URL = "http://127.0.0.1:{port:router}" }'
    cfg = load_config(write(tmp_path, with_router().replace(placeholder, calling, 1)))
    assert cfg.containers[1].local is not None
    assert cfg.containers[1].local.environment == {"ROUTER_URL": "http://127.0.0.1:{port:router}"}
    # Without such a service it names neither a container nor a service.
    with pytest.raises(ConfigError, match=r"\{port:router\} names no container"):
        load_config(write(tmp_path, MINIMAL.replace(placeholder, calling, 1)))


def test_validate_lists_the_example_services() -> None:
    result = run_cli(["validate", "--config", str(EXAMPLE_CONFIG)])
    assert result.returncode == 0, result.stderr
    cfg = load_config(EXAMPLE_CONFIG)
    assert "2 services" in result.stdout.splitlines()[0]
    osrm_lines = [line for line in result.stdout.splitlines() if line.strip().startswith("+ osrm")]
    assert len(osrm_lines) == len(cfg.environment_names)
    staging = cfg.service_settings("osrm", "staging")
    assert f"{staging.cpu} CPU / {staging.memory} MiB" in osrm_lines[1]
    assert "osrm (internal, port 5000" in result.stdout


def test_a_broken_service_fails_validate_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, with_router().replace("cpu = 512\nmemory = 2048", "cpu = 300\nmemory = 2048", 1))
    result = run_cli(["validate", "--config", str(path)])
    assert result.returncode == 2
    assert "services[0]" in result.stderr and "cpu 300 is not a Fargate task size" in result.stderr
    assert "Traceback" not in result.stderr


def _settings(**extra: object) -> dict[str, str]:
    base = Settings(
        app="demo",
        env="staging",
        cluster="c",
        service="s",
        parameter_prefix="/wk/demo",
        policy=Policy(),
        listener_arn="arn:l",
        service_target_group_arn="arn:tg",
    )
    environ = base.to_env()
    environ.update({k: str(v) for k, v in extra.items()})
    return environ


def test_internal_services_travel_through_the_lambda_settings() -> None:
    service = InternalService(
        name="osrm",
        service="demo-staging-osrm",
        policy=Policy(idle_minutes=10),
        cloud_map_service_id="srv-1",
        idle_alarm_name="demo-staging-osrm-idle",
        activity_metric="OsrmRequests",
    )
    settings = dataclasses.replace(
        Settings.from_env(_settings()),
        internal_services=(service,),
        wake_secret_arn="arn:aws:secretsmanager:eu-west-3:1:secret:w",
    )
    back = Settings.from_env(settings.to_env())
    assert back.internal_services == (service,)
    assert back.internal_service("osrm") == service and back.internal_service("x") is None


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("[{]", "WK_INTERNAL_SERVICES: not valid JSON"),
        ('{"name": "osrm"}', "expected a JSON list"),
        ('[{"name": "osrm"}]', "WK_INTERNAL_SERVICES[0].service: required"),
        ('[{"name": "o", "service": "s", "cloud_map_service_id": "i", "policy": {"idle": 1}}]', "[0].policy"),
        ('[{"name": "o", "service": "s", "cloud_map_service_id": "i", "extra": 1}]', "unknown keys"),
    ],
)
def test_bad_internal_services_are_named(value: str, problem: str) -> None:
    environ = _settings(WK_INTERNAL_SERVICES=value, WK_WAKE_SECRET_ARN="arn:s")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert problem in str(caught.value)


def test_internal_services_need_the_wake_secret() -> None:
    value = '[{"name": "o", "service": "s", "cloud_map_service_id": "i"}]'
    with pytest.raises(SettingsError, match="WK_WAKE_SECRET_ARN: required"):
        Settings.from_env(_settings(WK_INTERNAL_SERVICES=value))
