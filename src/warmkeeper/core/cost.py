"""Monthly cost model of one environment: MODELLED from a versioned price table, never measured.

Pure logic (standard library only, no I/O): the caller reads the TOML files and passes the parsed
data in. Three scenarios are priced line by line with the same traffic profile:

- ``configured``: the environment as its config says. With scale to zero, one task runs during the
  active hours plus, after each active period, the idle tail (``idle_minutes``, the lag before the
  sleep is decided, the minute a wake is billed before the task serves); otherwise ``min_tasks``
  tasks run all month.
- ``always_on``: the same app with at least one task 24/7 (no idle alarm, no wakes).
- ``legacy_ec2``: the single EC2 instance CityGuided ran before (instance, disk, address).

The environment's front door decides a few lines: ``load_balancer`` is an internet-facing ALB (two
public IPv4 addresses, data transfer out billed by the region); ``cloudfront`` is a CloudFront
distribution whose VPC origin is an internal ALB (no public address on the ALB, origin -> CloudFront
free, CloudFront bills requests and data transfer out to viewers).

Every price is in USD as AWS publishes it and is converted with the table's one EUR/USD rate.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

# Shipped price tables, one per region, named <region>.toml (data files, read by the caller).
PRICE_TABLE_DIR = Path(__file__).parent / "prices"
DEFAULT_REGION = "eu-west-3"

# Every price key a complete table must define, with what it prices.
PRICE_KEYS: dict[str, str] = {
    "fargate_x86_vcpu_hour": "Fargate Linux/x86 vCPU-hour",
    "fargate_x86_gb_hour": "Fargate Linux/x86 GB-hour",
    "fargate_arm_vcpu_hour": "Fargate Linux/ARM vCPU-hour",
    "fargate_arm_gb_hour": "Fargate Linux/ARM GB-hour",
    "alb_hour": "Application Load Balancer hour",
    "alb_lcu_hour": "ALB capacity unit hour",
    "public_ipv4_hour": "public IPv4 address hour",
    "data_transfer_out_gb": "data transfer out to the internet, per GB",
    "cloudfront_https_requests_10k": "CloudFront HTTPS requests, per 10,000 (the table's viewer geography)",
    "cloudfront_transfer_out_gb": "CloudFront data transfer out to the internet, per GB (same geography)",
    "lambda_arm_request": "Lambda arm64 request",
    "lambda_arm_gb_second": "Lambda arm64 GB-second",
    "cloudwatch_alarm_month": "CloudWatch standard alarm per month",
    "cloudwatch_dashboard_month": "CloudWatch dashboard per month",
    "cloudwatch_metric_month": "CloudWatch custom metric per month",
    "cloudwatch_logs_ingest_gb": "CloudWatch Logs ingestion per GB",
    "cloudwatch_logs_storage_gb_month": "CloudWatch Logs storage per GB-month",
    "cloudwatch_get_metric_data_metric": "CloudWatch GetMetricData, per metric requested",
    "ecr_storage_gb_month": "ECR storage per GB-month",
    "secrets_manager_secret_month": "Secrets Manager secret per month",
    "kms_key_month": "KMS customer managed key per month",
    "ssm_standard_parameter_month": "SSM standard parameter per month",
    "legacy_instance_hour": "legacy EC2 instance hour",
    "legacy_ebs_gb_month": "legacy EBS volume per GB-month",
}

# Every quantity of the model that is not a price; a complete table defines them all.
ASSUMPTION_KEYS: dict[str, str] = {
    "hours_per_month": "hours in a billing month",
    "fargate_spot_discount": "Fargate Spot discount (fraction off on-demand)",
    "alb_public_ipv4_addresses": "public IPv4 addresses of the ALB",
    "operational_alarm_metrics": "alarm metrics of every environment",
    "scale_to_zero_alarm_metrics": "alarm metrics a scale-to-zero environment adds",
    "dashboards": "dashboards per environment",
    "sleep_lag_minutes": "minutes between the idle period and the sleep",
    "start_billed_minutes": "billed minutes of a wake before the task serves",
    "lambda_memory_mb": "memory of the warmkeeper Lambda",
    "lambda_reconcile_seconds": "duration of one reconcile run",
    "lambda_cold_request_seconds": "average duration of a request answered while cold",
    "lambda_log_kb_per_invocation": "log volume of one Lambda run",
    "reconcile_metrics_per_run": "metrics a reconcile run reads with GetMetricData",
    "request_kb": "average request size",
    "requests_per_connection": "requests per ALB connection",
    "health_check_log_mb_per_task_hour": "health-check log volume per task-hour",
    "container_insights_metrics": "Container Insights metrics",
    "container_insights_log_mb_per_task_hour": "Container Insights performance logs per task-hour",
    "container_insights_log_retention_days": "retention of the performance log group",
    "warmkeeper_metrics": "warmkeeper custom metrics",
    "warmkeeper_metric_hours_per_wake": "hours with warmkeeper metric data per wake",
    "ecr_versions_kept": "image versions kept in ECR",
    "ecr_version_changed_fraction": "share of an image that changes between versions",
    "kms_keys": "customer managed KMS keys of the stack",
    "rejected_flow_log_mb_per_address_hour": "rejected-traffic flow logs per public address-hour",
    "legacy_ebs_gb": "disk of the legacy instance",
}

_KB_PER_GB = 1024.0 * 1024.0
# The Lambda's state under WK_PARAMETER_PREFIX: wake lock, lease, last wake (standard tier: free).
_WARMKEEPER_PARAMETERS = 3.0
_MB_PER_GB = 1024.0
_REQUESTS_PER_CLOUDFRONT_UNIT = 10_000.0  # CloudFront prices requests per 10,000

FrontDoor = Literal["load_balancer", "cloudfront"]
# What each front door is, for people (the CLI header and the notes).
FRONT_DOOR_LABELS: dict[str, str] = {
    "load_balancer": "internet-facing ALB",
    "cloudfront": "CloudFront -> internal ALB",
}


class CostInputError(Exception):
    """A price table or traffic profile a person can fix: which file, which key, what is wrong."""

    def __init__(self, file: str, key: str, problem: str) -> None:
        self.file = file
        self.key = key
        self.problem = problem
        super().__init__(f"{file}: {key}: {problem}" if key else f"{file}: {problem}")


# ---------------------------------------------------------------------------------------------------
# Price table
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    source: str
    read: str
    note: str = ""


@dataclass(frozen=True)
class Assumption:
    value: float
    unit: str
    note: str = ""
    source: str = ""
    read: str = ""


@dataclass(frozen=True)
class FxRate:
    usd_per_eur: float
    date: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class PriceTable:
    region: str
    label: str
    version: str
    note: str
    fx: FxRate
    prices: Mapping[str, Price]
    assumptions: Mapping[str, Assumption]
    files: tuple[str, ...] = ()

    def usd(self, key: str) -> float:
        return self.prices[key].usd

    def value(self, key: str) -> float:
        return self.assumptions[key].value


def _number(file: str, key: str, raw: object, *, minimum: float = 0.0, maximum: float | None = None) -> float:
    # bool is an int in Python; `true` is never a valid price or quantity.
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise CostInputError(file, key, f"must be a number, got {raw!r} ({type(raw).__name__})")
    value = float(raw)
    if not math.isfinite(value):
        raise CostInputError(file, key, f"must be a finite number, got {raw!r}")
    if value < minimum:
        raise CostInputError(file, key, f"must be at least {minimum:g}, got {raw!r}")
    if maximum is not None and value > maximum:
        raise CostInputError(file, key, f"must be at most {maximum:g}, got {raw!r}")
    return value


def _text(file: str, key: str, raw: object) -> str:
    if not isinstance(raw, str):
        raise CostInputError(file, key, f"must be a string, got {raw!r} ({type(raw).__name__})")
    return raw


def _table(file: str, key: str, raw: object) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise CostInputError(file, key, f"must be a table, got {raw!r} ({type(raw).__name__})")
    return raw


def _check_keys(file: str, prefix: str, data: Mapping[str, Any], allowed: set[str] | dict[str, str]) -> None:
    for key in data:
        if key not in allowed:
            where = f"{prefix}.{key}" if prefix else key
            raise CostInputError(file, where, f"unknown key; known keys: {', '.join(sorted(allowed))}")


def _required(file: str, prefix: str, data: Mapping[str, Any], key: str) -> object:
    if key not in data:
        raise CostInputError(file, f"{prefix}.{key}" if prefix else key, "required key is missing")
    return data[key]


_TOP_LEVEL = {"table", "fx", "prices", "assumptions"}
_TABLE_FIELDS = {"region", "label", "version", "note"}
_FX_FIELDS = {"usd_per_eur", "date", "source", "note"}
_PRICE_FIELDS = {"usd", "unit", "source", "read", "note"}
_ASSUMPTION_FIELDS = {"value", "unit", "note", "source", "read"}


def parse_price_table(data: Mapping[str, Any], file: str) -> PriceTable:
    """A complete price table: every price with its unit, source and read date; every assumption."""
    _check_keys(file, "", data, _TOP_LEVEL)
    table = _table(file, "table", _required(file, "", data, "table"))
    _check_keys(file, "table", table, _TABLE_FIELDS)
    fx = _table(file, "fx", _required(file, "", data, "fx"))
    _check_keys(file, "fx", fx, _FX_FIELDS)
    prices_raw = _table(file, "prices", _required(file, "", data, "prices"))
    assumptions_raw = _table(file, "assumptions", _required(file, "", data, "assumptions"))
    _check_keys(file, "prices", prices_raw, PRICE_KEYS)
    _check_keys(file, "assumptions", assumptions_raw, ASSUMPTION_KEYS)

    prices: dict[str, Price] = {}
    for key in PRICE_KEYS:
        where = f"prices.{key}"
        entry = _table(file, where, _required(file, "prices", prices_raw, key))
        _check_keys(file, where, entry, _PRICE_FIELDS)
        prices[key] = Price(
            usd=_number(file, f"{where}.usd", _required(file, where, entry, "usd")),
            unit=_text(file, f"{where}.unit", _required(file, where, entry, "unit")),
            source=_text(file, f"{where}.source", _required(file, where, entry, "source")),
            read=_text(file, f"{where}.read", _required(file, where, entry, "read")),
            note=_text(file, f"{where}.note", entry.get("note", "")),
        )
    assumptions: dict[str, Assumption] = {}
    for key in ASSUMPTION_KEYS:
        where = f"assumptions.{key}"
        entry = _table(file, where, _required(file, "assumptions", assumptions_raw, key))
        _check_keys(file, where, entry, _ASSUMPTION_FIELDS)
        assumptions[key] = Assumption(
            value=_assumption_value(file, key, _required(file, where, entry, "value")),
            unit=_text(file, f"{where}.unit", _required(file, where, entry, "unit")),
            note=_text(file, f"{where}.note", entry.get("note", "")),
            source=_text(file, f"{where}.source", entry.get("source", "")),
            read=_text(file, f"{where}.read", entry.get("read", "")),
        )
    return PriceTable(
        region=_text(file, "table.region", _required(file, "table", table, "region")),
        label=_text(file, "table.label", table.get("label", "")),
        version=_text(file, "table.version", _required(file, "table", table, "version")),
        note=_text(file, "table.note", table.get("note", "")),
        fx=FxRate(
            usd_per_eur=_fx_rate(file, _required(file, "fx", fx, "usd_per_eur")),
            date=_text(file, "fx.date", _required(file, "fx", fx, "date")),
            source=_text(file, "fx.source", _required(file, "fx", fx, "source")),
            note=_text(file, "fx.note", fx.get("note", "")),
        ),
        prices=prices,
        assumptions=assumptions,
        files=(file,),
    )


def _fx_rate(file: str, raw: object) -> float:
    rate = _number(file, "fx.usd_per_eur", raw)
    if rate <= 0:
        raise CostInputError(file, "fx.usd_per_eur", f"must be greater than 0, got {raw!r}")
    return rate


def _assumption_value(file: str, key: str, raw: object) -> float:
    where = f"assumptions.{key}.value"
    if key == "fargate_spot_discount":
        return _number(file, where, raw, maximum=1.0)
    value = _number(file, where, raw)
    if key in ("hours_per_month", "requests_per_connection") and value <= 0:
        raise CostInputError(file, where, f"must be greater than 0, got {raw!r}")
    return value


def apply_price_override(base: PriceTable, data: Mapping[str, Any], file: str) -> PriceTable:
    """Override any subset of a table with a file of the same shape (``--prices FILE``).

    A price whose ``usd`` is overridden gets the override file as its source unless the file names
    one, so that the output never credits AWS with a figure somebody typed in.
    """
    _check_keys(file, "", data, _TOP_LEVEL)
    table = _table(file, "table", data.get("table", {}))
    _check_keys(file, "table", table, _TABLE_FIELDS)
    fx_raw = _table(file, "fx", data.get("fx", {}))
    _check_keys(file, "fx", fx_raw, _FX_FIELDS)
    prices_raw = _table(file, "prices", data.get("prices", {}))
    _check_keys(file, "prices", prices_raw, PRICE_KEYS)
    assumptions_raw = _table(file, "assumptions", data.get("assumptions", {}))
    _check_keys(file, "assumptions", assumptions_raw, ASSUMPTION_KEYS)
    if "region" in table and table["region"] != base.region:
        raise CostInputError(
            file, "table.region", f"overrides the {base.region} table but says {table['region']!r}"
        )

    prices = dict(base.prices)
    for key, raw in prices_raw.items():
        where = f"prices.{key}"
        entry = _table(file, where, raw)
        _check_keys(file, where, entry, _PRICE_FIELDS)
        old = prices[key]
        new_usd = _number(file, f"{where}.usd", entry["usd"]) if "usd" in entry else old.usd
        changed = "usd" in entry
        prices[key] = Price(
            usd=new_usd,
            unit=_text(file, f"{where}.unit", entry.get("unit", old.unit)),
            source=_text(
                file, f"{where}.source", entry.get("source", f"override: {file}" if changed else old.source)
            ),
            read=_text(file, f"{where}.read", entry.get("read", "" if changed else old.read)),
            note=_text(file, f"{where}.note", entry.get("note", "overridden" if changed else old.note)),
        )
    assumptions = dict(base.assumptions)
    for key, raw in assumptions_raw.items():
        where = f"assumptions.{key}"
        entry = _table(file, where, raw)
        _check_keys(file, where, entry, _ASSUMPTION_FIELDS)
        old_a = assumptions[key]
        changed = "value" in entry
        assumptions[key] = Assumption(
            value=_assumption_value(file, key, entry["value"]) if changed else old_a.value,
            unit=_text(file, f"{where}.unit", entry.get("unit", old_a.unit)),
            note=_text(file, f"{where}.note", entry.get("note", "overridden" if changed else old_a.note)),
            source=_text(
                file, f"{where}.source", entry.get("source", f"override: {file}" if changed else old_a.source)
            ),
            read=_text(file, f"{where}.read", entry.get("read", "" if changed else old_a.read)),
        )
    fx = base.fx
    if fx_raw:
        rate_changed = "usd_per_eur" in fx_raw
        fx = FxRate(
            usd_per_eur=_fx_rate(file, fx_raw["usd_per_eur"]) if rate_changed else fx.usd_per_eur,
            date=_text(file, "fx.date", fx_raw.get("date", "" if rate_changed else fx.date)),
            source=_text(
                file, "fx.source", fx_raw.get("source", f"override: {file}" if rate_changed else fx.source)
            ),
            note=_text(file, "fx.note", fx_raw.get("note", "overridden" if rate_changed else fx.note)),
        )
    return PriceTable(
        region=base.region,
        label=_text(file, "table.label", table.get("label", base.label)),
        version=_text(file, "table.version", table.get("version", base.version)),
        note=_text(file, "table.note", table.get("note", base.note)),
        fx=fx,
        prices=prices,
        assumptions=assumptions,
        files=(*base.files, file),
    )


# ---------------------------------------------------------------------------------------------------
# Traffic profile
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrafficProfile:
    """How much an environment is used in a month (a TOML file beside the config)."""

    active_hours_per_day: float
    days_per_month: float
    requests_per_active_hour: float
    active_periods_per_day: int = 1
    avg_response_kb: float = 30.0
    log_mb_per_active_hour: float = 1.0
    image_size_mb: float = 300.0
    cold_requests_per_wake: float = 20.0
    description: str = ""

    @property
    def active_hours(self) -> float:
        return self.active_hours_per_day * self.days_per_month

    @property
    def requests(self) -> float:
        return self.requests_per_active_hour * self.active_hours


# key -> (required, minimum, maximum, help)
_PROFILE_KEYS: dict[str, tuple[bool, float, float | None, str]] = {
    "active_hours_per_day": (True, 0.0, 24.0, "hours a day the app is used"),
    "days_per_month": (True, 0.0, 31.0, "days a month the app is used"),
    "requests_per_active_hour": (True, 0.0, None, "requests reaching the load balancer per active hour"),
    "active_periods_per_day": (False, 1.0, 24.0, "separate active periods (wakes) per active day"),
    "avg_response_kb": (False, 0.0, None, "average response size in KB (ALB processed bytes, transfer out)"),
    "log_mb_per_active_hour": (False, 0.0, None, "application log volume per active hour, in MB"),
    "image_size_mb": (False, 0.0, None, "size of one version of all the task's images, in MB"),
    "cold_requests_per_wake": (False, 0.0, None, "requests the Lambda answers while a wake is under way"),
}


def parse_profile(data: Mapping[str, Any], file: str) -> TrafficProfile:
    """Validate a traffic profile; errors name the file and the key."""
    allowed = {*_PROFILE_KEYS, "description"}
    _check_keys(file, "", data, allowed)
    values: dict[str, float] = {}
    for key, (required, minimum, maximum, _help) in _PROFILE_KEYS.items():
        if key not in data:
            if required:
                raise CostInputError(file, key, "required key is missing")
            continue
        values[key] = _number(file, key, data[key], minimum=minimum, maximum=maximum)
    periods = values.get("active_periods_per_day", 1.0)
    if periods != int(periods):
        raise CostInputError(file, "active_periods_per_day", f"must be a whole number, got {periods:g}")
    return TrafficProfile(
        active_hours_per_day=values["active_hours_per_day"],
        days_per_month=values["days_per_month"],
        requests_per_active_hour=values["requests_per_active_hour"],
        active_periods_per_day=int(periods),
        avg_response_kb=values.get("avg_response_kb", TrafficProfile.avg_response_kb),
        log_mb_per_active_hour=values.get("log_mb_per_active_hour", TrafficProfile.log_mb_per_active_hour),
        image_size_mb=values.get("image_size_mb", TrafficProfile.image_size_mb),
        cold_requests_per_wake=values.get("cold_requests_per_wake", TrafficProfile.cold_requests_per_wake),
        description=_text(file, "description", data.get("description", "")),
    )


# ---------------------------------------------------------------------------------------------------
# The environment, as far as cost is concerned
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvironmentShape:
    """What the cost model needs from one environment of the config (built by the caller)."""

    name: str
    region: str
    cpu_units: int
    memory_mib: int
    architecture: str  # "arm64" or "x86_64"
    spot: bool
    min_tasks: int
    scale_to_zero: bool
    idle_minutes: float
    min_warm_minutes: float
    log_retention_days: float
    secrets: int = 1  # Secrets Manager secrets: the keep-alive token plus the app's own
    front_door: FrontDoor = "load_balancer"

    def __post_init__(self) -> None:
        if self.front_door not in FRONT_DOOR_LABELS:
            raise ValueError(f"front_door {self.front_door!r}: use one of {sorted(FRONT_DOOR_LABELS)}")

    @property
    def behind_cloudfront(self) -> bool:
        return self.front_door == "cloudfront"

    @property
    def front_door_label(self) -> str:
        return FRONT_DOOR_LABELS[self.front_door]

    @property
    def vcpu(self) -> float:
        return self.cpu_units / 1024.0

    @property
    def memory_gb(self) -> float:
        return self.memory_mib / 1024.0


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


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    lines: tuple[CostLine, ...]
    task_hours: float
    usd_per_eur: float
    wakes: float = 0.0

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
# The model
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


def _line(
    key: str, label: str, quantity: float, unit: str, unit_usd: float, *, fixed: bool, basis: str
) -> CostLine:
    return CostLine(key, label, quantity, unit, unit_usd, quantity * unit_usd, fixed, basis)


def _fargate_scenario(
    key: str,
    title: str,
    env: EnvironmentShape,
    profile: TrafficProfile,
    prices: PriceTable,
    task_hours: float,
    wakes: float,
    *,
    idle_alarm: bool,
) -> Scenario:
    hours_per_month = prices.value("hours_per_month")
    arch = "arm" if env.architecture == "arm64" else "x86"
    spot_factor = (1.0 - prices.value("fargate_spot_discount")) if env.spot else 1.0
    kind = f"{env.architecture}{', Spot' if env.spot else ''}"
    vcpu_usd = prices.usd(f"fargate_{arch}_vcpu_hour") * spot_factor
    gb_usd = prices.usd(f"fargate_{arch}_gb_hour") * spot_factor
    lines: list[CostLine] = [
        _line(
            "fargate_vcpu",
            f"Fargate vCPU ({kind})",
            task_hours * env.vcpu,
            "vCPU-h",
            vcpu_usd,
            fixed=False,
            basis=f"{task_hours:.1f} task-h x {env.vcpu:g} vCPU",
        ),
        _line(
            "fargate_memory",
            f"Fargate memory ({kind})",
            task_hours * env.memory_gb,
            "GB-h",
            gb_usd,
            fixed=False,
            basis=f"{task_hours:.1f} task-h x {env.memory_gb:g} GB",
        ),
        _line(
            "alb_hours",
            "ALB hours",
            hours_per_month,
            "ALB-h",
            prices.usd("alb_hour"),
            fixed=True,
            basis=f"{hours_per_month:g} h, whatever the traffic",
        ),
    ]
    lcu = lcu_per_active_hour(profile, prices)
    lines.append(
        _line(
            "alb_lcu",
            "ALB capacity units (LCU)",
            lcu * profile.active_hours,
            "LCU-h",
            prices.usd("alb_lcu_hour"),
            fixed=False,
            basis=f"{lcu:.4f} LCU x {profile.active_hours:g} active h",
        )
    )
    # Behind CloudFront the ALB is internal (a VPC origin in isolated subnets): no public address.
    if env.behind_cloudfront:
        alb_addresses = 0.0
        alb_addresses_basis = "0 addresses: internal ALB behind CloudFront (VPC origin)"
    else:
        alb_addresses = prices.value("alb_public_ipv4_addresses")
        alb_addresses_basis = f"{alb_addresses:g} addresses (one per AZ) x {hours_per_month:g} h"
    lines.append(
        _line(
            "ipv4_alb",
            "Public IPv4, ALB",
            alb_addresses * hours_per_month,
            "address-h",
            prices.usd("public_ipv4_hour"),
            fixed=True,
            basis=alb_addresses_basis,
        )
    )
    lines.append(
        _line(
            "ipv4_tasks",
            "Public IPv4, tasks",
            task_hours,
            "address-h",
            prices.usd("public_ipv4_hour"),
            fixed=False,
            basis=f"1 address per running task x {task_hours:.1f} task-h",
        )
    )
    reconciles = hours_per_month * 60.0
    cold_requests = wakes * profile.cold_requests_per_wake
    alarm_events = wakes  # the idle alarm invokes the Lambda once per sleep
    invocations = reconciles + cold_requests + alarm_events
    lines.append(
        _line(
            "lambda_requests",
            "Lambda requests",
            invocations,
            "requests",
            prices.usd("lambda_arm_request"),
            fixed=False,
            basis=(
                f"{reconciles:,.0f} reconciles + {cold_requests:,.0f} cold requests"
                f" + {alarm_events:,.0f} alarm events"
            ),
        )
    )
    memory_gb = prices.value("lambda_memory_mb") / 1024.0
    reconcile_s = prices.value("lambda_reconcile_seconds")
    cold_s = prices.value("lambda_cold_request_seconds")
    gb_seconds = memory_gb * (reconciles * reconcile_s + (cold_requests + alarm_events) * cold_s)
    lines.append(
        _line(
            "lambda_duration",
            "Lambda duration (arm64)",
            gb_seconds,
            "GB-s",
            prices.usd("lambda_arm_gb_second"),
            fixed=False,
            basis=(
                f"{memory_gb:g} GB x ({reconciles:,.0f} x {reconcile_s:g} s"
                f" + {cold_requests + alarm_events:,.0f} x {cold_s:g} s)"
            ),
        )
    )
    # The reconcile reads RequestCount only when a sleep could follow: desired count > 0 in an
    # environment that scales to zero (aws/engine.py, observe()). A cold service and an environment
    # that never sleeps read nothing. Desired > 0 from the wake to the sleep: the scenario's task time.
    metrics_per_run = prices.value("reconcile_metrics_per_run")
    if idle_alarm:  # this scenario scales to zero (the always-on one, like production, never reads)
        reading_runs = min(task_hours, hours_per_month) * 60.0
        reads_basis = (
            f"{reading_runs:,.0f} runs while a task is wanted (desired > 0) x {metrics_per_run:g} "
            "metric read (GetMetricData); none while cold"
        )
    else:
        reading_runs = 0.0
        reads_basis = "0 reads: without scale to zero the reconcile never reads RequestCount"
    lines.append(
        _line(
            "cw_api",
            "CloudWatch API (reconcile reads)",
            reading_runs * metrics_per_run,
            "metrics requested",
            prices.usd("cloudwatch_get_metric_data_metric"),
            fixed=False,
            basis=reads_basis,
        )
    )
    # Alarms are billed per metric they evaluate: a metric-math alarm on 3 metrics counts 3.
    operational = prices.value("operational_alarm_metrics")
    sleep_wake = prices.value("scale_to_zero_alarm_metrics") if idle_alarm else 0.0
    lines.append(
        _line(
            "cw_alarms",
            "CloudWatch alarms",
            operational + sleep_wake,
            "alarm metrics",
            prices.usd("cloudwatch_alarm_month"),
            fixed=True,
            basis=f"{operational:g} operational alarm metrics"
            + (f" + {sleep_wake:g} for idle and wake failures" if idle_alarm else ""),
        )
    )
    dashboards = prices.value("dashboards")
    lines.append(
        _line(
            "cw_dashboard",
            "CloudWatch dashboard",
            dashboards,
            "dashboards",
            prices.usd("cloudwatch_dashboard_month"),
            fixed=True,
            basis="free tier (3 dashboards) not applied",
        )
    )
    app_log_gb = (
        profile.log_mb_per_active_hour * profile.active_hours
        + prices.value("health_check_log_mb_per_task_hour") * task_hours
    ) / _MB_PER_GB
    lambda_log_gb = invocations * prices.value("lambda_log_kb_per_invocation") / _KB_PER_GB
    # Rejected-traffic flow logs: internet background scanning of every public address (an
    # internet-facing ALB's all month, a task's while it runs), kept with the environment's retention.
    address_hours = alb_addresses * hours_per_month + task_hours
    flow_log_gb = prices.value("rejected_flow_log_mb_per_address_hour") * address_hours / _MB_PER_GB
    ingest_gb = app_log_gb + lambda_log_gb + flow_log_gb
    lines.append(
        _line(
            "logs_ingest",
            "CloudWatch Logs ingestion",
            ingest_gb,
            "GB",
            prices.usd("cloudwatch_logs_ingest_gb"),
            fixed=False,
            basis=(
                f"app {app_log_gb * 1024:.0f} MB + Lambda {lambda_log_gb * 1024:.0f} MB"
                f" + rejected flows {flow_log_gb * 1024:.0f} MB"
            ),
        )
    )
    days_in_month = hours_per_month / 24.0
    ci_log_gb = prices.value("container_insights_log_mb_per_task_hour") * task_hours / _MB_PER_GB
    stored_gb = (
        ingest_gb * env.log_retention_days / days_in_month
        + ci_log_gb * prices.value("container_insights_log_retention_days") / days_in_month
    )
    lines.append(
        _line(
            "logs_storage",
            "CloudWatch Logs storage",
            stored_gb,
            "GB-month",
            prices.usd("cloudwatch_logs_storage_gb_month"),
            fixed=False,
            basis=f"{env.log_retention_days:g}-day retention of {ingest_gb * 1024:.0f} MB/month",
        )
    )
    ci_metrics = prices.value("container_insights_metrics")
    ci_metric_months = ci_metrics * task_hours / hours_per_month
    lines.append(
        _line(
            "ci_metrics",
            "Container Insights metrics",
            ci_metric_months,
            "metric-months",
            prices.usd("cloudwatch_metric_month"),
            fixed=False,
            basis=f"{ci_metrics:g} metrics, only in the {task_hours:.1f} h a task runs",
        )
    )
    lines.append(
        _line(
            "ci_logs",
            "Container Insights performance logs",
            ci_log_gb,
            "GB",
            prices.usd("cloudwatch_logs_ingest_gb"),
            fixed=False,
            basis=f"{prices.value('container_insights_log_mb_per_task_hour'):g} MB x {task_hours:.1f} task-h",
        )
    )
    wk_metrics = prices.value("warmkeeper_metrics")
    metric_hours = min(hours_per_month, wakes * prices.value("warmkeeper_metric_hours_per_wake"))
    lines.append(
        _line(
            "wk_metrics",
            "warmkeeper metrics (wakes, sleeps)",
            wk_metrics * metric_hours / hours_per_month,
            "metric-months",
            prices.usd("cloudwatch_metric_month"),
            fixed=False,
            basis=f"{wk_metrics:g} metrics x {metric_hours:.0f} h with events",
        )
    )
    # Versions share their base layers: the first is stored whole, each later one adds what changed.
    versions = prices.value("ecr_versions_kept")
    changed = prices.value("ecr_version_changed_fraction")
    ecr_gb = profile.image_size_mb * (1.0 + max(0.0, versions - 1.0) * changed) / _MB_PER_GB
    lines.append(
        _line(
            "ecr_storage",
            "ECR storage",
            ecr_gb,
            "GB-month",
            prices.usd("ecr_storage_gb_month"),
            fixed=True,
            basis=f"{profile.image_size_mb:g} MB + {versions - 1:g} more versions x {changed:.0%} changed",
        )
    )
    lines.append(
        _line(
            "secrets",
            "Secrets Manager",
            float(env.secrets),
            "secrets",
            prices.usd("secrets_manager_secret_month"),
            fixed=True,
            basis="keep-alive token" + (f" + {env.secrets - 1} app secrets" if env.secrets > 1 else ""),
        )
    )
    kms_keys = prices.value("kms_keys")
    lines.append(
        _line(
            "kms",
            "KMS key (alarm topic)",
            kms_keys,
            "keys",
            prices.usd("kms_key_month"),
            fixed=True,
            basis=f"{kms_keys:g} customer managed key encrypting the alarm topic",
        )
    )
    lines.append(
        _line(
            "ssm_parameters",
            "SSM parameters (standard)",
            _WARMKEEPER_PARAMETERS,
            "parameters",
            prices.usd("ssm_standard_parameter_month"),
            fixed=True,
            basis="wake lock, lease, last wake: standard tier is free",
        )
    )
    if env.behind_cloudfront:
        lines.extend(_cloudfront_lines(profile, prices))
    else:
        lines.append(_transfer_line(profile, prices))
    return Scenario(key, title, tuple(lines), task_hours, prices.fx.usd_per_eur, wakes)


def _cloudfront_lines(profile: TrafficProfile, prices: PriceTable) -> list[CostLine]:
    """CloudFront in front: it bills each viewer request and the bytes it sends to viewers; the
    responses from the ALB (an AWS origin) to CloudFront carry no transfer charge."""
    requests = profile.requests
    transfer_gb = requests * profile.avg_response_kb / _KB_PER_GB
    return [
        _line(
            "cf_requests",
            "CloudFront requests (HTTPS)",
            requests / _REQUESTS_PER_CLOUDFRONT_UNIT,
            "10k requests",
            prices.usd("cloudfront_https_requests_10k"),
            fixed=False,
            basis=f"{requests:,.0f} viewer requests, all HTTPS, per 10,000; always-free tier not applied",
        ),
        _line(
            "cf_transfer_out",
            "CloudFront data transfer out",
            transfer_gb,
            "GB",
            prices.usd("cloudfront_transfer_out_gb"),
            fixed=False,
            basis=(
                f"{requests:,.0f} responses x {profile.avg_response_kb:g} KB to viewers; "
                "ALB -> CloudFront is free"
            ),
        ),
    ]


def _transfer_line(profile: TrafficProfile, prices: PriceTable) -> CostLine:
    transfer_gb = profile.requests * profile.avg_response_kb / _KB_PER_GB
    return _line(
        "transfer_out",
        "Data transfer out",
        transfer_gb,
        "GB",
        prices.usd("data_transfer_out_gb"),
        fixed=False,
        basis=f"{profile.requests:,.0f} responses x {profile.avg_response_kb:g} KB",
    )


def _legacy_scenario(profile: TrafficProfile, prices: PriceTable) -> Scenario:
    hours_per_month = prices.value("hours_per_month")
    disk = prices.value("legacy_ebs_gb")
    lines = (
        _line(
            "legacy_instance",
            "EC2 instance (legacy)",
            hours_per_month,
            "instance-h",
            prices.usd("legacy_instance_hour"),
            fixed=True,
            basis=f"1 instance x {hours_per_month:g} h",
        ),
        _line(
            "legacy_ebs",
            "EBS volume (legacy)",
            disk,
            "GB-month",
            prices.usd("legacy_ebs_gb_month"),
            fixed=True,
            basis=f"{disk:g} GB gp3",
        ),
        _line(
            "ipv4_legacy",
            "Public IPv4, instance",
            hours_per_month,
            "address-h",
            prices.usd("public_ipv4_hour"),
            fixed=True,
            basis=f"1 address x {hours_per_month:g} h",
        ),
        _transfer_line(profile, prices),
    )
    return Scenario("legacy_ec2", "legacy EC2", lines, hours_per_month, prices.fx.usd_per_eur)


def estimate(env: EnvironmentShape, profile: TrafficProfile, prices: PriceTable) -> CostReport:
    """Price the environment, the same app always on, and the legacy instance: all modelled."""
    task_hours = running_task_hours(env, profile, prices)
    configured_title = "scale to zero" if env.scale_to_zero else f"{env.min_tasks} task(s) always on"
    configured = _fargate_scenario(
        "configured",
        configured_title,
        env,
        profile,
        prices,
        task_hours,
        wakes_per_month(env, profile),
        idle_alarm=env.scale_to_zero,
    )
    always_on_tasks = max(1, env.min_tasks)
    always_on = _fargate_scenario(
        "always_on",
        f"always on ({always_on_tasks} task 24/7)",
        env,
        profile,
        prices,
        always_on_tasks * prices.value("hours_per_month"),
        0.0,
        idle_alarm=False,
    )
    notes = [
        "Modelled from list prices, not measured: no AWS bill stands behind these figures.",
        "Free tiers are not applied (unless --prices says so); autoscaling beyond one task is not modelled.",
    ]
    if env.behind_cloudfront:
        notes.append(
            "Front door CloudFront -> internal ALB (VPC origin): no public IPv4 on the ALB; the ALB's "
            "responses to CloudFront are free; CloudFront bills HTTPS requests and transfer out to viewers "
            "(its always-free 1 TB and 10 M requests a month are not applied)."
        )
    if env.scale_to_zero:
        notes.append(
            "Scale to zero: one task during the active hours, plus after each active period "
            f"{env.idle_minutes:g} idle min + {prices.value('sleep_lag_minutes'):g} min to decide the sleep "
            f"+ {prices.value('start_billed_minutes'):g} min billed while waking."
        )
    return CostReport(
        environment=env,
        profile=profile,
        prices=prices,
        configured=configured,
        always_on=always_on,
        legacy_ec2=_legacy_scenario(profile, prices),
        notes=tuple(notes),
    )


# ---------------------------------------------------------------------------------------------------
# The same figures for scripts
# ---------------------------------------------------------------------------------------------------


def _round(value: float) -> float:
    return round(value, 6)


def report_to_dict(report: CostReport) -> dict[str, Any]:
    """The report as plain data (``--json``): the same figures as the table, unrounded to 6 places."""

    def scenario_dict(scenario: Scenario) -> dict[str, Any]:
        rate = scenario.usd_per_eur
        return {
            "title": scenario.title,
            "task_hours": _round(scenario.task_hours),
            "wakes": _round(scenario.wakes),
            "total_usd": _round(scenario.total_usd),
            "total_eur": _round(scenario.total_eur),
            "fixed_usd": _round(scenario.fixed_usd),
            "fixed_eur": _round(scenario.fixed_usd / rate),
            "lines": [
                {
                    "key": line.key,
                    "label": line.label,
                    "quantity": _round(line.quantity),
                    "unit": line.unit,
                    "unit_usd": line.unit_usd,
                    "usd": _round(line.usd),
                    "eur": _round(line.usd / rate),
                    "fixed": line.fixed,
                    "basis": line.basis,
                }
                for line in scenario.lines
            ],
        }

    prices = report.prices
    env = report.environment
    return {
        "modelled": True,
        "environment": {
            "name": env.name,
            "region": env.region,
            "cpu_units": env.cpu_units,
            "memory_mib": env.memory_mib,
            "architecture": env.architecture,
            "spot": env.spot,
            "min_tasks": env.min_tasks,
            "scale_to_zero": env.scale_to_zero,
            "idle_minutes": env.idle_minutes,
            "log_retention_days": env.log_retention_days,
            "secrets": env.secrets,
            "front_door": env.front_door,
        },
        "profile": {
            "active_hours_per_day": report.profile.active_hours_per_day,
            "days_per_month": report.profile.days_per_month,
            "requests_per_active_hour": report.profile.requests_per_active_hour,
            "active_periods_per_day": report.profile.active_periods_per_day,
            "avg_response_kb": report.profile.avg_response_kb,
            "log_mb_per_active_hour": report.profile.log_mb_per_active_hour,
            "image_size_mb": report.profile.image_size_mb,
            "cold_requests_per_wake": report.profile.cold_requests_per_wake,
            "description": report.profile.description,
        },
        "price_table": {
            "region": prices.region,
            "label": prices.label,
            "version": prices.version,
            "files": list(prices.files),
            "fx": {
                "usd_per_eur": prices.fx.usd_per_eur,
                "date": prices.fx.date,
                "source": prices.fx.source,
            },
            "prices": {
                key: {"usd": p.usd, "unit": p.unit, "source": p.source, "read": p.read, "note": p.note}
                for key, p in prices.prices.items()
            },
            "assumptions": {
                key: {"value": a.value, "unit": a.unit, "note": a.note}
                for key, a in prices.assumptions.items()
            },
        },
        "scenarios": {scenario.key: scenario_dict(scenario) for scenario in report.scenarios},
        "dominant": [
            {"key": line.key, "label": line.label, "share": _round(share)}
            for line, share in report.configured.dominant()
        ],
        "notes": list(report.notes),
    }
