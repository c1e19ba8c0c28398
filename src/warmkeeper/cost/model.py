"""Monthly cost of one environment: MODELLED from a versioned price table, never measured.

Three scenarios are priced with the same traffic profile, each a list of cost lines:

- ``configured``: the environment as its config says. With scale to zero, one task runs during the
  active hours plus, after each active period, the idle tail (``idle_minutes``, the lag before the
  sleep is decided, the minute a wake is billed before the task serves); otherwise ``min_tasks``
  tasks run all month.
- ``always_on``: the same app with at least one task 24/7 (no idle alarm, no wakes).
- ``legacy_ec2``: the single EC2 instance CityGuided ran before (instance, disk, address).

Each line of the bill is one small function of a :class:`ScenarioContext` that returns the line (or
none, or several); a scenario is the list of those functions, in display order. The environment's
front door is a :class:`FrontDoorCost`: the lines of its entry (an ALB's hours, capacity units and
public addresses; or an HTTP API's requests, VPC link, Cloud Map and hosted zone), the public
addresses of its ALB, its operational alarms and the lines that carry the traffic to viewers. A new
front door adds an entry to ``FRONT_DOORS`` and its lines, not branches.

A warm schedule (``warm_schedule``) is a line of its own in ``configured`` and in the month without
a request: what every other line costs more while a task also runs through the windows. Skip dates
(``warm_schedule_skip``) take their openings off an average month: the dates falling on a window's
days, spread over the calendar years they belong to (a simplification: the month a holiday falls in
is not modelled apart).

Internal services (the config's ``[[services]]``) add their own lines to the configured and always-on
scenarios, each tagged with the service's name (``CostLine.service``), then the lines they share
(``SHARED``): a service's task-hours come from its section of the traffic profile (wakes, minutes of
use, start) and its own idle time; it never wakes in a month without a request to the app, since only
the app calls it. The app's own lines do not change, so an app without services is priced as before.

Every price is in USD as AWS publishes it and is converted with the table's one EUR/USD rate.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from warmkeeper.core.activity import REPORT_GAP_SECONDS
from warmkeeper.core.schedule import AWS_WAKE_LEAD_MINUTES, openings_per_month, warm_hours_per_month
from warmkeeper.cost.environment import EnvironmentShape, FrontDoorName, ServiceShape
from warmkeeper.cost.prices import PriceTable
from warmkeeper.cost.profile import ServiceUse, TrafficProfile

_KB_PER_GB = 1024.0 * 1024.0
_MB_PER_GB = 1024.0
# The Lambda's state under WK_PARAMETER_PREFIX: wake lock, lease, last wake, the beacon's activity
# (standard tier: free).
_WARMKEEPER_PARAMETERS = 4.0
_REQUESTS_PER_CLOUDFRONT_UNIT = 10_000.0  # CloudFront prices requests per 10,000
_HTTP_API_METERING_KB = 512.0  # an HTTP API request is metered in 512 KB increments


# ---------------------------------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostLine:
    key: str
    label: str
    quantity: float
    unit: str
    unit_usd: float
    usd: float
    fixed: bool  # True: the same whatever the traffic (the floor)
    basis: str  # the arithmetic, for people
    # "" for the app's own service; an internal service's name; SHARED for what the services share.
    service: str = ""


# The group of the lines every internal service shares (the wake secret, a private DNS namespace).
SHARED = "*"


@dataclass(frozen=True)
class ServiceRun:
    """What one internal service does in a scenario: its task-hours and wakes."""

    name: str
    task_hours: float
    wakes: float


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    lines: tuple[CostLine, ...]
    task_hours: float  # the app's own tasks
    usd_per_eur: float
    wakes: float = 0.0  # the app's own wakes
    services: tuple[ServiceRun, ...] = ()  # each internal service's task-hours and wakes

    def group_usd(self, service: str) -> float:
        """The lines of one group: "" the app's, a service's name, or SHARED."""
        return sum(line.usd for line in self.lines if line.service == service)

    def group_fixed_usd(self, service: str) -> float:
        return sum(line.usd for line in self.lines if line.service == service and line.fixed)

    @property
    def total_usd(self) -> float:
        return sum(line.usd for line in self.lines)

    @property
    def total_eur(self) -> float:
        return self.total_usd / self.usd_per_eur

    @property
    def fixed_usd(self) -> float:
        return sum(line.usd for line in self.lines if line.fixed)

    def line(self, key: str) -> CostLine:
        for line in self.lines:
            if line.key == key:
                return line
        raise KeyError(key)

    def has(self, key: str) -> bool:
        return any(line.key == key for line in self.lines)

    def dominant(self, share: float = 0.8) -> list[tuple[CostLine, float]]:
        """The biggest lines that together make at least ``share`` of the total."""
        total = self.total_usd
        if total <= 0:
            return []
        result: list[tuple[CostLine, float]] = []
        running = 0.0
        for line in sorted(self.lines, key=lambda item: item.usd, reverse=True):
            if running >= share * total or line.usd <= 0:
                break
            result.append((line, line.usd / total))
            running += line.usd
        return result


@dataclass(frozen=True)
class CostReport:
    environment: EnvironmentShape
    profile: TrafficProfile
    prices: PriceTable
    configured: Scenario
    always_on: Scenario
    legacy_ec2: Scenario
    notes: tuple[str, ...] = field(default_factory=tuple)
    # Scale to zero only: the configured environment in a month without a single request.
    idle_month: Scenario | None = None

    @property
    def scenarios(self) -> tuple[Scenario, Scenario, Scenario]:
        return (self.configured, self.always_on, self.legacy_ec2)

    def row_keys(self) -> list[str]:
        """Line keys in display order, across the three scenarios."""
        keys: list[str] = []
        for scenario in self.scenarios:
            for line in scenario.lines:
                if line.key not in keys:
                    keys.append(line.key)
        return keys


# ---------------------------------------------------------------------------------------------------
# Quantities shared by several lines
# ---------------------------------------------------------------------------------------------------


def running_task_hours(env: EnvironmentShape, profile: TrafficProfile, prices: PriceTable) -> float:
    """Task-hours of the configured environment in one month.

    Scale to zero: on an active day each active period runs at least ``min_warm_minutes``, then the
    idle tail (``idle_minutes`` + the sleep lag + the billed start of the wake); no request, no wake.
    """
    hours_per_month = prices.value("hours_per_month")
    if not env.scale_to_zero:
        return env.min_tasks * hours_per_month
    if (
        profile.active_hours_per_day <= 0
        or profile.requests_per_active_hour <= 0
        or profile.days_per_month <= 0
    ):
        return 0.0
    periods = profile.active_periods_per_day
    period_hours = max(profile.active_hours_per_day / periods, env.min_warm_minutes / 60.0)
    tail_hours = (
        env.idle_minutes + prices.value("sleep_lag_minutes") + prices.value("start_billed_minutes")
    ) / 60.0
    per_day = min(24.0, periods * (period_hours + tail_hours))
    return min(hours_per_month, profile.days_per_month * per_day)


def wakes_per_month(env: EnvironmentShape, profile: TrafficProfile) -> float:
    if not env.scale_to_zero:
        return 0.0
    if profile.active_hours_per_day <= 0 or profile.requests_per_active_hour <= 0:
        return 0.0
    return profile.days_per_month * profile.active_periods_per_day


def lcu_per_active_hour(profile: TrafficProfile, prices: PriceTable) -> float:
    """ALB capacity units in one active hour: the largest of the dimensions AWS bills.

    New connections (25 a second per LCU), active connections (3,000 a minute per LCU) and processed
    bytes (1 GB an hour per LCU for IP targets); rule evaluations stay under the 10 free rules.
    """
    requests = profile.requests_per_active_hour
    connections = requests / prices.value("requests_per_connection")
    new_connections_lcu = connections / 3600.0 / 25.0
    active_connections_lcu = connections / 60.0 / 3000.0
    processed_gb = requests * (profile.avg_response_kb + prices.value("request_kb")) / _KB_PER_GB
    return max(new_connections_lcu, active_connections_lcu, processed_gb / 1.0)


# ---------------------------------------------------------------------------------------------------
# What every line of a scenario knows
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ScenarioContext:
    """One scenario being priced: the environment, the traffic, the prices, the task time and wakes."""

    env: EnvironmentShape
    profile: TrafficProfile
    prices: PriceTable
    task_hours: float
    wakes: float
    sleeps: bool  # this scenario scales to zero: idle alarm, RequestCount reads while warm
    scheduled_wakes: float = 0.0  # wakes a warm schedule asks for (no cold request waits on them)

    @property
    def hours_per_month(self) -> float:
        return self.prices.value("hours_per_month")

    @property
    def front_door(self) -> FrontDoorCost:
        return FRONT_DOORS[self.env.front_door]

    @cached_property
    def alb_addresses(self) -> float:
        return self.front_door.public_alb_addresses(self.prices)

    @property
    def fargate_kind(self) -> str:
        return f"{self.env.architecture}{', Spot' if self.env.spot else ''}"

    def fargate_usd(self, resource: str) -> float:
        """The hourly price of ``resource`` ("vcpu" or "gb") for this architecture, Spot discount included."""
        arch = "arm" if self.env.architecture == "arm64" else "x86"
        spot_factor = (1.0 - self.prices.value("fargate_spot_discount")) if self.env.spot else 1.0
        return self.prices.usd(f"fargate_{arch}_{resource}_hour") * spot_factor

    # The Lambda runs: a reconcile every minute, the requests it answers while a wake is under way, one
    # alarm event per sleep, and the tasks' activity beacon reports while they run.
    @property
    def reconciles(self) -> float:
        return self.hours_per_month * 60.0

    @property
    def cold_requests(self) -> float:
        return self.wakes * self.profile.cold_requests_per_wake

    @property
    def alarm_events(self) -> float:
        return self.wakes + self.scheduled_wakes  # the idle alarm invokes the Lambda once per sleep

    @property
    def waker_calls(self) -> float:
        """Requests to ``/_warmkeeper/*`` (keep-alive leases): the Lambda answers them, whatever the door."""
        return self.wakes * self.prices.value("waker_calls_per_wake")

    @property
    def beacon_reports(self) -> float:
        """The activity beacon's reports to the function URL while a task runs (scale-to-zero only): at
        most one every REPORT_GAP_SECONDS, as if every task-hour were busy (an upper bound)."""
        if not self.sleeps:
            return 0.0
        return self.task_hours * 3600.0 / REPORT_GAP_SECONDS

    @property
    def invocations(self) -> float:
        short = self.cold_requests + self.alarm_events + self.waker_calls + self.beacon_reports
        return self.reconciles + short

    @property
    def api_requests(self) -> float:
        """Requests an HTTP API front door receives: the visitors' and the ``/_warmkeeper`` calls."""
        return self.profile.requests + self.waker_calls

    @property
    def forwarded_requests(self) -> float:
        """Requests that reach the tasks (those answered by the Lambda while cold do not)."""
        return max(0.0, self.profile.requests - self.cold_requests)

    @property
    def access_log_gb(self) -> float:
        """GB of front-door access logs a month (only a front door that writes them)."""
        if not self.front_door.access_logs:
            return 0.0
        return self.api_requests * self.prices.value("api_access_log_kb_per_request") / _KB_PER_GB

    @cached_property
    def log_ingest_gb(self) -> tuple[float, float, float]:
        """GB of logs ingested a month: the app's, the Lambda's, the rejected-traffic flow logs'."""
        profile, prices = self.profile, self.prices
        app_log_gb = (
            profile.log_mb_per_active_hour * profile.active_hours
            + prices.value("health_check_log_mb_per_task_hour") * self.task_hours
        ) / _MB_PER_GB
        lambda_log_gb = self.invocations * prices.value("lambda_log_kb_per_invocation") / _KB_PER_GB
        # Rejected-traffic flow logs: internet background scanning of every public address (an
        # internet-facing ALB's all month, a task's while it runs), kept with the environment's retention.
        address_hours = self.alb_addresses * self.hours_per_month + self.task_hours
        flow_log_gb = prices.value("rejected_flow_log_mb_per_address_hour") * address_hours / _MB_PER_GB
        return app_log_gb, lambda_log_gb, flow_log_gb

    @property
    def container_insights_log_gb(self) -> float:
        if not self.env.container_insights:
            return 0.0
        return self.prices.value("container_insights_log_mb_per_task_hour") * self.task_hours / _MB_PER_GB


LineRule = Callable[[ScenarioContext], Sequence[CostLine]]


def _line(
    key: str, label: str, quantity: float, unit: str, unit_usd: float, *, fixed: bool, basis: str
) -> CostLine:
    return CostLine(key, label, quantity, unit, unit_usd, quantity * unit_usd, fixed, basis)


# ---------------------------------------------------------------------------------------------------
# The lines, one function each
# ---------------------------------------------------------------------------------------------------


def fargate_vcpu(ctx: ScenarioContext) -> list[CostLine]:
    vcpu = ctx.env.vcpu
    return [
        _line(
            "fargate_vcpu",
            f"Fargate vCPU ({ctx.fargate_kind})",
            ctx.task_hours * vcpu,
            "vCPU-h",
            ctx.fargate_usd("vcpu"),
            fixed=False,
            basis=f"{ctx.task_hours:.1f} task-h x {vcpu:g} vCPU",
        )
    ]


def fargate_memory(ctx: ScenarioContext) -> list[CostLine]:
    memory_gb = ctx.env.memory_gb
    return [
        _line(
            "fargate_memory",
            f"Fargate memory ({ctx.fargate_kind})",
            ctx.task_hours * memory_gb,
            "GB-h",
            ctx.fargate_usd("gb"),
            fixed=False,
            basis=f"{ctx.task_hours:.1f} task-h x {memory_gb:g} GB",
        )
    ]


def alb_hours(ctx: ScenarioContext) -> list[CostLine]:
    hours = ctx.hours_per_month
    return [
        _line(
            "alb_hours",
            "ALB hours",
            hours,
            "ALB-h",
            ctx.prices.usd("alb_hour"),
            fixed=True,
            basis=f"{hours:g} h, whatever the traffic",
        )
    ]


def alb_capacity_units(ctx: ScenarioContext) -> list[CostLine]:
    lcu = lcu_per_active_hour(ctx.profile, ctx.prices)
    active_hours = ctx.profile.active_hours
    return [
        _line(
            "alb_lcu",
            "ALB capacity units (LCU)",
            lcu * active_hours,
            "LCU-h",
            ctx.prices.usd("alb_lcu_hour"),
            fixed=False,
            basis=f"{lcu:.4f} LCU x {active_hours:g} active h",
        )
    ]


def alb_public_addresses(ctx: ScenarioContext) -> list[CostLine]:
    # The line stays at 0 addresses when the front door keeps the ALB internal, and says why.
    return [
        _line(
            "ipv4_alb",
            "Public IPv4, ALB",
            ctx.alb_addresses * ctx.hours_per_month,
            "address-h",
            ctx.prices.usd("public_ipv4_hour"),
            fixed=True,
            basis=ctx.front_door.alb_addresses_basis(ctx.alb_addresses, ctx.hours_per_month),
        )
    ]


def task_public_addresses(ctx: ScenarioContext) -> list[CostLine]:
    return [
        _line(
            "ipv4_tasks",
            "Public IPv4, tasks",
            ctx.task_hours,
            "address-h",
            ctx.prices.usd("public_ipv4_hour"),
            fixed=False,
            basis=f"1 address per running task x {ctx.task_hours:.1f} task-h",
        )
    ]


def lambda_requests(ctx: ScenarioContext) -> list[CostLine]:
    return [
        _line(
            "lambda_requests",
            "Lambda requests",
            ctx.invocations,
            "requests",
            ctx.prices.usd("lambda_arm_request"),
            fixed=False,
            basis=(
                f"{ctx.reconciles:,.0f} reconciles + {ctx.cold_requests:,.0f} cold requests"
                f" + {ctx.alarm_events:,.0f} alarm events"
                + (f" + {ctx.waker_calls:,.0f} /_warmkeeper calls" if ctx.waker_calls > 0 else "")
                + (f" + {ctx.beacon_reports:,.0f} beacon reports" if ctx.beacon_reports > 0 else "")
            ),
        )
    ]


def lambda_duration(ctx: ScenarioContext) -> list[CostLine]:
    prices = ctx.prices
    memory_gb = prices.value("lambda_memory_mb") / 1024.0
    reconcile_s = prices.value("lambda_reconcile_seconds")
    cold_s = prices.value("lambda_cold_request_seconds")
    report_s = prices.value("lambda_beacon_report_seconds")
    reconciles, reports = ctx.reconciles, ctx.beacon_reports
    short_runs = ctx.cold_requests + ctx.alarm_events + ctx.waker_calls
    gb_seconds = memory_gb * (reconciles * reconcile_s + short_runs * cold_s + reports * report_s)
    return [
        _line(
            "lambda_duration",
            "Lambda duration (arm64)",
            gb_seconds,
            "GB-s",
            prices.usd("lambda_arm_gb_second"),
            fixed=False,
            basis=(
                f"{memory_gb:g} GB x ({reconciles:,.0f} x {reconcile_s:g} s"
                f" + {short_runs:,.0f} x {cold_s:g} s"
                + (f" + {reports:,.0f} beacon reports x {report_s:g} s" if reports > 0 else "")
                + ")"
            ),
        )
    ]


def reconcile_metric_reads(ctx: ScenarioContext) -> list[CostLine]:
    # The reconcile reads RequestCount only when a sleep could follow: desired count > 0 in an
    # environment that scales to zero (aws/engine.py, observe()). A cold service and an environment
    # that never sleeps read nothing. Desired > 0 from the wake to the sleep: the scenario's task time.
    metrics_per_run = ctx.prices.value("reconcile_metrics_per_run")
    if ctx.sleeps:
        reading_runs = min(ctx.task_hours, ctx.hours_per_month) * 60.0
        basis = (
            f"{reading_runs:,.0f} runs while a task is wanted (desired > 0) x {metrics_per_run:g} "
            "metric read (GetMetricData); none while cold"
        )
    else:
        reading_runs = 0.0
        basis = "0 reads: without scale to zero the reconcile never reads RequestCount"
    return [
        _line(
            "cw_api",
            "CloudWatch API (reconcile reads)",
            reading_runs * metrics_per_run,
            "metrics requested",
            ctx.prices.usd("cloudwatch_get_metric_data_metric"),
            fixed=False,
            basis=basis,
        )
    ]


# The idle alarm: one metric (the front door's request count).
_IDLE_ALARM_METRICS = 1.0


def alarms(ctx: ScenarioContext) -> list[CostLine]:
    # Alarms are billed per metric they evaluate: a metric-math alarm on 3 metrics counts 3.
    # Where nobody is told or looks (EnvironmentSettings.is_watched), only the idle alarm exists: it
    # puts the service to sleep. The operational ones, wake-failed included, are not built.
    operational = ctx.prices.value(ctx.front_door.operational_alarm_metrics) if ctx.env.watched else 0.0
    if not ctx.sleeps:
        sleep_wake = 0.0
    elif ctx.env.watched:
        sleep_wake = ctx.prices.value("scale_to_zero_alarm_metrics")
    else:
        sleep_wake = _IDLE_ALARM_METRICS
    return [
        _line(
            "cw_alarms",
            "CloudWatch alarms",
            operational + sleep_wake,
            "alarm metrics",
            ctx.prices.usd("cloudwatch_alarm_month"),
            fixed=True,
            basis=f"{operational:g} operational alarm metrics"
            + (
                (f" + {sleep_wake:g} for idle and wake failures" if ctx.env.watched else " + the idle alarm")
                if ctx.sleeps
                else ""
            ),
        )
    ]


def dashboard(ctx: ScenarioContext) -> list[CostLine]:
    # Built only where the config asks (`dashboard`, on by default where the service never sleeps).
    return [
        _line(
            "cw_dashboard",
            "CloudWatch dashboard",
            ctx.prices.value("dashboards") if ctx.env.dashboard else 0.0,
            "dashboards",
            ctx.prices.usd("cloudwatch_dashboard_month"),
            fixed=True,
            basis=(
                "free tier (3 dashboards) not applied"
                if ctx.env.dashboard
                else "none: the config does not ask for one (`dashboard`)"
            ),
        )
    ]


def logs_ingestion(ctx: ScenarioContext) -> list[CostLine]:
    app_log_gb, lambda_log_gb, flow_log_gb = ctx.log_ingest_gb
    return [
        _line(
            "logs_ingest",
            "CloudWatch Logs ingestion",
            app_log_gb + lambda_log_gb + flow_log_gb,
            "GB",
            ctx.prices.usd("cloudwatch_logs_ingest_gb"),
            fixed=False,
            basis=(
                f"app {app_log_gb * 1024:.0f} MB + Lambda {lambda_log_gb * 1024:.0f} MB"
                f" + rejected flows {flow_log_gb * 1024:.0f} MB"
            ),
        )
    ]


def logs_storage(ctx: ScenarioContext) -> list[CostLine]:
    app_log_gb, lambda_log_gb, flow_log_gb = ctx.log_ingest_gb
    # The front door's access logs (an HTTP API's) are kept with the same retention.
    ingest_gb = app_log_gb + lambda_log_gb + flow_log_gb + ctx.access_log_gb
    days_in_month = ctx.hours_per_month / 24.0
    stored_gb = (
        ingest_gb * ctx.env.log_retention_days / days_in_month
        + ctx.container_insights_log_gb
        * ctx.prices.value("container_insights_log_retention_days")
        / days_in_month
    )
    return [
        _line(
            "logs_storage",
            "CloudWatch Logs storage",
            stored_gb,
            "GB-month",
            ctx.prices.usd("cloudwatch_logs_storage_gb_month"),
            fixed=False,
            basis=f"{ctx.env.log_retention_days:g}-day retention of {ingest_gb * 1024:.0f} MB/month",
        )
    ]


# The basis of a Container Insights line where the cluster has it off.
_INSIGHTS_OFF = "none: off where the environment is not watched (`container_insights`)"


def container_insights_metrics(ctx: ScenarioContext) -> list[CostLine]:
    metrics = ctx.prices.value("container_insights_metrics") if ctx.env.container_insights else 0.0
    return [
        _line(
            "ci_metrics",
            "Container Insights metrics",
            metrics * ctx.task_hours / ctx.hours_per_month,
            "metric-months",
            ctx.prices.usd("cloudwatch_metric_month"),
            fixed=False,
            basis=(
                f"{metrics:g} metrics, only in the {ctx.task_hours:.1f} h a task runs"
                if ctx.env.container_insights
                else _INSIGHTS_OFF
            ),
        )
    ]


def container_insights_logs(ctx: ScenarioContext) -> list[CostLine]:
    mb_per_task_hour = ctx.prices.value("container_insights_log_mb_per_task_hour")
    return [
        _line(
            "ci_logs",
            "Container Insights performance logs",
            ctx.container_insights_log_gb,
            "GB",
            ctx.prices.usd("cloudwatch_logs_ingest_gb"),
            fixed=False,
            basis=(
                f"{mb_per_task_hour:g} MB x {ctx.task_hours:.1f} task-h"
                if ctx.env.container_insights
                else _INSIGHTS_OFF
            ),
        )
    ]


def warmkeeper_metrics(ctx: ScenarioContext) -> list[CostLine]:
    # Where nobody watches, the Lambda logs the same events without the EMF block: no custom metric.
    metrics = ctx.prices.value("warmkeeper_metrics") if ctx.env.watched else 0.0
    metric_hours = min(
        ctx.hours_per_month,
        (ctx.wakes + ctx.scheduled_wakes) * ctx.prices.value("warmkeeper_metric_hours_per_wake"),
    )
    return [
        _line(
            "wk_metrics",
            "warmkeeper metrics (wakes, sleeps)",
            metrics * metric_hours / ctx.hours_per_month,
            "metric-months",
            ctx.prices.usd("cloudwatch_metric_month"),
            fixed=False,
            basis=(
                f"{metrics:g} metrics x {metric_hours:.0f} h with events"
                if ctx.env.watched
                else "none: nobody watches this environment (log lines, no custom metrics)"
            ),
        )
    ]


def image_storage(ctx: ScenarioContext) -> list[CostLine]:
    # Versions share their base layers: the first is stored whole, each later one adds what changed.
    versions = ctx.prices.value("ecr_versions_kept")
    changed = ctx.prices.value("ecr_version_changed_fraction")
    image_mb = ctx.profile.image_size_mb
    return [
        _line(
            "ecr_storage",
            "ECR storage",
            image_mb * (1.0 + max(0.0, versions - 1.0) * changed) / _MB_PER_GB,
            "GB-month",
            ctx.prices.usd("ecr_storage_gb_month"),
            fixed=True,
            basis=f"{image_mb:g} MB + {versions - 1:g} more versions x {changed:.0%} changed",
        )
    ]


def secrets(ctx: ScenarioContext) -> list[CostLine]:
    count = ctx.env.secrets
    # The wake secret the activity beacon sends: with internal services, their shared line has it.
    beacon_secret = 1 if ctx.env.scale_to_zero and not ctx.env.services else 0
    return [
        _line(
            "secrets",
            "Secrets Manager",
            float(count + beacon_secret),
            "secrets",
            ctx.prices.usd("secrets_manager_secret_month"),
            fixed=True,
            basis="keep-alive token"
            + (f" + {count - 1} app secrets" if count > 1 else "")
            + (" + the wake secret (activity beacon)" if beacon_secret else ""),
        )
    ]


def kms_key(ctx: ScenarioContext) -> list[CostLine]:
    # The alarm topic and its key exist only where the config sets an alarm e-mail or the service
    # never sleeps (EnvironmentSettings.has_alarm_topic).
    keys = ctx.prices.value("kms_keys") if ctx.env.alarm_topic else 0.0
    return [
        _line(
            "kms",
            "KMS key (alarm topic)",
            keys,
            "keys",
            ctx.prices.usd("kms_key_month"),
            fixed=True,
            basis=(
                f"{keys:g} customer managed key encrypting the alarm topic"
                if ctx.env.alarm_topic
                else "none: no alarm e-mail, so no alarm topic to encrypt"
            ),
        )
    ]


def ssm_parameters(ctx: ScenarioContext) -> list[CostLine]:
    return [
        _line(
            "ssm_parameters",
            "SSM parameters (standard)",
            _WARMKEEPER_PARAMETERS,
            "parameters",
            ctx.prices.usd("ssm_standard_parameter_month"),
            fixed=True,
            basis="wake lock, lease, last wake, activity: standard tier is free",
        )
    ]


def transfer_out(ctx: ScenarioContext) -> list[CostLine]:
    """The region's data transfer out to the internet: responses sent straight to viewers."""
    profile = ctx.profile
    return [
        _line(
            "transfer_out",
            "Data transfer out",
            profile.requests * profile.avg_response_kb / _KB_PER_GB,
            "GB",
            ctx.prices.usd("data_transfer_out_gb"),
            fixed=False,
            basis=f"{profile.requests:,.0f} responses x {profile.avg_response_kb:g} KB",
        )
    ]


def cloudfront_requests(ctx: ScenarioContext) -> list[CostLine]:
    requests = ctx.profile.requests
    return [
        _line(
            "cf_requests",
            "CloudFront requests (HTTPS)",
            requests / _REQUESTS_PER_CLOUDFRONT_UNIT,
            "10k requests",
            ctx.prices.usd("cloudfront_https_requests_10k"),
            fixed=False,
            basis=f"{requests:,.0f} viewer requests, all HTTPS, per 10,000; always-free tier not applied",
        )
    ]


def cloudfront_transfer_out(ctx: ScenarioContext) -> list[CostLine]:
    """CloudFront bills the bytes it sends to viewers; the ALB (an AWS origin) -> CloudFront is free."""
    profile = ctx.profile
    return [
        _line(
            "cf_transfer_out",
            "CloudFront data transfer out",
            profile.requests * profile.avg_response_kb / _KB_PER_GB,
            "GB",
            ctx.prices.usd("cloudfront_transfer_out_gb"),
            fixed=False,
            basis=(
                f"{profile.requests:,.0f} responses x {profile.avg_response_kb:g} KB to viewers; "
                "ALB -> CloudFront is free"
            ),
        )
    ]


def http_api_requests(ctx: ScenarioContext) -> list[CostLine]:
    """API Gateway bills every request the HTTP API receives, metered in 512 KB increments."""
    profile = ctx.profile
    largest_kb = max(profile.avg_response_kb, ctx.prices.value("request_kb"))
    increments = max(1.0, math.ceil(largest_kb / _HTTP_API_METERING_KB))
    requests = ctx.api_requests
    return [
        _line(
            "api_requests",
            "HTTP API requests",
            requests * increments,
            "requests",
            ctx.prices.usd("http_api_request"),
            fixed=False,
            basis=(
                f"{profile.requests:,.0f} visitor requests + {ctx.waker_calls:,.0f} /_warmkeeper calls"
                + (f" x {increments:g} (512 KB increments)" if increments > 1 else ", each under 512 KB")
            ),
        )
    ]


def http_api_vpc_link(ctx: ScenarioContext) -> list[CostLine]:
    hours = ctx.hours_per_month
    return [
        _line(
            "vpc_link",
            "HTTP API VPC link",
            hours,
            "VPC link-h",
            ctx.prices.usd("http_api_vpc_link_hour"),
            fixed=True,
            basis=f"1 VPC link x {hours:g} h: no hourly charge for HTTP API VPC links",
        )
    ]


def cloud_map_instances(ctx: ScenarioContext) -> list[CostLine]:
    # ECS registers each running task with the Cloud Map service and deregisters it when it stops.
    return [
        _line(
            "cloud_map_instances",
            "Cloud Map registered tasks",
            ctx.task_hours / ctx.hours_per_month,
            "resource-months",
            ctx.prices.usd("cloud_map_instance_month"),
            fixed=False,
            basis=f"1 task registered x {ctx.task_hours:.1f} h, prorated by the hour (assumed)",
        )
    ]


def cloud_map_discovery(ctx: ScenarioContext) -> list[CostLine]:
    prices = ctx.prices
    per_request = prices.value("discovery_calls_per_forwarded_request")
    per_cold = prices.value("discovery_calls_per_cold_request")
    per_run = prices.value("reconcile_discovery_calls_per_run")
    forwarded, cold, reconciles = ctx.forwarded_requests, ctx.cold_requests, ctx.reconciles
    return [
        _line(
            "cloud_map_discovery",
            "Cloud Map DiscoverInstances",
            forwarded * per_request + cold * per_cold + reconciles * per_run,
            "calls",
            prices.usd("cloud_map_discovery_call"),
            fixed=False,
            basis=(
                f"{forwarded:,.0f} forwarded requests x {per_request:g} (no cache assumed)"
                f" + {cold:,.0f} held requests x {per_cold:g} + {reconciles:,.0f} reconciles x {per_run:g}"
            ),
        )
    ]


def private_hosted_zone(ctx: ScenarioContext) -> list[CostLine]:
    return [
        _line(
            "route53_zone",
            "Route 53 private hosted zone",
            1.0,
            "hosted zones",
            ctx.prices.usd("route53_hosted_zone_month"),
            fixed=True,
            basis="the Cloud Map private DNS namespace's zone; nothing queries its names",
        )
    ]


def http_api_access_logs(ctx: ScenarioContext) -> list[CostLine]:
    kb = ctx.prices.value("api_access_log_kb_per_request")
    return [
        _line(
            "api_access_logs",
            "HTTP API access logs (ingestion)",
            ctx.access_log_gb,
            "GB",
            ctx.prices.usd("cloudwatch_logs_ingest_gb"),
            fixed=False,
            basis=f"{ctx.api_requests:,.0f} requests x {kb:g} KB; stored with the logs below",
        )
    ]


def front_door_entry(ctx: ScenarioContext) -> list[CostLine]:
    """The lines of the environment's front door itself: its load balancer, or its API."""
    return [line for rule in ctx.front_door.entry_lines for line in rule(ctx)]


def front_door_traffic(ctx: ScenarioContext) -> list[CostLine]:
    """The lines of the environment's front door that carry the responses to viewers."""
    return [line for rule in ctx.front_door.traffic_lines for line in rule(ctx)]


def legacy_instance(ctx: ScenarioContext) -> list[CostLine]:
    hours = ctx.hours_per_month
    return [
        _line(
            "legacy_instance",
            "EC2 instance (legacy)",
            hours,
            "instance-h",
            ctx.prices.usd("legacy_instance_hour"),
            fixed=True,
            basis=f"1 instance x {hours:g} h",
        )
    ]


def legacy_disk(ctx: ScenarioContext) -> list[CostLine]:
    disk = ctx.prices.value("legacy_ebs_gb")
    return [
        _line(
            "legacy_ebs",
            "EBS volume (legacy)",
            disk,
            "GB-month",
            ctx.prices.usd("legacy_ebs_gb_month"),
            fixed=True,
            basis=f"{disk:g} GB gp3",
        )
    ]


def legacy_public_address(ctx: ScenarioContext) -> list[CostLine]:
    hours = ctx.hours_per_month
    return [
        _line(
            "ipv4_legacy",
            "Public IPv4, instance",
            hours,
            "address-h",
            ctx.prices.usd("public_ipv4_hour"),
            fixed=True,
            basis=f"1 address x {hours:g} h",
        )
    ]


# ---------------------------------------------------------------------------------------------------
# Front doors and scenarios: lists of lines
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FrontDoorCost:
    """What a front door changes in the bill."""

    public_alb_addresses: Callable[[PriceTable], float]
    alb_addresses_basis: Callable[[float, float], str]  # (addresses, hours a month) -> basis
    traffic_lines: tuple[LineRule, ...]
    note: str = ""
    # The front door's own lines, in display order after the tasks' (an ALB's, or an API's).
    entry_lines: tuple[LineRule, ...] = (alb_hours, alb_capacity_units, alb_public_addresses)
    # The assumption that counts the operational alarm metrics this front door's stack has.
    operational_alarm_metrics: str = "operational_alarm_metrics"
    access_logs: bool = False  # the front door writes an access log per request to CloudWatch Logs


def _no_alb(_prices: PriceTable) -> float:
    return 0.0


FRONT_DOORS: dict[str, FrontDoorCost] = {
    # An internet-facing ALB: one public address per AZ; the region bills the transfer out.
    "load_balancer": FrontDoorCost(
        public_alb_addresses=lambda prices: prices.value("alb_public_ipv4_addresses"),
        alb_addresses_basis=lambda addresses, hours: f"{addresses:g} addresses (one per AZ) x {hours:g} h",
        traffic_lines=(transfer_out,),
    ),
    # CloudFront whose VPC origin is an internal ALB in isolated subnets: no public address on the ALB,
    # origin -> CloudFront free, CloudFront bills the requests and the transfer out to viewers.
    "cloudfront": FrontDoorCost(
        public_alb_addresses=lambda prices: 0.0,
        alb_addresses_basis=lambda addresses, hours: (
            "0 addresses: internal ALB behind CloudFront (VPC origin)"
        ),
        traffic_lines=(cloudfront_requests, cloudfront_transfer_out),
        note=(
            "Front door CloudFront -> internal ALB (VPC origin): no public IPv4 on the ALB; the ALB's "
            "responses to CloudFront are free; CloudFront bills HTTPS requests and transfer out to viewers "
            "(its always-free 1 TB and 10 M requests a month are not applied)."
        ),
    ),
    # An HTTP API whose VPC link reaches the tasks found in Cloud Map: no load balancer at all (no ALB
    # hours, capacity units or addresses); API Gateway bills requests, and the region the transfer out.
    "http_api": FrontDoorCost(
        public_alb_addresses=_no_alb,
        alb_addresses_basis=lambda addresses, hours: "no load balancer",
        entry_lines=(
            http_api_requests,
            http_api_vpc_link,
            cloud_map_instances,
            cloud_map_discovery,
            private_hosted_zone,
            http_api_access_logs,
        ),
        traffic_lines=(transfer_out,),
        operational_alarm_metrics="http_api_operational_alarm_metrics",
        access_logs=True,
        note=(
            "Front door HTTP API -> VPC link -> Cloud Map: no load balancer (no ALB hours, capacity units or "
            "addresses); API Gateway bills requests (512 KB increments), HTTP API VPC links have no hourly "
            "charge, the Cloud Map private DNS namespace is a Route 53 hosted zone; the region bills the "
            "transfer out (the 12-month API Gateway free tier is not applied)."
        ),
    ),
}

# The app on Fargate behind warmkeeper, in display order.
FARGATE_LINES: tuple[LineRule, ...] = (
    fargate_vcpu,
    fargate_memory,
    front_door_entry,
    task_public_addresses,
    lambda_requests,
    lambda_duration,
    reconcile_metric_reads,
    alarms,
    dashboard,
    logs_ingestion,
    logs_storage,
    container_insights_metrics,
    container_insights_logs,
    warmkeeper_metrics,
    image_storage,
    secrets,
    kms_key,
    ssm_parameters,
    front_door_traffic,
)

# The single EC2 instance CityGuided ran before: its responses go straight to the internet.
LEGACY_LINES: tuple[LineRule, ...] = (legacy_instance, legacy_disk, legacy_public_address, transfer_out)


def price_scenario(key: str, title: str, ctx: ScenarioContext, rules: Sequence[LineRule]) -> Scenario:
    lines = tuple(line for rule in rules for line in rule(ctx))
    return Scenario(key, title, lines, ctx.task_hours, ctx.prices.fx.usd_per_eur, ctx.wakes)


@dataclass(frozen=True)
class WarmScheduleHours:
    """What a warm schedule adds to a month: its openings and the task-hours they keep a task up."""

    openings: float
    window_hours: float  # inside the windows
    task_hours: float  # the windows, plus the lead before and the idle tail after each opening
    lead_minutes: float
    tail_minutes: float
    skipped_openings: float = 0.0  # openings a month the skip dates remove (already taken off)


def warm_schedule_hours(env: EnvironmentShape, prices: PriceTable) -> WarmScheduleHours | None:
    """The schedule's own task-hours, counted ON TOP of the traffic's (conservative: the model does not
    know whether the active periods fall inside the windows)."""
    if not env.scale_to_zero or not env.warm_windows:
        return None
    days_in_month = prices.value("hours_per_month") / 24.0
    skip = env.warm_skip_dates
    openings = openings_per_month(env.warm_windows, days_in_month, skip)
    skipped = openings_per_month(env.warm_windows, days_in_month) - openings
    lead = float(AWS_WAKE_LEAD_MINUTES)
    tail = env.idle_minutes + prices.value("sleep_lag_minutes")
    window_hours = warm_hours_per_month(env.warm_windows, days_in_month, skip)
    return WarmScheduleHours(
        openings, window_hours, window_hours + openings * (lead + tail) / 60.0, lead, tail, skipped
    )


def _with_warm_schedule(key: str, title: str, context: ScenarioContext) -> Scenario:
    """The scenario's lines, plus one line for the warm schedule: what every line costs more when a
    task also runs for the schedule's hours (Fargate, addresses, Container Insights, logs...)."""
    base = price_scenario(key, title, context, FARGATE_LINES)
    schedule = warm_schedule_hours(context.env, context.prices)
    if schedule is None:
        return base
    # A service already up all month gains no hour and no wake from a schedule.
    task_hours = min(context.hours_per_month, context.task_hours + schedule.task_hours)
    added = task_hours - context.task_hours
    warmer = dataclasses.replace(
        context,
        task_hours=task_hours,
        scheduled_wakes=schedule.openings * added / schedule.task_hours if schedule.task_hours else 0.0,
    )
    extra_usd = price_scenario(key, title, warmer, FARGATE_LINES).total_usd - base.total_usd
    windows = ", ".join(window.text for window in context.env.warm_windows)
    window_minutes = schedule.window_hours / schedule.openings * 60 if schedule.openings else 0.0
    line = CostLine(
        "warm_schedule",
        "Warm schedule (task kept up)",
        added,
        "task-h",
        extra_usd / added if added else 0.0,
        extra_usd,
        False,
        (
            f"{windows}: {schedule.openings:.1f} openings x"
            f" ({window_minutes:.0f} min + {schedule.lead_minutes:g} min lead"
            f" + {schedule.tail_minutes:g} min until the sleep),"
            " priced on top of the traffic's hours"
            + (
                f"; {schedule.skipped_openings:.2f} openings a month skipped (warm_schedule_skip)"
                if schedule.skipped_openings
                else ""
            )
        ),
    )
    return dataclasses.replace(base, lines=(*base.lines, line), task_hours=warmer.task_hours)


# ---------------------------------------------------------------------------------------------------
# Internal services ([[services]]): each one's own lines, priced from its routing-request profile
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceContext:
    """One internal service in one scenario: its shape, its use, the environment's prices and retention."""

    service: ServiceShape
    use: ServiceUse
    env: EnvironmentShape
    prices: PriceTable
    task_hours: float
    wakes: float  # wakes by a call (each with its minutes of use)
    wakes_with_app: float  # wakes only because the app woke (wake_with): start and idle time, no call
    sleeps: bool  # this scenario lets it sleep: idle alarm, activity metric, wakes

    @property
    def name(self) -> str:
        return self.service.name

    @property
    def hours_per_month(self) -> float:
        return self.prices.value("hours_per_month")

    @property
    def kind(self) -> str:
        return f"{self.service.architecture}{', Spot' if self.service.spot else ''}"

    def fargate_usd(self, resource: str) -> float:
        arch = "arm" if self.service.architecture == "arm64" else "x86"
        spot_factor = (1.0 - self.prices.value("fargate_spot_discount")) if self.service.spot else 1.0
        return self.prices.usd(f"fargate_{arch}_{resource}_hour") * spot_factor

    def line(
        self, key: str, label: str, quantity: float, unit: str, unit_usd: float, *, fixed: bool, basis: str
    ) -> CostLine:
        return CostLine(
            f"{self.name}.{key}",
            f"{self.name}: {label}",
            quantity,
            unit,
            unit_usd,
            quantity * unit_usd,
            fixed,
            basis,
            self.name,
        )

    @property
    def tail_minutes(self) -> float:
        """After the last call: its own idle time, then the lag before the sleep is decided."""
        return self.service.idle_minutes + self.prices.value("sleep_lag_minutes")

    @property
    def hours_basis(self) -> str:
        if not self.sleeps:
            tasks = max(1, self.service.min_tasks)
            return f"{tasks} task x {self.hours_per_month:g} h (never sleeps)"
        use = self.use
        basis = (
            f"{self.wakes:g} wakes x ({use.start_minutes:g} min start"
            f" + {use.use_minutes_per_wake:g} min use + {self.service.idle_minutes:g} idle min"
            f" + {self.prices.value('sleep_lag_minutes'):g} min to sleep)"
        )
        if self.wakes_with_app:
            minutes = use.start_minutes + self.tail_minutes
            basis += f" + {self.wakes_with_app:,.1f} wakes with the app x {minutes:g} min"
        return basis


def service_task_hours(
    service: ServiceShape, use: ServiceUse, wakes: float, wakes_with_app: float, prices: PriceTable
) -> float:
    """Task-hours of one internal service in a month: every wake runs its start, its minutes of use (a
    wake with the app has none), its idle time and the lag before the sleep; never more than a month."""
    hours_per_month = prices.value("hours_per_month")
    if not service.scale_to_zero:
        return max(1, service.min_tasks) * hours_per_month
    tail = service.idle_minutes + prices.value("sleep_lag_minutes")
    minutes = wakes * (use.start_minutes + use.use_minutes_per_wake + tail) + wakes_with_app * (
        use.start_minutes + tail
    )
    return min(hours_per_month, minutes / 60.0)


def service_fargate(ctx: ServiceContext) -> list[CostLine]:
    vcpu, memory_gb = ctx.service.vcpu, ctx.service.memory_gb
    return [
        ctx.line(
            "fargate_vcpu",
            f"Fargate vCPU ({ctx.kind})",
            ctx.task_hours * vcpu,
            "vCPU-h",
            ctx.fargate_usd("vcpu"),
            fixed=False,
            basis=f"{ctx.task_hours:.1f} task-h x {vcpu:g} vCPU: {ctx.hours_basis}",
        ),
        ctx.line(
            "fargate_memory",
            f"Fargate memory ({ctx.kind})",
            ctx.task_hours * memory_gb,
            "GB-h",
            ctx.fargate_usd("gb"),
            fixed=False,
            basis=f"{ctx.task_hours:.1f} task-h x {memory_gb:g} GB",
        ),
    ]


def service_public_address(ctx: ServiceContext) -> list[CostLine]:
    # Its tasks run in the same public subnets as the app's, with a public address while they run (no
    # NAT); its security group admits only the app's tasks.
    return [
        ctx.line(
            "ipv4",
            "Public IPv4, tasks",
            ctx.task_hours,
            "address-h",
            ctx.prices.usd("public_ipv4_hour"),
            fixed=False,
            basis=f"1 address per running task x {ctx.task_hours:.1f} task-h, like the app's tasks",
        )
    ]


def _service_log_gb(ctx: ServiceContext) -> tuple[float, float, float]:
    """GB a month: its own logs, the rejected-traffic flow logs of its address, its Container Insights
    performance logs."""
    prices = ctx.prices
    own = ctx.use.log_mb_per_task_hour * ctx.task_hours / _MB_PER_GB
    flows = prices.value("rejected_flow_log_mb_per_address_hour") * ctx.task_hours / _MB_PER_GB
    insights = (
        prices.value("container_insights_log_mb_per_task_hour") * ctx.task_hours / _MB_PER_GB
        if ctx.env.container_insights
        else 0.0
    )
    return own, flows, insights


def service_logs(ctx: ServiceContext) -> list[CostLine]:
    own, flows, insights = _service_log_gb(ctx)
    days_in_month = ctx.hours_per_month / 24.0
    stored = (own + flows) * ctx.env.log_retention_days / days_in_month + insights * ctx.prices.value(
        "container_insights_log_retention_days"
    ) / days_in_month
    return [
        ctx.line(
            "logs_ingest",
            "CloudWatch Logs ingestion",
            own + flows + insights,
            "GB",
            ctx.prices.usd("cloudwatch_logs_ingest_gb"),
            fixed=False,
            basis=(
                f"own {own * 1024:.1f} MB ({ctx.use.log_mb_per_task_hour:g} MB x {ctx.task_hours:.1f} task-h)"
                f" + rejected flows {flows * 1024:.1f} MB + Container Insights {insights * 1024:.1f} MB"
            ),
        ),
        ctx.line(
            "logs_storage",
            "CloudWatch Logs storage",
            stored,
            "GB-month",
            ctx.prices.usd("cloudwatch_logs_storage_gb_month"),
            fixed=False,
            basis=f"{ctx.env.log_retention_days:g}-day retention of {(own + flows) * 1024:.1f} MB/month",
        ),
    ]


def service_container_insights(ctx: ServiceContext) -> list[CostLine]:
    on = ctx.env.container_insights
    metrics = ctx.prices.value("container_insights_service_metrics") if on else 0.0
    return [
        ctx.line(
            "ci_metrics",
            "Container Insights metrics",
            metrics * ctx.task_hours / ctx.hours_per_month,
            "metric-months",
            ctx.prices.usd("cloudwatch_metric_month"),
            fixed=False,
            basis=(
                f"{metrics:g} metrics (its service and task family), only in its {ctx.task_hours:.1f} h"
                if on
                else _INSIGHTS_OFF
            ),
        )
    ]


def service_activity(ctx: ServiceContext) -> list[CostLine]:
    """Its activity metric (a Logs metric filter: one datapoint per request line, a custom metric billed
    in the hours it has data) and its idle alarm (one alarm metric, all month). None if it never sleeps."""
    if not ctx.sleeps:
        return []
    # The calls of one wake fall in at most this many clock hours (an hour boundary may cut them).
    hours_per_wake = math.ceil(ctx.use.use_minutes_per_wake / 60.0) + 1.0 if ctx.wakes else 0.0
    metric_hours = min(ctx.hours_per_month, ctx.wakes * hours_per_wake)
    return [
        ctx.line(
            "activity_metric",
            "activity metric",
            metric_hours / ctx.hours_per_month,
            "metric-months",
            ctx.prices.usd("cloudwatch_metric_month"),
            fixed=False,
            basis=(
                f"1 custom metric (a Logs metric filter, free) x {metric_hours:.0f} h with calls"
                f" ({ctx.wakes:g} wakes x at most {hours_per_wake:g} clock hours); no data while asleep"
            ),
        ),
        ctx.line(
            "idle_alarm",
            "idle alarm",
            _IDLE_ALARM_METRICS,
            "alarm metrics",
            ctx.prices.usd("cloudwatch_alarm_month"),
            fixed=True,
            basis="1 alarm on its activity metric (missing data = no call), all month",
        ),
    ]


def service_discovery(ctx: ServiceContext) -> list[CostLine]:
    # ECS registers each running task in its Cloud Map service (the name the app's Caddy resolves).
    return [
        ctx.line(
            "cloud_map_instances",
            "Cloud Map registered tasks",
            ctx.task_hours / ctx.hours_per_month,
            "resource-months",
            ctx.prices.usd("cloud_map_instance_month"),
            fixed=False,
            basis=f"1 task registered x {ctx.task_hours:.1f} h, prorated by the hour (assumed)",
        )
    ]


def service_waker(ctx: ServiceContext) -> list[CostLine]:
    """The waker's runs for this service: its activity reads while a task is wanted, the calls it answers
    with a retry while a wake is under way, and its idle alarm's event at each sleep."""
    if not ctx.sleeps:
        return []
    prices = ctx.prices
    reads = ctx.task_hours * 60.0 * prices.value("reconcile_metrics_per_run")
    wakes = ctx.wakes + ctx.wakes_with_app
    calls = ctx.wakes * ctx.use.calls_while_waking
    runs = calls + wakes
    run_seconds = prices.value("lambda_reconcile_seconds")  # an internal wake answers at once, never holds
    per_run = prices.usd("lambda_arm_request") + prices.value("lambda_memory_mb") / 1024.0 * run_seconds * (
        prices.usd("lambda_arm_gb_second")
    )
    return [
        ctx.line(
            "cw_api",
            "CloudWatch API (reads)",
            reads,
            "metrics requested",
            prices.usd("cloudwatch_get_metric_data_metric"),
            fixed=False,
            basis=f"{ctx.task_hours * 60:,.0f} reconcile runs while a task is wanted x 1 read; none asleep",
        ),
        ctx.line(
            "waker_runs",
            "waker runs (internal wakes)",
            runs,
            "runs",
            per_run,
            fixed=False,
            basis=(
                f"{calls:,.0f} calls answered 503 + Retry-After ({ctx.use.calls_while_waking:g} a wake)"
                f" + {wakes:,.1f} sleep alarm events, each a request + {run_seconds:g} s"
            ),
        ),
    ]


def service_data(ctx: ServiceContext) -> list[CostLine]:
    """Its data in S3 (all month, asleep or not) and the copy into each new task (free in the region)."""
    use = ctx.use
    copies = ctx.wakes + ctx.wakes_with_app if ctx.sleeps else max(1, ctx.service.min_tasks)
    return [
        ctx.line(
            "s3_storage",
            f"S3 {use.data_storage_class.title()} storage (data)",
            use.data_gb,
            "GB-month",
            ctx.prices.usd("s3_standard_gb_month"),
            fixed=True,
            basis=(
                f"{use.data_gb:g} GB in S3 {use.data_storage_class.title()}, all month"
                if use.data_gb
                else f"no data: the traffic profile gives no data_gb for {ctx.name}"
            ),
        ),
        ctx.line(
            "s3_transfer",
            "S3 -> task copies (per wake)",
            copies * use.data_gb,
            "GB",
            ctx.prices.usd("s3_transfer_same_region_gb"),
            fixed=False,
            basis=f"{copies:,.1f} task starts x {use.data_gb:g} GB copied: free from S3 in the same region",
        ),
    ]


def service_images(ctx: ServiceContext) -> list[CostLine]:
    """Its own images in ECR, kept like the app's (the same versions, the same share changed)."""
    versions = ctx.prices.value("ecr_versions_kept")
    changed = ctx.prices.value("ecr_version_changed_fraction")
    image_mb = ctx.use.image_size_mb
    return [
        ctx.line(
            "ecr_storage",
            "ECR storage",
            image_mb * (1.0 + max(0.0, versions - 1.0) * changed) / _MB_PER_GB,
            "GB-month",
            ctx.prices.usd("ecr_storage_gb_month"),
            fixed=True,
            basis=(
                f"{image_mb:g} MB + {versions - 1:g} more versions x {changed:.0%} changed"
                if image_mb
                else "no image_size_mb in the profile: images from a public registry only"
            ),
        )
    ]


# The lines of one internal service, in display order.
SERVICE_LINES: tuple[Callable[[ServiceContext], Sequence[CostLine]], ...] = (
    service_fargate,
    service_public_address,
    service_logs,
    service_container_insights,
    service_activity,
    service_discovery,
    service_waker,
    service_images,
    service_data,
)


def shared_service_lines(env: EnvironmentShape, prices: PriceTable) -> list[CostLine]:
    """What the internal services share, once per environment: the wake secret the app's Caddy sends to
    the waker with each internal wake (and its activity beacon with each report), and the private DNS
    namespace their names live in when the front door has none of its own (an HTTP API's Cloud Map
    namespace serves both)."""
    if not env.services:
        return []
    secrets = 1.0 + sum(service.secrets for service in env.services)
    lines = [
        CostLine(
            "services.wake_secret",
            "services: Secrets Manager",
            secrets,
            "secrets",
            prices.usd("secrets_manager_secret_month"),
            secrets * prices.usd("secrets_manager_secret_month"),
            True,
            "the wake secret (internal wakes, activity beacon)"
            + (f" + {secrets - 1:g} secrets of the services' containers" if secrets > 1 else ""),
            SHARED,
        )
    ]
    if private_hosted_zone not in FRONT_DOORS[env.front_door].entry_lines:
        lines.append(
            CostLine(
                "services.route53_zone",
                "services: private DNS namespace",
                1.0,
                "hosted zones",
                prices.usd("route53_hosted_zone_month"),
                prices.usd("route53_hosted_zone_month"),
                True,
                "a Route 53 private hosted zone: the services' Cloud Map namespace (DNS queries not priced)",
                SHARED,
            )
        )
    return lines


def price_services(
    env: EnvironmentShape,
    profile: TrafficProfile,
    prices: PriceTable,
    *,
    sleeps: bool,
    app_wakes: float,
) -> tuple[list[CostLine], tuple[ServiceRun, ...]]:
    """Every internal service's lines and runs in one scenario, then the lines they share.

    ``sleeps`` False prices every service always on (the always-on column). A service is called only
    through the app, so a month without a request to the app wakes none; ``app_wakes`` are the app's
    wakes (traffic and warm schedule), which also wake the services in the app's ``wake_with``.
    """
    lines: list[CostLine] = []
    runs: list[ServiceRun] = []
    app_called = profile.requests > 0
    for service in env.services:
        use, _assumed = service_use(profile, service.name)
        service_sleeps = sleeps and service.scale_to_zero
        wakes = use.wakes_per_month if service_sleeps and app_called else 0.0
        with_app = app_wakes if service_sleeps and service.wakes_with_app else 0.0
        shape = service if service_sleeps else dataclasses.replace(service, scale_to_zero=False)
        task_hours = service_task_hours(shape, use, wakes, with_app, prices)
        ctx = ServiceContext(service, use, env, prices, task_hours, wakes, with_app, service_sleeps)
        lines.extend(line for rule in SERVICE_LINES for line in rule(ctx))
        runs.append(ServiceRun(service.name, task_hours, wakes + with_app))
    lines.extend(shared_service_lines(env, prices))
    return lines, tuple(runs)


def _with_services(scenario: Scenario, context: ScenarioContext, *, sleeps: bool) -> Scenario:
    if not context.env.services:
        return scenario
    lines, runs = price_services(
        context.env,
        context.profile,
        context.prices,
        sleeps=sleeps,
        app_wakes=context.wakes + _schedule_openings(context),
    )
    return dataclasses.replace(scenario, lines=(*scenario.lines, *lines), services=runs)


def service_use(profile: TrafficProfile, name: str) -> tuple[ServiceUse, bool]:
    """How much the internal service ``name`` is used, and whether that is ASSUMED (no section for it)."""
    given = profile.services.get(name)
    return (given, False) if given is not None else (ServiceUse(), True)


def service_notes(env: EnvironmentShape, profile: TrafficProfile, prices: PriceTable) -> list[str]:
    """What the report says of each internal service: how its hours are counted and where its use
    comes from (the traffic profile, or assumed)."""
    notes: list[str] = []
    for service in env.services:
        use, assumed = service_use(profile, service.name)
        source = (
            f"ASSUMED: the traffic profile has no [services.{service.name}]"
            if assumed
            else f"[services.{service.name}] of the traffic profile"
        )
        if service.scale_to_zero:
            hours = (
                f"one task per wake for {use.start_minutes:g} min start"
                f" + {use.use_minutes_per_wake:g} min use"
                f" + {service.idle_minutes:g} idle min + {prices.value('sleep_lag_minutes'):g} min to decide"
                f" the sleep, {use.wakes_per_month:g} wakes a month ({source}); no wake in a month without a"
                " request to the app"
            )
        else:
            hours = f"never sleeps: {max(1, service.min_tasks)} task(s) all month"
        notes.append(f"Internal service {service.name}: {hours}. The always-on column runs it 24/7 too.")
    if env.services:
        notes.append(
            "Services' data: S3 Standard storage all month; the copy into each new task is free (S3 -> AWS"
            " services in the same region, https://aws.amazon.com/s3/pricing/), its GET requests are not"
            " priced (under 0.01 USD a month at 60 wakes of 2 GB)."
        )
    return notes


def _schedule_openings(context: ScenarioContext) -> float:
    schedule = warm_schedule_hours(context.env, context.prices) if context.sleeps else None
    return schedule.openings if schedule is not None else 0.0


def _configured(env: EnvironmentShape, profile: TrafficProfile, prices: PriceTable) -> Scenario:
    title = "scale to zero" if env.scale_to_zero else f"{env.min_tasks} task(s) always on"
    context = ScenarioContext(
        env,
        profile,
        prices,
        task_hours=running_task_hours(env, profile, prices),
        wakes=wakes_per_month(env, profile),
        sleeps=env.scale_to_zero,
    )
    return _with_services(_with_warm_schedule("configured", title, context), context, sleeps=True)


def idle_profile(profile: TrafficProfile) -> TrafficProfile:
    """The same month without a single request (and so without an active hour): the floor a sleeping
    environment pays."""
    return dataclasses.replace(profile, requests_per_active_hour=0.0, active_hours_per_day=0.0)


def estimate(env: EnvironmentShape, profile: TrafficProfile, prices: PriceTable) -> CostReport:
    """Price the environment, the same app always on, and the legacy instance: all modelled."""
    hours_per_month = prices.value("hours_per_month")
    always_on_tasks = max(1, env.min_tasks)
    always_on = ScenarioContext(
        env, profile, prices, task_hours=always_on_tasks * hours_per_month, wakes=0.0, sleeps=False
    )
    legacy = ScenarioContext(env, profile, prices, task_hours=hours_per_month, wakes=0.0, sleeps=False)
    notes = [
        "Modelled from list prices, not measured: no AWS bill stands behind these figures.",
        "Free tiers are not applied (unless --prices says so); autoscaling beyond one task is not modelled.",
    ]
    if FRONT_DOORS[env.front_door].note:
        notes.append(FRONT_DOORS[env.front_door].note)
    if env.scale_to_zero:
        notes.append(
            "Scale to zero: one task during the active hours, plus after each active period "
            f"{env.idle_minutes:g} idle min + {prices.value('sleep_lag_minutes'):g} min to decide the sleep "
            f"+ {prices.value('start_billed_minutes'):g} min billed while waking."
        )
    notes.extend(service_notes(env, profile, prices))
    return CostReport(
        environment=env,
        profile=profile,
        prices=prices,
        configured=_configured(env, profile, prices),
        always_on=_with_services(
            price_scenario("always_on", f"always on ({always_on_tasks} task 24/7)", always_on, FARGATE_LINES),
            always_on,
            sleeps=False,
        ),
        legacy_ec2=price_scenario("legacy_ec2", "legacy EC2", legacy, LEGACY_LINES),
        notes=tuple(notes),
        idle_month=_configured(env, idle_profile(profile), prices) if env.scale_to_zero else None,
    )


@dataclass(frozen=True)
class FrontDoorComparison:
    """One environment priced behind each front door (``warmkeeper cost --compare-front-doors``)."""

    environment: EnvironmentShape  # as configured: its front_door is the one the config chose
    profile: TrafficProfile
    prices: PriceTable
    front_doors: dict[FrontDoorName, CostReport]  # front door -> the environment priced behind it
    legacy_ec2: Scenario
    legacy_ec2_idle: Scenario  # the legacy instance in a month without a request

    @property
    def configured_front_door(self) -> str:
        return self.environment.front_door


def compare_front_doors(
    env: EnvironmentShape, profile: TrafficProfile, prices: PriceTable
) -> FrontDoorComparison:
    """The same environment, traffic and prices behind each front door, with the legacy instance."""
    doors: tuple[FrontDoorName, ...] = typing.get_args(FrontDoorName)
    reports = {door: estimate(dataclasses.replace(env, front_door=door), profile, prices) for door in doors}
    return FrontDoorComparison(
        environment=env,
        profile=profile,
        prices=prices,
        front_doors=reports,
        legacy_ec2=reports[env.front_door].legacy_ec2,
        legacy_ec2_idle=estimate(env, idle_profile(profile), prices).legacy_ec2,
    )
