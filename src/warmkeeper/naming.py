"""The names the CDK app, the deploy tooling, the CLI and the Lambda share, each derived in one place.

Stack, repository and function names, the stacks' output keys (the contract the CDK app writes and the
CLI and the deploys read back), the warm route's listener rule priority, which containers are built,
and the image tag and digest rules. One place derives them, so `warmkeeper synth / images / deploy`,
`cdk synth`, both stacks and the Lambda always agree.

Standard library only (the config is read through the small Protocols below, so the config can use
:func:`pascal` without an import cycle): the deploy commands read these without paying for jsii or
the CDK, and the Lambda bundle may import them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Protocol, TypeVar

from warmkeeper.core.front_doors import CLOUDFRONT, HTTP_API, LOAD_BALANCER

# The service stack's output keys (exact OutputKey values, see the contract).
OUTPUT_URL = "Url"
OUTPUT_CLUSTER = "ClusterName"
OUTPUT_SERVICE = "ServiceName"
OUTPUT_LISTENER_ARN = "ListenerArn"
OUTPUT_SERVICE_TARGET_GROUP_ARN = "ServiceTargetGroupArn"
OUTPUT_FUNCTION_NAME = "WarmkeeperFunctionName"
OUTPUT_PARAMETER_PREFIX = "ParameterPrefix"
OUTPUT_KEEPALIVE_SECRET_ARN = "KeepaliveSecretArn"  # noqa: S105 - an output key, not a secret
OUTPUT_WARM_RULE_PRIORITY = "WarmRulePriority"
OUTPUT_LOAD_BALANCER_DIMENSION = "LoadBalancerDimension"
OUTPUT_TARGET_GROUP_DIMENSION = "TargetGroupDimension"
OUTPUT_DASHBOARD_NAME = "DashboardName"
OUTPUT_IDLE_ALARM_NAME = "IdleAlarmName"  # scale-to-zero environments only
OUTPUT_DISTRIBUTION_ID = "DistributionId"  # front_door = "cloudfront" only
# front_door = "http_api" only (the listener, target group and warm-rule keys are then absent):
OUTPUT_API_ID = "ApiId"
OUTPUT_API_STAGE = "ApiStage"
OUTPUT_SERVICE_INTEGRATION_ID = "ServiceIntegrationId"
OUTPUT_VPC_LINK_ID = "VpcLinkId"
OUTPUT_CLOUD_MAP_SERVICE_ID = "CloudMapServiceId"
OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID = "CloudMapFrontServiceId"  # scale-to-zero environments only
# The images stack's `RepositoryUri<Container>` keys: see repository_output_key.

# The output only a stack behind this front door has: how a deployed stack tells which one it has.
# A stack with none of them has an internet-facing load balancer.
FRONT_DOOR_OUTPUTS: dict[str, str] = {HTTP_API: OUTPUT_API_ID, CLOUDFRONT: OUTPUT_DISTRIBUTION_ID}

# The listener rule priority of the warm route, which the Lambda creates and deletes at run time
# (lower wins). The stack passes it to the Lambda (WK_WARM_RULE_PRIORITY) and publishes it (the
# WarmRulePriority output) for the CLI; the Lambda falls back to it when the variable is unset: one number.
WARM_RULE_PRIORITY = 10


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _BuiltOrNot(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def build(self) -> str | None: ...


ContainerT = TypeVar("ContainerT", bound=_BuiltOrNot)
_ContainerT_co = TypeVar("_ContainerT_co", bound=_BuiltOrNot, covariant=True)


class AppNames(Protocol[_ContainerT_co]):
    """What the names read of an app's config (:class:`warmkeeper.config.AppConfig`)."""

    @property
    def app(self) -> _Named: ...

    @property
    def containers(self) -> Sequence[_ContainerT_co]: ...

    @property
    def all_containers(self) -> Sequence[_ContainerT_co]: ...

    def stack_name(self, env: str) -> str: ...


IMAGES_STACK_SUFFIX = "-images"
REPOSITORY_OUTPUT_PREFIX = "RepositoryUri"
# Docker's reference grammar for a tag: what `docker push` and ECR accept.
_IMAGE_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# An image digest as ECR reports it (`imageDigest`): the sha256 of the manifest.
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def pascal(name: str) -> str:
    """`cityguided` -> `Cityguided`, `my-web` -> `MyWeb`: stack names, construct ids, output keys."""
    return "".join(part.capitalize() for part in name.split("-"))


def images_stack_name(cfg: AppNames[_BuiltOrNot], env: str) -> str:
    """The stack that owns the environment's ECR repositories: `Cityguided-staging-images`."""
    return cfg.stack_name(env) + IMAGES_STACK_SUFFIX


