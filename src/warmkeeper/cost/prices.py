"""Price tables: every price AWS publishes that the model uses, and every quantity that is not a price.

A table is a TOML file per region (``tables/<region>.toml``), checked against the models below: every
price with its unit, source and read date; every assumption with its unit. ``--prices FILE`` overrides
any subset of a table with a file of the same shape. Prices are in USD as AWS publishes them and are
converted with the table's one EUR/USD rate.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from warmkeeper.cost.inputs import CostInputError, NonNegative, Number, Positive, Text, read_toml, validate

# Shipped price tables, one per region, named <region>.toml.
PRICE_TABLE_DIR = Path(__file__).parent / "tables"
DEFAULT_REGION = "eu-west-3"

_TABLE = ConfigDict(extra="forbid", frozen=True)


class Price(BaseModel):
    model_config = _TABLE

    usd: NonNegative
    unit: Text
    source: Text
    read: Text
    note: Text = ""


class Assumption(BaseModel):
    model_config = _TABLE

    value: NonNegative
    unit: Text
    note: Text = ""
    source: Text = ""
    read: Text = ""


class PositiveAssumption(Assumption):
    """A quantity the model divides by: zero is not a value."""

    value: Positive


class FractionAssumption(Assumption):
    value: Annotated[Number, Field(ge=0, le=1)]


class FxRate(BaseModel):
    model_config = _TABLE

    usd_per_eur: Positive
    date: Text
    source: Text
    note: Text = ""


class TableInfo(BaseModel):
    model_config = _TABLE

    region: Text
    label: Text = ""
    version: Text
    note: Text = ""


def _described(what: str) -> Any:
    return Field(description=what)


class PriceList(BaseModel):
    """Every price key a complete table defines, with what it prices."""

    model_config = _TABLE

    fargate_x86_vcpu_hour: Price = _described("Fargate Linux/x86 vCPU-hour")
    fargate_x86_gb_hour: Price = _described("Fargate Linux/x86 GB-hour")
    fargate_arm_vcpu_hour: Price = _described("Fargate Linux/ARM vCPU-hour")
    fargate_arm_gb_hour: Price = _described("Fargate Linux/ARM GB-hour")
    alb_hour: Price = _described("Application Load Balancer hour")
    alb_lcu_hour: Price = _described("ALB capacity unit hour")
    public_ipv4_hour: Price = _described("public IPv4 address hour")
    data_transfer_out_gb: Price = _described("data transfer out to the internet, per GB")
    cloudfront_https_requests_10k: Price = _described(
        "CloudFront HTTPS requests, per 10,000 (the table's viewer geography)"
    )
    cloudfront_transfer_out_gb: Price = _described(
        "CloudFront data transfer out to the internet, per GB (same geography)"
    )
    http_api_request: Price = _described(
        "API Gateway HTTP API request (first 300 million a month; per 512 KB)"
    )
    http_api_vpc_link_hour: Price = _described("API Gateway HTTP API VPC link hour (none: no hourly charge)")
    cloud_map_instance_month: Price = _described("Cloud Map registered resource per month")
    cloud_map_discovery_call: Price = _described("Cloud Map DiscoverInstances call")
    route53_hosted_zone_month: Price = _described("Route 53 hosted zone per month")
    lambda_arm_request: Price = _described("Lambda arm64 request")
    lambda_arm_gb_second: Price = _described("Lambda arm64 GB-second")
    cloudwatch_alarm_month: Price = _described("CloudWatch standard alarm per month")
    cloudwatch_dashboard_month: Price = _described("CloudWatch dashboard per month")
    cloudwatch_metric_month: Price = _described("CloudWatch custom metric per month")
    cloudwatch_logs_ingest_gb: Price = _described("CloudWatch Logs ingestion per GB")
    cloudwatch_logs_storage_gb_month: Price = _described("CloudWatch Logs storage per GB-month")
    cloudwatch_get_metric_data_metric: Price = _described("CloudWatch GetMetricData, per metric requested")
    ecr_storage_gb_month: Price = _described("ECR storage per GB-month")
    secrets_manager_secret_month: Price = _described("Secrets Manager secret per month")
    kms_key_month: Price = _described("KMS customer managed key per month")
    ssm_standard_parameter_month: Price = _described("SSM standard parameter per month")
    s3_standard_gb_month: Price = _described("S3 Standard storage per GB-month (first 50 TB)")
    s3_transfer_same_region_gb: Price = _described(
        "data transfer from S3 to a task in the same region, per GB (none: no charge)"
    )
    legacy_instance_hour: Price = _described("legacy EC2 instance hour")
    legacy_ebs_gb_month: Price = _described("legacy EBS volume per GB-month")


class AssumptionList(BaseModel):
    """Every quantity of the model that is not a price; a complete table defines them all."""

    model_config = _TABLE

    hours_per_month: PositiveAssumption = _described("hours in a billing month")
    fargate_spot_discount: FractionAssumption = _described("Fargate Spot discount (fraction off on-demand)")
    alb_public_ipv4_addresses: Assumption = _described("public IPv4 addresses of the ALB")
    operational_alarm_metrics: Assumption = _described("alarm metrics of every environment")
    scale_to_zero_alarm_metrics: Assumption = _described("alarm metrics a scale-to-zero environment adds")
    dashboards: Assumption = _described("dashboards per environment")
    sleep_lag_minutes: Assumption = _described("minutes between the idle period and the sleep")
    start_billed_minutes: Assumption = _described("billed minutes of a wake before the task serves")
    lambda_memory_mb: Assumption = _described("memory of the warmkeeper Lambda")
    lambda_reconcile_seconds: Assumption = _described("duration of one reconcile run")
    lambda_cold_request_seconds: Assumption = _described("average duration of a request answered while cold")
    lambda_beacon_report_seconds: Assumption = _described("duration of one activity beacon report")
    lambda_log_kb_per_invocation: Assumption = _described("log volume of one Lambda run")
    reconcile_metrics_per_run: Assumption = _described("metrics a reconcile run reads with GetMetricData")
    request_kb: Assumption = _described("average request size")
    requests_per_connection: PositiveAssumption = _described("requests per ALB connection")
    health_check_log_mb_per_task_hour: Assumption = _described("health-check log volume per task-hour")
    container_insights_metrics: Assumption = _described("Container Insights metrics")
    container_insights_log_mb_per_task_hour: Assumption = _described(
        "Container Insights performance logs per task-hour"
    )
    container_insights_log_retention_days: Assumption = _described("retention of the performance log group")
    warmkeeper_metrics: Assumption = _described("warmkeeper custom metrics")
    warmkeeper_metric_hours_per_wake: Assumption = _described("hours with warmkeeper metric data per wake")
    ecr_versions_kept: Assumption = _described("image versions kept in ECR")
    ecr_version_changed_fraction: Assumption = _described("share of an image that changes between versions")
    kms_keys: Assumption = _described("customer managed KMS keys of the stack")
    rejected_flow_log_mb_per_address_hour: Assumption = _described(
        "rejected-traffic flow logs per public address-hour"
    )
    http_api_operational_alarm_metrics: Assumption = _described(
        "alarm metrics of every environment behind an HTTP API"
    )
    waker_calls_per_wake: Assumption = _described("requests to /_warmkeeper/* per wake")
    discovery_calls_per_forwarded_request: Assumption = _described(
        "Cloud Map DiscoverInstances calls per request forwarded to the tasks"
    )
    discovery_calls_per_cold_request: Assumption = _described(
        "Cloud Map DiscoverInstances calls of one request held while the service wakes"
    )
    reconcile_discovery_calls_per_run: Assumption = _described(
        "Cloud Map DiscoverInstances calls of one reconcile run (HTTP API)"
    )
    api_access_log_kb_per_request: Assumption = _described("HTTP API access log per request")
    legacy_ebs_gb: Assumption = _described("disk of the legacy instance")
    container_insights_service_metrics: Assumption = _described(
        "Container Insights metrics one more ECS service adds"
    )


class PriceTableFile(BaseModel):
    """A complete price table as a TOML file holds it."""

    model_config = _TABLE

    table: TableInfo
    fx: FxRate
    prices: PriceList
    assumptions: AssumptionList


# Every key a complete table defines, with what it is (for people and for the tests).
PRICE_KEYS: dict[str, str] = {key: field.description or "" for key, field in PriceList.model_fields.items()}
ASSUMPTION_KEYS: dict[str, str] = {
    key: field.description or "" for key, field in AssumptionList.model_fields.items()
}


# Keys only an app with internal services ([[services]]) is priced with: `--json` lists them only for
# such an app, so that an app without services gets the same output as before they existed.
SERVICE_PRICE_KEYS = frozenset({"s3_standard_gb_month", "s3_transfer_same_region_gb"})
SERVICE_ASSUMPTION_KEYS = frozenset({"container_insights_service_metrics"})


@cache
def _partial(model: type[BaseModel]) -> type[BaseModel]:
    """``model`` with every key optional, all the way down: the shape of a ``--prices`` override.
    Each given value is checked as in a complete table."""
    fields: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        annotation: Any = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = _partial(annotation)
        elif field.metadata:
            annotation = Annotated[(annotation, *field.metadata)]
        fields[name] = (annotation | None, None)
    partial: type[BaseModel] = create_model(
        f"{model.__name__}Override", __config__=model.model_config, **fields
    )
    return partial


class PriceTable(BaseModel):
    """A checked price table (possibly with overrides): what the model prices with."""

    model_config = ConfigDict(frozen=True)

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


def parse_price_table(data: Mapping[str, Any], file: str) -> PriceTable:
    """A complete price table: every price with its unit, source and read date; every assumption."""
    parsed = validate(PriceTableFile, data, file)
    return PriceTable(
        region=parsed.table.region,
        label=parsed.table.label,
        version=parsed.table.version,
        note=parsed.table.note,
        fx=parsed.fx,
        prices=dict(parsed.prices),
        assumptions=dict(parsed.assumptions),
        files=(file,),
    )


def apply_price_override(base: PriceTable, data: Mapping[str, Any], file: str) -> PriceTable:
    """Override any subset of a table with a file of the same shape (``--prices FILE``).

    A price whose ``usd`` is overridden gets the override file as its source unless the file names
    one, so that the output never credits AWS with a figure somebody typed in.
    """
    override: Any = validate(_partial(PriceTableFile), data, file)
    table = override.table
    if table is not None and table.region is not None and table.region != base.region:
        raise CostInputError(
            file, "table.region", f"overrides the {base.region} table but says {table.region!r}"
        )

    def given(entry: BaseModel, key: str, default: Any) -> Any:
        return getattr(entry, key) if key in entry.model_fields_set else default

    prices = dict(base.prices)
    for key in override.prices.model_fields_set if override.prices is not None else ():
        entry, old = getattr(override.prices, key), prices[key]
        changed = "usd" in entry.model_fields_set
        prices[key] = Price(
            usd=given(entry, "usd", old.usd),
            unit=given(entry, "unit", old.unit),
            source=given(entry, "source", f"override: {file}" if changed else old.source),
            read=given(entry, "read", "" if changed else old.read),
            note=given(entry, "note", "overridden" if changed else old.note),
        )
    assumptions = dict(base.assumptions)
    for key in override.assumptions.model_fields_set if override.assumptions is not None else ():
        entry, old_a = getattr(override.assumptions, key), assumptions[key]
        changed = "value" in entry.model_fields_set
        assumptions[key] = type(old_a)(
            value=given(entry, "value", old_a.value),
            unit=given(entry, "unit", old_a.unit),
            note=given(entry, "note", "overridden" if changed else old_a.note),
            source=given(entry, "source", f"override: {file}" if changed else old_a.source),
            read=given(entry, "read", "" if changed else old_a.read),
        )
    fx = base.fx
    fx_raw = override.fx
    if fx_raw is not None and fx_raw.model_fields_set:
        rate_changed = "usd_per_eur" in fx_raw.model_fields_set
        fx = FxRate(
            usd_per_eur=given(fx_raw, "usd_per_eur", fx.usd_per_eur),
            date=given(fx_raw, "date", "" if rate_changed else fx.date),
            source=given(fx_raw, "source", f"override: {file}" if rate_changed else fx.source),
            note=given(fx_raw, "note", "overridden" if rate_changed else fx.note),
        )
    return PriceTable(
        region=base.region,
        label=given(table, "label", base.label) if table is not None else base.label,
        version=given(table, "version", base.version) if table is not None else base.version,
        note=given(table, "note", base.note) if table is not None else base.note,
        fx=fx,
        prices=prices,
        assumptions=assumptions,
        files=(*base.files, file),
    )


def shipped_regions() -> list[str]:
    return sorted(path.stem for path in PRICE_TABLE_DIR.glob("*.toml"))


def load_prices(region: str, override: Path | None = None) -> PriceTable:
    """The shipped table of ``region``, with ``override`` applied on top when given."""
    shipped = PRICE_TABLE_DIR / f"{region}.toml"
    if not shipped.is_file():
        if override is None:
            raise CostInputError(
                "--prices",
                "",
                f"no price table is shipped for region {region!r} (shipped: {', '.join(shipped_regions())}): "
                f"copy {PRICE_TABLE_DIR / 'us-east-1.toml'}, put {region}'s prices in it and pass it as "
                "--prices FILE (docs/technical/cost.md, 'Regions')",
            )
        # Another region: the file is the whole table, checked like a shipped one.
        table = parse_price_table(read_toml(override), str(override))
        if table.region != region:
            raise CostInputError(
                str(override), "table.region", f"is {table.region!r}, the environment is in {region!r}"
            )
        return table
    table = parse_price_table(read_toml(shipped), f"{region}.toml (shipped)")
    if override is not None:
        table = apply_price_override(table, read_toml(override), str(override))
    return table
