"""The config file: typed model, environment overlays, and clear errors through the real CLI."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_CONFIG, run_cli
from warmkeeper.config import ConfigError, expand_local, load_config, parse_config

MINIMAL = """
[app]
name = "demo"

[[containers]]
name = "edge"
image = "public.ecr.aws/docker/library/caddy:2"
port = 8080
entry = true
cpu = 128
memory = 256
depends_on = ["api"]
stop_timeout_seconds = 90  # above an HTTP API's default drain window (75 s) + 5 s
[containers.health]
path = "/healthz"
command = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]
[containers.local]
command = ["caddy", "run"]
environment = { UPSTREAM = "127.0.0.1:{port:api}" }

[[containers]]
name = "api"
build = "api"
port = 8000
cpu = 128
memory = 256
[containers.health]
path = "/api/health"
command = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/api/health"]
[containers.local]
command = ["python", "-m", "http.server", "{port}"]

[defaults]
allow_plain_http = true  # the load balancer environments below have no certificate

[environments.staging]
idle_minutes = 7

[environments.production]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "warmkeeper.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_example_config_loads_with_three_environments() -> None:
    config = load_config(EXAMPLE_CONFIG)
    assert config.app.name == "cityguided"
    assert config.entry_container.name == "caddy"
    staging = config.environment("staging")
    production = config.environment("production")
    assert staging.scale_to_zero and staging.idle_minutes == 5 and staging.spot
    assert not production.scale_to_zero and production.min_tasks >= 1
    assert config.stack_name("staging") == "Cityguided-staging"


def test_container_insights_follows_the_watch_unless_the_file_says(tmp_path: Path) -> None:
    # MINIMAL's staging sleeps with no dashboard nor alarm e-mail; production never sleeps (dashboard).
    config = load_config(write(tmp_path, MINIMAL))
    assert not config.environment("staging").has_container_insights
    assert config.environment("production").has_container_insights
    asked = MINIMAL.replace("idle_minutes = 7", "idle_minutes = 7\ncontainer_insights = true")
    assert load_config(write(tmp_path, asked)).environment("staging").has_container_insights
    # Off where a dashboard reads it: refused, naming the key.
    refused = MINIMAL.replace(
        "[environments.production]", "[environments.production]\ncontainer_insights = false"
    )
    with pytest.raises(ConfigError, match="container_insights = false in a watched environment"):
        load_config(write(tmp_path, refused))


def test_overlays_built_in_then_defaults_then_environment(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            MINIMAL.replace("allow_plain_http = true", 'allow_plain_http = true\nregion = "eu-west-1"'),
        )
    )
    staging = config.environment("staging")
    assert staging.region == "eu-west-1"  # from [defaults]
    assert staging.idle_minutes == 7  # from [environments.staging]
    assert staging.architecture == "arm64"  # built-in default
    production = config.environment("production")
    assert not production.scale_to_zero  # production never sleeps unless the file says so
    assert production.min_tasks == 1


def test_ingress_certificate_reaches_aws_environments_only(tmp_path: Path) -> None:
    text = MINIMAL + (
        '\n[ingress]\ndomain = "staging.example.org"\n'
        'certificate_arn = "arn:aws:acm:eu-west-3:123456789012:certificate/abc"\n'
    )
    config = load_config(write(tmp_path, text))
    assert config.environment("staging").https
    assert not config.environment("local").https


def test_cloudfront_front_door_takes_a_us_east_1_certificate_and_serves_https(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "idle_minutes = 7",
        f'idle_minutes = 7\nfront_door = "cloudfront"\ndomain = "{DOMAIN}"\n'
        f'certificate_arn = "{VIRGINIA_CERTIFICATE}"',
    )
    staging = load_config(write(tmp_path, text)).environment("staging")
    assert staging.front_door == "cloudfront" and staging.https
    assert not staging.internet_facing_load_balancer
    # Without CloudFront nor a certificate, plain HTTP on an internet-facing load balancer.
    production = load_config(write(tmp_path, MINIMAL)).environment("production")
    assert production.front_door == "load_balancer" and not production.https
    assert production.internet_facing_load_balancer


