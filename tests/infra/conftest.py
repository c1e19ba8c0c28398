"""Session fixtures: each stack variant is synthesized once and shared by every infra test.

- `staging` and `production`: the example config: staging behind CloudFront (`front_door =
  "cloudfront"`, internal load balancer, as the example's production is; the example's staging itself
  says "http_api", which `http_api_staging` covers) with the dashboard and an alarm e-mail the
  example's staging does not ask for, and its warm schedule; production (no alarm e-mail, the dashboard
  and topic it keeps by default) on an internet-facing load balancer, HTTP only, which the config
  accepts because this copy says `allow_plain_http = true` (the example's own production is behind
  CloudFront, for HTTPS);
- `https_staging`: a copy of it with an internet-facing load balancer (`front_door = "load_balancer"`)
  serving a domain with a regional ACM certificate, an alarm e-mail, container secrets
  by ARN, one container with a ready-made image instead of a build, an explicit image tag, one
  image pinned by digest (the others by the tag) and a long hold time;
- `http_api_staging`: the example's staging (`front_door = "http_api"`: an HTTP API, a
  VPC link and Cloud Map, no load balancer; its warm schedule), plus the dashboard, an alarm
  e-mail and `wake_allowed_from` (a private environment); test_lean_staging.py synthesizes the
  example's staging exactly as it is. Checked by test_http_api.py and the compliance tests (it
  is not in `any_env`, whose tests are about the load balancer's environments).

Each synthesis writes both stacks of its environment in one app: the service stack (the variant)
and its images stack (`variant.images`, the ECR repositories).

aws_cdk is imported inside the fixtures: collecting tests elsewhere never pays for starting jsii.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE_CONFIG
from tests.infra.support import SynthesizedEnv
from warmkeeper.config import AppConfig, parse_config

# jsii prints a Node end-of-life banner (stderr) on every start without this (the value is Node's major).
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20,22")

CERTIFICATE_ARN = "arn:aws:acm:eu-west-3:123456789012:certificate/6b1f0c1e-2d4a-4c55-9a39-0f1b2c3d4e5f"
DOMAIN = "staging.cityguided.example"
ALARM_EMAIL = "ops@cityguided.example"
DATABASE_SECRET_ARN = "arn:aws:secretsmanager:eu-west-3:123456789012:secret:cityguided/database-AbCdEf"
MAPS_KEY_PARAMETER_ARN = "arn:aws:ssm:eu-west-3:123456789012:parameter/cityguided/maps-key"
WEB_IMAGE = "ghcr.io/cityguided/web:1.4.2"
IMAGE_TAG = "3f9c2ab"
API_DIGEST = "sha256:" + "5d" * 32  # https_staging pins api by digest; caddy keeps the tag
PRIVATE_RANGES = ("203.0.113.0/24", "2001:db8::/32")
HOLD_SECONDS = 55  # longer than the load balancer's default idle timeout (60 s) once Lambda time is added


def drop_services(data: dict[str, Any]) -> None:
    """The example's file without its internal services: the app's task named the osrm caller's port
    (`{port:osrm}`, a placeholder only a declared service fills), so a number stands there instead."""
    data.pop("services")
    for container in data["containers"]:
        local = container.get("local", {})
        local["environment"] = {
            key: value.replace("{port:osrm}", "5000") for key, value in local.get("environment", {}).items()
        }
        container["environment"] = {
            key: value.replace("{port:osrm}", "5000")
            for key, value in container.get("environment", {}).items()
        }


def https_config() -> AppConfig:
    data: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    drop_services(data)  # the app's own stack: internal services have variants of their own
    data["ingress"] = {"domain": DOMAIN, "certificate_arn": CERTIFICATE_ARN}
    data["environments"]["staging"]["alarm_email"] = ALARM_EMAIL
    data["environments"]["staging"]["dashboard"] = True
    data["environments"]["staging"]["front_door"] = "load_balancer"
    # The regional certificate of [ingress] would reach production too, which CloudFront cannot take.
    data["environments"]["production"]["front_door"] = "load_balancer"
    data["scale_to_zero"]["hold_seconds"] = HOLD_SECONDS
    containers = {container["name"]: container for container in data["containers"]}
    containers["api"]["secrets"] = {"DATABASE_URL": DATABASE_SECRET_ARN, "MAPS_KEY": MAPS_KEY_PARAMETER_ARN}
    del containers["web"]["build"]
    containers["web"]["image"] = WEB_IMAGE
    return parse_config(data, EXAMPLE_CONFIG.resolve())


def _synthesize(
    variant: str,
    config: AppConfig,
    env: str,
    output: Path,
    image_tag: str = "latest",
    image_digests: dict[str, str] | None = None,
) -> SynthesizedEnv:
    from warmkeeper.infra.app import synthesize_stack

    synthesized = synthesize_stack(config, env, output, image_tag=image_tag, image_digests=image_digests)
    images = None
    if synthesized.images_stack is not None and synthesized.images_template is not None:
        images = SynthesizedEnv(
            variant=f"{variant}-images",
            config=config,
            env_name=env,
            image_tag=image_tag,
            stack=synthesized.images_stack,
            template_path=synthesized.images_template,
            raw=json.loads(synthesized.images_template.read_text(encoding="utf-8")),
        )
    return SynthesizedEnv(
        variant=variant,
        config=config,
        env_name=env,
        image_tag=image_tag,
        stack=synthesized.stack,
        template_path=synthesized.template,
        raw=json.loads(synthesized.template.read_text(encoding="utf-8")),
        images=images,
    )


def http_api_config(with_services: bool = False) -> AppConfig:
    data: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    if not with_services:
        drop_services(data)  # the app's own stack: internal services have variants of their own
    data["environments"]["staging"]["front_door"] = "http_api"
    # The dashboard and the alarm topic the example's staging no longer has, for the tests written
    # against them; test_lean_staging.py synthesizes the example's staging as it is.
    data["environments"]["staging"]["dashboard"] = True
    data["environments"]["staging"]["alarm_email"] = ALARM_EMAIL
    # Private: the entry container learns the ranges and the integration writes the client's address.
    data["environments"]["staging"]["wake_allowed_from"] = list(PRIVATE_RANGES)
    return parse_config(data, EXAMPLE_CONFIG.resolve())


def _cloudfront_staging_data() -> dict[str, Any]:
    data: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"]["front_door"] = "cloudfront"
    data["environments"]["staging"]["dashboard"] = True
    data["environments"]["staging"]["alarm_email"] = ALARM_EMAIL
    data["environments"]["production"].update(front_door="load_balancer", allow_plain_http=True)
    return data


@pytest.fixture(scope="session")
def services_staging(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    """The example with its internal osrm service, staging behind CloudFront, watched (dashboard, alarm
    e-mail): a namespace of its own, the function URL, the service's alarms and row."""
    config = parse_config(_cloudfront_staging_data(), EXAMPLE_CONFIG.resolve())
    return _synthesize("services_staging", config, "staging", tmp_path_factory.mktemp("cdk-services"))


