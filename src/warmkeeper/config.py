"""The one config file of an app, read once into typed, validated models.

A file (TOML) describes the containers of one task, the optional ingress, the scale-to-zero policy,
and environments of any name (`local` is the twin) that override shared defaults. Every part of
warmkeeper (the CDK app, the Lambda's settings, the local twin, the CLI) reads this model; nothing
repeats it.

Errors are reported as :class:`ConfigError`, which names the file, the key and what is wrong, so the
CLI can print one line and exit 2 instead of a traceback.
"""

from __future__ import annotations

import configparser
import dataclasses
import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from warmkeeper.aws_limits import (
    CLOUDFRONT_CERTIFICATE_REGION,
    CLOUDFRONT_MAX_ORIGIN_TIMEOUT_SECONDS,
    CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS,
    CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS,
    DRAIN_STOP_MARGIN_SECONDS,
    FARGATE_TASK_SIZES,
    FRONT_DOOR_MARGIN_SECONDS,
    HTTP_API_HOLD_MARGIN_SECONDS,
    HTTP_API_INTEGRATION_TIMEOUT_SECONDS,
    HTTP_API_MAX_BURST_LIMIT,
    HTTP_API_MAX_RATE_LIMIT,
    LOG_RETENTION_DAYS,
    MAX_STOP_TIMEOUT_SECONDS,
    WAKER_CALLS_SECONDS,
    front_door_timeout_seconds,
    waker_timeout_seconds,
)
from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.front_doors import (
    CLOUDFRONT,
    HTTP_API,
    HTTP_API_ASSUMED_DISCOVERY_CACHE_SECONDS,
    LOAD_BALANCER,
    FrontDoor,
    front_door,
)
from warmkeeper.core.machine import DEFAULT_IGNORE_USER_AGENTS, Policy, PolicyError
from warmkeeper.core.schedule import WarmWindow, parse_skip_dates, parse_windows
from warmkeeper.naming import pascal

# The environment the local twin runs: always known, declared or not. Every other environment is one
# the file declares under [environments.NAME], with any name.
LOCAL_ENVIRONMENT = "local"

_NAME = re.compile(r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$")
_PLACEHOLDER = re.compile(r"\{port(?::([a-z][a-z0-9-]*))?\}")


def _valid_name(value: str) -> str:
    if not _NAME.match(value):
        raise ValueError(f"{value!r} must be lower-case letters, digits and '-', 2 to 32 characters")
    return value


def _acm_certificate_arn(value: str | None) -> str | None:
    if value is not None and not value.startswith("arn:aws:acm:"):
        raise ValueError("must be an ACM certificate ARN (arn:aws:acm:REGION:ACCOUNT:certificate/ID)")
    return value


# An app or container name: it becomes part of AWS resource names, so it is kept short and plain.
ResourceName = Annotated[str, AfterValidator(_valid_name)]
CertificateArn = Annotated[str | None, AfterValidator(_acm_certificate_arn)]


# The variable that tells the entry container its drain window, in whole seconds (ECS and the twin set it).
DRAIN_ENVIRONMENT_VARIABLE = "WARMKEEPER_DRAIN_SECONDS"

# A private environment's warm side: the entry container refuses clients outside the allowed ranges
# (wake_allowed_from, separated by spaces), judging each request by the address the last trusted hop
# wrote into the header named by the third variable. ECS and the twin set all three, or none.
ALLOWED_FROM_ENVIRONMENT_VARIABLE = "WARMKEEPER_ALLOWED_FROM"
TRUSTED_PROXIES_ENVIRONMENT_VARIABLE = "WARMKEEPER_TRUSTED_PROXIES"
CLIENT_IP_HEADER_ENVIRONMENT_VARIABLE = "WARMKEEPER_CLIENT_IP_HEADER"
# Behind an HTTP API: API Gateway reserves X-Forwarded-For and Forwarded (no mapping may write them), so
# its integration overwrites this header with the connection's source address instead.
HTTP_API_CLIENT_IP_HEADER = "X-Warmkeeper-Client-Ip"


def private_entry_environment(
    allowed_from: Sequence[str], *, trusted_proxies: Sequence[str], client_ip_header: str
) -> dict[str, str]:
    """The entry container's variables for a private environment; none when it is not private."""
    if not allowed_from:
        return {}
    return {
        ALLOWED_FROM_ENVIRONMENT_VARIABLE: " ".join(allowed_from),
        TRUSTED_PROXIES_ENVIRONMENT_VARIABLE: " ".join(trusted_proxies),
        CLIENT_IP_HEADER_ENVIRONMENT_VARIABLE: client_ip_header,
    }


def certificate_region_of(arn: str) -> str:
    """The region field of an ACM certificate ARN (already checked by CertificateArn)."""
    return arn.split(":")[3]


# The waker's reserved concurrency unless the config says otherwise: the simulated
# herd of 1,000 cold requests in 10 s peaks at 48 concurrent executions once held requests share one
# snapshot (simulated, not measured: docs/technical/aws-model.md); 100 leaves about twice that, so a
# herd of that size never meets its own throttle. The herd scenario asserts its peak against this.
DEFAULT_WAKER_RESERVED_CONCURRENCY = 100


class ConfigError(WarmkeeperError):
    """A config problem a person can fix: which file, which key, what is wrong."""

    def __init__(self, file: Path | str, key: str, problem: str) -> None:
        self.file = str(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}: " if key else f"{self.file}: "
        super().__init__(where + problem)


class _Strict(BaseModel):
    # Unknown keys are errors: a typo must not silently fall back to a default.
    # A field's docstring is its description: docs/config.md and `warmkeeper schema` are generated from them.
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class HealthCheck(_Strict):
    path: str = Field(description="HTTP path the load balancer / twin probes on the container's port")
    command: list[str] | None = Field(
        default=None,
        description="ECS container health check command, e.g. ['CMD-SHELL', '...']; one that retries "
        "for a few seconds within timeout_seconds passes when the app first answers, not at the next "
        "interval (the example's: a wake up to 5 s shorter)",
    )
    interval_seconds: int = Field(default=5, ge=5, le=300)
    """seconds between two runs of the health command"""
    timeout_seconds: int = Field(default=3, ge=2, le=120)
    """seconds one run of the health command may take"""
    retries: int = Field(default=3, ge=1, le=10)
    """failed runs in a row before the container counts as unhealthy"""
    start_period_seconds: int = Field(default=10, ge=0, le=300)
    """seconds after start during which failures do not count"""

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @model_validator(mode="after")
    def _timeout_below_interval(self) -> HealthCheck:
        if self.timeout_seconds >= self.interval_seconds and self.interval_seconds > 5:
            raise ValueError("timeout_seconds must be shorter than interval_seconds")
        return self


class LocalRun(_Strict):
    """How the twin runs this container without a container engine.

    ``{port}`` in a command or value is this container's port in the current local task;
    ``{port:NAME}`` is the port of container NAME in the same task. In the app's own task,
    ``{port:SERVICE}`` (an internal service's name, when no container of the task has that name) is
    a loopback port of the task's own for the calling side of that service: where the task's Caddy
    listens for calls to it (5000 inside the task on ECS, a free port per task in the twin, where
    every process shares the machine's network). Paths are relative to the config file's folder.
    """

    command: list[str] = Field(
        min_length=1,
        description="argv of the local process; `{port}`, `{port:CONTAINER}` and (app's task) "
        "`{port:SERVICE}` placeholders",
    )
    environment: dict[str, str] = Field(
        default_factory=dict, description="extra variables of the process; the same placeholders as `command`"
    )
    cwd: str = Field(default=".", description="working folder, relative to the config file")


class Container(_Strict):
    name: ResourceName
    """the container's name: part of AWS resource names and of log streams"""
    image: str | None = Field(default=None, description="full image URI; else built from `build`")
    build: str | None = Field(default=None, description="build directory (with a Dockerfile), relative")
    dockerfile: str = Field(default="Dockerfile", examples=["docker/Dockerfile.prod"])
    """with `build`: the Dockerfile's path inside the build directory"""
    build_target: str | None = Field(default=None, examples=["runtime"])
    """with `build`: the Dockerfile stage to build (docker build --target)"""
    build_args: dict[str, str] = Field(default_factory=dict, examples=[{"PYTHON_VERSION": "3.12"}])
    """with `build`: build arguments (docker build --build-arg NAME=VALUE)"""
    port: int = Field(ge=1, le=65535)
    """the port the container listens on (one listener per port in a task)"""
    entry: bool = Field(default=False, description="the container the load balancer sends traffic to")
    cpu: int = Field(default=0, ge=0, description="CPU units reserved in the task (1024 = 1 vCPU)")
    memory: int = Field(default=0, ge=0, description="memory (MiB) reserved in the task")
    environment: dict[str, str] = Field(default_factory=dict)
    """environment variables of the container (plain values; secrets go in `secrets`)"""
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="env var -> ARN of a Secrets Manager secret or SSM parameter (never a value)",
    )
    depends_on: list[str] = Field(default_factory=list, description="containers that must be healthy first")
    # ECS's container dependency conditions, for a dependency that is not simply "healthy" (a container
    # with a health command) or "started" (one without): "success" waits for a one-off container (a
    # migration) to exit 0, which ECS then runs as a non-essential container; "start" lets an entry
    # container start with its upstreams, one health-check interval sooner on every wake, when its own
    # health check goes through to them (the example's Caddy).
    dependency_conditions: dict[str, Literal["start", "healthy", "complete", "success"]] = Field(
        default_factory=dict,
        description="depends_on name -> ECS condition (default: healthy, else start); `start` for an "
        "entry container whose health check reaches its upstreams: a wake 5-10 s shorter",
    )
    command: list[str] | None = Field(default=None, description="overrides the image's CMD")
    entrypoint: list[str] | None = Field(default=None, description="overrides the image's ENTRYPOINT")
    stop_timeout_seconds: int = Field(default=30, ge=2, le=MAX_STOP_TIMEOUT_SECONDS)
    """seconds between SIGTERM and SIGKILL when ECS stops the container"""
    health: HealthCheck
    """how the container's readiness is checked"""
    # Unset: the twin runs this container's image (runtime = "containers" in [environments.local]).
    local: LocalRun | None = Field(default=None, description="how the twin runs it as a local process")
    # Hardening of the container on ECS: a read-only root file system, with an ephemeral volume at
    # each of `writable_paths` for what the image must write (Fargate has no tmpfs), and every Linux
    # capability dropped; Fargate lets a task add SYS_PTRACE alone back.
    read_only_root: bool = Field(default=True, description="read-only root file system on ECS")
    writable_paths: list[str] = Field(
        default_factory=list, description="absolute paths given a writable ephemeral volume"
    )
    add_capabilities: list[Literal["SYS_PTRACE"]] = Field(
        default_factory=list, description="capabilities added back after dropping all (Fargate: SYS_PTRACE)"
    )

    @field_validator("writable_paths")
    @classmethod
    def _writable_paths(cls, value: list[str]) -> list[str]:
        for path in value:
            if not path.startswith("/") or path == "/" or "//" in path or "/../" in f"{path}/":
                raise ValueError(f"{path!r} must be an absolute path below / (like /tmp)")
        if len(set(value)) != len(value):
            raise ValueError("a path is listed twice")
        return value

    @field_validator("secrets")
    @classmethod
    def _references_only(cls, value: dict[str, str]) -> dict[str, str]:
        for env_var, ref in value.items():
            if not ref.startswith(("arn:aws:secretsmanager:", "arn:aws:ssm:")):
                raise ValueError(
                    f"{env_var}: must be the ARN of a Secrets Manager secret or an SSM parameter, not a value"
                )
        return value

    @model_validator(mode="after")
    def _image_or_build(self) -> Container:
        if (self.image is None) == (self.build is None):
            raise ValueError("set exactly one of 'image' or 'build'")
        if self.build is None and (self.dockerfile != "Dockerfile" or self.build_target or self.build_args):
            raise ValueError("dockerfile, build_target and build_args go with 'build', not 'image'")
        return self

    def build_options(self) -> list[str]:
        """The build command's options beyond the Dockerfile: the target stage and the arguments."""
        options = ["--target", self.build_target] if self.build_target else []
        for name, value in self.build_args.items():
            options += ["--build-arg", f"{name}={value}"]
        return options


