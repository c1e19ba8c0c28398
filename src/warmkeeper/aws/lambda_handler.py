"""The warmkeeper Lambda: one thin handler for four kinds of event.

- an ALB request (the waker: cold requests, ``/_warmkeeper/status``, the keep-alive webhook);
- the idle alarm's "CloudWatch Alarm State Change" from EventBridge;
- the one-minute "Scheduled Event" from EventBridge (reconcile);
- anything else is logged and ignored.

Clients and settings are built once per execution environment (the Lambda's cold start) and reused;
tests inject an engine with :func:`use`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from warmkeeper.aws.adapters import EcsService, KeepaliveSecret, LoadBalancerRouting, Metrics, StateStore
from warmkeeper.aws.alb import is_alb_event, is_multi_value, request_from_event, response_to_alb
from warmkeeper.aws.engine import Warmkeeper
from warmkeeper.aws.settings import Settings
from warmkeeper.core import json_response

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_ecs.client import ECSClient
    from mypy_boto3_elbv2.client import ElasticLoadBalancingv2Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_ssm.client import SSMClient

ALARM_STATE_CHANGE = "CloudWatch Alarm State Change"
SCHEDULED_EVENT = "Scheduled Event"

# Standard retries absorb the API throttling many concurrent cold requests could cause.
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)


@dataclass(frozen=True)
class AwsClients:
    """The boto3 clients warmkeeper uses, created in one place and injected everywhere else."""

    ecs: ECSClient
    elbv2: ElasticLoadBalancingv2Client
    cloudwatch: CloudWatchClient
    ssm: SSMClient
    secretsmanager: SecretsManagerClient

    @classmethod
    def from_session(cls, session: boto3.session.Session, config: Config = BOTO_CONFIG) -> AwsClients:
        return cls(
            ecs=session.client("ecs", config=config),
            elbv2=session.client("elbv2", config=config),
            cloudwatch=session.client("cloudwatch", config=config),
            ssm=session.client("ssm", config=config),
            secretsmanager=session.client("secretsmanager", config=config),
        )


def build_engine(settings: Settings, clients: AwsClients, **engine_options: Any) -> Warmkeeper:
    """Wire the adapters around the clients (the Lambda and the CLI build it the same way)."""
    return Warmkeeper(
        settings,
        ecs=EcsService(clients.ecs, settings.cluster, settings.service),
        balancer=LoadBalancerRouting(
            clients.elbv2,
            settings.listener_arn,
            settings.service_target_group_arn,
            settings.warm_rule_priority,
        ),
        store=StateStore(clients.ssm, settings.parameter_prefix),
        metrics=Metrics(
            clients.cloudwatch,
            settings.metrics_namespace,
            settings.app,
            settings.env,
            settings.load_balancer_dimension,
            settings.target_group_dimension,
        ),
        secret=KeepaliveSecret(clients.secretsmanager, settings.keepalive_secret_arn),
        **engine_options,
    )


_engine: Warmkeeper | None = None


def use(engine: Warmkeeper | None) -> None:
    """Set (or with None, forget) the engine the handler uses."""
    global _engine
    _engine = engine


def _current_engine() -> Warmkeeper:
    global _engine
    if _engine is None:
        settings = Settings.from_env()
        _engine = build_engine(settings, AwsClients.from_session(boto3.session.Session()))
    return _engine


def handler(event: Mapping[str, Any], context: Any = None) -> dict[str, Any]:
    engine = _current_engine()
    if is_alb_event(event):
        multi_value = is_multi_value(event)
        try:
            response = engine.handle_request(request_from_event(event))
        except Exception as exc:
            # The waker is the listener's default: it must answer something a client can retry,
            # never let ALB turn a crash into an opaque 502.
            print(json.dumps({"level": "error", "message": "request failed", "error": repr(exc)}))
            retry = engine.policy.retry_after_seconds
            response = json_response(
                503,
                {
                    "error": "unavailable",
                    "message": "warmkeeper could not check the service; retry shortly",
                    "retry_after_seconds": retry,
                },
                headers={"Retry-After": str(retry)},
            )
        return response_to_alb(response, multi_value)
    detail_type = event.get("detail-type")
    if detail_type == ALARM_STATE_CHANGE:
        result = engine.on_alarm(dict(event.get("detail") or {}))
        return {"handled": "alarm", "decision": result.decision.to_log_dict() if result else None}
    if detail_type == SCHEDULED_EVENT:
        result = engine.reconcile()
        return {"handled": "reconcile", "decision": result.decision.to_log_dict()}
    print(json.dumps({"level": "warning", "message": "unknown event ignored", "keys": sorted(event)}))
    return {"handled": None}
