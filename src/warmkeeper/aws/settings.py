"""The Lambda's settings: the WK_* environment variables of the contract, read once.

A missing or malformed variable raises :class:`SettingsError` naming it, so a broken deploy shows
one clear line in the function's log instead of a stack trace deep inside a request.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from warmkeeper.core import Policy, PolicyError

DEFAULT_WARM_RULE_PRIORITY = 10
# What ELB accepts as a listener rule priority.
RULE_PRIORITIES = range(1, 50001)
DEFAULT_METRICS_NAMESPACE = "Warmkeeper"


class SettingsError(ValueError):
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
    metrics_namespace: str = DEFAULT_METRICS_NAMESPACE
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

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"{name}: required environment variable is not set")
            return value

        def optional(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        raw_policy = required("WK_POLICY")
        try:
            policy = Policy.from_dict(json.loads(raw_policy))
        except json.JSONDecodeError as exc:
            raise SettingsError(f"WK_POLICY: not valid JSON ({exc.msg})") from None
        except PolicyError as exc:
            raise SettingsError(str(exc)) from None
        priority_text = optional("WK_WARM_RULE_PRIORITY") or str(DEFAULT_WARM_RULE_PRIORITY)
        if not priority_text.isdigit():
            raise SettingsError(f"WK_WARM_RULE_PRIORITY: {priority_text!r} is not a whole number")
        return cls(
            app=required("WK_APP"),
            env=required("WK_ENV"),
            cluster=required("WK_CLUSTER"),
            service=required("WK_SERVICE"),
            listener_arn=required("WK_LISTENER_ARN"),
            service_target_group_arn=required("WK_SERVICE_TARGET_GROUP_ARN"),
            parameter_prefix=required("WK_PARAMETER_PREFIX"),
            policy=policy,
            warm_rule_priority=int(priority_text),
            keepalive_secret_arn=optional("WK_KEEPALIVE_SECRET_ARN"),
            metrics_namespace=optional("WK_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE,
            load_balancer_dimension=optional("WK_LOAD_BALANCER_DIMENSION"),
            target_group_dimension=optional("WK_TARGET_GROUP_DIMENSION"),
            idle_alarm_name=optional("WK_IDLE_ALARM_NAME"),
        )