class EgressRule(_Strict):
    """One more destination a task may open connections to, beyond HTTPS and DNS (a database, SMTP)."""

    cidr: str = Field(description="IPv4 range, like 10.0.0.0/16 or 203.0.113.7/32")
    port: int = Field(ge=1, le=65535)
    protocol: Literal["tcp", "udp"] = "tcp"
    description: str = ""

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        try:
            ipaddress.IPv4Network(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not an IPv4 range ({exc})") from None
        return value


class IngressSettings(_Strict):
    domain: str | None = None
    """the domain people use, for every AWS environment that sets none"""
    certificate_arn: CertificateArn = None
    """the ACM certificate of `domain`, for every AWS environment that sets none"""


class ScaleToZeroPolicy(_Strict):
    """How the waker answers while cold, and the guards of the sleep decision."""

    hold_seconds: int = Field(default=25, ge=1, le=60, description="longest an API request is held")
    min_warm_minutes: float = Field(default=2, ge=0, le=60, description="never sleep sooner after a wake")
    max_lease_minutes: int = Field(default=240, ge=1, le=1440, description="bound of one keep-alive lease")
    default_lease_minutes: int = Field(default=30, ge=1, le=1440)
    """a keep-alive lease's length when the caller gives none"""
    wake_timeout_seconds: int = Field(
        default=180, ge=30, le=1800, description="a wake not healthy by then counts as failed"
    )
    retry_after_seconds: int = Field(default=10, ge=1, le=120)
    """the Retry-After of a 503 answered while the service wakes"""
    # Matched by whole words, case-insensitively (warmkeeper.core.requests.is_ignored_agent). Setting
    # `ignore_user_agents` replaces the built-in list; `ignore_user_agents_extra` adds to it.
    ignore_user_agents: list[str] = Field(
        default_factory=lambda: list(DEFAULT_IGNORE_USER_AGENTS),
        description="agent names matched by whole words; such requests never wake the service",
    )
    ignore_user_agents_extra: list[str] = Field(
        default_factory=list, description="agent names added to ignore_user_agents"
    )

    @field_validator("ignore_user_agents", "ignore_user_agents_extra")
    @classmethod
    def _agent_names(cls, value: list[str]) -> list[str]:
        for index, name in enumerate(value):
            if not any(ch.isalnum() for ch in name):
                raise ValueError(f"entry {index} ({name!r}) has no letter or digit, so it matches nothing")
        return value

    @model_validator(mode="after")
    def _default_within_max(self) -> ScaleToZeroPolicy:
        if self.default_lease_minutes > self.max_lease_minutes:
            raise ValueError("default_lease_minutes must not exceed max_lease_minutes")
        return self


def _check_task_shape(cpu: int, memory: int, min_tasks: int, max_tasks: int, scale_to_zero: bool) -> None:
    """A Fargate task size and a task count that scale to zero or not: the app's and each service's."""
    sizes = FARGATE_TASK_SIZES.get(cpu)
    if sizes is None:
        raise ValueError(f"cpu {cpu} is not a Fargate task size; use one of {sorted(FARGATE_TASK_SIZES)}")
    if memory not in sizes:
        raise ValueError(
            f"memory {memory} MiB is impossible with cpu {cpu} on Fargate; "
            f"allowed: {sizes[0]} to {sizes[-1]} MiB ({', '.join(map(str, sizes[:4]))}...)"
        )
    if min_tasks > max_tasks:
        raise ValueError(f"min_tasks ({min_tasks}) is greater than max_tasks ({max_tasks})")
    if scale_to_zero and min_tasks != 0:
        raise ValueError("scale_to_zero = true needs min_tasks = 0")
    if scale_to_zero and max_tasks > 1:
        # A sleeping service wakes one task and has no autoscaling above it: a larger max_tasks would be
        # shown and never used.
        raise ValueError(
            f"max_tasks = {max_tasks} with scale_to_zero = true: a scale-to-zero service runs one task "
            "(warmkeeper does not autoscale it above one); set max_tasks = 1, or scale_to_zero = false "
            "with min_tasks >= 1 to autoscale between min_tasks and max_tasks"
        )
    if not scale_to_zero and min_tasks < 1:
        raise ValueError("scale_to_zero = false needs min_tasks >= 1")


class EnvironmentSettings(_Strict):
    """Per-environment values. In the file every key is optional and overrides `[defaults]`."""

    # Unset: the AWS configuration's region (AWS_REGION, AWS_DEFAULT_REGION, the profile in ~/.aws/config).
    region: str | None = Field(default=None, description="AWS region; unset: the AWS configuration's")
    account: str | None = Field(default=None, description="AWS account id; unset: the CLI's credentials")
    cpu: int = 256
    """the task's CPU units (1024 = 1 vCPU); a Fargate task size"""
    memory: int = 512
    """the task's memory in MiB; must be allowed with `cpu` on Fargate"""
    architecture: Literal["arm64", "x86_64"] = "arm64"
    """the CPU architecture the images are built for and run on"""
    spot: bool = False
    """run on Fargate Spot (cheaper; a task may be interrupted with 2 minutes' notice)"""
    min_tasks: int = Field(default=0, ge=0, le=100)
    """tasks always running (0 with scale_to_zero)"""
    max_tasks: int = Field(default=1, ge=1, le=100)
    """most tasks autoscaling may run (1 with scale_to_zero)"""
    scale_to_zero: bool = True
    """sleep at zero tasks after `idle_minutes` without a request, wake on the next"""
    idle_minutes: int = Field(default=5, ge=1, le=1440)
    """minutes without a request before the environment sleeps"""
    log_retention_days: int = 14
    """days CloudWatch Logs keeps the containers' and the waker's logs"""
    alarm_email: str | None = None
    """address subscribed to the environment's alarms"""
    warm_schedule: list[str] = Field(default_factory=list)
    """windows in which the service is kept warm whatever its traffic, woken beforehand so that it is
    healthy when each opens ("Mon-Fri 08:30-19:00 Europe/Paris", or "cron(30 8 ? * MON-FRI *) for
    10h30m Europe/Paris"); after a window the normal idle rule applies"""
    warm_schedule_skip: list[str] = Field(default_factory=list)
    """dates on which the warm windows do not open, such as public holidays ("2026-12-25"; ISO dates,
    read in each window's time zone; at most 100); a `warmkeeper keepalive` still works on them"""
    dashboard: bool | None = None
    """build the CloudWatch dashboard (3 USD a month); unset: only where the environment never sleeps.
    With a dashboard or an alarm e-mail, the operational alarms and custom metrics are built too"""
    container_insights: bool | None = None
    """Container Insights on the cluster (per-task CPU, memory and task counts, billed as custom metrics
    while tasks run); unset: only where the environment is watched (a dashboard or an alarm e-mail),
    whose dashboard rows and tasks-short alarms read it"""
    domain: str | None = None
    """the environment's domain (needs `certificate_arn` except behind a load balancer)"""
    certificate_arn: CertificateArn = None
    """the ACM certificate of `domain`"""
    # "cloudfront": CloudFront in front of an internal load balancer (a VPC origin). The load balancer
    # then has no public IPv4 address (two are billed all month otherwise) and the environment gets
    # HTTPS on *.cloudfront.net without a domain. "http_api": an API Gateway HTTP API reaching the
    # tasks through a VPC link and Cloud Map: no load balancer at all, no hourly charge. See
    # docs/technical/ecs-fargate.md.
    front_door: Literal["load_balancer", "cloudfront", "http_api"] = "load_balancer"
    """what receives requests: an internet-facing load balancer, CloudFront in front of an internal one,
    or an API Gateway HTTP API (no load balancer)"""
    # front_door = "http_api" only: API Gateway throttles per route, all clients of a route together,
    # and answers 429 past the limit (steady requests per second, and the burst above it).
    # The app's routes take the stage's default, sized for the environment's expected peak: 50 rps by
    # default, about 600 times the reference staging profile's average (300 requests an active hour)
    # and two visitors loading a 25-request page in the same second. Set it to production's peak.
    api_rate_limit: int = Field(default=50, ge=1, le=HTTP_API_MAX_RATE_LIMIT)
    """front_door = 'http_api': steady requests per second before API Gateway answers 429"""
    api_burst_limit: int = Field(default=100, ge=1, le=HTTP_API_MAX_BURST_LIMIT)
    """front_door = 'http_api': requests allowed in a burst above the steady rate"""
    # The waker's routes have their own, lower limits, so a flood there never takes the app's: the
    # catch-all `$default` while the service is cold (every cold request is a Lambda invocation, held
    # up to hold_seconds: 20 rps keeps a flood's cost bounded, and the burst matches the waker's
    # default reserved concurrency so a herd's first second passes), and `/_warmkeeper/*` (the waiting
    # page polls the status every 2 s: 20 rps is 40 waiting visitors at once).
    waker_rate_limit: int = Field(default=20, ge=1, le=HTTP_API_MAX_RATE_LIMIT)
    """front_door = 'http_api': steady requests per second on `$default` while the service is cold"""
    waker_burst_limit: int = Field(default=100, ge=1, le=HTTP_API_MAX_BURST_LIMIT)
    """front_door = 'http_api': burst on `$default` while the service is cold"""
    endpoint_rate_limit: int = Field(default=20, ge=1, le=HTTP_API_MAX_RATE_LIMIT)
    """front_door = 'http_api': steady requests per second on `/_warmkeeper/*`"""
    endpoint_burst_limit: int = Field(default=40, ge=1, le=HTTP_API_MAX_BURST_LIMIT)
    """front_door = 'http_api': burst on `/_warmkeeper/*`"""
    # An internet-facing load balancer without a certificate serves everything, the keep-alive token
    # included, in clear: refused unless the environment says it accepts that (validate then warns).
    allow_plain_http: bool = Field(
        default=False, description="accept an internet-facing load balancer serving plain HTTP"
    )
    # Where the tasks may open connections: HTTPS anywhere (image pulls, logs, secrets and AWS APIs go
    # over the tasks' public address: there is no NAT and no VPC endpoint), DNS to the VPC's resolver,
    # and these. Anything else (another port, another protocol) is refused by the security group.
    task_egress: list[EgressRule] = Field(default_factory=list, description="more destinations for the tasks")
    # A private environment: only clients from these address ranges wake it; others get a 403 page
    # and wake nothing. While warm: behind an internet-facing load balancer its security group admits
    # these ranges alone; behind every front door the entry container gets them
    # (WARMKEEPER_ALLOWED_FROM and its two companions) and must refuse others, as the example's Caddy
    # does (docs/technical/security.md).
    wake_allowed_from: list[str] = Field(
        default_factory=list,
        description="address ranges allowed to wake and reach it (the entry container must refuse others)",
    )
    # Only with front_door = "cloudfront": the origin response timeout AWS allows this account. Raise it
    # only after AWS approved a quota increase; a hold whose Lambda would outlast it is refused.
    cloudfront_origin_timeout_quota_seconds: int = Field(
        default=CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS,
        ge=CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS,
        le=CLOUDFRONT_MAX_ORIGIN_TIMEOUT_SECONDS,
        description="CloudFront origin response timeout quota (60 s unless AWS approved more)",
    )
    # Lambda concurrency kept for the waker and never exceeded: a herd of cold requests cannot take the
    # account's whole concurrency (1,000 by default, far less in a new account) nor its cost; past it
    # the front door answers 502 and clients retry. The herd simulation sizes the default
    # (DEFAULT_WAKER_RESERVED_CONCURRENCY). 0: no reservation (an account whose concurrency quota is
    # below 100 + this cannot reserve).
    waker_reserved_concurrency: int = Field(
        default=DEFAULT_WAKER_RESERVED_CONCURRENCY,
        ge=0,
        le=1000,
        description="reserved concurrency of the waker Lambda (0: none)",
    )
    # How long the entry container keeps accepting new requests after SIGTERM, before its graceful stop
    # (it reads WARMKEEPER_DRAIN_SECONDS; CityGuided's Caddy uses it as `shutdown_delay`). Unset: 0 behind
    # a load balancer (its deregistration delay drains), HTTP_API_DEFAULT_DRAIN_SECONDS with an HTTP API
    # (see drain_window_seconds). The entry container's stop_timeout_seconds must be above it.
    drain_seconds: int | None = Field(
        default=None, ge=0, le=MAX_STOP_TIMEOUT_SECONDS - DRAIN_STOP_MARGIN_SECONDS
    )
    """seconds the entry container keeps accepting requests after SIGTERM (it reads
    WARMKEEPER_DRAIN_SECONDS); unset: the front door's default"""
    # Local twin only, when it models an HTTP API (front_door = "http_api" in [environments.local]): how
    # long its edge keeps a discovery list of healthy tasks before it looks again (API Gateway's Cloud Map
    # cache; AWS publishes no figure, so the default is ASSUMED).
    discovery_cache_seconds: float = Field(default=HTTP_API_ASSUMED_DISCOVERY_CACHE_SECONDS, ge=0, le=300)
    """local twin modelling an HTTP API: seconds its edge keeps a list of healthy tasks (assumed)"""
    target_requests_per_task: int = Field(default=500, ge=1, description="autoscaling target (per minute)")
    target_cpu_percent: int = Field(default=60, ge=10, le=95)
    """autoscaling target of an always-on environment (average CPU)"""
    edge_port: int = Field(default=8080, ge=1, le=65535, description="local twin only: the public port")
    runtime: Literal["processes", "containers"] = Field(
        default="processes",
        description="local twin only: each container's local command, or each task as a pod of images",
    )

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[a-z]{2}(-gov)?-[a-z]+-\d$", value):
            raise ValueError(f"{value!r} is not an AWS region name (like eu-west-3)")
        return value

    @field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{12}", value):
            raise ValueError("must be a 12-digit AWS account id")
        return value

    @field_validator("log_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(
                f"{value} is not a CloudWatch Logs retention; use one of {list(LOG_RETENTION_DAYS)}"
            )
        return value

    @field_validator("warm_schedule")
    @classmethod
    def _warm_schedule(cls, value: list[str]) -> list[str]:
        parse_windows(value)  # a ScheduleError (a ValueError) names the window and what is wrong
        return value

    @field_validator("warm_schedule_skip", mode="before")
    @classmethod
    def _warm_schedule_skip(cls, value: object) -> object:
        # TOML's own dates (warm_schedule_skip = [2026-12-25]) are taken as the same ISO text.
        if isinstance(value, list):
            value = [item.isoformat() if isinstance(item, date) else item for item in value]
            parse_skip_dates(value)  # a ScheduleError (a ValueError) quotes the entry that is wrong
        return value

    @property
    def warm_windows(self) -> tuple[WarmWindow, ...]:
        return parse_windows(self.warm_schedule)

    @property
    def warm_skip_dates(self) -> frozenset[date]:
        return parse_skip_dates(self.warm_schedule_skip)

    @property
    def has_dashboard(self) -> bool:
        return self.dashboard if self.dashboard is not None else not self.scale_to_zero

    @property
    def has_container_insights(self) -> bool:
        return self.container_insights if self.container_insights is not None else self.is_watched

    @property
    def has_alarm_topic(self) -> bool:
        """The alarm topic and its KMS key: where an e-mail is subscribed, or the service never sleeps
        (people may subscribe to a production topic by other means)."""
        return bool(self.alarm_email) or not self.scale_to_zero

    @property
    def is_watched(self) -> bool:
        """Someone is told (an alarm topic) or looks (a dashboard). Only then does the environment pay
        for its operational alarms and warmkeeper's custom metrics: in a sleeping environment nobody
        watches, `warmkeeper status` and the Lambda's log lines answer the same questions for free.
        The idle alarm is not operational (it puts the service to sleep) and always exists."""
        return self.has_alarm_topic or self.has_dashboard

    @field_validator("wake_allowed_from")
    @classmethod
    def _ranges(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr)
            except ValueError as exc:
                raise ValueError(f"{cidr!r} is not an address range like 203.0.113.0/24 ({exc})") from None
        return value

    @field_validator("alarm_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @model_validator(mode="after")
    def _coherent(self) -> EnvironmentSettings:
        _check_task_shape(self.cpu, self.memory, self.min_tasks, self.max_tasks, self.scale_to_zero)
        if self.certificate_arn and not self.domain:
            raise ValueError("certificate_arn is set but domain is not")
        if self.container_insights is False and self.is_watched:
            raise ValueError(
                "container_insights = false in a watched environment (a dashboard or an alarm e-mail): "
                "its dashboard rows and tasks-short alarms read Container Insights; leave it unset"
            )
        if self.warm_schedule_skip and not self.warm_schedule:
            raise ValueError(
                "warm_schedule_skip is set but warm_schedule is not (there is no window to skip)"
            )
        if self.warm_schedule and not self.scale_to_zero:
            raise ValueError(
                "warm_schedule needs scale_to_zero = true (the service is always warm otherwise)"
            )
        door = self.door
        # CloudFront's rules: its origin-facing prefix list must be known in the region, and it serves
        # a domain only with a certificate from its own region.
        if door.cdn:
            if self.region is not None and self.region not in CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS:
                raise ValueError(
                    f"front_door = '{door.name}' is not supported in {self.region} by warmkeeper yet "
                    f"(no CloudFront origin-facing prefix list known there); supported: "
                    f"{sorted(CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS)}"
                )
            if self.domain and not self.certificate_arn:
                raise ValueError(
                    f"domain {self.domain!r} with front_door = '{door.name}' needs certificate_arn (an ACM "
                    f"certificate for it in {CLOUDFRONT_CERTIFICATE_REGION}): CloudFront serves a domain "
                    "only with its certificate"
                )
            certificate_region = certificate_region_of(self.certificate_arn) if self.certificate_arn else None
            if certificate_region not in (None, CLOUDFRONT_CERTIFICATE_REGION):
                raise ValueError(
                    f"certificate_arn is in {certificate_region}, but front_door = '{door.name}' needs a "
                    f"certificate from {CLOUDFRONT_CERTIFICATE_REGION} (CloudFront takes ACM certificates "
                    "from there only)"
                )
        return self

    @property
    def aws_region(self) -> str:
        """The region of an AWS environment (:meth:`AppConfig.environment` guarantees one is set)."""
        if self.region is None:
            raise WarmkeeperError(
                "no AWS region: set region in the config's environment, or AWS_REGION (the local "
                "environment has none: it runs on this machine)"
            )
        return self.region

    @property
    def door(self) -> FrontDoor:
        """The description of this environment's front door (:mod:`warmkeeper.core.front_doors`)."""
        return front_door(self.front_door)

    @property
    def https(self) -> bool:
        """Whether people reach the environment over HTTPS: a certificate on the load balancer, or
        CloudFront or an HTTP API (their own *.cloudfront.net / *.execute-api certificate when no domain
        is set)."""
        return self.certificate_arn is not None or self.door.https_without_domain

    @property
    def plain_http_to_the_internet(self) -> bool:
        """An internet-facing load balancer with no certificate: every request crosses it in clear."""
        return self.internet_facing_load_balancer and not self.https

    @property
    def drain_window_seconds(self) -> int:
        """The entry container's drain window: `drain_seconds`, or the front door's default."""
        if self.drain_seconds is not None:
            return self.drain_seconds
        return self.door.default_drain_seconds

    @property
    def internet_facing_load_balancer(self) -> bool:
        return self.door.load_balancer and self.door.internet_facing

    @property
    def load_balancer(self) -> bool:
        """Whether the environment has a load balancer at all (an HTTP API front door has none)."""
        return self.door.load_balancer

    @property
    def internal_load_balancer(self) -> bool:
        """A load balancer with no public address, in isolated subnets (behind CloudFront)."""
        return self.door.load_balancer and not self.door.internet_facing


class AppSection(_Strict):
    name: ResourceName = Field(description="the app's name: part of every AWS resource name")
    title: str | None = Field(default=None, min_length=1, max_length=80, examples=["Shop"])
    """the name people read on the waiting page while the app wakes (default: `name`)"""
    wake_with: list[str] = Field(default_factory=list, examples=[["osrm"]])
    """internal services woken together with the app (for services nearly every visit needs)"""


class CostBudget(_Strict):
    """What `warmkeeper cost` judges one environment against (modelled figures, in the [cost] currency)."""

    monthly: float = Field(gt=0, description="at most this a month, with the traffic profile", examples=[9])
    idle_month: float | None = Field(
        default=None, gt=0, description="at most this in a month without a single request", examples=[7]
    )


class CostSettings(_Strict):
    """`warmkeeper cost`'s options: the currency, a comparison column and budgets, all optional."""

    currency: Literal["USD", "EUR"] = Field(
        default="USD", description="USD (AWS's list prices) or EUR (converted at the table's ECB rate)"
    )
    compare_with: Literal["ec2_instance"] | None = Field(
        default=None,
        description="add a column: the same app on one always-on EC2 instance with a disk and a public "
        "address (the price table's legacy_* lines); a budget then also requires costing less than it",
    )
    budgets: dict[str, CostBudget] = Field(
        default_factory=dict, description="environment name -> its budget; cost prints a verdict for it"
    )


# An S3 bucket name as S3 accepts it for new buckets (3-63 lower-case letters, digits, '.' and '-',
# starting and ending with a letter or digit).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def parse_s3_location(uri: str) -> tuple[str, str]:
    """`s3://bucket/some/prefix` -> ("bucket", "some/prefix"); `s3://bucket` -> ("bucket", "").

    ValueError names what is wrong: IAM grants are derived from it, so no wildcard and no empty part."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{uri!r} must start with s3:// (s3://bucket or s3://bucket/prefix)")
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            f"{uri!r}: {bucket!r} is not an S3 bucket name (3-63 lower-case letters, digits, '.' and '-')"
        )
    prefix = prefix.rstrip("/")
    if "*" in prefix or "?" in prefix or "//" in prefix:
        raise ValueError(f"{uri!r}: the prefix may not hold wildcards or an empty part ('//')")
    return bucket, prefix


class ServiceOverrides(_Strict):
    """What one environment changes of an internal service (every key optional)."""

    cpu: int | None = None
    """the service's task CPU units in this environment"""
    memory: int | None = None
    """the service's task memory (MiB) in this environment"""
    spot: bool | None = None
    """Fargate Spot for this service in this environment"""
    min_tasks: int | None = Field(default=None, ge=0, le=100)
    """tasks of this service always running in this environment"""
    max_tasks: int | None = Field(default=None, ge=1, le=100)
    """most tasks of this service in this environment"""
    scale_to_zero: bool | None = None
    """whether this service sleeps in this environment"""
    idle_minutes: int | None = Field(default=None, ge=1, le=1440)
    """minutes without a call before this service sleeps in this environment"""


class ServiceConfig(_Strict):
    """A second service of the app: its own task, size, scaling and sleep, reachable from the app's tasks
    only and woken by the first call that needs it. The app's own (public) service is the file's
    top-level `[[containers]]`."""

    name: ResourceName = Field(
        description="the service's name: part of its AWS resource names and of its internal DNS name"
    )
    exposure: Literal["internal"] = Field(
        default="internal",
        description="internal: no route from the internet; only the app's tasks reach it (the public "
        "service is the file's top-level [[containers]])",
    )
    containers: Annotated[list[Container], Field(min_length=1)]
    """the containers of the service's task (one with entry = true: the port callers reach)"""
    cpu: int = 256
    """the task's CPU units (1024 = 1 vCPU); a Fargate task size"""
    memory: int = 512
    """the task's memory in MiB; must be allowed with `cpu` on Fargate"""
    architecture: Literal["arm64", "x86_64"] | None = None
    """the CPU architecture of its images and task; unset: the environment's"""
    spot: bool | None = None
    """Fargate Spot; unset: the environment's `spot`"""
    min_tasks: int = Field(default=0, ge=0, le=100)
    """tasks always running (0 with scale_to_zero)"""
    max_tasks: int = Field(default=1, ge=1, le=100)
    """most tasks (1 with scale_to_zero)"""
    scale_to_zero: bool = True
    """sleep at zero tasks after `idle_minutes` without a call, wake on the next; independent of the app's"""
    idle_minutes: int = Field(default=5, ge=1, le=1440)
    """minutes without a call before the service sleeps (its own clock, not the app's)"""
    wake_with: list[str] = Field(default_factory=list)
    """other internal services woken together with this one"""
    first_wake_seconds: int = Field(default=60, ge=5, le=900)
    """on AWS, how long a wake takes until callers reach it, before the waker has timed one: its first
    Retry-After (the twin, whose processes start in seconds, starts from its own 10 s)"""
    read_s3: list[str] = Field(default_factory=list, examples=[["s3://my-bucket/maps"]])
    """S3 locations the service's task may read (`s3://bucket` or `s3://bucket/prefix`): its task role
    may list them and get their objects, nothing else (on AWS; the twin ignores it)"""
    environments: dict[str, ServiceOverrides] = Field(default_factory=dict)
    """environment name -> what that environment changes of this service"""

    @field_validator("read_s3")
    @classmethod
    def _s3_locations(cls, value: list[str]) -> list[str]:
        for uri in value:
            parse_s3_location(uri)
        if len(set(value)) != len(value):
            raise ValueError("a location is listed twice")
        return value

    @property
    def entry_container(self) -> Container:
        return next(c for c in self.containers if c.entry)

    def runs_to_completion(self, name: str) -> bool:
        """Whether another container of the service's task waits for this one to exit (ECS then runs it
        as non-essential), like :meth:`AppConfig.runs_to_completion` for the app's own task."""
        return any(c.dependency_conditions.get(name) in ("complete", "success") for c in self.containers)

    @property
    def port(self) -> int:
        """The port callers reach the service on."""
        return self.entry_container.port


class ServiceSettings(_Strict):
    """One internal service in one environment: its base keys with that environment's overrides."""

    name: str
    """the service's name"""
    cpu: int
    """the task's CPU units"""
    memory: int
    """the task's memory in MiB"""
    architecture: Literal["arm64", "x86_64"]
    """the environment's architecture"""
    spot: bool
    """Fargate Spot"""
    min_tasks: int
    """tasks always running"""
    max_tasks: int
    """most tasks"""
    scale_to_zero: bool
    """whether the service sleeps"""
    idle_minutes: int
    """minutes without a call before it sleeps"""
    port: int
    """the port callers reach it on"""

    @model_validator(mode="after")
    def _coherent(self) -> ServiceSettings:
        _check_task_shape(self.cpu, self.memory, self.min_tasks, self.max_tasks, self.scale_to_zero)
        return self


def _check_containers(containers: Sequence[Container], where: str, services: Sequence[str] = ()) -> None:
    """One task's containers: unique names and ports, one entry, dependencies and placeholders that
    name containers of the same task (or, in the app's task, an internal service: `services`).
    `where` prefixes each problem ("" for the app's own task)."""
    names = [c.name for c in containers]
    by_name = {c.name: c for c in containers}
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"{where}container name {name!r} is used twice")
    ports: dict[int, str] = {}
    for c in containers:
        if c.port in ports:
            raise ValueError(
                f"{where}port {c.port} is used twice (containers {ports[c.port]!r} and {c.name!r})"
            )
        ports[c.port] = c.name
    entries = [c.name for c in containers if c.entry]
    if not entries:
        raise ValueError(
            f"{where}no entry container: mark the one the load balancer reaches with entry = true"
        )
    if len(entries) > 1:
        raise ValueError(f"{where}more than one entry container: {entries}")
    for c in containers:
        for dep in c.depends_on:
            if dep not in names:
                raise ValueError(f"{where}container {c.name!r} depends on unknown container {dep!r}")
            if dep == c.name:
                raise ValueError(f"{where}container {c.name!r} depends on itself")
        for dep, condition in c.dependency_conditions.items():
            if dep not in c.depends_on:
                raise ValueError(
                    f"{where}container {c.name!r}: dependency_conditions names {dep!r}, not in depends_on"
                )
            if condition == "healthy" and not by_name[dep].health.command:
                raise ValueError(
                    f"{where}container {c.name!r} waits for {dep!r} to be healthy, but {dep!r} has no "
                    "health command"
                )
            if condition in ("complete", "success") and by_name[dep].entry:
                raise ValueError(f"{where}container {c.name!r} waits for the entry container {dep!r} to exit")
        local_texts = [*c.local.command, *c.local.environment.values()] if c.local else []
        for text in local_texts:
            for match in _PLACEHOLDER.finditer(text):
                if match.group(1) and match.group(1) not in names and match.group(1) not in services:
                    what = "no container" + (" nor internal service" if services else "")
                    raise ValueError(
                        f"{where}container {c.name!r}: local placeholder {match.group(0)} names {what}"
                    )


class AppConfig(_Strict):
    """The whole file, validated. Use :meth:`environment` to get one environment's settings."""

    app: AppSection
    """the app"""
    containers: Annotated[list[Container], Field(min_length=1)]
    """the containers of the app's own task, the public service (one of them with entry = true)"""
    services: list[ServiceConfig] = Field(default_factory=list)
    """internal services with their own task and sleep, woken by the first call from the app"""
    ingress: IngressSettings = Field(default_factory=IngressSettings)
    """domain and certificate shared by the AWS environments"""
    scale_to_zero: ScaleToZeroPolicy = Field(default_factory=ScaleToZeroPolicy)
    """how the waker answers while cold, and the guards of the sleep decision"""
    cost: CostSettings = Field(default_factory=CostSettings)
    """what `warmkeeper cost` shows beyond the figures"""
    defaults: dict[str, Any] = Field(default_factory=dict)
    """keys of an environment shared by all of them (see the environment keys)"""
    environments: dict[str, dict[str, Any]] = Field(default_factory=dict)
    """NAME -> the keys of that environment; `local` is the twin"""
    # Where the file was read from: relative build and cwd paths are resolved against its folder.
    source: Path = Field(default=Path("warmkeeper.toml"), exclude=True)

    @model_validator(mode="after")
    def _containers_coherent(self) -> AppConfig:
        _check_containers(self.containers, "", services=[s.name for s in self.services])
        seen_services: set[str] = {self.app.name}
        # One image repository per container name: names are unique across every service of the app.
        container_services = {c.name: "the app" for c in self.containers}
        for index, service in enumerate(self.services):
            where = f"services[{index}] ({service.name}): "
            if service.name in seen_services:
                raise ValueError(
                    f"{where}the name is used twice (the app's own service is named after [app] name)"
                )
            seen_services.add(service.name)
            _check_containers(service.containers, where)
            for c in service.containers:
                if c.name in container_services:
                    raise ValueError(
                        f"{where}container name {c.name!r} is already used by {container_services[c.name]} "
                        "(each container has its own image repository, named after it)"
                    )
                container_services[c.name] = f"service {service.name!r}"
        internal = {s.name for s in self.services}
        callers = [("app.wake_with", self.app.name, self.app.wake_with)] + [
            (f"services[{i}].wake_with", s.name, s.wake_with) for i, s in enumerate(self.services)
        ]
        for key, caller, wakes in callers:
            for name in wakes:
                if name == caller:
                    raise ValueError(f"{key}: {name!r} would wake itself")
                if name not in internal:
                    raise ValueError(
                        f"{key}: {name!r} is not an internal service of the file "
                        f"(declared: {sorted(internal) or 'none'})"
                    )
        for index, service in enumerate(self.services):
            for env_name in service.environments:
                if env_name != LOCAL_ENVIRONMENT and env_name not in self.environments:
                    raise ValueError(
                        f"services[{index}].environments.{env_name}: no environment of that name under "
                        "[environments]"
                    )
        for env_name in self.environments:
            if not _NAME.match(env_name):
                raise ValueError(
                    f"environment name {env_name!r} under [environments]: use lower-case letters, digits "
                    "and '-', 2 to 32 characters (it becomes part of AWS resource names)"
                )
        return self

    @model_validator(mode="after")
    def _budgets_name_environments(self) -> AppConfig:
        for env_name in self.cost.budgets:
            if env_name not in self.environments or env_name == LOCAL_ENVIRONMENT:
                raise ValueError(
                    f"cost.budgets.{env_name}: no AWS environment of that name under [environments]"
                )
        return self

    @property
    def environment_names(self) -> list[str]:
        """The environments the file declares, in its order; `local` (the twin) is always one."""
        names = list(self.environments)
        return names if LOCAL_ENVIRONMENT in names else [LOCAL_ENVIRONMENT, *names]

    @property
    def entry_container(self) -> Container:
        return next(c for c in self.containers if c.entry)

    @property
    def all_containers(self) -> list[Container]:
        """Every container of every service: the app's own first, then each internal service's."""
        return [*self.containers, *(c for s in self.services for c in s.containers)]

    def service(self, name: str) -> ServiceConfig:
        """An internal service by name."""
        for s in self.services:
            if s.name == name:
                return s
        raise KeyError(name)

    def service_settings(self, name: str, env: str) -> ServiceSettings:
        """One internal service in one environment: its keys < that environment's overrides; the
        architecture (and `spot`, unless the service sets it) come from the environment."""
        service = self.service(name)
        settings = self.environment(env)
        overrides = service.environments.get(env, ServiceOverrides())
        index = self.services.index(service)
        merged: dict[str, Any] = {
            "name": service.name,
            "cpu": service.cpu,
            "memory": service.memory,
            "architecture": service.architecture or settings.architecture,
            "spot": settings.spot if service.spot is None else service.spot,
            "min_tasks": service.min_tasks,
            "max_tasks": service.max_tasks,
            "scale_to_zero": service.scale_to_zero,
            "idle_minutes": service.idle_minutes,
            "port": service.port,
            **overrides.model_dump(exclude_none=True),
        }
        try:
            resolved = ServiceSettings.model_validate(merged)
        except ValidationError as exc:
            section = (
                f"services[{index}].environments.{env}"
                if env in service.environments
                else f"services[{index}]"
            )
            problem = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ConfigError(self.source, section, problem) from None
        used_cpu = sum(c.cpu for c in service.containers)
        used_memory = sum(c.memory for c in service.containers)
        if used_cpu > resolved.cpu:
            raise ConfigError(
                self.source,
                f"services[{index}].cpu",
                f"containers reserve {used_cpu} CPU units in total but the {name} task has "
                f"{resolved.cpu} in {env}",
            )
        if used_memory > resolved.memory:
            raise ConfigError(
                self.source,
                f"services[{index}].memory",
                f"containers reserve {used_memory} MiB in total but the {name} task has "
                f"{resolved.memory} MiB in {env}",
            )
        return resolved

    def service_policy(self, name: str, env: str) -> Policy:
        """The scale-to-zero policy of one internal service: its own sleep and task counts, the waker's
        answers from [scale_to_zero]. Its callers are the app's tasks, so no client-address filter."""
        service = self.service_settings(name, env)
        return dataclasses.replace(
            self.policy(env),
            scale_to_zero=service.scale_to_zero,
            idle_minutes=service.idle_minutes,
            min_tasks=service.min_tasks,
            max_tasks=service.max_tasks,
            wake_allowed_from=(),
        )

    def wakes_with(self, caller: str) -> list[str]:
        """The internal services woken together with `caller` (the app's name or a service's)."""
        if caller == self.app.name:
            return list(self.app.wake_with)
        return list(self.service(caller).wake_with)

    def runs_to_completion(self, name: str) -> bool:
        """Whether another container waits for this one to exit: ECS runs it as non-essential."""
        return any(c.dependency_conditions.get(name) in ("complete", "success") for c in self.containers)

    def container(self, name: str) -> Container:
        for c in self.containers:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def base_dir(self) -> Path:
        return self.source.parent

    def environment(self, name: str) -> EnvironmentSettings:
        """The settings of one environment: built-in defaults < [defaults] < [environments.NAME]."""
        if name not in self.environment_names:
            raise ConfigError(
                self.source,
                "--env",
                f"unknown environment {name!r}: the file declares {self.environment_names} "
                f"(add [environments.{name}] to use it)",
            )
        merged = {**_BUILTIN_ENV_DEFAULTS.get(name, {}), **self.defaults, **self.environments.get(name, {})}
        self._resolve_region(name, merged)
        self._resolve_local_runtime(name, merged)
        if self.ingress.domain and "domain" not in merged:
            merged["domain"] = self.ingress.domain
        if self.ingress.certificate_arn and "certificate_arn" not in merged and name != "local":
            merged["certificate_arn"] = self.ingress.certificate_arn
            # Checked before the environment's own validation: an unknown front door is reported there.
            door_name = merged.get("front_door", LOAD_BALANCER)
            inherited_check = (
                _INHERITED_CERTIFICATE_CHECKS.get(door_name) if isinstance(door_name, str) else None
            )
            if inherited_check is not None:
                inherited_check(self, name, merged, certificate_region_of(self.ingress.certificate_arn))
        try:
            settings = EnvironmentSettings.model_validate(merged)
        except ValidationError as exc:
            section = f"environments.{name}" if name in self.environments else "defaults"
            raise _config_error(self.source, exc, prefix=section) from None
        _FRONT_DOOR_CHECKS[settings.front_door](self, name, settings)
        if name in self.environments:
            # Declared environments are checked with the file; one the file never mentions is checked
            # when something would build it (require_https), so a config for the twin alone stays valid.
            self._check_plain_http(name, settings)
        self._check_drain(name, settings)
        used_cpu = sum(c.cpu for c in self.containers)
        used_memory = sum(c.memory for c in self.containers)
        if used_cpu > settings.cpu:
            raise ConfigError(
                self.source,
                self._key_of(name, "cpu"),
                f"containers reserve {used_cpu} CPU units in total but the task has {settings.cpu}",
            )
        if used_memory > settings.memory:
            raise ConfigError(
                self.source,
                self._key_of(name, "memory"),
                f"containers reserve {used_memory} MiB in total but the task has {settings.memory} MiB",
            )
        return settings

    def _resolve_region(self, name: str, merged: dict[str, Any]) -> None:
        """The region: the file's, else the AWS configuration's; an AWS environment without either is an
        error naming the key (the twin needs none)."""
        if merged.get("region") is not None:
            return
        configured = aws_configured_region()
        if configured is not None:
            merged["region"] = configured
        elif name != LOCAL_ENVIRONMENT:
            raise ConfigError(
                self.source,
                f"environments.{name}.region",
                "not set, and the AWS configuration names no region (AWS_REGION, AWS_DEFAULT_REGION or "
                "the profile's region in ~/.aws/config): set region in [defaults] or in "
                f"[environments.{name}]",
            )

    def _resolve_local_runtime(self, name: str, merged: dict[str, Any]) -> None:
        """The twin runs images when a container has no local command and the file does not choose."""
        if name != LOCAL_ENVIRONMENT:
            return
        without = [i for i, c in enumerate(self.containers) if c.local is None]
        if not without:
            return
        if "runtime" not in merged:
            merged["runtime"] = "containers"
        elif merged["runtime"] == "processes":
            index = without[0]
            raise ConfigError(
                self.source,
                f"containers[{index}].local",
                f"container {self.containers[index].name!r} has no local command, but the twin's runtime "
                "is 'processes': add [containers.local] with its command, or set runtime = 'containers' "
                "in [environments.local] to run its image",
            )

    def _inherited_certificate_for_cloudfront(
        self, name: str, merged: Mapping[str, Any], certificate_region: str
    ) -> None:
        if certificate_region != CLOUDFRONT_CERTIFICATE_REGION:
            # Name the key where the value was written, not the environment that inherits it.
            raise ConfigError(
                self.source,
                "ingress.certificate_arn",
                f"is in {certificate_region}, but environments.{name} has front_door = 'cloudfront', "
                f"which needs a certificate from {CLOUDFRONT_CERTIFICATE_REGION}: set certificate_arn "
                f"(and domain) in [environments.{name}]",
            )

    def _inherited_certificate_for_http_api(
        self, name: str, merged: Mapping[str, Any], certificate_region: str
    ) -> None:
        region = merged.get("region")
        if region is not None and certificate_region != region:
            raise ConfigError(
                self.source,
                "ingress.certificate_arn",
                f"is in {certificate_region}, but environments.{name} has front_door = 'http_api' in "
                f"{region}, which needs a regional certificate from {region}: set certificate_arn "
                f"(and domain) in [environments.{name}]",
            )

    def _check_load_balancer(self, env: str, settings: EnvironmentSettings) -> None:
        """An internet-facing load balancer needs nothing beyond the types."""

    def _check_http_api(self, env: str, settings: EnvironmentSettings) -> None:
        """What an HTTP API front door needs beyond the types: named at the key that must change."""
        # Cloud Map learns a task's health from ECS's container health checks only (there is no load
        # balancer probing the port): a container without a health command would count as healthy as
        # soon as it runs, and requests would reach it before it answers.
        for index, container in enumerate(self.containers):
            if not container.health.command:
                raise ConfigError(
                    self.source,
                    f"containers[{index}].health.command",
                    f"container {container.name!r} has no health command, and environments.{env} has "
                    "front_door = 'http_api', where the container's own health check is the only one (no "
                    "load balancer probes it): set command, e.g. ['CMD-SHELL', 'wget -q -O /dev/null "
                    f"http://127.0.0.1:{container.port}{container.health.path} || exit 1']",
                )
        if settings.domain and not settings.certificate_arn:
            raise ConfigError(
                self.source,
                self._key_of(env, "certificate_arn"),
                f"domain {settings.domain!r} with front_door = 'http_api' needs a regional ACM certificate "
                f"for it in {settings.region}: API Gateway serves a custom domain only with its certificate",
            )
        if settings.certificate_arn:
            certificate_region = certificate_region_of(settings.certificate_arn)
            if certificate_region != settings.region:
                raise ConfigError(
                    self.source,
                    self._key_of(env, "certificate_arn"),
                    f"is in {certificate_region}, but front_door = 'http_api' needs a regional certificate "
                    f"from the stack's region {settings.region} (an HTTP API's custom domain is regional)",
                )
        for prefix in ("api", "waker", "endpoint"):
            rate, burst = (
                getattr(settings, f"{prefix}_rate_limit"),
                getattr(settings, f"{prefix}_burst_limit"),
            )
            if burst < rate:
                raise ConfigError(
                    self.source,
                    self._key_of(env, f"{prefix}_burst_limit"),
                    f"{burst} is below {prefix}_rate_limit ({rate}): the burst is the bucket the steady "
                    "rate refills, so it must be at least as large",
                )
        # An HTTP API gives up on an integration after 30 s, whatever the config says: a request the
        # waker held longer would reach the visitor as API Gateway's own error, not as the waker's answer.
        hold = self.scale_to_zero.hold_seconds
        longest = HTTP_API_INTEGRATION_TIMEOUT_SECONDS - HTTP_API_HOLD_MARGIN_SECONDS
        if settings.scale_to_zero and hold > longest:
            raise ConfigError(
                self.source,
                "scale_to_zero.hold_seconds",
                f"{hold} s (+ {HTTP_API_HOLD_MARGIN_SECONDS} s for the waker's own calls) does not fit the "
                f"HTTP API's {HTTP_API_INTEGRATION_TIMEOUT_SECONDS} s integration timeout, which cannot be "
                f"raised (environments.{env} has front_door = 'http_api'): use at most {longest}",
            )

    def _check_hold_fits(self, name: str, settings: EnvironmentSettings) -> None:
        """Behind CloudFront, the Lambda (hold + its calls) must end before CloudFront stops waiting."""
        hold = self.scale_to_zero.hold_seconds
        needed = front_door_timeout_seconds(hold)
        quota = settings.cloudfront_origin_timeout_quota_seconds
        if needed <= quota:
            return
        longest = quota - FRONT_DOOR_MARGIN_SECONDS - WAKER_CALLS_SECONDS
        quota_key = f"environments.{name}.cloudfront_origin_timeout_quota_seconds"
        raise ConfigError(
            self.source,
            "scale_to_zero.hold_seconds",
            f"{hold} s does not fit behind CloudFront in environments.{name}: the Lambda may then run "
            f"{waker_timeout_seconds(hold)} s and CloudFront would have to wait {needed} s for it, but it "
            f"waits at most {quota} s ({quota_key}; 60 s unless AWS approved a quota increase). Lower "
            f"hold_seconds to {longest} or less, or, once AWS approved a longer origin response timeout, "
            f"set {quota_key} to it (at most {CLOUDFRONT_MAX_ORIGIN_TIMEOUT_SECONDS})",
        )

    def _check_plain_http(self, env: str, settings: EnvironmentSettings) -> None:
        """HTTPS by default: an AWS environment that would serve plain HTTP to the internet must say so."""
        if env == "local" or settings.allow_plain_http or not settings.plain_http_to_the_internet:
            return
        raise ConfigError(
            self.source,
            f"environments.{env}",
            f"environment {env!r} would serve plain HTTP to the internet (front_door = 'load_balancer' "
            "with no certificate_arn): requests, cookies and the keep-alive token would travel in clear. "
            "Use front_door = 'cloudfront' or 'http_api' (HTTPS without a domain of your own), or set "
            "domain and certificate_arn, or accept it with allow_plain_http = true",
        )

    def require_https(self, env: str) -> EnvironmentSettings:
        """The settings of an environment about to be synthesized or deployed, refused (ConfigError)
        when it would serve plain HTTP to the internet without allow_plain_http."""
        settings = self.environment(env)
        self._check_plain_http(env, settings)
        return settings

    def plain_http_environments(self) -> list[str]:
        """The AWS environments that serve plain HTTP to the internet because they allow it (validate
        warns about each)."""
        return [
            name
            for name in self.environment_names
            if name != LOCAL_ENVIRONMENT and self.environment(name).plain_http_to_the_internet
        ]

    def _check_drain(self, env: str, settings: EnvironmentSettings) -> None:
        """The entry container must outlive its drain window: ECS (and the twin) kill it after its stop
        timeout, and a kill during the window drops exactly the requests the window is there for."""
        window = settings.drain_window_seconds
        if window == 0:
            return
        index, entry = next((i, c) for i, c in enumerate(self.containers) if c.entry)
        needed = window + DRAIN_STOP_MARGIN_SECONDS
        if entry.stop_timeout_seconds < needed:
            raise ConfigError(
                self.source,
                f"containers[{index}].stop_timeout_seconds",
                f"{entry.stop_timeout_seconds} s for entry container {entry.name!r} does not cover the drain "
                f"window of environments.{env} ({window} s, {self._key_of(env, 'drain_seconds')}) plus "
                f"{DRAIN_STOP_MARGIN_SECONDS} s for its graceful stop: use at least {needed} (at most "
                f"{MAX_STOP_TIMEOUT_SECONDS} on Fargate), or a shorter drain_seconds",
            )

    def _key_of(self, env: str, key: str) -> str:
        """Where a setting of `env` comes from in the file, to name it in an error."""
        if key in self.environments.get(env, {}):
            return f"environments.{env}.{key}"
        if key in self.defaults:
            return f"defaults.{key}"
        return f"environments.{env}.{key} (not set: built-in default)"

    def stack_name(self, env: str) -> str:
        return f"{pascal(self.app.name)}-{env}"

    def policy(self, env: str | EnvironmentSettings) -> Policy:
        """The core scale-to-zero policy of one environment: the one place it is built from the file.

        `env` is an environment's name, or its settings already read with :meth:`environment`. The
        Lambda gets it as ``WK_POLICY`` (the stack writes :meth:`Policy.to_dict`), the CLI's AWS
        commands run the engine with it, and the local twin applies its time overrides on top.
        """
        settings = self.environment(env) if isinstance(env, str) else env
        section = self.scale_to_zero
        try:
            return Policy(
                scale_to_zero=settings.scale_to_zero,
                idle_minutes=settings.idle_minutes,
                min_warm_minutes=section.min_warm_minutes,
                hold_seconds=section.hold_seconds,
                wake_timeout_seconds=section.wake_timeout_seconds,
                retry_after_seconds=section.retry_after_seconds,
                default_lease_minutes=section.default_lease_minutes,
                max_lease_minutes=section.max_lease_minutes,
                ignore_user_agents=(*section.ignore_user_agents, *section.ignore_user_agents_extra),
                min_tasks=settings.min_tasks,
                max_tasks=settings.max_tasks,
                wake_allowed_from=tuple(settings.wake_allowed_from),
            )
        except PolicyError as exc:  # the file's checks cover the policy's: a gap between them
            raise ConfigError(self.source, "", str(exc)) from None


# What each front door needs of an environment beyond the types (one entry per front door: a test
# checks them against warmkeeper.core.front_doors.FRONT_DOOR_NAMES).
_FRONT_DOOR_CHECKS: dict[str, Callable[[AppConfig, str, EnvironmentSettings], None]] = {
    LOAD_BALANCER: AppConfig._check_load_balancer,
    CLOUDFRONT: AppConfig._check_hold_fits,
    HTTP_API: AppConfig._check_http_api,
}
# Where a certificate inherited from [ingress] must live, for the front doors that care: checked before
# the environment's own settings, to name the [ingress] key where the value was written.
_INHERITED_CERTIFICATE_CHECKS: dict[str, Callable[[AppConfig, str, Mapping[str, Any], str], None]] = {
    CLOUDFRONT: AppConfig._inherited_certificate_for_cloudfront,
    HTTP_API: AppConfig._inherited_certificate_for_http_api,
}

# Production does not scale to zero unless the file says so: the safe choice for real users.
_BUILTIN_ENV_DEFAULTS: dict[str, dict[str, Any]] = {
    "local": {"idle_minutes": 5},
    "staging": {"idle_minutes": 5},
    "production": {"scale_to_zero": False, "min_tasks": 1, "max_tasks": 4},
}


def aws_configured_region() -> str | None:
    """The region the AWS configuration names, as the AWS CLI and boto3 find it: AWS_REGION,
    AWS_DEFAULT_REGION, then the `region` of the profile (AWS_PROFILE, else default) in the config file
    (AWS_CONFIG_FILE, else ~/.aws/config). Read without boto3: the config loads on every command."""
    for variable in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = os.environ.get(variable, "").strip()
        if value:
            return value
    path = Path(os.environ.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config").expanduser()
    parser = configparser.ConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (OSError, configparser.Error, UnicodeDecodeError):
        return None
    profile = os.environ.get("AWS_PROFILE") or "default"
    section = "default" if profile == "default" else f"profile {profile}"
    value = parser.get(section, "region", fallback="").strip()
    return value or None


def _format_loc(loc: tuple[int | str, ...]) -> str:
    key = ""
    for part in loc:
        if isinstance(part, int):
            key += f"[{part}]"
        else:
            key += ("." if key else "") + part
    return key


def _config_error(file: Path, exc: ValidationError, prefix: str = "") -> ConfigError:
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    key = _format_loc(loc)
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; every key is in docs/config.md, or `warmkeeper schema`)"
    elif first["type"] == "missing":
        message = "required key is missing"
    more = len(exc.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(file, key, message)


def parse_config(data: Mapping[str, Any], source: Path) -> AppConfig:
    """Validate already-parsed TOML data; every environment is checked too."""
    try:
        config = AppConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise _config_error(source, exc) from None
    for env_name in config.environment_names:
        config.environment(env_name)
        for service in config.services:
            config.service_settings(service.name, env_name)
    return config


def load_config(path: Path | str) -> AppConfig:
    """Read and validate one config file; raise :class:`ConfigError` on any problem."""
    file = Path(path)
    if not file.exists():
        raise ConfigError(file, "", "file not found (pass --config FILE or set WARMKEEPER_CONFIG)")
    if not file.is_file():
        raise ConfigError(file, "", "is not a file")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(file, "", f"not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(file, "", "not a UTF-8 text file") from None
    return parse_config(data, file.resolve())


def expand_local(text: str, container: str, ports: Mapping[str, int]) -> str:
    """Fill ``{port}`` and ``{port:NAME}`` placeholders of a local command or variable."""

    def replace(match: re.Match[str]) -> str:
        return str(ports[match.group(1) or container])

    return _PLACEHOLDER.sub(replace, text)
