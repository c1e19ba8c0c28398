"""What AWS accepts, in one place: the platform's sizes, quotas, timeouts and published ids.

Two parts, kept apart on purpose:

- AWS's limits: facts of the platform, each with where it is documented. Changing one means AWS
  changed (or we misread it); the config, the CDK app and the Lambda's settings all read them here.
- warmkeeper's margins against those limits: numbers we chose (how long the waker's own calls may
  take, how much longer a front door waits than the Lambda runs), with the functions that derive the
  Lambda's and the front doors' timeouts from a hold. They live here too because the config checks
  them and the CDK app writes them: one budget, read by both.

Standard library only: the config, the CDK app and the Lambda bundle may all import it.
"""

from __future__ import annotations

# --- AWS's limits ------------------------------------------------------------------------------

# Valid Fargate task sizes: CPU units -> allowed memory (MiB).
# Source: AWS ECS developer guide, "Task CPU and memory" table for Fargate (Linux).
FARGATE_TASK_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4096 + 1, 1024)),
    1024: tuple(range(2048, 8192 + 1, 1024)),
    2048: tuple(range(4096, 16384 + 1, 1024)),
    4096: tuple(range(8192, 30720 + 1, 1024)),
    8192: tuple(range(16384, 61440 + 1, 4096)),
    16384: tuple(range(32768, 122880 + 1, 8192)),
}

# ECS's stopTimeout of a container is at most 120 s on Fargate (ECS developer guide, container
# definition parameters): ECS kills the container after this long.
MAX_STOP_TIMEOUT_SECONDS = 120

# The retention periods CloudWatch Logs accepts for a log group (PutRetentionPolicy), in days.
LOG_RETENTION_DAYS: tuple[int, ...] = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
)

# What ELB accepts as a listener rule priority.
RULE_PRIORITIES = range(1, 50001)

# An ALB's idle timeout when none is set (ELB user guide, "Connection idle timeout").
ALB_DEFAULT_IDLE_TIMEOUT_SECONDS = 60

# CloudFront only takes viewer certificates from ACM in us-east-1.
CLOUDFRONT_CERTIFICATE_REGION = "us-east-1"

# The AWS-managed prefix list com.amazonaws.global.cloudfront.origin-facing, per region: the source
# addresses of CloudFront's requests to an origin, VPC origins included. Its id differs per region and
# CloudFormation cannot look it up by name without a custom resource; these ids are AWS's published
# values (`aws ec2 describe-managed-prefix-lists --filters Name=prefix-list-name,Values=com.amazonaws.
# global.cloudfront.origin-facing` in each region).
CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS: dict[str, str] = {
    "ap-northeast-1": "pl-58a04531",
    "ap-south-1": "pl-9aa247f3",
    "ap-southeast-1": "pl-31a34658",
    "ap-southeast-2": "pl-b8a742d1",
    "ca-central-1": "pl-38a64351",
    "eu-central-1": "pl-a3a144ca",
    "eu-north-1": "pl-fab65393",
    "eu-west-1": "pl-4fa04526",
    "eu-west-2": "pl-93a247fa",
    "eu-west-3": "pl-75b1541c",
    "sa-east-1": "pl-5da64334",
    "us-east-1": "pl-3b927c52",
    "us-east-2": "pl-b6a144df",
    "us-west-1": "pl-4ea04527",
    "us-west-2": "pl-82a045eb",
}

# CloudFront's origin response timeout: at most 60 s unless AWS approved a quota increase, up to
# 180 s with one (CloudFront developer guide, "Response timeout"; AWS re:Post on the quota).
CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS = 60
CLOUDFRONT_MAX_ORIGIN_TIMEOUT_SECONDS = 180

# API Gateway HTTP APIs (`front_door = "http_api"`). The integration timeout is at most 30 s and cannot be
# raised (API Gateway quotas for HTTP APIs: the integration timeout is 30 s at most, not adjustable).
HTTP_API_INTEGRATION_TIMEOUT_SECONDS = 30
# AWS's own account-level throttling quota per region: 10,000 requests/s with a burst of 5,000 (API
# Gateway quotas); a stage's throttling cannot go above it.
HTTP_API_MAX_RATE_LIMIT = 10_000
HTTP_API_MAX_BURST_LIMIT = 5_000

# --- warmkeeper's margins against them (our choices, not AWS's) ----------------------------------

# A request the waker holds behind an HTTP API must be answered before the integration timeout:
# hold_seconds plus the waker's own calls around the hold (the wake, the last health read, building
# the answer) must fit, with this much for those calls.
HTTP_API_HOLD_MARGIN_SECONDS = 5
# The entry container's stop timeout must leave this much after the drain window for its graceful stop
# (finishing the requests it holds).
DRAIN_STOP_MARGIN_SECONDS = 5

# The waker's time budget, each bound strictly inside the next:
#   hold_seconds < the Lambda's timeout < every front door's timeout to the Lambda.
# A front door that gave up first would answer its own 504 (no Retry-After, no waiting page) while
# the Lambda still runs; a Lambda that timed out mid-hold would make ALB answer 502.
WAKER_CALLS_SECONDS = 15  # the AWS calls around a held request: observe before, route and answer after
WAKER_MIN_TIMEOUT_SECONDS = 30  # a reconcile or a sleep needs this much even with a short hold
FRONT_DOOR_MARGIN_SECONDS = 5  # each front door waits this much longer than the Lambda can run


def waker_timeout_seconds(hold_seconds: int) -> int:
    """The Lambda's timeout: a hold plus the calls around it, never below what a reconcile needs."""
    return max(WAKER_MIN_TIMEOUT_SECONDS, hold_seconds + WAKER_CALLS_SECONDS)


def front_door_timeout_seconds(hold_seconds: int) -> int:
    """How long a front door (CloudFront's origin read, the ALB's idle timeout) waits for the Lambda."""
    return waker_timeout_seconds(hold_seconds) + FRONT_DOOR_MARGIN_SECONDS


# How long after its minute ends a one-minute data point of the front door's request metric (ALB
# RequestCount, API Gateway Count) may become visible: both publish per minute and AWS documents no
# visibility delay; one to a few minutes is what is commonly reported, so three minutes are assumed
# (the simulated AWS draws 60-180 s). The waker's idle clock allows for it (aws/adapters.py).
METRIC_VISIBILITY_SECONDS = 180.0
