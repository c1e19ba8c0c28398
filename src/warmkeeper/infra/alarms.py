"""What wakes people: the operational alarms, their KMS-encrypted SNS topic, the rolled-back deploy rule.

Alarms (all to one topic, which exists with its key and the rolled-back deploy rule only where the
config sets an alarm e-mail, subscribed to it, or the environment never sleeps):
- 5xx rate of what users get (ELB-generated 5xx + the service's 5xx, over all requests; behind an
  HTTP API, the stage's 5xx over its requests);
- unhealthy targets in the service's target group (front doors that find the tasks in a target group);
- a wake that never became healthy (the Lambda's WakeFailures metric), scale-to-zero only;
- the warmkeeper Lambda failing (nobody could wake the service);
- the HTTP API's VPC link found INACTIVE by the reconcile (its VpcLinkInactive metric), for front doors
  that find the tasks in Cloud Map through a VPC link;
- a deployment ECS rolled back (EventBridge "ECS Deployment State Change" SERVICE_DEPLOYMENT_FAILED),
  of the app's service or of an internal service;
- per internal service, fewer tasks running than wanted for 10 minutes (Container Insights).

The constructs are created in the scope given (the stack's `Monitoring` construct), so their paths, and
the template's logical ids, are those of that scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from aws_cdk.interfaces import aws_events as events_ref
from constructs import Construct

from warmkeeper.aws.metrics import MetricName
from warmkeeper.core.front_doors import TargetDiscovery
from warmkeeper.infra.cloudwatch_metrics import SERVER_ERROR_RATE_PERCENT, EnvironmentMetrics
from warmkeeper.infra.internal_service import InternalEcsService
from warmkeeper.infra.stack_settings import StackSettings
from warmkeeper.naming import pascal

# What the 5xx rate counts, by what publishes the front door's metrics (its request metric's namespace).
_ERROR_RATE_DESCRIPTIONS = {
    "AWS/ApplicationELB": (
        f"More than {SERVER_ERROR_RATE_PERCENT} % of requests answered 5xx (by the load "
        "balancer or the service) in 3 of the last 5 minutes. The waker's deliberate 503 "
        "(Retry-After while waking) is not counted."
    ),
    "AWS/ApiGateway": (
        f"More than {SERVER_ERROR_RATE_PERCENT} % of the HTTP API's requests answered 5xx (by API "
        "Gateway, the VPC link or the service) in 3 of the last 5 minutes. The stage's metric "
        "also counts the waker's deliberate 503 (Retry-After while waking): one wake lasts about "
        "a minute, so it does not reach 3 minutes out of 5 alone."
    ),
}


def _unhealthy_targets(scope: Construct, name: str, metrics: EnvironmentMetrics) -> cloudwatch.Alarm:
    return _at_least_one(
        scope,
        "UnhealthyTargets",
        f"{name}-unhealthy-targets",
        "A task failed the load balancer's health check for 3 minutes.",
        metrics.alb("UnHealthyHostCount", "Maximum", target_group=True),
        periods=3,
    )


def _vpc_link_inactive(scope: Construct, name: str, metrics: EnvironmentMetrics) -> cloudwatch.Alarm:
    return _at_least_one(
        scope,
        "VpcLinkInactive",
        f"{name}-vpc-link-inactive",
        "The HTTP API's VPC link is INACTIVE (AWS deactivates one unused for 60 days): "
        f"requests to the service fail until it is AVAILABLE again "
        f"({MetricName.VPC_LINK_INACTIVE}, from the reconcile). See the runbook.",
        metrics.warmkeeper(MetricName.VPC_LINK_INACTIVE, "Maximum"),
    )


def _at_least_one(
    scope: Construct,
    construct_id: str,
    alarm_name: str,
    description: str,
    metric: cloudwatch.IMetric,
    *,
    periods: int = 1,
) -> cloudwatch.Alarm:
    """An alarm on a count that should stay at zero: one in each of `periods` periods sets it off;
    no data (nothing happened) is not a breach."""
    return cloudwatch.Alarm(
        scope,
        construct_id,
        alarm_name=alarm_name,
        alarm_description=description,
        metric=metric,
        threshold=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=periods,
        datapoints_to_alarm=periods if periods > 1 else None,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


_DoorAlarm = Callable[[Construct, str, EnvironmentMetrics], cloudwatch.Alarm]
# The alarm on how the front door finds the tasks, and whether it is listed with the alarms on the
# tasks (right after the 5xx rate) or with those on the way to them (after the waker's).
_DISCOVERY_ALARMS: dict[TargetDiscovery, tuple[_DoorAlarm, bool]] = {
    TargetDiscovery.TARGET_GROUP: (_unhealthy_targets, True),
    TargetDiscovery.CLOUD_MAP: (_vpc_link_inactive, False),
}


class ServiceAlarms:
    """The alarms of one environment and where they go, created in ``scope``."""

    def __init__(
        self,
        scope: Construct,
        *,
        settings: StackSettings,
        metrics: EnvironmentMetrics,
        service: ecs.FargateService,
        function: lambda_.IFunction,
        internal_services: Sequence[InternalEcsService] = (),
    ) -> None:
        # Operational alarms are billed per metric every month: only where someone is told or looks
        # (EnvironmentSettings.is_watched). The idle alarm that puts the service to sleep is not one of
        # them (infra/idle.py).
        self.alarms = _alarms(scope, settings, metrics, function) if settings.env.is_watched else []
        if settings.env.is_watched:
            self.alarms += [_internal_service_short(scope, settings, metrics, s) for s in internal_services]
        # The topic, and the customer managed key it needs (1 USD a month), only where someone is
        # notified (EnvironmentSettings.has_alarm_topic). docs/technical/cost.md weighs it.
        self.topic: sns.Topic | None = None
        if not settings.env.has_alarm_topic:
            return
        rule_name = f"{settings.stack_name}-deployment-rolled-back"
        rule_arn = f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{rule_name}"
        self.topic = _alarm_topic(scope, settings, rule_arn)
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
        events.Rule(
            scope,
            "DeploymentRolledBack",
            rule_name=rule_name,
            description=f"{settings.stack_name}: deployments ECS rolled back, to the alarm topic",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Deployment State Change"],
                resources=[service.service_arn, *(s.service.service_arn for s in internal_services)],
                detail={"eventName": ["SERVICE_DEPLOYMENT_FAILED"]},
            ),
            targets=[
                _TopicTarget(
                    self.topic,
                    events.RuleTargetInput.from_text(
                        f"{settings.stack_name}: ECS rolled back deployment "
                        f"{events.EventField.from_path('$.detail.deploymentId')}: "
                        f"{events.EventField.from_path('$.detail.reason')}"
                    ),
                )
            ],
        )


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """The alarm topic as a rule's target, without the grant CDK's SnsTopic target adds.

    That grant lets ``events.amazonaws.com`` publish with no condition: any EventBridge rule of any
    account could publish to the topic. The topic's policy (:func:`_alarm_topic`) admits this stack's
    rule alone instead, by its ARN and account.
    """

    def __init__(self, topic: sns.ITopic, message: events.RuleTargetInput) -> None:
        self._topic = topic
        self._message = message

    def bind(self, rule: events_ref.IRuleRef, id: str | None = None) -> events.RuleTargetConfig:
        return events.RuleTargetConfig(arn=self._topic.topic_arn, input=self._message)


def _alarm_topic(scope: Construct, settings: StackSettings, rule_arn: str) -> sns.Topic:
    # A customer managed key: CloudWatch and EventBridge cannot publish to a topic encrypted
    # with the AWS managed SNS key. Only notifications pass through it, so it is not kept.
    key = kms.Key(
        scope,
        "AlarmTopicKey",
        description=f"{settings.stack_name}: encrypts the alarm topic",
        enable_key_rotation=True,
        pending_window=Duration.days(7),
        removal_policy=RemovalPolicy.DESTROY,
    )
    # Each service may use the key for this stack's own alarms and rule only (aws:SourceArn, with
    # aws:SourceAccount: the confused-deputy guard AWS recommends for service principals). The rule's
    # ARN is spelled out rather than referenced: the key, the topic and the rule would depend on one
    # another in a cycle otherwise.
    alarms_arn = f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:alarm:{settings.stack_name}-*"
    publishers = (
        ("ThisStacksAlarmsEncrypt", "cloudwatch.amazonaws.com", "ArnLike", alarms_arn),
        ("ThisStacksRuleEncrypts", "events.amazonaws.com", "ArnEquals", rule_arn),
    )
    for sid, service, operator, source in publishers:
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal(service)],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    operator: {"aws:SourceArn": source},
                },
            )
        )
    topic = sns.Topic(
        scope,
        "AlarmTopic",
        display_name=f"{settings.stack_name} alarms",
        master_key=key,
        enforce_ssl=True,
    )
    for sid, service, operator, source in (
        ("ThisStacksAlarmsPublish", "cloudwatch.amazonaws.com", "ArnLike", alarms_arn),
        ("ThisStacksRulePublishes", "events.amazonaws.com", "ArnEquals", rule_arn),
    ):
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid=sid,
                principals=[iam.ServicePrincipal(service)],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    operator: {"aws:SourceArn": source},
                },
            )
        )
    if settings.env.alarm_email:
        topic.add_subscription(sns_subscriptions.EmailSubscription(settings.env.alarm_email))
    return topic


def _internal_service_short(
    scope: Construct, settings: StackSettings, metrics: EnvironmentMetrics, internal: InternalEcsService
) -> cloudwatch.Alarm:
    """An internal service that runs fewer tasks than it should for 10 minutes: a wake whose task never
    became healthy (the init container failed, no data in S3, out of memory) or a task that keeps
    crashing. Its callers meanwhile get the waker's "retry later" forever. Container Insights' counts
    of that ECS service; no data (no task wanted, nothing published) is not a breach."""
    return cloudwatch.Alarm(
        scope,
        f"{pascal(internal.name)}TasksShort",
        alarm_name=f"{settings.stack_name}-{internal.name}-tasks-short",
        alarm_description=(
            f"The internal service {internal.name} ran fewer tasks than wanted for 10 minutes "
            "(desired minus running, Container Insights): its callers get no answer. See the runbook."
        ),
        metric=cloudwatch.MathExpression(
            expression="FILL(desired, 0) - FILL(running, 0)",
            using_metrics={
                "desired": metrics.container_insights_of(internal.service.service_name, "DesiredTaskCount"),
                "running": metrics.container_insights_of(internal.service.service_name, "RunningTaskCount"),
            },
            label=f"{internal.name}: tasks missing",
            period=Duration.minutes(1),
        ),
        threshold=1,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluation_periods=10,
        datapoints_to_alarm=10,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )


def _alarms(
    scope: Construct, settings: StackSettings, metrics: EnvironmentMetrics, function: lambda_.IFunction
) -> list[cloudwatch.Alarm]:
    name = settings.stack_name
    door = metrics.door
    error_rate = cloudwatch.Alarm(
        scope,
        "ServerErrorRate",
        alarm_name=f"{name}-5xx-rate",
        alarm_description=_ERROR_RATE_DESCRIPTIONS[door.request_metric.namespace],
        metric=metrics.error_rate(),
        threshold=SERVER_ERROR_RATE_PERCENT,
        comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluation_periods=5,
        datapoints_to_alarm=3,
        treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
    )
    waker_errors = _at_least_one(
        scope,
        "WakerErrors",
        f"{name}-waker-errors",
        "The warmkeeper Lambda failed: cold requests, wake and sleep may suffer.",
        function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
    )
    discovery_alarm, with_the_tasks = _DISCOVERY_ALARMS[door.discovery]
    discovery = discovery_alarm(scope, name, metrics)
    alarms = (
        [error_rate, discovery, waker_errors] if with_the_tasks else [error_rate, waker_errors, discovery]
    )
    if settings.env.scale_to_zero:
        alarms.append(
            _at_least_one(
                scope,
                "WakeFailed",
                f"{name}-wake-failed",
                "A wake did not reach a healthy target within "
                f"{settings.config.scale_to_zero.wake_timeout_seconds} s ({MetricName.WAKE_FAILURES}).",
                metrics.warmkeeper(MetricName.WAKE_FAILURES, "Sum"),
            )
        )
    return alarms
