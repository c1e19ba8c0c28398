"""What people look at: the environment's CloudWatch dashboard.

One header (what the environment is, the alarms' state), the front door's traffic (drawn from what
publishes its metrics: the load balancer or the HTTP API's stage), the tasks and their resources, the
waker's wakes, sleeps, cold starts and held requests, and behind CloudFront what the edge saw.

Created in the scope given (the stack's `Monitoring` construct), so its path, and the template's
logical id, are those of that scope.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from warmkeeper.aws.metrics import MetricName
from warmkeeper.infra.cloudwatch_metrics import CLOUDFRONT_METRICS_REGION, ONE_MINUTE, EnvironmentMetrics
from warmkeeper.infra.internal_service import InternalEcsService
from warmkeeper.infra.stack_settings import StackSettings

GRAPH_WIDTH = 8
GRAPH_HEIGHT = 6

Rows = list[list[cloudwatch.IWidget]]


def _graph(
    title: str, left: list[cloudwatch.IMetric], left_y_axis: cloudwatch.YAxisProps | None = None
) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(
        title=title, left=left, left_y_axis=left_y_axis, width=GRAPH_WIDTH, height=GRAPH_HEIGHT
    )


def service_dashboard(
    scope: Construct,
    *,
    settings: StackSettings,
    metrics: EnvironmentMetrics,
    alarms: list[cloudwatch.Alarm],
    internal_services: Sequence[InternalEcsService] = (),
) -> cloudwatch.Dashboard:
    return cloudwatch.Dashboard(
        scope,
        "Dashboard",
        dashboard_name=settings.dashboard_name,
        default_interval=Duration.hours(3),
        widgets=_widgets(settings, metrics, alarms)
        + [_internal_service_row(metrics, internal) for internal in internal_services],
    )


def _internal_service_row(
    metrics: EnvironmentMetrics, internal: InternalEcsService
) -> list[cloudwatch.IWidget]:
    """One row per internal service: its calls (the activity metric its idle alarm watches), its tasks,
    its CPU and memory."""
    name = internal.service.service_name

    def used_of_reserved(used: str, reserved: str, label: str) -> cloudwatch.MathExpression:
        return cloudwatch.MathExpression(
            expression=f"100 * {used.lower()} / {reserved.lower()}",
            using_metrics={
                used.lower(): metrics.container_insights_of(name, used),
                reserved.lower(): metrics.container_insights_of(name, reserved),
            },
            label=label,
            period=ONE_MINUTE,
        )

    mode = (
        f"sleeps after {internal.service_settings.idle_minutes} min without a call"
        if internal.service_settings.scale_to_zero
        else "always on"
    )
    return [
        _graph(
            f"{internal.name}: calls (log lines; {mode})",
            [internal.activity("Sum", "calls")],
        ),
        _graph(
            f"{internal.name}: tasks",
            [
                metrics.container_insights_of(name, "RunningTaskCount", label="running"),
                metrics.container_insights_of(name, "DesiredTaskCount", label="desired"),
                metrics.container_insights_of(name, "PendingTaskCount", label="pending"),
            ],
        ),
        _graph(
            f"{internal.name}: CPU and memory",
            [
                used_of_reserved("CpuUtilized", "CpuReserved", "CPU (% of reserved)"),
                used_of_reserved("MemoryUtilized", "MemoryReserved", "Memory (% of reserved)"),
            ],
            left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
        ),
    ]


def _widgets(settings: StackSettings, metrics: EnvironmentMetrics, alarms: list[cloudwatch.Alarm]) -> Rows:
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
        title="Alarms", alarms=list(alarms), width=8, height=GRAPH_HEIGHT
    )
    cpu = cloudwatch.MathExpression(
        expression="100 * cpuUsed / cpuReserved",
        using_metrics={
            "cpuUsed": metrics.container_insights("CpuUtilized"),
            "cpuReserved": metrics.container_insights("CpuReserved"),
        },
        label="CPU (% of reserved)",
        period=ONE_MINUTE,
    )
    memory = cloudwatch.MathExpression(
        expression="100 * memoryUsed / memoryReserved",
        using_metrics={
            "memoryUsed": metrics.container_insights("MemoryUtilized"),
            "memoryReserved": metrics.container_insights("MemoryReserved"),
        },
        label="Memory (% of reserved)",
        period=ONE_MINUTE,
    )
    tasks = _graph(
        "Tasks",
        [
            metrics.container_insights("RunningTaskCount"),
            metrics.container_insights("DesiredTaskCount"),
            metrics.container_insights("PendingTaskCount"),
        ],
    )
    resources = _graph(
        "CPU and memory (Container Insights)",
        [cpu, memory],
        left_y_axis=cloudwatch.YAxisProps(min=0, max=100),
    )
    traffic = _TRAFFIC_ROWS[metrics.door.request_metric.namespace](metrics, tasks, resources)
    return [
        [header, alarm_status],
        *traffic,
        [
            _graph(
                "Wakes and sleeps",
                [
                    metrics.warmkeeper(MetricName.WAKES, "Sum", "wakes"),
                    metrics.warmkeeper(MetricName.SLEEPS, "Sum", "sleeps"),
                    metrics.warmkeeper(MetricName.WAKE_FAILURES, "Sum", "wake failures"),
                ],
            ),
            _graph(
                "Cold start (s, wake to first healthy target)",
                [
                    metrics.warmkeeper(MetricName.COLD_START_SECONDS, "Average", "average"),
                    metrics.warmkeeper(MetricName.COLD_START_SECONDS, "Maximum", "maximum"),
                ],
            ),
            _graph("Held requests", [metrics.warmkeeper(MetricName.HELD_REQUESTS, "Sum", "held")]),
        ],
        *_cdn_row(metrics),
    ]


def _load_balancer_rows(
    metrics: EnvironmentMetrics, tasks: cloudwatch.IWidget, resources: cloudwatch.IWidget
) -> Rows:
    assert metrics.waker_target_group is not None  # a load balancer's waker has its Lambda target group
    waker_requests = cloudwatch.Metric(
        namespace="AWS/ApplicationELB",
        metric_name="RequestCount",
        dimensions_map={"LoadBalancer": metrics.load_balancer, "TargetGroup": metrics.waker_target_group},
        statistic="Sum",
        period=ONE_MINUTE,
        label="to the warmkeeper Lambda",
    )
    return [
        [
            _graph(
                "Requests",
                [
                    metrics.requests("Sum", label="all"),
                    metrics.alb("RequestCount", "Sum", target_group=True, label="to the service"),
                    waker_requests,
                ],
            ),
            _graph(
                "4xx / 5xx",
                [
                    metrics.alb("HTTPCode_ELB_4XX_Count", "Sum", target_group=False, label="4xx by the ALB"),
                    metrics.alb("HTTPCode_ELB_5XX_Count", "Sum", target_group=False, label="5xx by the ALB"),
                    metrics.alb(
                        "HTTPCode_Target_4XX_Count", "Sum", target_group=True, label="4xx by the service"
                    ),
                    metrics.alb(
                        "HTTPCode_Target_5XX_Count", "Sum", target_group=True, label="5xx by the service"
                    ),
                ],
            ),
            _graph(
                "Target response time (s)",
                [
                    metrics.alb("TargetResponseTime", "p50", target_group=True, label="p50"),
                    metrics.alb("TargetResponseTime", "p99", target_group=True, label="p99"),
                ],
            ),
        ],
        [
            _graph(
                "Targets",
                [
                    metrics.alb("HealthyHostCount", "Minimum", target_group=True, label="healthy"),
                    metrics.alb("UnHealthyHostCount", "Maximum", target_group=True, label="unhealthy"),
                ],
            ),
            tasks,
            resources,
        ],
    ]


def _http_api_rows(
    metrics: EnvironmentMetrics, tasks: cloudwatch.IWidget, resources: cloudwatch.IWidget
) -> Rows:
    """The HTTP API's stage: everything that reached the front door, the waker's answers included
    (the stage has no per-integration split without paid detailed metrics)."""
    return [
        [
            _graph("Requests (HTTP API)", [metrics.requests("Sum", "requests")]),
            _graph(
                "4xx / 5xx (HTTP API)",
                [metrics.api("4xx", "Sum", "4xx"), metrics.api("5xx", "Sum", "5xx (waker's 503 included)")],
            ),
            _graph(
                "Integration latency (ms)",
                [
                    metrics.api("IntegrationLatency", "p50", "p50"),
                    metrics.api("IntegrationLatency", "p99", "p99"),
                ],
            ),
        ],
        [tasks, resources],
    ]


# What publishes the front door's metrics (its request metric's namespace) -> its traffic rows.
_TRAFFIC_ROWS: dict[str, Callable[[EnvironmentMetrics, cloudwatch.IWidget, cloudwatch.IWidget], Rows]] = {
    "AWS/ApplicationELB": _load_balancer_rows,
    "AWS/ApiGateway": _http_api_rows,
}


def _cdn_row(metrics: EnvironmentMetrics) -> Rows:
    """Behind CloudFront, what the edge saw. A request CloudFront could not bring to the ALB (a
    502 when the VPC origin cannot connect) never shows in the ALB's metrics: without this row a
    broken front door would look like an idle service. CloudFront publishes in us-east-1 only;
    a dashboard may draw another region's metrics (an alarm may not, so there is none here)."""
    if not metrics.door.cdn:
        return []
    distribution_id = metrics.distribution_id
    assert distribution_id is not None  # a front door with a CDN has its distribution

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