@pytest.fixture(scope="session")
def services_http_api(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    """The example with its osrm service behind the HTTP API (the front door's Cloud Map namespace)."""
    return _synthesize(
        "services_http_api",
        http_api_config(with_services=True),
        "staging",
        tmp_path_factory.mktemp("cdk-services-http-api"),
    )


@pytest.fixture(scope="session")
def lean_staging(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    """The example's staging exactly as the file says (http_api, unwatched, osrm included)."""
    from warmkeeper.config import load_config

    return _synthesize(
        "lean_staging", load_config(EXAMPLE_CONFIG), "staging", tmp_path_factory.mktemp("cdk-lean")
    )


@pytest.fixture(scope="session")
def example_config() -> AppConfig:
    # The example's staging moved to the HTTP API (`http_api_staging` covers it): the
    # `staging` variant keeps the CloudFront front door these tests were written for.
    data: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"]["front_door"] = "cloudfront"
    # These variants keep the dashboard and the alarm topic the example's staging no longer has
    # (`http_api_staging` checks their absence): the tests of both are written against them.
    data["environments"]["staging"]["dashboard"] = True
    data["environments"]["staging"]["alarm_email"] = ALARM_EMAIL
    # The internet-facing, plain-HTTP load balancer these tests were written for, now an explicit opt-in.
    data["environments"]["production"].update(front_door="load_balancer", allow_plain_http=True)
    # The app's own stack: internal services have variants of their own (services_*).
    drop_services(data)
    return parse_config(data, EXAMPLE_CONFIG.resolve())


@pytest.fixture(scope="session")
def staging(example_config: AppConfig, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    return _synthesize("staging", example_config, "staging", tmp_path_factory.mktemp("cdk-staging"))


@pytest.fixture(scope="session")
def production(example_config: AppConfig, tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    return _synthesize("production", example_config, "production", tmp_path_factory.mktemp("cdk-production"))


@pytest.fixture(scope="session")
def https_staging(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    return _synthesize(
        "https_staging",
        https_config(),
        "staging",
        tmp_path_factory.mktemp("cdk-https"),
        image_tag=IMAGE_TAG,
        image_digests={"api": API_DIGEST},
    )


@pytest.fixture(scope="session")
def http_api_staging(tmp_path_factory: pytest.TempPathFactory) -> SynthesizedEnv:
    return _synthesize(
        "http_api_staging", http_api_config(), "staging", tmp_path_factory.mktemp("cdk-http-api")
    )


@pytest.fixture(scope="session")
def no_services_staging(staging: SynthesizedEnv) -> SynthesizedEnv:
    """The `staging` variant (CloudFront, dashboard, alarm e-mail) is an app without [[services]]: none
    of what internal services bring may appear in it."""
    assert not staging.config.services
    return staging


@pytest.fixture(params=["staging", "production", "https_staging"])
def any_env(request: pytest.FixtureRequest) -> SynthesizedEnv:
    """Each test using this runs once per variant; the variants themselves are synthesized once."""
    synthesized: SynthesizedEnv = request.getfixturevalue(request.param)
    return synthesized


@pytest.fixture(params=["staging", "production", "https_staging", "http_api_staging"])
def every_front_door(request: pytest.FixtureRequest) -> SynthesizedEnv:
    """``any_env`` and the HTTP API variant: for what must hold behind every front door (the
    service's scaling, its dependencies, the events that reach the waker)."""
    synthesized: SynthesizedEnv = request.getfixturevalue(request.param)
    return synthesized


@pytest.fixture(params=["staging", "production", "https_staging"])
def images_stack(request: pytest.FixtureRequest) -> SynthesizedEnv:
    """The images stack (ECR repositories) synthesized beside each variant's service stack."""
    service: SynthesizedEnv = request.getfixturevalue(request.param)
    assert service.images is not None, f"{request.param}: no images stack"
    return service.images


@pytest.fixture(
    params=[
        "staging",
        "production",
        "https_staging",
        "http_api_staging",
        "services_staging",
        "services_http_api",
        "staging-images",
        "production-images",
        "https_staging-images",
    ]
)
def any_stack(request: pytest.FixtureRequest) -> SynthesizedEnv:
    """Every synthesized template, service and images stacks alike (cfn-lint, cdk-nag)."""
    variant, _, images = str(request.param).partition("-")
    service: SynthesizedEnv = request.getfixturevalue(variant)
    if not images:
        return service
    assert service.images is not None, f"{variant}: no images stack"
    return service.images


@pytest.fixture(params=["staging", "https_staging"])
def scale_to_zero_env(request: pytest.FixtureRequest) -> SynthesizedEnv:
    synthesized: SynthesizedEnv = request.getfixturevalue(request.param)
    return synthesized
