"""The warmkeeper Lambda: answers while the service is cold, wakes it, sleeps it, reconciles every minute.

Its code is an asset cut from src/ that holds exactly the `warmkeeper` modules the handler imports
(computed by `infra/bundle.py` from the code: standard library and boto3 only, no cost model, no CLI).
Its IAM policy reaches this one service (and the app's internal services), cluster, listener, SSM path
and secrets; no mutating action has a wildcard resource. With scale-to-zero or internal services it
also has a function URL, the way the app's tasks reach it with their activity beacon's reports and
internal wakes (:meth:`Waker._function_url`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Duration, Fn, IgnoreMode, Stack
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

import warmkeeper
from warmkeeper.aws.adapters import WARM_ROUTE_TAG_KEY, WARM_ROUTE_TAG_VALUE
from warmkeeper.aws.lambda_settings import Settings
from warmkeeper.aws.metrics import METRICS_NAMESPACE
from warmkeeper.aws_limits import waker_timeout_seconds
from warmkeeper.infra.bundle import bundle_files, exclude_patterns
from warmkeeper.infra.internal_service import InternalServices, WakerEndpoint
from warmkeeper.infra.log_groups import log_group
from warmkeeper.infra.scan_skips import skip_checks
from warmkeeper.infra.stack_settings import StackSettings
from warmkeeper.naming import WARM_RULE_PRIORITY

# The warm route's tag as IAM conditions name it: on the request that creates it, and on the rule.
WARM_ROUTE_REQUEST_TAG = f"aws:RequestTag/{WARM_ROUTE_TAG_KEY}"
WARM_ROUTE_RESOURCE_TAG = f"aws:ResourceTag/{WARM_ROUTE_TAG_KEY}"

HANDLER = "warmkeeper.aws.lambda_handler.handler"
RUNTIME = lambda_.Runtime.PYTHON_3_12
MEMORY_MB = 256


def source_root() -> Path:
    """The folder that holds the `warmkeeper` package (src/ in a checkout)."""
    return Path(warmkeeper.__file__).resolve().parent.parent


def bundle_patterns() -> list[str]:
    """Glob exclusions that let in exactly the modules the handler imports (later patterns win)."""
    handler_module = HANDLER.rsplit(".", 1)[0]
    return exclude_patterns(bundle_files(source_root(), handler_module))


def bundle_code() -> lambda_.Code:
    return lambda_.Code.from_asset(str(source_root()), exclude=bundle_patterns(), ignore_mode=IgnoreMode.GLOB)


def listener_rules_arn(listener_arn: str) -> str:
    """`...:listener/app/NAME/LB_ID/LISTENER_ID` -> `...:listener-rule/app/NAME/LB_ID/LISTENER_ID/*`."""
    parts = Fn.split(":listener/", listener_arn)
    return Fn.join("", [Fn.select(0, parts), ":listener-rule/", Fn.select(1, parts), "/*"])


class Waker(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        cluster: ecs.ICluster,
        service: ecs.FargateService,
        load_balancer: elbv2.ApplicationLoadBalancer | None,
        listener: elbv2.ApplicationListener | None,
        service_target_group: elbv2.ApplicationTargetGroup | None,
        internal_services: InternalServices | None = None,
        service_name: str | None = None,
    ) -> None:
        """With scale-to-zero or internal services the Lambda gets the wake secret and a function URL
        (:attr:`endpoint`: the app's tasks send their beacon reports and internal wakes there); with
        internal services (`internal_services`) also their settings, and may scale and read them;
        `service_name` is then the app's service's name as a plain string (see AppService).

        Without a load balancer (`front_door = "http_api"`) the Lambda gets no listener, target
        group nor load-balancer permission here: the HTTP API front door adds its own environment,
        policy and invoke permission, and writes the contract's variables with :meth:`write_settings`
        (warmkeeper.infra.http_api)."""
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.keepalive_secret = _generated_secret(
            self,
            "KeepaliveSecret",
            name=f"warmkeeper/{settings.app_name}/{settings.env_name}/keepalive",
            description=f"{settings.stack_name}: bearer token of POST /_warmkeeper/keepalive",
            not_rotated_because=(
                "The keep-alive token is a webhook credential shared with CI, not a database "
                "password: it only wakes the service and holds it warm (bounded by "
                "max_lease_minutes) and grants no data access. It is rotated by hand with "
                "`aws secretsmanager put-secret-value` and CI is updated at the same time; an "
                "automatic rotation would break CI between rotation and update."
            ),
        )

        self.wake_secret: secretsmanager.Secret | None = None
        if internal_services is not None or settings.env.scale_to_zero:
            # What the app's tasks send to the waker's function URL (X-Warmkeeper-Wake-Secret): the
            # activity beacon's reports of a scale-to-zero app, and a caller's internal wakes. The
            # app's containers read it as an ECS secret, the waker at run time; it never enters the
            # template.
            self.wake_secret = _generated_secret(
                self,
                "WakeSecret",
                name=f"warmkeeper/{settings.app_name}/{settings.env_name}/wake",
                description=(
                    f"{settings.stack_name}: the app's tasks send it with beacon reports and internal wakes"
                ),
                not_rotated_because=(
                    "The wake secret only lets a caller report the app's activity or ask the waker "
                    "to start an internal service (bounded by its max_tasks and its idle alarm); it "
                    "grants no data access. Rotating it means restarting the app's tasks (an ECS "
                    "secret is read at task start), so it is rotated by hand with a deploy, not "
                    "automatically."
                ),
            )

        logs = log_group(self, "Logs", settings=settings, name=f"/aws/lambda/{settings.function_name}")
        # Our own role instead of the default one: the default attaches the AWS managed
        # AWSLambdaBasicExecutionRole (logs on every log group); this one writes to its own only.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"{settings.stack_name} warmkeeper Lambda",
        )
        logs.grant_write(self.role)
        hold_seconds = settings.config.scale_to_zero.hold_seconds
        # The contract's variables, written by the same class that reads them in the Lambda. Without a
        # load balancer the front door knows the rest (API, integration, VPC link, Cloud Map) and
        # writes them all through write_settings once its resources exist.
        self._common_settings: dict[str, Any] = {
            "app": settings.app_name,
            "title": settings.config.app.title,
            "env": settings.env_name,
            "cluster": cluster.cluster_name,
            "service": service_name or service.service_name,
            "parameter_prefix": settings.parameter_prefix,
            "policy": settings.policy,
            "keepalive_secret_arn": self.keepalive_secret.secret_arn,
            "metrics_namespace": METRICS_NAMESPACE,
            "custom_metrics": settings.env.is_watched,
            "idle_alarm_name": settings.idle_alarm_name if settings.env.scale_to_zero else None,
            "front_door": settings.env.front_door,
        }
        if self.wake_secret is not None:
            self._common_settings["wake_secret_arn"] = self.wake_secret.secret_arn
        if internal_services is not None:
            self._common_settings |= {
                "internal_services": internal_services.lambda_settings(),
                "wake_with": tuple(settings.config.wakes_with(settings.app_name)),
            }
        environment: dict[str, str] = {}
        if listener is not None and service_target_group is not None and load_balancer is not None:
            environment = self._settings(
                listener_arn=listener.listener_arn,
                service_target_group_arn=service_target_group.target_group_arn,
                warm_rule_priority=WARM_RULE_PRIORITY,
                load_balancer_dimension=load_balancer.load_balancer_full_name,
                target_group_dimension=service_target_group.target_group_full_name,
            ).to_env()
        self.function = lambda_.Function(
            self,
            "Function",
            function_name=settings.function_name,
            description=f"{settings.stack_name}: answers while cold; wakes, sleeps, reconciles the service",
            runtime=RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=bundle_code(),
            memory_size=MEMORY_MB,
            # A held API request may wait hold_seconds for a healthy target, plus the calls around it;
            # every front door waits longer than this (aws_limits.front_door_timeout_seconds).
            timeout=Duration.seconds(waker_timeout_seconds(hold_seconds)),
            # A herd of cold requests stays within this (and ALB answers 503 past it): it cannot take the
            # account's concurrency. 0 in the config: no reservation.
            reserved_concurrent_executions=settings.env.waker_reserved_concurrency or None,
            role=self.role,
            log_group=logs,
            # The runtime writes every `logging` record as one JSON object with the request id; the
            # metrics are EMF documents on the same channel (warmkeeper.aws.logs).
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel.INFO,
            environment=environment,
        )
        skip_checks(self.function, "CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_173")
        NagSuppressions.add_resource_suppressions(
            self.function,
            [
                NagPackSuppression(
                    id="AwsSolutions-L1",
                    reason=(
                        "python3.12 is pinned on purpose: the bundle (core and aws, standard library "
                        "and boto3 only) is tested against it, and it is a supported Lambda runtime "
                        "(not deprecated). Moving to a newer runtime is a tested change of this "
                        "constant, not a side effect of a cdk-nag upgrade."
                    ),
                )
            ],
        )
        self._grant(settings, stack, cluster, service, listener, internal_services)
        self.endpoint: WakerEndpoint | None = None
        if self.wake_secret is not None:
            self.endpoint = WakerEndpoint(url=self._function_url(), secret=self.wake_secret)
        self.target_group: elbv2.ApplicationTargetGroup | None = None
        if listener is not None:
            self.target_group = self._load_balancer_target(stack)
        # Reconcile: repairs whatever a lost event left behind. A missed run is simply the next one.
        events.Rule(
            self,
            "ReconcileSchedule",
            description=f"{settings.stack_name}: reconcile the warmkeeper state every minute",
            schedule=events.Schedule.rate(Duration.minutes(1)),
            targets=[events_targets.LambdaFunction(self.function, retry_attempts=0)],
        )

    def _settings(self, **front_door_fields: Any) -> Settings:
        return Settings(**{**self._common_settings, **front_door_fields})

    def write_settings(self, **front_door_fields: Any) -> Settings:
        # front_door_fields may name front_door itself: the front door's own value wins.
        """The contract's variables of a front door without a load balancer (its fields of
        :class:`~warmkeeper.aws.lambda_settings.Settings`), written with :meth:`Settings.to_env` like the
        others; the Settings is returned for the caller's own checks."""
        lambda_settings = self._settings(**front_door_fields)
        for name, value in lambda_settings.to_env().items():
            self.function.add_environment(name, value)
        return lambda_settings

    def _function_url(self) -> str:
        """The URL the app's tasks send beacon reports and internal wakes to (no other way to the waker
        works with every front door, and an internal service has no route of the front door).

        Auth NONE: Caddy cannot sign a request with SigV4, which AWS_IAM would require. Lambda then
        authenticates nothing and the function's resource policy must admit anyone (CDK adds both
        permissions AWS requires of a URL: lambda:InvokeFunctionUrl with FunctionUrlAuthType NONE, and
        lambda:InvokeFunction only when invoked through the URL). What guards it: the handler checks the
        wake secret first (constant-time) and answers 403 before anything else; a valid call can only
        record activity or start a configured internal service, within its max_tasks; and the
        function's reserved concurrency bounds what a flood can take (and bill)."""
        function_url = self.function.add_function_url(auth_type=lambda_.FunctionUrlAuthType.NONE)
        skip_checks(function_url, "CKV_AWS_258")
        return function_url.url

    def _load_balancer_target(self, stack: Stack) -> elbv2.ApplicationTargetGroup:
        # Requests that no higher-priority rule takes reach the Lambda through this target group.
        # Not CDK's LambdaTarget: its invoke permission names no source, so a load balancer of any
        # account could invoke the function. This one admits target groups of this account only
        # (naming the target group itself would close a dependency cycle: it needs the permission
        # before it can register the function).
        invoke_permission = lambda_.CfnPermission(
            self,
            "LoadBalancerInvoke",
            action="lambda:InvokeFunction",
            function_name=self.function.function_arn,
            principal="elasticloadbalancing.amazonaws.com",
            source_arn=stack.format_arn(
                service="elasticloadbalancing", resource="targetgroup", resource_name="*"
            ),
        )
        target_group = elbv2.ApplicationTargetGroup(self, "TargetGroup", target_type=elbv2.TargetType.LAMBDA)
        # Every value of a repeated header or query key (`?tag=a&tag=b`), not only the last: the 307
        # back must replay the URL the client sent. The handler then answers in multiValueHeaders, as
        # ALB requires of a target group with this on (ELB user guide, "Multi-value headers").
        target_group.set_attribute("lambda.multi_value_headers.enabled", "true")
        cfn_target_group = target_group.node.default_child
        assert isinstance(cfn_target_group, elbv2.CfnTargetGroup)
        cfn_target_group.targets = [
            elbv2.CfnTargetGroup.TargetDescriptionProperty(id=self.function.function_arn)
        ]
        target_group.node.add_dependency(invoke_permission)
        return target_group

    def _grant(
        self,
        settings: StackSettings,
        stack: Stack,
        cluster: ecs.ICluster,
        service: ecs.FargateService,
        listener: elbv2.ApplicationListener | None,
        internal_services: InternalServices | None,
    ) -> None:
        parameters_arn = stack.format_arn(
            service="ssm", resource="parameter", resource_name=f"{settings.parameter_prefix.lstrip('/')}/*"
        )
        statements = [
            iam.PolicyStatement(
                sid="ScaleThisService",
                actions=["ecs:UpdateService", "ecs:DescribeServices"],
                # The app's service and its internal services: this stack's services only.
                resources=[
                    service.service_arn,
                    *(internal.service.service_arn for internal in internal_services.services),
                ]
                if internal_services is not None
                else [service.service_arn],
            ),
            iam.PolicyStatement(
                sid="ReadTasksOfThisCluster",
                actions=["ecs:ListTasks", "ecs:DescribeTasks"],
                resources=["*"],
                conditions={"ArnEquals": {"ecs:cluster": cluster.cluster_arn}},
            ),
            iam.PolicyStatement(
                sid="StateUnderThisEnvironmentsPrefix",
                actions=[
                    "ssm:GetParameter",
                    "ssm:GetParameters",
                    "ssm:PutParameter",
                    "ssm:DeleteParameter",
                    "ssm:DeleteParameters",
                ],
                resources=[parameters_arn],
            ),
            iam.PolicyStatement(
                sid="ReadKeepaliveToken",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.keepalive_secret.secret_arn],
            ),
            iam.PolicyStatement(
                sid="ReadMetricsAndAlarms",
                actions=[
                    "cloudwatch:GetMetricData",
                    "cloudwatch:GetMetricStatistics",
                    "cloudwatch:DescribeAlarms",
                ],
                resources=["*"],
            ),
        ]
        # An internal service's health is read from its tasks (ecs:DescribeTasks, above), not Cloud Map.
        if self.wake_secret is not None:
            statements += [
                iam.PolicyStatement(
                    sid="ReadWakeSecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[self.wake_secret.secret_arn],
                ),
            ]
        if listener is not None:
            statements[2:2] = [
                iam.PolicyStatement(
                    sid="ReadLoadBalancing",
                    actions=["elasticloadbalancing:Describe*"],
                    resources=["*"],
                ),
                # The waker creates one rule, tagged as the warm route, and changes only rules with
                # that tag: not the stack's own rules on the same listener (the waker's paths, the
                # default). ELBv2 takes aws:RequestTag on CreateRule and AddTags, the
                # elasticloadbalancing:CreateAction condition on AddTags, and aws:ResourceTag on a
                # listener rule (Service Authorization Reference, Elastic Load Balancing V2).
                iam.PolicyStatement(
                    sid="CreateTheTaggedWarmRouteOnThisListener",
                    actions=["elasticloadbalancing:CreateRule"],
                    resources=[listener.listener_arn],
                    conditions={"StringEquals": {WARM_ROUTE_REQUEST_TAG: WARM_ROUTE_TAG_VALUE}},
                ),
                iam.PolicyStatement(
                    sid="TagTheWarmRouteAsItIsCreated",
                    actions=["elasticloadbalancing:AddTags"],
                    resources=[listener_rules_arn(listener.listener_arn)],
                    conditions={
                        "StringEquals": {
                            "elasticloadbalancing:CreateAction": "CreateRule",
                            WARM_ROUTE_REQUEST_TAG: WARM_ROUTE_TAG_VALUE,
                        }
                    },
                ),
                iam.PolicyStatement(
                    sid="ChangeTheWarmRouteOnly",
                    actions=["elasticloadbalancing:DeleteRule", "elasticloadbalancing:ModifyRule"],
                    resources=[listener_rules_arn(listener.listener_arn)],
                    conditions={"StringEquals": {WARM_ROUTE_RESOURCE_TAG: WARM_ROUTE_TAG_VALUE}},
                ),
            ]
        policy = iam.Policy(self, "Policy", statements=statements, roles=[self.role])
        NagSuppressions.add_resource_suppressions(
            policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "Read-only actions without resource-level permissions (ELB Describe*, "
                        "CloudWatch GetMetricData/GetMetricStatistics/DescribeAlarms) need Resource *. "
                        "ecs:ListTasks/DescribeTasks are read-only and limited by the ecs:cluster "
                        "condition to this cluster. The function's own metrics need no permission: they "
                        "are embedded metric format lines in its log group."
                    ),
                    applies_to=["Resource::*", "Action::elasticloadbalancing:Describe*"],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "The warm-route rule is created at run time, so its ARN is unknown in advance; "
                        "the wildcard covers only rules of this one listener "
                        "(listener-rule/app/<lb name>/<lb id>/<listener id>/*), and a condition on the "
                        "warm route's tag narrows it to the rule the waker created."
                    ),
                    applies_to=[RegexAppliesTo(regex="/^Resource::.*:listener-rule\\/.*\\/\\*$/")],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        f"The Lambda's small state (wake lock, lease, last wake) lives in SSM parameters "
                        f"it creates at run time under this environment's own path "
                        f"{settings.parameter_prefix}/; the wildcard covers that path only."
                    ),
                    applies_to=[
                        RegexAppliesTo(
                            regex="/^Resource::arn:<AWS::Partition>:ssm:.*:parameter\\/warmkeeper\\/.*\\/\\*$/"
                        )
                    ],
                ),
            ],
        )


def _generated_secret(
    scope: Construct, construct_id: str, *, name: str, description: str, not_rotated_because: str
) -> secretsmanager.Secret:
    """A 48-character secret Secrets Manager generates, whose value never enters the template, and why
    it has no automatic rotation (checkov CKV_AWS_149 and cdk-nag AwsSolutions-SMG4)."""
    secret = secretsmanager.Secret(
        scope,
        construct_id,
        secret_name=name,
        description=description,
        generate_secret_string=secretsmanager.SecretStringGenerator(
            exclude_punctuation=True, password_length=48
        ),
    )
    skip_checks(secret, "CKV_AWS_149")
    NagSuppressions.add_resource_suppressions(
        secret, [NagPackSuppression(id="AwsSolutions-SMG4", reason=not_rotated_because)]
    )
    return secret
