"""The Lambda's settings: the WK_* environment variables of the contract, written and read here only.

The stack writes them with :meth:`Settings.to_env` (:mod:`warmkeeper.infra.waker`), the Lambda reads
them once with :meth:`Settings.from_env`; :data:`VARIABLES` names each field's variable, once. A
missing or malformed variable raises :class:`SettingsError` naming it, so a broken deploy shows one
clear line in the function's log instead of a stack trace deep inside a request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

from warmkeeper.aws.metrics import METRICS_NAMESPACE
from warmkeeper.core import Policy, PolicyError
from warmkeeper.core.errors import WarmkeeperError

DEFAULT_WARM_RULE_PRIORITY = 10
# What ELB accepts as a listener rule priority.
RULE_PRIORITIES = range(1, 50001)

# Settings field -> its environment variable: the whole contract between the stack and the Lambda.
VARIABLES = {
    "app": "WK_APP",
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
    "load_balancer_dimension": "WK_LOAD_BALANCER_DIMENSION",
    "target_group_dimension": "WK_TARGET_GROUP_DIMENSION",
    "idle_alarm_name": "WK_IDLE_ALARM_NAME",
}


class SettingsError(WarmkeeperError, ValueError):
    """A WK_* variable is missing or malformed."""


@dataclass(frozen=True)
class Settings:
    app: str
    env: str
    cluster: str
    service: str
    listener_arn: str
    service_target_group_arn: str
    parameter_prefix: str
    policy: Policy
    warm_rule_priority: int = DEFAULT_WARM_RULE_PRIORITY
    keepalive_secret_arn: str | None = None
    metrics_namespace: str = METRICS_NAMESPACE
    load_balancer_dimension: str | None = None
    target_group_dimension: str | None = None
    idle_alarm_name: str | None = None

    def __post_init__(self) -> None:
        if not self.parameter_prefix.startswith("/") or self.parameter_prefix.endswith("/"):
            raise SettingsError(
                f"WK_PARAMETER_PREFIX: {self.parameter_prefix!r} must start with '/' and not end with '/'"
            )
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
        priority_text = optional("warm_rule_priority") or str(DEFAULT_WARM_RULE_PRIORITY)
        if not priority_text.isdigit():
            raise SettingsError(f"WK_WARM_RULE_PRIORITY: {priority_text!r} is not a whole number")
        return cls(
            app=required("app"),
            env=required("env"),
            cluster=required("cluster"),
            service=required("service"),
            listener_arn=required("listener_arn"),
            service_target_group_arn=required("service_target_group_arn"),
            parameter_prefix=required("parameter_prefix"),
            policy=policy,
            warm_rule_priority=int(priority_text),
            keepalive_secret_arn=optional("keepalive_secret_arn"),
            metrics_namespace=optional("metrics_namespace") or METRICS_NAMESPACE,
            load_balancer_dimension=optional("load_balancer_dimension"),
            target_group_dimension=optional("target_group_dimension"),
            idle_alarm_name=optional("idle_alarm_name"),
        )

    def to_env(self) -> dict[str, str]:
        """The WK_* variables that :meth:`from_env` reads back into these settings (an unset optional
        field is left out). Values may be CloudFormation tokens: the stack passes its resources' names."""
        values: dict[str, str | None] = {
            field.name: getattr(self, field.name) for field in fields(self) if field.name != "policy"
        }
        values["policy"] = json.dumps(self.policy.to_dict(), sort_keys=True, separators=(",", ":"))
        values["warm_rule_priority"] = str(self.warm_rule_priority)
        return {VARIABLES[name]: value for name, value in values.items() if value is not None}