def test_http_api_front_door_has_no_load_balancer_and_serves_https(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "idle_minutes = 7",
        f'idle_minutes = 7\nfront_door = "http_api"\ndomain = "{DOMAIN}"\n'
        f'certificate_arn = "{PARIS_CERTIFICATE}"\napi_rate_limit = 20\napi_burst_limit = 40',
    )
    staging = load_config(write(tmp_path, text)).environment("staging")
    assert staging.front_door == "http_api" and staging.https
    assert not staging.load_balancer and not staging.internal_load_balancer
    assert not staging.internet_facing_load_balancer
    assert (staging.api_rate_limit, staging.api_burst_limit) == (20, 40)
    # Throttling has defaults, and the 25 s default hold fits the 30 s integration timeout exactly.
    plain = load_config(
        write(tmp_path, MINIMAL.replace("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"'))
    )
    assert plain.scale_to_zero.hold_seconds == 25
    defaults = plain.environment("staging")
    assert (defaults.api_rate_limit, defaults.api_burst_limit) == (50, 100) and not defaults.domain
    # An always-on environment holds nothing: a long hold does not stop it from using an HTTP API.
    always_on = MINIMAL.replace(
        "[environments.staging]\nidle_minutes = 7\n\n[environments.production]",
        '[scale_to_zero]\nhold_seconds = 40\n\n[environments.production]\nfront_door = "http_api"',
    )
    assert load_config(write(tmp_path, always_on)).environment("production").front_door == "http_api"


def test_example_staging_sits_behind_an_http_api_and_production_does_not() -> None:
    # No load balancer in staging (its hours were most of the bill); production keeps one, behind
    # CloudFront for HTTPS without a domain.
    config = load_config(EXAMPLE_CONFIG)
    assert config.environment("staging").front_door == "http_api"
    assert config.environment("production").front_door == "cloudfront"


def test_expand_local_fills_own_and_sibling_ports() -> None:
    ports = {"edge": 41000, "api": 41001}
    assert expand_local("--port={port}", "api", ports) == "--port=41001"
    assert expand_local("127.0.0.1:{port:api}", "edge", ports) == "127.0.0.1:41001"


def test_environments_take_any_name_and_none_is_invented(tmp_path: Path) -> None:
    data = tomllib.loads(
        MINIMAL.replace("[environments.production]\n", "[environments.qa]\nidle_minutes = 3\n")
    )
    config = parse_config(data, tmp_path / "x.toml")
    assert config.environment("qa").idle_minutes == 3
    # `local` (the twin) is always there; production was not declared, so it does not exist.
    assert config.environment_names == ["local", "staging", "qa"]
    with pytest.raises(ConfigError, match="unknown environment 'production'"):
        config.environment("production")


def test_an_environment_name_must_fit_aws_resource_names(tmp_path: Path) -> None:
    data = tomllib.loads(MINIMAL + "\n[environments.QA_1]\n")
    with pytest.raises(ConfigError, match="environment name 'QA_1'"):
        parse_config(data, tmp_path / "x.toml")


def test_the_region_comes_from_the_aws_configuration_else_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_REGION", "ca-central-1")
    assert load_config(write(tmp_path, MINIMAL)).environment("staging").region == "ca-central-1"
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    aws_config = tmp_path / "aws-config"
    aws_config.write_text("[profile shop]\nregion = ap-southeast-2\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(aws_config))
    monkeypatch.setenv("AWS_PROFILE", "shop")
    assert load_config(write(tmp_path, MINIMAL)).environment("staging").region == "ap-southeast-2"
    monkeypatch.setenv("AWS_PROFILE", "other")
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, MINIMAL))
    assert refused.value.key == "environments.staging.region"
    assert "AWS configuration names no region" in refused.value.problem


def test_scale_to_zero_with_more_than_one_task_is_refused(tmp_path: Path) -> None:
    text = MINIMAL.replace("idle_minutes = 7", "idle_minutes = 7\nmax_tasks = 2")
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text))
    assert refused.value.key == "environments.staging"
    assert "max_tasks = 2 with scale_to_zero = true" in refused.value.problem


