"""What people look at and what wakes them: the dashboard, the operational alarms and their SNS topic.

Written with aws_cloudwatch directly rather than cdk-monitoring-constructs: that library reads CPU and
memory from AWS/ECS service metrics (not Container Insights), has no alarm for a deployment ECS rolled
back (an EventBridge event, not a metric) and would add its own dashboards and alarm names beside ours.

Alarms (all to one KMS-encrypted SNS topic; the config's alarm e-mail is subscribed when set):
- 5xx rate of what users get (ELB-generated 5xx + the service's 5xx, over all requests; behind an
  HTTP API, the stage's 5xx over its requests);
- unhealthy targets in the service's target group (load balancer front doors only);
- a wake that never became healthy (the Lambda's WakeFailures metric), scale-to-zero only;
- the warmkeeper Lambda failing (nobody could wake the service);
- the HTTP API's VPC link found INACTIVE by the reconcile (its VpcLinkInactive metric), HTTP API only;
- a deployment ECS rolled back (EventBridge "ECS Deployment State Change" SERVICE_DEPLOYMENT_FAILED).
"""

from __future__ import annotations

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_ecs as ecs
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as events_targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as sns_subscriptions
from constructs import Construct

from warmkeeper.aws.metrics import METRICS_NAMESPACE, MetricName, dimensions
from warmkeeper.infra.stack_settings import StackSettings