def repository_name(cfg: AppNames[_BuiltOrNot], env: str, container: str) -> str:
    """`<app>-<env>/<container>`: staging and production may share an account and region."""
    return f"{cfg.app.name}-{env}/{container}"


def repository_output_key(container: str) -> str:
    """`RepositoryUri<Container>` (api -> RepositoryUriApi), an output of the images stack."""
    return REPOSITORY_OUTPUT_PREFIX + pascal(container)


def function_name(cfg: AppNames[_BuiltOrNot], env: str) -> str:
    """The waker Lambda's name: `cityguided-staging-warmkeeper`."""
    return f"{cfg.app.name}-{env}-warmkeeper"


def built_containers(cfg: AppNames[ContainerT]) -> list[ContainerT]:
    """Containers whose image this project builds (the others use a fixed `image`): the app's own and
    every internal service's (container names are unique across the app: one repository each)."""
    return [container for container in cfg.all_containers if container.build is not None]


def front_door_of_outputs(outputs: Mapping[str, str]) -> str:
    """The front door of a deployed stack, from its outputs (:data:`FRONT_DOOR_OUTPUTS`)."""
    return next((door for door, key in FRONT_DOOR_OUTPUTS.items() if outputs.get(key)), LOAD_BALANCER)


def check_image_tag(tag: str) -> str:
    """`tag`, unless Docker and ECR would refuse it (ValueError; the caller names the argument)."""
    if not _IMAGE_TAG.match(tag):
        raise ValueError(f"{tag!r} is not a valid image tag (letters, digits, '_', '.', '-'; at most 128)")
    return tag


def check_image_digests(cfg: AppNames[_BuiltOrNot], digests: Mapping[str, str]) -> dict[str, str]:
    """Raise ValueError unless every entry is a built container and an ECR image digest."""
    built = [container.name for container in built_containers(cfg)]
    for name, digest in digests.items():
        if name not in built:
            known = ", ".join(built) or "none"
            raise ValueError(
                f"{name!r} is not a container with `build` (containers built from source: {known})"
            )
        if not _DIGEST.match(digest):
            raise ValueError(f"{name}: {digest!r} is not an image digest (sha256: and 64 lowercase hex)")
    return dict(digests)


def parse_image_digests(value: object) -> dict[str, str]:
    """The `imageDigests` context value: a JSON object, `api=sha256:...,web=sha256:...`, or a dict.

    `cdk synth -c imageDigests=...` passes a string; a `context` entry in cdk.json may be an object.
    """
    if value is None or value == "":
        return {}
    if isinstance(value, Mapping):
        return {str(name): str(digest) for name, digest in value.items()}
    if not isinstance(value, str):
        raise ValueError(f"expected a JSON object or name=digest pairs, got {type(value).__name__}")
    text = value.strip()
    if text.startswith("{"):
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg}") from None
        if not isinstance(parsed, dict):
            raise ValueError("expected a JSON object of container name -> digest")
        return {str(name): str(digest) for name, digest in parsed.items()}
    digests: dict[str, str] = {}
    for pair in filter(None, (part.strip() for part in text.split(","))):
        name, separator, digest = pair.partition("=")
        if not separator or not name.strip() or not digest.strip():
            raise ValueError(f"{pair!r} is not name=sha256:... (pairs separated by commas)")
        digests[name.strip()] = digest.strip()
    return digests


# Internal services ([[services]] in the config). The variables warmkeeper gives every container of the
# app's own task, on AWS and in the twin alike, so the task's Caddy can reach a service and, while the
# service has no task, its waker; and the headers an internal wake carries to the waker.
WAKER_URL_VARIABLE = "WARMKEEPER_WAKER"
WAKE_SECRET_VARIABLE = "WARMKEEPER_WAKE_SECRET"  # noqa: S105 - the variable's name, not a secret
# "on" in the entry container of a scale-to-zero environment: run the activity beacon (an always-on
# one has nothing to learn from it, and the twin's edge sees every request itself).
BEACON_VARIABLE = "WARMKEEPER_BEACON"
# The headers an internal wake carries to the waker are warmkeeper.core.internal_wake's.


def service_variable_stem(service: str) -> str:
    """`osrm` -> `WARMKEEPER_OSRM`; `route-planner` -> `WARMKEEPER_ROUTE_PLANNER`."""
    return "WARMKEEPER_" + service.upper().replace("-", "_")


def service_host_variable(service: str) -> str:
    """The variable holding the service's host name: its Cloud Map DNS name on AWS, 127.0.0.1 in the twin."""
    return f"{service_variable_stem(service)}_HOST"


def service_port_variable(service: str) -> str:
    """The variable holding the port the service's entry container listens on."""
    return f"{service_variable_stem(service)}_PORT"
