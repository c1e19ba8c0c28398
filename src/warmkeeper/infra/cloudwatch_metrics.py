"""The CloudWatch metrics of one environment, which its alarms (:mod:`warmkeeper.infra.alarms`) and its
dashboard (:mod:`warmkeeper.infra.dashboard`) both draw from.

The front door's metrics come from what publishes them: the load balancer (AWS/ApplicationELB, per
load balancer and per target group) or the HTTP API's stage (AWS/ApiGateway, per ApiId and Stage).
Which one is read from the front door's description (:attr:`FrontDoor.request_metric`), never from
its name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cloudwatch

from warmkeeper.aws.metrics import METRICS_NAMESPACE, MetricName, dimensions
from warmkeeper.core.front_doors import FrontDoor, front_door
from warmkeeper.infra.stack_settings import StackSettings

ONE_MINUTE = Duration.minutes(1)
SERVER_ERROR_RATE_PERCENT = 5
# Below this many requests a minute a single failed request is not a "rate" worth a page.
SERVER_ERROR_MIN_REQUESTS = 10
# CloudFront publishes its metrics in us-east-1, whatever the distribution's origin region.
CLOUDFRONT_METRICS_REGION = "us-east-1"
# The HTTP API front door's one stage (warmkeeper.infra.http_api.STAGE_NAME).
API_STAGE = "$default"


@dataclass(frozen=True)
class EnvironmentMetrics:
    """The metrics of one environment's service, its front door and its waker.

    Behind a load balancer `load_balancer` and `service_target_group` are their full names (the
    metrics' dimensions) and `waker_target_group` the Lambda's; behind an HTTP API `api_id` is set.
    """

    settings: StackSettings
    cluster_name: str
    service_name: str
    load_balancer: str = ""
    service_target_group: str = ""
    waker_target_group: str | None = None
    api_id: str | None = None
    distribution_id: str | None = None

    @property
    def door(self) -> FrontDoor:
        return front_door(self.settings.env.front_door)

    def alb(
        self, metric_name: str, statistic: str, *, target_group: bool, label: str | None = None
    ) -> cloudwatch.Metric:
        dimensions_map = {"LoadBalancer": self.load_balancer}
        if target_group:
            dimensions_map["TargetGroup"] = self.service_target_group
        return cloudwatch.Metric(
            namespace="AWS/ApplicationELB",
            metric_name=metric_name,
            dimensions_map=dimensions_map,
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def container_insights(self, metric_name: str, statistic: str = "Average") -> cloudwatch.Metric:
        return self.container_insights_of(self.service_name, metric_name, statistic)

    def container_insights_of(
        self, service_name: str, metric_name: str, statistic: str = "Average", label: str | None = None
    ) -> cloudwatch.Metric:
        """A Container Insights metric of one ECS service of the cluster (the app's or an internal one)."""
        return cloudwatch.Metric(
            namespace="ECS/ContainerInsights",
            metric_name=metric_name,
            dimensions_map={"ClusterName": self.cluster_name, "ServiceName": service_name},
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def warmkeeper(self, metric: MetricName, statistic: str, label: str | None = None) -> cloudwatch.Metric:
        """One of the Lambda's own metrics (:class:`~warmkeeper.aws.metrics.MetricName`)."""
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=metric.value,
            dimensions_map=dimensions(self.settings.app_name, self.settings.env_name),
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def api(self, metric_name: str, statistic: str, label: str | None = None) -> cloudwatch.Metric:
        """An AWS/ApiGateway metric of the HTTP API's stage (dimensions ApiId and Stage)."""
        assert self.api_id is not None
        return cloudwatch.Metric(
            namespace="AWS/ApiGateway",
            metric_name=metric_name,
            dimensions_map={"ApiId": self.api_id, "Stage": API_STAGE},
            statistic=statistic,
            period=ONE_MINUTE,
            label=label,
        )

    def requests(self, statistic: str, label: str | None = None) -> cloudwatch.Metric:
        """Every request the front door received: its :attr:`FrontDoor.request_metric`."""
        metric_name = self.door.request_metric.name
        return _REQUESTS[self.door.request_metric.namespace](self, metric_name, statistic, label)

    def error_rate(self) -> cloudwatch.MathExpression:
        """The share of the front door's requests answered 5xx, in percent (0 below a few requests)."""
        return _ERROR_RATES[self.door.request_metric.namespace](self)

    def _api_error_rate(self) -> cloudwatch.MathExpression:
        return cloudwatch.MathExpression(
            expression=(
                f"IF(requests >= {SERVER_ERROR_MIN_REQUESTS}, 100 * FILL(errors5xx, 0) / requests, 0)"
            ),
            using_metrics={"requests": self.requests("Sum"), "errors5xx": self.api("5xx", "Sum")},
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
                "requests": self.requests("Sum"),
                "elb5xx": self.alb("HTTPCode_ELB_5XX_Count", "Sum", target_group=False),
                "service5xx": self.alb("HTTPCode_Target_5XX_Count", "Sum", target_group=True),
            },
            label="5xx rate (%)",
            period=ONE_MINUTE,
        )


# What publishes a front door's metrics (its request metric's namespace) -> how to read them.
_REQUESTS: dict[str, Callable[[EnvironmentMetrics, str, str, str | None], cloudwatch.Metric]] = {
    "AWS/ApplicationELB": lambda metrics, name, statistic, label: metrics.alb(
        name, statistic, target_group=False, label=label
    ),
    "AWS/ApiGateway": EnvironmentMetrics.api,
}
_ERROR_RATES: dict[str, Callable[[EnvironmentMetrics], cloudwatch.MathExpression]] = {
    "AWS/ApplicationELB": EnvironmentMetrics._server_error_rate,
    "AWS/ApiGateway": EnvironmentMetrics._api_error_rate,
}