def test_an_http_api_refuses_a_container_without_a_health_command(tmp_path: Path) -> None:
    text = MINIMAL.replace("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"').replace(
        'command = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/api/health"]\n', ""
    )
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text))
    assert refused.value.key == "containers[1].health.command"
    assert "'api' has no health command" in refused.value.problem
    # Behind a load balancer, the load balancer probes the path: no command needed.
    load_config(write(tmp_path, text.replace('front_door = "http_api"', "")))


def test_a_container_without_a_local_command_runs_its_image_in_the_twin(tmp_path: Path) -> None:
    text = MINIMAL.replace('[containers.local]\ncommand = ["python", "-m", "http.server", "{port}"]\n', "")
    assert load_config(write(tmp_path, text)).environment("local").runtime == "containers"
    forced = text + '\n[environments.local]\nruntime = "processes"\n'
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, forced))
    assert refused.value.key == "containers[1].local"


DOMAIN = "staging.demo.example"
PARIS_CERTIFICATE = "arn:aws:acm:eu-west-3:123456789012:certificate/6b1f0c1e-2d4a-4c55-9a39-0f1b2c3d4e5f"
VIRGINIA_CERTIFICATE = PARIS_CERTIFICATE.replace("eu-west-3", "us-east-1")

# Each bad input: (what to change in MINIMAL, the key named in the message, words of the message).
BAD_INPUTS = {
    "unknown key": (
        ('[containers.health]\npath = "/healthz"', '[containers.health]\npath = "/healthz"\nintervl = 5'),
        "containers[0].health.intervl",
        "unknown key",
    ),
    "wrong type": (("port = 8000", 'port = "eight thousand"'), "containers[1].port", "integer"),
    "impossible cpu/memory": (
        ("idle_minutes = 7", "idle_minutes = 7\ncpu = 256\nmemory = 4096"),
        "environments.staging",
        "impossible with cpu 256",
    ),
    "cpu not a Fargate size": (
        ("idle_minutes = 7", "idle_minutes = 7\ncpu = 300"),
        "environments.staging",
        "not a Fargate task size",
    ),
    "port used twice": (("port = 8000", "port = 8080"), "", "port 8080 is used twice"),
    "no entry container": (("entry = true\n", ""), "", "no entry container"),
    "min greater than max": (
        ("idle_minutes = 7", "idle_minutes = 7\nscale_to_zero = false\nmin_tasks = 3\nmax_tasks = 2"),
        "environments.staging",
        "min_tasks (3) is greater than max_tasks (2)",
    ),
    "missing key": (
        ('name = "api"\nbuild = "api"\nport = 8000', 'name = "api"\nbuild = "api"'),
        "containers[1].port",
        "required key is missing",
    ),
    "secret given as a value": (
        (
            "port = 8000",
            'port = 8000\nsecrets = { TOKEN = "hunter2" }',
        ),
        "containers[1].secrets",
        "ARN",
    ),
    "containers reserve more than the task": (
        ("cpu = 128\nmemory = 256\ndepends_on", "cpu = 128\nmemory = 400\ndepends_on"),
        "environments.local.memory (not set: built-in default)",
        "reserve 656 MiB",
    ),
    "unknown dependency": (('depends_on = ["api"]', 'depends_on = ["db"]'), "", "unknown container 'db'"),
    "unknown front door": (
        ("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "cdn"'),
        "environments.staging.front_door",
        "'load_balancer', 'cloudfront' or 'http_api'",
    ),
    # The HTTP API front door.
    "HTTP API with a hold longer than its 30 s integration timeout allows": (
        (
            "[environments.staging]\nidle_minutes = 7",
            "[scale_to_zero]\nhold_seconds = 26\n\n"
            '[environments.staging]\nidle_minutes = 7\nfront_door = "http_api"',
        ),
        "scale_to_zero.hold_seconds",
        "does not fit the HTTP API's 30 s integration timeout, which cannot be raised",
    ),
    "HTTP API with a certificate from another region": (
        (
            "idle_minutes = 7",
            f'idle_minutes = 7\nfront_door = "http_api"\ndomain = "{DOMAIN}"\n'
            f'certificate_arn = "{VIRGINIA_CERTIFICATE}"',
        ),
        "environments.staging.certificate_arn",
        "is in us-east-1, but front_door = 'http_api' needs a regional certificate from the stack's "
        "region eu-west-3",
    ),
    "HTTP API with a domain and no certificate": (
        ("idle_minutes = 7", f'idle_minutes = 7\nfront_door = "http_api"\ndomain = "{DOMAIN}"'),
        "environments.staging.certificate_arn (not set: built-in default)",
        "needs a regional ACM certificate for it in eu-west-3",
    ),
    "shared certificate from another region inherited by an HTTP API environment": (
        (
            "[environments.staging]\nidle_minutes = 7",
            f'[ingress]\ndomain = "{DOMAIN}"\ncertificate_arn = "{VIRGINIA_CERTIFICATE}"\n\n'
            '[environments.staging]\nidle_minutes = 7\nfront_door = "http_api"',
        ),
        "ingress.certificate_arn",
        "is in us-east-1, but environments.staging has front_door = 'http_api' in eu-west-3",
    ),
    "HTTP API throttling rate of zero": (
        ("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"\napi_rate_limit = 0'),
        "environments.staging.api_rate_limit",
        "greater than or equal to 1",
    ),
    "HTTP API burst above what AWS allows": (
        ("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"\napi_burst_limit = 9000'),
        "environments.staging.api_burst_limit",
        "less than or equal to 5000",
    ),
    "HTTP API burst below its steady rate": (
        (
            "idle_minutes = 7",
            'idle_minutes = 7\nfront_door = "http_api"\napi_rate_limit = 80\napi_burst_limit = 40',
        ),
        "environments.staging.api_burst_limit",
        "40 is below api_rate_limit (80)",
    ),
    "CloudFront with a certificate outside us-east-1": (
        (
            "idle_minutes = 7",
            f'idle_minutes = 7\nfront_door = "cloudfront"\ndomain = "{DOMAIN}"\n'
            f'certificate_arn = "{PARIS_CERTIFICATE}"',
        ),
        "environments.staging",
        "certificate_arn is in eu-west-3, but front_door = 'cloudfront' needs a certificate from us-east-1",
    ),
    "CloudFront with a domain and no certificate": (
        ("idle_minutes = 7", f'idle_minutes = 7\nfront_door = "cloudfront"\ndomain = "{DOMAIN}"'),
        "environments.staging",
        "needs certificate_arn",
    ),
    "shared regional certificate inherited by a CloudFront environment": (
        (
            "[environments.staging]\nidle_minutes = 7",
            f'[ingress]\ndomain = "{DOMAIN}"\ncertificate_arn = "{PARIS_CERTIFICATE}"\n\n'
            '[environments.staging]\nidle_minutes = 7\nfront_door = "cloudfront"',
        ),
        "ingress.certificate_arn",
        "is in eu-west-3, but environments.staging has front_door = 'cloudfront'",
    ),
    "CloudFront in a region without a known prefix list": (
        ("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "cloudfront"\nregion = "af-south-1"'),
        "environments.staging",
        "not supported in af-south-1",
    ),
    "hold too long for CloudFront without a quota increase": (
        (
            "idle_minutes = 7",
            'idle_minutes = 7\nfront_door = "cloudfront"\n\n[scale_to_zero]\nhold_seconds = 50',
        ),
        "scale_to_zero.hold_seconds",
        "cloudfront_origin_timeout_quota_seconds",
    ),
    "bad region": (
        ("idle_minutes = 7", 'idle_minutes = 7\nregion = "paris"'),
        "environments.staging.region",
        "not an AWS region",
    ),
    "drain window above the entry's stop timeout": (
        ("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"\ndrain_seconds = 86'),
        "containers[0].stop_timeout_seconds",
        "does not cover the drain window of environments.staging (86 s, environments.staging.drain_seconds)",
    ),
    "drain window beyond what Fargate can wait": (
        ("idle_minutes = 7", "idle_minutes = 7\ndrain_seconds = 116"),
        "environments.staging.drain_seconds",
        "less than or equal to 115",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_config_gives_one_clear_line_and_exit_2(tmp_path: Path, case: str) -> None:
    (old, new), key, words = BAD_INPUTS[case]
    assert old in MINIMAL, f"test setup: {old!r} not in MINIMAL"
    path = write(tmp_path, MINIMAL.replace(old, new, 1))
    result = run_cli(["validate", "--config", str(path)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert str(path) in result.stderr
    if key:
        assert f": {key}:" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


def test_missing_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    result = run_cli(["validate", "--config", str(missing)])
    assert result.returncode == 2
    assert f"{missing}: file not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_toml_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[app\nname = ")
    result = run_cli(["validate", "--config", str(path)])
    assert result.returncode == 2
    assert "not valid TOML" in result.stderr and str(path) in result.stderr


def test_unknown_environment_argument_is_named() -> None:
    result = run_cli(["synth", "--config", str(EXAMPLE_CONFIG), "--env", "qa"])
    assert result.returncode == 2
    assert "--env: unknown environment 'qa'" in result.stderr
    assert "Traceback" not in result.stderr


def test_valid_config_summary_lists_every_environment() -> None:
    result = run_cli(["validate", "--config", str(EXAMPLE_CONFIG)])
    assert result.returncode == 0, result.stderr
    cfg = load_config(EXAMPLE_CONFIG)
    # Environment lines are indented by two spaces; a service's lines under them by four.
    lines = {
        line.split()[0]: line
        for line in result.stdout.splitlines()[1:]
        if line.startswith("  ") and not line.startswith("   ") and not line.strip().startswith("services:")
    }
    assert list(lines) == ["local", "staging", "production"]
    # Each environment's line says what that environment resolves to, not what another one does.
    for name, line in lines.items():
        settings = cfg.environment(name)
        assert f"{settings.cpu} CPU / {settings.memory} MiB" in line, line
        if name != "local":
            assert f"{settings.region}  front door {settings.front_door}" in line, line
        if settings.scale_to_zero:
            assert f"tasks 0-1, scale to zero after {settings.idle_minutes} min" in line, line
        else:
            assert f"tasks {settings.min_tasks}-{settings.max_tasks}, always on, autoscaled" in line, line


def test_drain_window_defaults_per_front_door_and_reaches_the_task_definition(tmp_path: Path) -> None:
    config = load_config(
        write(tmp_path, MINIMAL.replace("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"'))
    )
    assert config.environment("staging").drain_window_seconds == 75  # HTTP API: the assumed cache + 15 s
    assert config.environment("production").drain_window_seconds == 0  # a load balancer drains itself
    explicit = MINIMAL.replace("idle_minutes = 7", "idle_minutes = 7\ndrain_seconds = 10")
    assert load_config(write(tmp_path, explicit)).environment("staging").drain_window_seconds == 10


def test_an_http_api_needs_an_entry_stop_timeout_above_its_default_drain_window(tmp_path: Path) -> None:
    text = MINIMAL.replace("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"').replace(
        "stop_timeout_seconds = 90", "stop_timeout_seconds = 30"
    )
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text))
    assert refused.value.key == "containers[0].stop_timeout_seconds"
    assert "75 s, environments.staging.drain_seconds (not set: built-in default)" in refused.value.problem
    assert "use at least 80" in refused.value.problem


def test_front_door_names_agree_with_the_front_doors_table() -> None:
    """The config's Literal, its per-door checks and warmkeeper.core.front_doors name the same doors."""
    from typing import get_args

    from warmkeeper import config
    from warmkeeper.config import EnvironmentSettings
    from warmkeeper.core.front_doors import FRONT_DOOR_NAMES

    literal = EnvironmentSettings.model_fields["front_door"].annotation
    assert get_args(literal) == FRONT_DOOR_NAMES
    assert tuple(config._FRONT_DOOR_CHECKS) == FRONT_DOOR_NAMES
    assert set(config._INHERITED_CERTIFICATE_CHECKS) <= set(FRONT_DOOR_NAMES)
    # `warmkeeper up --front-door` offers exactly these.
    from warmkeeper.commands.twin_commands import FrontDoorModel

    assert tuple(FrontDoorModel) == FRONT_DOOR_NAMES


def test_front_door_properties_read_the_front_doors_table() -> None:
    from warmkeeper.config import EnvironmentSettings
    from warmkeeper.core.front_doors import HTTP_API_DEFAULT_DRAIN_SECONDS

    expected = {
        # door: (https, drain window, internet-facing LB, any LB, internal LB)
        "load_balancer": (False, 0, True, True, False),
        "cloudfront": (True, 0, False, True, True),
        "http_api": (True, HTTP_API_DEFAULT_DRAIN_SECONDS, False, False, False),
    }
    for door, values in expected.items():
        settings = EnvironmentSettings(front_door=door)  # type: ignore[arg-type]
        assert settings.door.name == door
        assert (
            settings.https,
            settings.drain_window_seconds,
            settings.internet_facing_load_balancer,
            settings.load_balancer,
            settings.internal_load_balancer,
        ) == values, door
    assert EnvironmentSettings(front_door="http_api", drain_seconds=12).drain_window_seconds == 12


def test_build_options_go_with_build_only(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        'image = "public.ecr.aws/docker/library/caddy:2"', 'image = "caddy:2"\nbuild_target = "x"'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text))
    assert refused.value.key == "containers[0]"
    assert "build_target and build_args go with 'build'" in refused.value.problem
    built = MINIMAL.replace(
        'build = "api"', 'build = "api"\nbuild_target = "runtime"\nbuild_args = { V = "1" }'
    )
    api = load_config(write(tmp_path, built)).container("api")
    assert api.build_options() == ["--target", "runtime", "--build-arg", "V=1"]


# HTTPS by default: an internet-facing environment on plain HTTP must say so.
REFUSING_PLAIN_HTTP = MINIMAL.replace("allow_plain_http = true", "allow_plain_http = false")


@pytest.mark.parametrize("command", ["validate", "synth"])
def test_plain_http_to_the_internet_is_refused_naming_the_environment(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, REFUSING_PLAIN_HTTP)
    args = [command, "--config", str(path)]
    if command == "synth":
        args += ["--env", "production", "--output", str(tmp_path / "cdk.out")]
    result = run_cli(args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    # Staging is the first AWS environment checked; it names itself and the key that accepts it.
    assert f"{path}: environments.staging: environment 'staging' would serve plain HTTP" in result.stderr
    assert "allow_plain_http = true" in result.stderr
    assert not (tmp_path / "cdk.out").exists() or not any((tmp_path / "cdk.out").iterdir())


def test_each_environment_on_plain_http_is_named(tmp_path: Path) -> None:
    # Staging behind an HTTP API is HTTPS; production on a bare load balancer is the one refused.
    text = REFUSING_PLAIN_HTTP.replace("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"')
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text))
    assert refused.value.key == "environments.production"
    assert "'production'" in refused.value.problem


def test_https_environments_and_the_twin_need_no_opt_in(tmp_path: Path) -> None:
    text = REFUSING_PLAIN_HTTP.replace(
        "idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"'
    ).replace(
        "[environments.production]\n",
        f'[environments.production]\ndomain = "{DOMAIN}"\ncertificate_arn = "{PARIS_CERTIFICATE}"\n',
    )
    config = load_config(write(tmp_path, text))
    assert config.environment("production").https
    assert config.environment("local").front_door == "load_balancer"  # the twin: loopback, not internet
    assert config.plain_http_environments() == []


def test_validate_warns_about_each_environment_that_allows_plain_http(tmp_path: Path) -> None:
    result = run_cli(["validate", "--config", str(write(tmp_path, MINIMAL))])
    assert result.returncode == 0, result.stderr
    for env in ("staging", "production"):
        assert f"warning: environments.{env} serves plain HTTP to the internet" in result.stderr
    assert "environments.local" not in result.stderr
    example = run_cli(["validate", "--config", str(EXAMPLE_CONFIG)])
    assert example.returncode == 0 and "warning" not in example.stderr


def test_an_environment_the_file_never_mentions_is_refused_when_synthesized(tmp_path: Path) -> None:
    # A config for the twin alone stays valid and invents no production; synthesizing one is refused.
    text = REFUSING_PLAIN_HTTP.replace(
        "[environments.staging]\nidle_minutes = 7", "[environments.local]\nidle_minutes = 1"
    ).replace("[environments.production]\n", "")
    path = write(tmp_path, text)
    validated = run_cli(["validate", "--config", str(path)])
    assert validated.returncode == 0, validated.stderr
    assert "production" not in validated.stdout + validated.stderr
    output = tmp_path / "cdk.out"
    result = run_cli(["synth", "--config", str(path), "--env", "production", "--output", str(output)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "unknown environment 'production'" in result.stderr
    assert not output.exists()


@pytest.mark.parametrize("prefix", ["api", "waker", "endpoint"])
def test_each_route_throttle_needs_a_burst_at_least_its_rate(tmp_path: Path, prefix: str) -> None:
    text = MINIMAL.replace(
        "idle_minutes = 7",
        f'idle_minutes = 7\nfront_door = "http_api"\n{prefix}_rate_limit = 30\n{prefix}_burst_limit = 10',
    )
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text))
    assert refused.value.key == f"environments.staging.{prefix}_burst_limit"
    assert f"below {prefix}_rate_limit (30)" in refused.value.problem


def test_the_waker_routes_are_throttled_below_the_app_routes_by_default(tmp_path: Path) -> None:
    text = MINIMAL.replace("idle_minutes = 7", 'idle_minutes = 7\nfront_door = "http_api"')
    staging = load_config(write(tmp_path, text)).environment("staging")
    assert staging.waker_rate_limit < staging.api_rate_limit
    assert staging.endpoint_rate_limit < staging.api_rate_limit


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ('writable_paths = ["tmp"]', "must be an absolute path"),
        ('writable_paths = ["/"]', "must be an absolute path"),
        ('writable_paths = ["/tmp/../etc"]', "must be an absolute path"),
        ('writable_paths = ["/tmp", "/tmp"]', "listed twice"),
        ('add_capabilities = ["NET_ADMIN"]', "SYS_PTRACE"),
    ],
)
def test_container_hardening_keys_are_checked(tmp_path: Path, line: str, words: str) -> None:
    text = MINIMAL.replace("stop_timeout_seconds = 90", f"stop_timeout_seconds = 90\n{line}", 1)
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, text))
    assert refused.value.key.startswith("containers[0].")
    assert words in refused.value.problem


def test_containers_are_read_only_unless_they_say_otherwise(tmp_path: Path) -> None:
    text = MINIMAL.replace(
        "stop_timeout_seconds = 90",
        'stop_timeout_seconds = 90\nread_only_root = false\nadd_capabilities = ["SYS_PTRACE"]',
        1,
    )
    config = load_config(write(tmp_path, text))
    edge, api = config.containers
    assert (edge.read_only_root, edge.add_capabilities) == (False, ["SYS_PTRACE"])
    assert (api.read_only_root, api.writable_paths, api.add_capabilities) == (True, [], [])


def test_task_egress_rules_are_typed_and_checked(tmp_path: Path) -> None:
    good = MINIMAL.replace(
        "idle_minutes = 7",
        'idle_minutes = 7\ntask_egress = [{ cidr = "10.0.0.0/16", port = 5432, description = "database" }]',
    )
    (rule,) = load_config(write(tmp_path, good)).environment("staging").task_egress
    assert (rule.cidr, rule.port, rule.protocol) == ("10.0.0.0/16", 5432, "tcp")
    bad = MINIMAL.replace(
        "idle_minutes = 7", 'idle_minutes = 7\ntask_egress = [{ cidr = "10.0.0.300/16", port = 1 }]'
    )
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, bad))
    assert refused.value.key == "environments.staging.task_egress[0].cidr"
    assert "is not an IPv4 range" in refused.value.problem


def test_wake_allowed_from_is_checked_and_reaches_the_policy(tmp_path: Path) -> None:
    good = MINIMAL.replace("idle_minutes = 7", 'idle_minutes = 7\nwake_allowed_from = ["203.0.113.0/24"]')
    config = load_config(write(tmp_path, good))
    assert config.policy("staging").wake_allowed_from == ("203.0.113.0/24",)
    assert config.policy("production").wake_allowed_from == ()
    bad = MINIMAL.replace("idle_minutes = 7", 'idle_minutes = 7\nwake_allowed_from = ["203.0.113.7/24"]')
    with pytest.raises(ConfigError) as refused:
        load_config(write(tmp_path, bad))
    assert refused.value.key == "environments.staging.wake_allowed_from"
    assert "is not an address range" in refused.value.problem
