"""The Lambda's settings: the WK_* environment variables of the contract, written and read here only.

``front_door`` says how traffic is switched between the waker and the service: through a load
balancer's listener rule (``load_balancer`` and ``cloudfront``: the listener and target-group fields
are required) or through an HTTP API's run-time warm routes (``http_api``: the API, integration, VPC
link and Cloud Map fields are required, the listener fields absent).

The stack writes them with :meth:`Settings.to_env` (:mod:`warmkeeper.infra.waker_function`), the Lambda reads
them once with :meth:`Settings.from_env`; :data:`VARIABLES` names each field's variable, once. A
missing or malformed variable raises :class:`SettingsError` naming it, so a broken deploy shows one
clear line in the function's log instead of a stack trace deep inside a request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from warmkeeper.aws.metrics import METRICS_NAMESPACE
from warmkeeper.aws_limits import RULE_PRIORITIES
from warmkeeper.core import Policy, PolicyError
from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.front_doors import (
    FRONT_DOOR_NAMES,
    LOAD_BALANCER,
    RouteSwitch,
    UnknownFrontDoorError,
    front_door,
)
from warmkeeper.naming import WARM_RULE_PRIORITY

# Settings field -> its environment variable: the whole contract between the stack and the Lambda.
VARIABLES = {
    "app": "WK_APP",
    "title": "WK_TITLE",
    "env": "WK_ENV",
    "cluster": "WK_CLUSTER",
    "service": "WK_SERVICE",
    "listener_arn": "WK_LISTENER_ARN",
    "service_target_group_arn": "WK_SERVICE_TARGET_GROUP_ARN",
    "parameter_prefix": "WK_PARAMETER_PREFIX",
    "policy": "WK_POLICY",
    "warm_rule_priority": "WK_WARM_RULE_PRIORITY",
    "keepalive_secret_arn": "WK_KEEPALIVE_SECRET_ARN",
    "metrics_namespace": "WK_METRICS_NAMESPACE",
    "custom_metrics": "WK_CUSTOM_METRICS",
    "load_balancer_dimension": "WK_LOAD_BALANCER_DIMENSION",
    "target_group_dimension": "WK_TARGET_GROUP_DIMENSION",
    "idle_alarm_name": "WK_IDLE_ALARM_NAME",
    "front_door": "WK_FRONT_DOOR",
    # front_door = "http_api" only:
    "api_id": "WK_API_ID",
    "api_stage": "WK_API_STAGE",
    "service_integration_id": "WK_SERVICE_INTEGRATION_ID",
    "warm_route_keys": "WK_WARM_ROUTE_KEYS",
    "vpc_link_id": "WK_VPC_LINK_ID",
    "cloud_map_namespace": "WK_CLOUD_MAP_NAMESPACE",
    "cloud_map_service_id": "WK_CLOUD_MAP_SERVICE_ID",
    "cloud_map_service_name": "WK_CLOUD_MAP_SERVICE_NAME",
    # The Cloud Map service only the waker registers ready tasks in, which API Gateway reads (unset: the
    # tasks' own service, as stacks built before it had).
    "cloud_map_front_service_id": "WK_CLOUD_MAP_FRONT_SERVICE_ID",
    "cloud_map_front_service_name": "WK_CLOUD_MAP_FRONT_SERVICE_NAME",
    # An app with internal services only (config [[services]]):
    "internal_services": "WK_INTERNAL_SERVICES",
    "wake_secret_arn": "WK_WAKE_SECRET_ARN",
    # The internal services every wake of the app wakes too (config [app] wake_with).
    "wake_with": "WK_WAKE_WITH",
}
# The fields of the HTTP API front door: absent from a load balancer's variables.
HTTP_API_FIELDS = (
    "api_id",
    "api_stage",
    "service_integration_id",
    "warm_route_keys",
    "vpc_link_id",
    "cloud_map_namespace",
    "cloud_map_service_id",
    "cloud_map_service_name",
    "cloud_map_front_service_id",
    "cloud_map_front_service_name",
)
# What each way of switching routes cannot work without (beside the fields every front door needs).
REQUIRED_BY_ROUTE_SWITCH = {
    RouteSwitch.LISTENER_RULE: ("listener_arn", "service_target_group_arn"),
    RouteSwitch.API_ROUTES: (
        "api_id",
        "api_stage",
        "service_integration_id",
        "warm_route_keys",
        "vpc_link_id",
        "cloud_map_namespace",
        "cloud_map_service_name",
    ),
}


class SettingsError(WarmkeeperError, ValueError):
    """A WK_* variable is missing or malformed."""


# A service's first wake before any is recorded: the app's modelled 60 s (docs/technical/aws-model.md).
DEFAULT_FIRST_WAKE_SECONDS = 60.0


@dataclass(frozen=True)
class InternalService:
    """One internal service the waker wakes and puts to sleep on its own (an item of
    WK_INTERNAL_SERVICES). Its callers are the app's tasks: they find it by its Cloud Map DNS name and,
    while it has no task, reach the waker's function URL with the service's name and the wake secret."""

    name: str  # the config's name: what a caller sends in the service header
    service: str  # the ECS service
    policy: Policy  # its own idle time and task counts
    cloud_map_service_id: str
    idle_alarm_name: str | None = None  # scale-to-zero services only
    # The custom metric counting its requests (CloudWatch Logs metric filter on its request log):
    # name of the metric in the settings' metrics namespace, dimension Service=<name>.
    activity_metric: str | None = None
    # The other internal services woken together with this one (config: the service's wake_with).
    wake_with: tuple[str, ...] = ()
    # How long a wake takes before the waker has recorded one (config: first_wake_seconds): the first
    # Retry-After its callers get.
    first_wake_seconds: float = DEFAULT_FIRST_WAKE_SECONDS

    def to_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "name": self.name,
            "service": self.service,
            "policy": self.policy.to_dict(),
            "cloud_map_service_id": self.cloud_map_service_id,
            "idle_alarm_name": self.idle_alarm_name,
            "activity_metric": self.activity_metric,
        }
        if self.wake_with:  # left out when empty: the variable stays as it was for most apps
            data["wake_with"] = list(self.wake_with)
        if self.first_wake_seconds != DEFAULT_FIRST_WAKE_SECONDS:
            data["first_wake_seconds"] = self.first_wake_seconds
        return data

    @classmethod
    def from_dict(cls, data: object, index: int) -> InternalService:
        where = f"WK_INTERNAL_SERVICES[{index}]"
        if not isinstance(data, dict):
            raise SettingsError(f"{where}: expected an object")
        for key in ("name", "service", "cloud_map_service_id"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise SettingsError(f"{where}.{key}: required, a non-empty string")
        for key in ("idle_alarm_name", "activity_metric"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise SettingsError(f"{where}.{key}: a string or null")
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise SettingsError(f"{where}: unknown keys {sorted(unknown)}")
        wake_with = data.get("wake_with") or []
        if not isinstance(wake_with, list) or not all(isinstance(n, str) and n for n in wake_with):
            raise SettingsError(f"{where}.wake_with: a list of service names")
        first_wake = data.get("first_wake_seconds", DEFAULT_FIRST_WAKE_SECONDS)
        if (
            isinstance(first_wake, bool)
            or not isinstance(first_wake, int | float)
            or not 1 <= first_wake <= 3600
        ):
            raise SettingsError(f"{where}.first_wake_seconds: a number of seconds from 1 to 3600")
        try:
            policy = Policy.from_dict(data.get("policy") or {})
        except PolicyError as exc:
            raise SettingsError(f"{where}.policy: {exc}") from None
        return cls(
            name=data["name"],
            service=data["service"],
            policy=policy,
            cloud_map_service_id=data["cloud_map_service_id"],
            idle_alarm_name=data.get("idle_alarm_name"),
            activity_metric=data.get("activity_metric"),
            wake_with=tuple(wake_with),
            first_wake_seconds=float(first_wake),
        )


def _internal_services(text: str | None) -> tuple[InternalService, ...]:
    """WK_INTERNAL_SERVICES: a JSON list of :meth:`InternalService.to_dict` objects."""
    if text is None:
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"WK_INTERNAL_SERVICES: not valid JSON ({exc.msg})") from None
    if not isinstance(value, list):
        raise SettingsError("WK_INTERNAL_SERVICES: expected a JSON list of services")
    services = tuple(InternalService.from_dict(item, i) for i, item in enumerate(value))
    names = [s.name for s in services]
    for name in names:
        if names.count(name) > 1:
            raise SettingsError(f"WK_INTERNAL_SERVICES: service {name!r} is listed twice")
    for index, service in enumerate(services):
        for other in service.wake_with:
            if other not in names:
                raise SettingsError(
                    f"WK_INTERNAL_SERVICES[{index}].wake_with: {other!r} is not one of the listed services"
                )
    return services


def _wake_with(text: str | None) -> tuple[str, ...]:
    """WK_WAKE_WITH: a JSON list of internal service names."""
    if text is None:
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"WK_WAKE_WITH: not valid JSON ({exc.msg})") from None
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise SettingsError('WK_WAKE_WITH: expected a JSON list of service names, e.g. ["osrm"]')
    return tuple(value)


@dataclass(frozen=True)
class Settings:
    app: str
    env: str
    cluster: str
    service: str
    parameter_prefix: str
    policy: Policy
    listener_arn: str | None = None
    service_target_group_arn: str | None = None
    warm_rule_priority: int = WARM_RULE_PRIORITY
    keepalive_secret_arn: str | None = None
    metrics_namespace: str = METRICS_NAMESPACE
    # False: the metric events are logged as plain JSON, without the EMF block that makes CloudWatch
    # bill them as custom metrics (an environment nobody watches: EnvironmentSettings.is_watched).
    custom_metrics: bool = True
    load_balancer_dimension: str | None = None
    target_group_dimension: str | None = None
    idle_alarm_name: str | None = None
    front_door: str = LOAD_BALANCER
    api_id: str | None = None
    api_stage: str | None = None
    service_integration_id: str | None = None
    warm_route_keys: tuple[str, ...] = ()
    vpc_link_id: str | None = None
    cloud_map_namespace: str | None = None
    cloud_map_service_id: str | None = None
    cloud_map_service_name: str | None = None
    cloud_map_front_service_id: str | None = None
    cloud_map_front_service_name: str | None = None
    title: str | None = None  # the waiting page's name for the app (default: app)
    internal_services: tuple[InternalService, ...] = ()
    # The secret a caller's Caddy sends with an internal wake (Secrets Manager); required with services.
    wake_secret_arn: str | None = None
    # Internal services woken with every wake of the app (names among internal_services).
    wake_with: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        try:
            door = front_door(self.front_door)
        except UnknownFrontDoorError:
            raise SettingsError(
                f"WK_FRONT_DOOR: {self.front_door!r} is not one of {', '.join(FRONT_DOOR_NAMES)}"
            ) from None
        for name in REQUIRED_BY_ROUTE_SWITCH[door.route_switch]:
            if not getattr(self, name):
                raise SettingsError(
                    f"{VARIABLES[name]}: required when WK_FRONT_DOOR is {self.front_door} (not set)"
                )
        if not self.parameter_prefix.startswith("/") or self.parameter_prefix.endswith("/"):
            raise SettingsError(
                f"WK_PARAMETER_PREFIX: {self.parameter_prefix!r} must start with '/' and not end with '/'"
            )
        if self.internal_services and not self.wake_secret_arn:
            raise SettingsError("WK_WAKE_SECRET_ARN: required when WK_INTERNAL_SERVICES lists services")
        for name in self.wake_with:
            if self.internal_service(name) is None:
                raise SettingsError(f"WK_WAKE_WITH: {name!r} is not a service of WK_INTERNAL_SERVICES")
        if self.warm_rule_priority not in RULE_PRIORITIES:
            raise SettingsError(f"WK_WARM_RULE_PRIORITY: {self.warm_rule_priority} is not within 1..50000")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def required(field: str) -> str:
            value = env.get(VARIABLES[field], "").strip()
            if not value:
                raise SettingsError(f"{VARIABLES[field]}: required environment variable is not set")
            return value

        def optional(field: str) -> str | None:
            value = env.get(VARIABLES[field], "").strip()
            return value or None

        raw_policy = required("policy")
        try:
            policy = Policy.from_dict(json.loads(raw_policy))
        except json.JSONDecodeError as exc:
            raise SettingsError(f"WK_POLICY: not valid JSON ({exc.msg})") from None
        except PolicyError as exc:
            raise SettingsError(str(exc)) from None
        route_keys = _route_keys(optional("warm_route_keys"))
        priority_text = optional("warm_rule_priority") or str(WARM_RULE_PRIORITY)
        custom_metrics_text = optional("custom_metrics") or "true"
        if custom_metrics_text not in ("true", "false"):
            raise SettingsError(f"WK_CUSTOM_METRICS: {custom_metrics_text!r} is not 'true' or 'false'")
        if not priority_text.isdigit():
            raise SettingsError(f"WK_WARM_RULE_PRIORITY: {priority_text!r} is not a whole number")
        return cls(
            app=required("app"),
            title=optional("title"),
            env=required("env"),
            cluster=required("cluster"),
            service=required("service"),
            parameter_prefix=required("parameter_prefix"),
            policy=policy,
            listener_arn=optional("listener_arn"),
            service_target_group_arn=optional("service_target_group_arn"),
            warm_rule_priority=int(priority_text),
            keepalive_secret_arn=optional("keepalive_secret_arn"),
            metrics_namespace=optional("metrics_namespace") or METRICS_NAMESPACE,
            custom_metrics=custom_metrics_text == "true",
            load_balancer_dimension=optional("load_balancer_dimension"),
            target_group_dimension=optional("target_group_dimension"),
            idle_alarm_name=optional("idle_alarm_name"),
            front_door=optional("front_door") or LOAD_BALANCER,
            api_id=optional("api_id"),
            api_stage=optional("api_stage"),
            service_integration_id=optional("service_integration_id"),
            warm_route_keys=route_keys,
            vpc_link_id=optional("vpc_link_id"),
            cloud_map_namespace=optional("cloud_map_namespace"),
            cloud_map_service_id=optional("cloud_map_service_id"),
            cloud_map_service_name=optional("cloud_map_service_name"),
            cloud_map_front_service_id=optional("cloud_map_front_service_id"),
            cloud_map_front_service_name=optional("cloud_map_front_service_name"),
            internal_services=_internal_services(optional("internal_services")),
            wake_secret_arn=optional("wake_secret_arn"),
            wake_with=_wake_with(optional("wake_with")),
        )

    def internal_service(self, name: str) -> InternalService | None:
        """The internal service of that name, None when the app has none of that name."""
        return next((s for s in self.internal_services if s.name == name), None)

    @property
    def http_api(self) -> bool:
        """Routing through the HTTP API's warm routes (else: a load balancer's warm rule)."""
        return front_door(self.front_door).http_api

    def to_env(self) -> dict[str, str]:
        """The WK_* variables that :meth:`from_env` reads back into these settings (an unset optional
        field is left out). Values may be CloudFormation tokens: the stack passes its resources' names."""
        special = (
            "policy",
            "warm_rule_priority",
            "warm_route_keys",
            "custom_metrics",
            "internal_services",
            "wake_with",
        )
        values: dict[str, str | None] = {
            field.name: getattr(self, field.name) for field in fields(self) if field.name not in special
        }
        values["custom_metrics"] = "true" if self.custom_metrics else "false"
        values["policy"] = json.dumps(self.policy.to_dict(), sort_keys=True, separators=(",", ":"))
        if self.internal_services:
            values["internal_services"] = json.dumps(
                [s.to_dict() for s in self.internal_services], sort_keys=True, separators=(",", ":")
            )
        if self.wake_with:
            values["wake_with"] = json.dumps(list(self.wake_with))
        # Only the warm route's field of this front door's route switch: behind an HTTP API there is no
        # listener, so no rule priority (the variable would only mislead a reader), and no route keys
        # behind a load balancer.
        name, value = _WARM_ROUTE_VARIABLE[front_door(self.front_door).route_switch](self)
        values[name] = value
        return {VARIABLES[name]: value for name, value in values.items() if value is not None}