ONE_MINUTE = Duration.minutes(1)
SERVER_ERROR_RATE_PERCENT = 5
# Below this many requests a minute a single failed request is not a "rate" worth a page.
SERVER_ERROR_MIN_REQUESTS = 10
# CloudFront publishes its metrics in us-east-1, whatever the distribution's origin region.
CLOUDFRONT_METRICS_REGION = "us-east-1"
# The HTTP API front door's one stage (warmkeeper.infra.http_api.STAGE_NAME).
API_STAGE = "$default"
GRAPH_WIDTH = 8
GRAPH_HEIGHT = 6


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        cluster: ecs.ICluster,
        service: ecs.FargateService,
        load_balancer: elbv2.ApplicationLoadBalancer | None,
        service_target_group: elbv2.ApplicationTargetGroup | None,
        waker_target_group: elbv2.ApplicationTargetGroup | None,
        function: lambda_.IFunction,
        distribution_id: str | None = None,
        api_id: str | None = None,
    ) -> None:
        """Either a load balancer and its two target groups, or (`front_door = "http_api"`) `api_id`."""
        super().__init__(scope, construct_id)
        self._settings = settings
        self._distribution_id = distribution_id
        self._api_id = api_id
        self._load_balancer = load_balancer.load_balancer_full_name if load_balancer else ""
        self._service_target_group = (
            service_target_group.target_group_full_name if service_target_group else ""
        )
        self._service_dimensions = {"ClusterName": cluster.cluster_name, "ServiceName": service.service_name}
        self.dashboard_name = settings.dashboard_name

        self.topic = self._alarm_topic(settings)
        self.alarms = self._alarms(settings, function)
        action = cloudwatch_actions.SnsAction(self.topic)
        for alarm in self.alarms:
            alarm.add_alarm_action(action)
        events.Rule(
            self,
            "DeploymentRolledBack",
            description=f"{settings.stack_name}: deployments ECS rolled back, to the alarm topic",
            event_pattern=events.EventPattern(
                source=["aws.ecs"],
                detail_type=["ECS Deployment State Change"],
                resources=[service.service_arn],
                detail={"eventName": ["SERVICE_DEPLOYMENT_FAILED"]},
            ),
            targets=[
                events_targets.SnsTopic(
                    self.topic,
                    message=events.RuleTargetInput.from_text(
                        f"{settings.stack_name}: ECS rolled back deployment "
                        f"{events.EventField.from_path('$.detail.deploymentId')}: "
                        f"{events.EventField.from_path('$.detail.reason')}"
                    ),
                )
            ],
        )
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=settings.dashboard_name,
            default_interval=Duration.hours(3),
            widgets=self._widgets(waker_target_group.target_group_full_name if waker_target_group else None),
        )

    # --- alarms ---------------------------------------------------------------------------------

    def _alarm_topic(self, settings: StackSettings) -> sns.Topic:
        # A customer managed key: CloudWatch and EventBridge cannot publish to a topic encrypted
        # with the AWS managed SNS key. Only notifications pass through it, so it is not kept.
        key = kms.Key(
            self,
            "AlarmTopicKey",
            description=f"{settings.stack_name}: encrypts the alarm topic",
            enable_key_rotation=True,
            pending_window=Duration.days(7),
            removal_policy=RemovalPolicy.DESTROY,
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AlarmsAndEventsPublishEncrypted",
                principals=[
                    iam.ServicePrincipal("cloudwatch.amazonaws.com"),
                    iam.ServicePrincipal("events.amazonaws.com"),
                ],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
            )
        )
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"{settings.stack_name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="ThisStacksAlarmsPublish",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": (
                            f"arn:{Aws.PARTITION}:cloudwatch:{Aws.REGION}:{Aws.ACCOUNT_ID}:"
                            f"alarm:{settings.stack_name}-*"
                        )
                    },
                },
            )
        )
        if settings.env.alarm_email:
            topic.add_subscription(sns_subscriptions.EmailSubscription(settings.env.alarm_email))
        return topic

    def _alarms(self, settings: StackSettings, function: lambda_.IFunction) -> list[cloudwatch.Alarm]:
        name = settings.stack_name
        if self._api_id is None:
            error_rate_description = (
                f"More than {SERVER_ERROR_RATE_PERCENT} % of requests answered 5xx (by the load "
                "balancer or the service) in 3 of the last 5 minutes. The waker's deliberate 503 "
                "(Retry-After while waking) is not counted."
            )
        else:
            error_rate_description = (
                f"More than {SERVER_ERROR_RATE_PERCENT} % of the HTTP API's requests answered 5xx (by API "
                "Gateway, the VPC link or the service) in 3 of the last 5 minutes. The stage's metric "
                "also counts the waker's deliberate 503 (Retry-After while waking): one wake lasts about "
                "a minute, so it does not reach 3 minutes out of 5 alone."
            )
        alarms = [
            cloudwatch.Alarm(
                self,
                "ServerErrorRate",
                alarm_name=f"{name}-5xx-rate",
                alarm_description=error_rate_description,
                metric=self._server_error_rate() if self._api_id is None else self._api_error_rate(),
                threshold=SERVER_ERROR_RATE_PERCENT,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=5,
                datapoints_to_alarm=3,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
            cloudwatch.Alarm(
                self,
                "WakerErrors",
                alarm_name=f"{name}-waker-errors",
                alarm_description="The warmkeeper Lambda failed: cold requests, wake and sleep may suffer.",
                metric=function.metric_errors(period=Duration.minutes(5), statistic="Sum"),
                threshold=1,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            ),
        ]
        if self._api_id is None:
            alarms.insert(
                1,
                cloudwatch.Alarm(
                    self,
                    "UnhealthyTargets",
                    alarm_name=f"{name}-unhealthy-targets",
                    alarm_description="A task failed the load balancer's health check for 3 minutes.",
                    metric=self._alb("UnHealthyHostCount", "Maximum", target_group=True),
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=3,
                    datapoints_to_alarm=3,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                ),
            )
        if self._api_id is not None:
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    "VpcLinkInactive",
                    alarm_name=f"{name}-vpc-link-inactive",
                    alarm_description=(
                        "The HTTP API's VPC link is INACTIVE (AWS deactivates one unused for 60 days): "
                        f"requests to the service fail until it is AVAILABLE again "
                        f"({MetricName.VPC_LINK_INACTIVE}, from the reconcile). See the runbook."
                    ),
                    metric=self._warmkeeper(MetricName.VPC_LINK_INACTIVE, "Maximum"),
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        if settings.env.scale_to_zero:
            alarms.append(
                cloudwatch.Alarm(
                    self,
                    "WakeFailed",
                    alarm_name=f"{name}-wake-failed",
                    alarm_description=(
                        "A wake did not reach a healthy target within "
                        f"{settings.config.scale_to_zero.wake_timeout_seconds} s "
                        f"({MetricName.WAKE_FAILURES})."
                    ),
                    metric=self._warmkeeper(MetricName.WAKE_FAILURES, "Sum"),
                    threshold=1,
                    comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
                    evaluation_periods=1,
                    treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
                )
            )
        return alarms

    # --- metrics --------------------------------------------------------------------------------

    def _alb(
        self, metric_name: str, statistic: str, *, target_group: bool, label: str | None = None
    ) -> cloudwatch.Metric:
        dimensions = {"LoadBalancer": self._load_balancer}
        if target_group:
            dimensions["TargetGroup"] = self._service_target_group
        return cloudwatch.Metric(
            namespace="AWS/ApplicationELB",
            metric_name=metric_name,
            dimensions_map=dimensions,
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def _container_insights(self, metric_name: str, statistic: str = "Average") -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name=metric_name,
            dimensions_map=self._service_dimensions,
            statistic=statistic,
            period=ONE_MINUTE,
        )

    def _warmkeeper(self, metric: MetricName, statistic: str, label: str | None = None) -> cloudwatch.Metric:
        """One of the Lambda's own metrics (:class:`~warmkeeper.aws.metrics.MetricName`)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=metric.value,
            dimensions_map=dimensions(self._settings.app_name, self._settings.env_name),
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def _api(self, metric_name: str, statistic: str, label: str | None = None) -> cloudwatch.Metric:
        """An AWS/ApiGateway metric of the HTTP API's stage (dimensions ApiId and Stage)."""
        assert self._api_id is not None
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=metric_name,
            dimensions_map={"ApiId": self._api_id, "Stage": API_STAGE},
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def _api_error_rate(self) -> cloudwatch.MathExpression:
        return cloudwatch.MathExpression(
            expression=(
                f"IF(requests >= {SERVER_ERROR_MIN_REQUESTS}, 100 * FILL(errors5xx, 0) / requests, 0)"
            ),
            using_metrics={"requests": self._api("Count", "Sum"), "errors5xx": self._api("5xx", "Sum")},
            label="5xx rate (%)",
            period=ONE_MINUTE,
        )

    def _server_error_rate(self) -> cloudwatch.MathExpression:
        return cloudwatch.MathExpression(
            expression=(
                f"IF(requests >= {SERVER_ERROR_MIN_REQUESTS}, "
                "100 * (FILL(elb5xx, 0) + FILL(service5xx, 0)) / requests, 0)"
            ),
            using_metrics={
                "requests": self._alb("RequestCount", "Sum", target_group=False),
                "elb5xx": self._alb("HTTPCode_ELB_5XX_Count", "Sum", target_group=False),
                "service5xx": self._alb("HTTPCode_Target_5XX_Count", "Sum", target_group=True),
            },
            label="5xx rate (%)",
            period=ONE_MINUTE,
        )

    # --- dashboard ------------------------------------------------------------------------------

    def _graph(
        self, title: str, left: list[cloudwatch.IMetric], left_y_axis: cloudwatch.YAxisProps | None = None
    ) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=title, left=left, left_y_axis=left_y_axis, width=GRAPH_WIDTH, height=GRAPH_HEIGHT
        )

    def _widgets(self, waker_target_group: str | None) -> list[list[cloudwatch.IWidget]]:
        settings = self._settings
        mode = (
            f"scales to zero after {settings.env.idle_minutes} idle minutes"
            if settings.env.scale_to_zero
            else f"always on, {settings.env.min_tasks}-{settings.env.max_tasks} tasks"
        )
        header = cloudwatch.TextWidget(
            markdown=(
                f"# {settings.app_name} {settings.env_name}\n"
                f"{mode}. Requests reach the service only while it has a healthy task; otherwise the "
                "warmkeeper Lambda answers (waiting page, held API calls). Runbook: docs/technical/runbook.md"
            ),
            width=16,
            height=GRAPH_HEIGHT,
        )
        alarm_status = cloudwatch.AlarmStatusWidget(
            title="Alarms", alarms=list(self.alarms), width=8, height=GRAPH_HEIGHT
        )
        cpu = cloudwatch.MathExpression(
            expression="100 * cpuUsed / cpuReserved",
            using_metrics={
                "cpuUsed": self._container_insights("CpuUtilized"),
                "cpuReserved": self._container_insights("CpuReserved"),
            },
            label="CPU (% of reserved)",
            period=ONE_MINUTE,
        )
        memory = cloudwatch.MathExpression(
            expression="100 * memoryUsed / memoryReserved",
            using_metrics={
                "memoryUsed": self._container_insights("MemoryUtilized"),
                "memoryReserved": self._container_insights("MemoryReserved"),
            },
            label="Memory (% of reserved)",
            period=ONE_MINUTE,
        )
        tasks = self._graph(
            "Tasks",
            [
                self._container_insights("RunningTaskCount"),
                self._container_insights("DesiredTaskCount"),
                self._container_insights("PendingTaskCount"),
            ],
        )
        resources = self._graph(
            "CPU and memory (Container Insights)",
            [cpu, memory],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
        )
        traffic = (
            self._load_balancer_rows(waker_target_group, tasks, resources)
            if waker_target_group is not None
            else self._http_api_rows(tasks, resources)
        )
        return [
            [header, alarm_status],
            *traffic,
            [
                self._graph(
                    "Wakes and sleeps",
                    [
                        self._warmkeeper(MetricName.WAKES, "Sum", "wakes"),
                        self._warmkeeper(MetricName.SLEEPS, "Sum", "sleeps"),
                        self._warmkeeper(MetricName.WAKE_FAILURES, "Sum", "wake failures"),
                    ],
                ),
                self._graph(
                    "Cold start (s, wake to first healthy target)",
                    [
                        self._warmkeeper(MetricName.COLD_START_SECONDS, "Average", "average"),
                        self._warmkeeper(MetricName.COLD_START_SECONDS, "Maximum", "maximum"),
                    ],
                ),
                self._graph("Held requests", [self._warmkeeper(MetricName.HELD_REQUESTS, "Sum", "held")]),
            ],
            *self._front_door_row(),
        ]

    def _load_balancer_rows(
        self, waker_target_group: str, tasks: cloudwatch.IWidget, resources: cloudwatch.IWidget
    ) -> list[list[cloudwatch.IWidget]]:
        waker_requests = cloudwatch.Metric(
            namespace="AWS/ApplicationELB",
            metric_name="RequestCount",
            dimensions_map={"LoadBalancer": self._load_balancer, "TargetGroup": waker_target_group},
            statistic="Sum",
            period=ONE_MINUTE,
            label="to the warmkeeper Lambda",
        )
        return [
            [
                self._graph(
                    "Requests",
                    [
                        self._alb("RequestCount", "Sum", target_group=False, label="all"),
                        self._alb("RequestCount", "Sum", target_group=True, label="to the service"),
                        waker_requests,
                    ],
                ),
                self._graph(
                    "4xx / 5xx",
                    [
                        self._alb(
                            "HTTPCode_ELB_4XX_Count", "Sum", target_group=False, label="4xx by the ALB"
                        ),
                        self._alb(
                            "HTTPCode_ELB_5XX_Count", "Sum", target_group=False, label="5xx by the ALB"
                        ),
                        self._alb(
                            "HTTPCode_Target_4XX_Count", "Sum", target_group=True, label="4xx by the service"
                        ),
                        self._alb(
                            "HTTPCode_Target_5XX_Count", "Sum", target_group=True, label="5xx by the service"
                        ),
                    ],
                ),
                self._graph(
                    "Target response time (s)",
                    [
                        self._alb("TargetResponseTime", "p50", target_group=True, label="p50"),
                        self._alb("TargetResponseTime", "p99", target_group=True, label="p99"),
                    ],
                ),
            ],
            [
                self._graph(
                    "Targets",
                    [
                        self._alb("HealthyHostCount", "Minimum", target_group=True, label="healthy"),
                        self._alb("UnHealthyHostCount", "Maximum", target_group=True, label="unhealthy"),
                    ],
                ),
                tasks,
                resources,
            ],
        ]

    def _http_api_rows(
        self, tasks: cloudwatch.IWidget, resources: cloudwatch.IWidget
    ) -> list[list[cloudwatch.IWidget]]:
        """The HTTP API's stage: everything that reached the front door, the waker's answers included
        (the stage has no per-integration split without paid detailed metrics)."""
        return [
            [
                self._graph("Requests (HTTP API)", [self._api("Count", "Sum", "requests")]),
                self._graph(
                    "4xx / 5xx (HTTP API)",
                    [self._api("4xx", "Sum", "4xx"), self._api("5xx", "Sum", "5xx (waker's 503 included)")],
                ),
                self._graph(
                    "Integration latency (ms)",
                    [
                        self._api("IntegrationLatency", "p50", "p50"),
                        self._api("IntegrationLatency", "p99", "p99"),
                    ],
                ),
            ],
            [tasks, resources],
        ]

    def _front_door_row(self) -> list[list[cloudwatch.IWidget]]:
        """Behind CloudFront, what the edge saw. A request CloudFront could not bring to the ALB (a
        502 when the VPC origin cannot connect) never shows in the ALB's metrics: without this row a
        broken front door would look like an idle service. CloudFront publishes in us-east-1 only;
        a dashboard may draw another region's metrics (an alarm may not, so there is none here)."""
        distribution_id = self._distribution_id
        if distribution_id is None:
            return []

        def edge(metric_name: str, statistic: str, label: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace="AWS/CloudFront",
                metric_name=metric_name,
                dimensions_map={"DistributionId": distribution_id, "Region": "Global"},
                statistic=statistic,
                period=ONE_MINUTE,
                label=label,
                region=CLOUDFRONT_METRICS_REGION,
            )

        return [
            [
                cloudwatch.GraphWidget(
                    title="Front door: CloudFront (us-east-1)",
                    left=[edge("Requests", "Sum", "requests")],
                    right=[
                        edge("4xxErrorRate", "Average", "4xx (% of requests)"),
                        edge("5xxErrorRate", "Average", "5xx (% of requests)"),
                    ],
                    right_y_axis=cloudwatch.YAxisProps(min=0, max=100),
                    width=GRAPH_WIDTH,
                    height=GRAPH_HEIGHT,
                )
            ]
        ]
