"""Every modelled AWS number of the simulation, in one table, each with its source.

A figure is a single value or a uniform range ``low..high``; the simulation draws from the range
with its seeded random generator. Sources are AWS documentation pages (URL and title), this
project's own stack (where the number is ours, e.g. the health-check interval), a measurement of
the local twin, or "assumed" (no published figure; the value is a reasoned guess and says so).
Nothing here was measured on AWS: every result built on it is **simulated**.

docs/technical/aws-model.md carries this table verbatim (a test keeps the two equal).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Figure:
    low: float
    high: float | None  # None: a fixed value
    unit: str
    source: str

    @property
    def value(self) -> float:
        return self.low

    def draw(self, rng: random.Random) -> float:
        return self.low if self.high is None else rng.uniform(self.low, self.high)

    def text(self) -> str:
        number = f"{self.low:g}" if self.high is None else f"{self.low:g}-{self.high:g}"
        return f"{number} {self.unit}".strip()


@dataclass(frozen=True)
class Bucket:
    """An API token bucket: ``burst`` tokens at most, ``refill`` tokens a second."""

    burst: float
    refill: float
    operations: tuple[str, ...]
    source: str


ECS_THROTTLING = "https://docs.aws.amazon.com/AmazonECS/latest/APIReference/request-throttling.html"
ELB_THROTTLING = "https://docs.aws.amazon.com/elasticloadbalancing/latest/userguide/elb-api-throttling.html"
SSM_THROUGHPUT = (
    "https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetParameter.html "
    "(note: standard throughput applies to GetParameter, GetParameters and PutParameter); "
    "https://docs.aws.amazon.com/general/latest/gr/ssm.html (40 TPS default)"
)
LAMBDA_QUOTAS = "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html"
ELB_LAMBDA = "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/lambda-functions.html"
ELB_TROUBLESHOOTING = (
    "https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-troubleshooting.html"
)
SPOT_NOTICE = "https://repost.aws/knowledge-center/fargate-spot-termination-notice"
ECS_LB_ACCURACY = (
    "AWS What's New 2023-02-13, 'Amazon ECS improves accuracy of service load balancing': "
    "https://aws.amazon.com/about-aws/whats-new/2023/02/amazon-elastic-container-service-accuracy-service-"
    "load-balancing/"
)
OUR_STACK = "this project's stack"
APIGW_QUOTAS = "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html"
CLOUD_MAP_THROTTLING = "https://docs.aws.amazon.com/cloud-map/latest/dg/throttling.html"

FIGURES: dict[str, Figure] = {
    # --- ECS / Fargate task lifecycle ---------------------------------------------------------------
    "ecs.scheduler_delay": Figure(
        1, 3, "s", "assumed: UpdateService to the first task in PROVISIONING (not published)"
    ),
    "fargate.provisioning": Figure(
        15,
        30,
        "s",
        "assumed: PROVISIONING (capacity and network interface); the model takes 25-50 s to a healthy task",
    ),
    "fargate.image_mb": Figure(
        71.8,
        None,
        "MB",
        "measured here: the CityGuided task's three images, 71.8 MB gzip (what `podman push` sends by "
        "default; 65.9 MB zstd), docs/benchmarks.md 'Image sizes' (the harsher of the two is used)",
    ),
    "fargate.pull_rate": Figure(10, 30, "MB/s", "assumed: image pull from ECR in PENDING"),
    "fargate.app_boot": Figure(
        2,
        6,
        "s",
        "local twin measured 1.8 s median (docs/benchmarks.md) on 2 cores; x1-3 assumed for 0.25 vCPU",
    ),
    "beacon.report_path": Figure(
        0.05,
        0.5,
        "s",
        "assumed: an activity beacon report from the task to the waker (busybox wget to the task's "
        "Caddy, HTTPS over the internet to the function URL, TLS set-up included), before the function "
        "runs; AWS publishes no function URL latency",
    ),
    "fargate.entry_boot": Figure(
        0.5,
        2,
        "s",
        "assumed: the entry container (Caddy) from its start to listening (the example starts it with "
        "the api and the web: ContainerDependency START; with HEALTHY, after their first passing check)",
    ),
    "ecs.container_health_start_period": Figure(
        10, None, "s", f"{OUR_STACK}: container health check start period (config default)"
    ),
    "ecs.container_health_interval": Figure(
        5,
        None,
        "s",
        f"{OUR_STACK}: container health check interval (config default, ECS's minimum). ECS runs the "
        "check every interval from the container's start; a success inside the start period marks the "
        "container healthy at once (ECS HealthCheck reference, startPeriod); the first check one "
        "interval after the start (assumed)",
    ),
    "ecs.container_health_wait": Figure(
        2.5,
        None,
        "s",
        f"{OUR_STACK}: the example's health commands try ten times 0.25 s apart within one run "
        "(examples/cityguided/warmkeeper.toml; under the 3 s timeout), so a run passes when the app first "
        "answers; a run's result counts when the command exits (ECS HealthCheck reference, timeout)",
    ),
    "ecs.stop_timeout": Figure(
        30, None, "s", "ECS default stopTimeout (container definition reference): SIGTERM to SIGKILL"
    ),
    "spot.warning": Figure(
        120,
        None,
        "s",
        f"two-minute notice (a task state change event and SIGTERM) before the task is terminated; "
        f"stopTimeout 120 s at most: {SPOT_NOTICE}",
    ),
    "spot.deregistration_after_notice": Figure(
        0,
        None,
        "s",
        f"behind an ALB, ECS deregisters a Fargate Spot task that got its termination notice before it "
        f"sends SIGTERM ({ECS_LB_ACCURACY}): the target drains from the notice (at once: assumed, the "
        "worst case for the warm route) and SIGTERM follows once the deregistration delay "
        f"(`alb.deregistration_delay`) has passed, within the notice; {SPOT_NOTICE} asks for a "
        "deregistration delay under two minutes on FARGATE_SPOT target groups (its older 'might not be "
        "deregistered until STOPPED' predates the 2023 change)",
    ),
    # --- ALB ---------------------------------------------------------------------------------------------
    "alb.health_interval": Figure(5, None, "s", f"{OUR_STACK}: src/warmkeeper/infra/ingress.py"),
    "alb.healthy_threshold": Figure(2, None, "checks", f"{OUR_STACK}: src/warmkeeper/infra/ingress.py"),
    "alb.initial_healthy_checks": Figure(
        1,
        None,
        "check",
        "a newly registered target 'must pass one health check to be considered healthy' (Elastic Load "
        "Balancing user guide, 'Health checks for Application Load Balancer target groups'); one that "
        "failed alb.unhealthy_threshold checks first is unhealthy and needs alb.healthy_threshold "
        "(assumed: the page does not say whether failures while the target is initial count)",
    ),
    "alb.unhealthy_threshold": Figure(2, None, "checks", f"{OUR_STACK}: src/warmkeeper/infra/ingress.py"),
    "alb.deregistration_delay": Figure(15, None, "s", f"{OUR_STACK}: src/warmkeeper/infra/ingress.py"),
    "alb.rule_propagation": Figure(
        0.5, 3, "s", "assumed: a listener rule change takes effect on every ALB node (not published)"
    ),
    "alb.app_latency": Figure(0.02, 0.08, "s", "assumed: a CityGuided API answer through the ALB"),
    "alb.lambda_overhead": Figure(
        0.005, 0.02, "s", f"assumed: ALB invoking its Lambda target ({ELB_LAMBDA})"
    ),
    "alb.status_no_targets": Figure(
        503,
        None,
        "HTTP",
        f"no registered target in the forward target group: {ELB_TROUBLESHOOTING} (HTTP 503)",
    ),
    "alb.status_lambda_failed": Figure(
        502,
        None,
        "HTTP",
        f"Lambda target errors, times out or is throttled: {ELB_TROUBLESHOOTING} lists Lambda "
        "invocation failures under HTTP 502; the code for a throttled invoke is assumed the same",
    ),
    "alb.status_target_closed": Figure(
        502,
        None,
        "HTTP",
        f"target closed the connection (task shutting down): {ELB_TROUBLESHOOTING} (HTTP 502)",
    ),
    # --- API Gateway HTTP API (front_door = "http_api") ---------------------------------------------------
    "apigw.route_propagation": Figure(
        1,
        5,
        "s",
        "assumed: a CreateRoute/UpdateRoute/DeleteRoute on an auto-deploy stage takes effect (not published)",
    ),
    "apigw.discovery_cache": Figure(
        60,
        None,
        "s",
        "assumed (src/warmkeeper/core/front_doors.py HTTP_API_ASSUMED_DISCOVERY_CACHE_SECONDS): "
        "API Gateway keeps the Cloud Map instances it discovered this long "
        "(aws/containers-roadmap#1639; AWS publishes no figure)",
    ),
    "apigw.integration_timeout": Figure(
        30, None, "s", f"HTTP API integration timeout, 30 s at most, not adjustable: {APIGW_QUOTAS}"
    ),
    "apigw.lambda_overhead": Figure(
        0.005, 0.02, "s", "assumed: the HTTP API invoking its Lambda integration"
    ),
    "apigw.status_no_instance": Figure(
        503,
        None,
        "HTTP",
        "assumed: the private integration has no instance to send to, or the instance refuses the "
        "connection ('Service Unavailable', as public reports after ECS deploys describe)",
    ),
    "apigw.status_integration_timeout": Figure(
        503,
        None,
        "HTTP",
        "assumed: an HTTP API integration past 30 s ('Service Unavailable' in public reports; REST APIs "
        "document 504 'Endpoint request timed out', HTTP APIs publish no code)",
    ),
    "apigw.status_lambda_failed": Figure(
        500, None, "HTTP", "assumed: the Lambda integration errors or is throttled ('Internal Server Error')"
    ),
    "cloudmap.health_update": Figure(
        30,
        31,
        "s",
        "Cloud Map 'waits for approximately 30 seconds after receiving an UpdateInstanceCustomHealthStatus "
        "request before changing the status' (servicediscovery API reference, HealthCheckCustomConfig; "
        "FailureThreshold deprecated, always 1; aws/containers-roadmap#449, #830); ECS's report itself "
        "assumed within the second",
    ),
    "cloudmap.register_instance": Figure(
        1,
        3,
        "s",
        "assumed: RegisterInstance is asynchronous (it returns an OperationId); the instance is "
        "discoverable this long after the call",
    ),
    "cloudmap.initial_health": Figure(
        0,
        None,
        "",
        "not documented for ECS-registered tasks (ECS registers in ACTIVATING; RegisterInstance "
        "defaults AWS_INIT_HEALTH_STATUS to HEALTHY): both variants run, SimConfig.initial_health / "
        "bench_sim --initial-health healthy|unhealthy",
    ),
    "ecs.drain_window": Figure(
        75,
        None,
        "s",
        f"{OUR_STACK}: src/warmkeeper/core/front_doors.py HTTP_API_DEFAULT_DRAIN_SECONDS "
        "(entry container keeps accepting after SIGTERM)",
    ),
    "apigw.stage_rate_limit": Figure(
        50,
        None,
        "requests/s",
        "the stack's stage throttling (src/warmkeeper/infra/http_api.py from the config's api_rate_limit, "
        "read here from the example's config); HTTP API stage throttling applies to each route "
        "(DefaultRouteSettings): one token bucket per route; past it API Gateway answers 429",
    ),
    "apigw.stage_burst_limit": Figure(
        100, None, "requests", "the stack's stage throttling burst (config api_burst_limit), per route"
    ),
    "apigw.status_throttled": Figure(
        429,
        None,
        "HTTP",
        f"a request past the route's throttle: 'Too Many Requests' ({APIGW_QUOTAS}, throttling)",
    ),
    "vpclink.inactive_after_idle": Figure(
        60,
        None,
        "days",
        "https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-vpc-links.html: an HTTP API "
        "VPC link with no traffic for 60 days becomes INACTIVE, its network interfaces deleted; requests "
        "through it fail until API Gateway reprovisions them",
    ),
    "vpclink.reactivation": Figure(
        120,
        300,
        "s",
        "the same page: requests resuming start the reprovisioning, which 'can take a few minutes' "
        "(assumed 2-5 min); requests through the link fail meanwhile (503 assumed)",
    ),
    # --- Lambda ------------------------------------------------------------------------------------------
    "lambda.account_concurrency": Figure(1000, None, "executions", f"default quota: {LAMBDA_QUOTAS}"),
    "lambda.new_account_concurrency": Figure(
        10,
        None,
        "executions",
        f"'New AWS accounts have reduced concurrency' ({LAMBDA_QUOTAS}); 10 as reported on re:Post (assumed)",
    ),
    "lambda.unreserved_minimum": Figure(
        100,
        None,
        "executions",
        "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html (reserve up to "
        "unreserved minus 100)",
    ),
    "lambda.timeout": Figure(
        40, None, "s", f"{OUR_STACK}: max(30, hold_seconds + 15), src/warmkeeper/infra/waker_function.py"
    ),
    "lambda.scaling_rate": Figure(
        1000,
        None,
        "environments / 10 s",
        "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html: each function scales by up to "
        "1,000 execution environments every 10 seconds; an invoke past it is throttled (a token bucket "
        "of 1,000 refilled at 100 a second)",
    ),
    "lambda.init": Figure(
        0.3, 0.9, "s", "assumed: Python 3.11 + boto3 cold start of an execution environment"
    ),
    "lambda.async_retries": Figure(
        2,
        None,
        "retries",
        "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html (function errors)",
    ),
    "lambda.async_queue_delay": Figure(
        0.05, 0.5, "s", "assumed: Lambda's internal queue for asynchronous invokes"
    ),
    "eventbridge.delivery_delay": Figure(
        0.1, 0.5, "s", "assumed: event to target (EventBridge delivers at least once; duplicates possible)"
    ),
    "cloudwatch.metric_delay": Figure(
        60,
        180,
        "s",
        "assumed: after its minute ends, a one-minute data point of the front door's request metric (ALB "
        "RequestCount, API Gateway Count) becomes visible to alarms and GetMetricData. Both publish per "
        "minute; AWS gives no visibility delay, one to a few minutes is commonly reported: the upper end "
        "taken",
    ),
    "cloudwatch.alarm_period": Figure(
        60, None, "s", f"{OUR_STACK}: src/warmkeeper/infra/idle.py (one-minute sums)"
    ),
    # --- API latency -------------------------------------------------------------------------------------
    "api.latency": Figure(0.02, 0.08, "s", "assumed: one AWS API call from a Lambda in the same region"),
    "ssm.write_busy": Figure(
        0.05,
        0.15,
        "s",
        "assumed: a PutParameter holds its parameter this long; a concurrent write gets TooManyUpdates "
        "(https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_PutParameter.html, Errors)",
    ),
    # --- botocore (the real client's retry mode, BOTO_CONFIG) -------------------------------------------
    "botocore.max_attempts": Figure(
        6,
        None,
        "attempts",
        "src/warmkeeper/aws/clients.py BOTO_CONFIG (standard mode): max_attempts 5 counts the retries "
        "(botocore Config reference), six attempts in all",
    ),
    "botocore.max_backoff": Figure(
        20, None, "s", "botocore.retries.standard.ExponentialBackoff: rand(0,1) * min(2**attempt, 20)"
    ),
    "botocore.retry_quota": Figure(
        500, None, "tokens", "botocore.retries.quota: 500 per client, 5 per retry, 10 per timeout retry"
    ),
}

# API rate limits per account and region. The ECS page documents the token-bucket model and gives
# per-action figures; where its table could not be read back here the value is marked assumed.
BUCKETS: dict[str, Bucket] = {
    "ecs.read": Bucket(
        50,
        20,
        ("DescribeServices", "DescribeTasks", "ListTasks"),
        f"{ECS_THROTTLING}: the page's cluster-read example (50 burst, 20/s), applied to service and task "
        "reads (assumed; aws-solutions/workload-discovery-on-aws#355 cites about 20 TPS for DescribeTasks)",
    ),
    "ecs.update_service": Bucket(
        10, 1, ("UpdateService",), f"{ECS_THROTTLING}: assumed conservative (10 burst, 1/s)"
    ),
    "elbv2.describe": Bucket(
        40,
        10,
        ("DescribeTargetHealth", "DescribeRules", "DescribeTags"),
        f"{ELB_THROTTLING}: non-mutating actions, 40 burst, 10/s",
    ),
    "elbv2.rules": Bucket(
        20,
        5,
        ("CreateRule", "DeleteRule", "ModifyRule"),
        f"{ELB_THROTTLING}: mutating actions, assumed 20 burst, 5/s",
    ),
    "ssm.standard": Bucket(
        40,
        40,
        ("GetParameter", "GetParameters", "PutParameter", "DeleteParameter"),
        f"{SSM_THROUGHPUT}; burst equal to the rate (assumed); DeleteParameter shares it (assumed)",
    ),
    "cloudwatch.put": Bucket(
        500,
        500,
        ("PutMetricData",),
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html",
    ),
    "cloudwatch.get": Bucket(
        50,
        50,
        ("GetMetricData",),
        "https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch_limits.html",
    ),
    "secretsmanager.get": Bucket(
        10000,
        10000,
        ("GetSecretValue",),
        "https://docs.aws.amazon.com/secretsmanager/latest/userguide/reference_limits.html",
    ),
    "apigatewayv2.management": Bucket(
        40,
        10,
        ("GetRoutes", "CreateRoute", "UpdateRoute", "DeleteRoute", "GetVpcLink"),
        f"{APIGW_QUOTAS}: management actions without an own row share the account's total of 10/s with "
        "a burst of 40 (the row could not be read back here: assumed)",
    ),
    "servicediscovery.discover": Bucket(
        2000,
        1000,
        ("DiscoverInstances",),
        f"{CLOUD_MAP_THROTTLING}: bucket of 2,000 tokens refilled at 1,000 a second (RequestLimitExceeded)",
    ),
}


def figure(name: str) -> Figure:
    return FIGURES[name]


def bucket_of(operation: str) -> str | None:
    for name, bucket in BUCKETS.items():
        if operation in bucket.operations:
            return name
    return None


def image_pull_seconds(rng: random.Random, image_mb: float | None = None) -> float:
    size = FIGURES["fargate.image_mb"].value if image_mb is None else image_mb
    return size / FIGURES["fargate.pull_rate"].draw(rng)


def markdown_table() -> str:
    """The table of docs/technical/aws-model.md (kept equal by tests/sim/test_model.py)."""
    lines = ["| figure | value | source |", "|---|---|---|"]
    for name, item in FIGURES.items():
        lines.append(f"| `{name}` | {item.text()} | {item.source} |")
    lines += ["", "| API bucket | operations | burst | refill /s | source |", "|---|---|---|---|---|"]
    for name, bucket in BUCKETS.items():
        ops = ", ".join(bucket.operations)
        lines.append(f"| `{name}` | {ops} | {bucket.burst:g} | {bucket.refill:g} | {bucket.source} |")
    return "\n".join(lines)