# The field that says where the warm route is, by route switch, and its variable's value.
_WARM_ROUTE_VARIABLE: dict[RouteSwitch, Callable[[Settings], tuple[str, str]]] = {
    RouteSwitch.LISTENER_RULE: lambda settings: ("warm_rule_priority", str(settings.warm_rule_priority)),
    RouteSwitch.API_ROUTES: lambda settings: ("warm_route_keys", json.dumps(list(settings.warm_route_keys))),
}


def _route_keys(text: str | None) -> tuple[str, ...]:
    """WK_WARM_ROUTE_KEYS: a JSON list of route keys such as ``"ANY /{proxy+}"``."""
    if text is None:
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"WK_WARM_ROUTE_KEYS: not valid JSON ({exc.msg})") from None
    if not isinstance(value, list) or not value or not all(isinstance(k, str) and k for k in value):
        raise SettingsError('WK_WARM_ROUTE_KEYS: expected a JSON list of route keys, e.g. ["ANY /"]')
    return tuple(value)


def internal_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """The internal services' fields of :class:`Settings` from the function's variables (what the CLI
    reads back from a deployed waker: the stack's outputs do not list them); empty without services."""
    services = _internal_services(environ.get(VARIABLES["internal_services"], "").strip() or None)
    if not services:
        return {}
    return {
        "internal_services": services,
        "wake_secret_arn": environ.get(VARIABLES["wake_secret_arn"], "").strip() or None,
        "wake_with": _wake_with(environ.get(VARIABLES["wake_with"], "").strip() or None),
    }
