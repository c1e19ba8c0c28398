"""The shipped price tables, every region: complete, sourced, dated, and honest about what is assumed.

A table holds two kinds of price: figures read for its region from a named source, and figures ASSUMED
as the us-east-1 price times one regional factor (the rule docs/technical/cost.md, "Regions", gives).
These tests hold the assumed figures to that rule, pin the error of the rule where it can be measured
(Paris and Tokyo, whose figures were sourced), and check the message for a region without a table.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date
from pathlib import Path

import pytest

from warmkeeper.cost import PRICE_TABLE_DIR
from warmkeeper.cost.inputs import CostInputError
from warmkeeper.cost.prices import (
    ASSUMPTION_KEYS,
    PRICE_KEYS,
    PriceTable,
    load_prices,
    parse_price_table,
    shipped_regions,
)

ASSUMED = re.compile(
    r"^ASSUMED: us-east-1 price x regional factor: (?P<base>[0-9.]+) x (?P<factor>[0-9.]+) = "
)
# Prices that are the same in every region, with the reason the note must give.
UNIFORM = {
    "route53_hosted_zone_month": "global service",
    "http_api_vpc_link_hour": "No hourly charge",
    "ssm_standard_parameter_month": "no charge",
    "public_ipv4_hour": "one rate",
    "s3_transfer_same_region_gb": "no charge in the same region",
}
# The rule's measured error wherever a figure was sourced for the region, as the docs state it.
RULE_ERROR_LOW, RULE_ERROR_HIGH = -0.14, 0.31  # rounded to the percent


def table_of(region: str) -> PriceTable:
    path = PRICE_TABLE_DIR / f"{region}.toml"
    return parse_price_table(tomllib.loads(path.read_text(encoding="utf-8")), path.name)


def assumed_factor(note: str) -> float | None:
    match = ASSUMED.match(note)
    return float(match["factor"]) if match else None


def test_at_least_eight_regions_ship() -> None:
    regions = shipped_regions()
    assert len(regions) >= 8, regions
    for region in ("eu-west-3", "us-east-1", "eu-west-1", "eu-central-1", "us-west-2", "ap-northeast-1"):
        assert region in regions


@pytest.mark.parametrize("region", shipped_regions())
def test_every_table_has_every_key_with_a_source_and_a_date(region: str) -> None:
    table = table_of(region)
    assert table.region == region
    assert table.label
    assert set(table.prices) == set(PRICE_KEYS), set(PRICE_KEYS) ^ set(table.prices)
    assert set(table.assumptions) == set(ASSUMPTION_KEYS), set(ASSUMPTION_KEYS) ^ set(table.assumptions)
    for key, price in table.prices.items():
        assert price.source.startswith("https://aws.amazon.com/"), (region, key)
        assert date.fromisoformat(price.read) <= date(2026, 12, 31), (region, key)
        assert price.note, (region, key)
    assert table.fx.source.startswith("https://www.ecb.europa.eu/")
    date.fromisoformat(table.fx.date)


@pytest.mark.parametrize("region", shipped_regions())
def test_assumptions_do_not_depend_on_the_region(region: str) -> None:
    reference = table_of("us-east-1")
    table = table_of(region)
    assert {k: a.value for k, a in table.assumptions.items()} == {
        k: a.value for k, a in reference.assumptions.items()
    }


@pytest.mark.parametrize("region", [r for r in shipped_regions() if r not in ("eu-west-3", "us-east-1")])
def test_assumed_prices_follow_the_documented_rule(region: str) -> None:
    us = table_of("us-east-1")
    table = table_of(region)
    factors = {}
    for key, price in table.prices.items():
        factor = assumed_factor(price.note)
        if factor is None:
            continue
        factors[key] = factor
        assert price.usd == pytest.approx(us.usd(key) * factor, rel=5e-4), key
        match = ASSUMED.match(price.note)
        assert match is not None and float(match["base"]) == us.usd(key), key
        # The note gives the derivation of the factor and names both published lists it comes from.
        assert "theuves/fgcalc" in price.note and "ec2-pricing-provider" in price.note, key
    assert factors, "a table built by the rule has assumed prices"
    assert len(set(factors.values())) == 1, "one factor per region"
    factor = next(iter(factors.values()))
    # The factor is at least the region's Fargate ratio (it is the larger of two ratios).
    assert factor >= round(table.usd("fargate_x86_vcpu_hour") / us.usd("fargate_x86_vcpu_hour"), 4)
    # The report's first line says how many prices are assumed: the count must be the notes' count.
    assert f"({len(factors)} of {len(PRICE_KEYS)} prices assumed)" in table.version
    for key, reason in UNIFORM.items():
        assert table.usd(key) == us.usd(key), key
        assert reason in table.prices[key].note, key
        assert key not in factors
    # ARM Fargate: read from a price list, or x86 x 0.8 (the rule of the Paris table) and said so.
    for kind in ("vcpu", "gb"):
        arm = table.prices[f"fargate_arm_{kind}_hour"]
        assert arm.usd == pytest.approx(table.usd(f"fargate_x86_{kind}_hour") * 0.8, rel=1e-3)
        assert "NOT CONFIRMED" in arm.note or "AWS Price List" in arm.note


def test_cloudfront_is_priced_for_the_viewers_near_the_region() -> None:
    expected = {  # (per GB, per 10,000 HTTPS requests), by the CloudFront geography of the viewers
        "us-east-2": (0.085, 0.01),
        "us-west-2": (0.085, 0.01),
        "eu-west-1": (0.085, 0.012),
        "eu-central-1": (0.085, 0.012),
        "eu-west-2": (0.085, 0.012),
        "ap-northeast-1": (0.11, 0.012),
    }
    for region, (per_gb, per_10k) in expected.items():
        table = table_of(region)
        assert table.usd("cloudfront_transfer_out_gb") == per_gb, region
        assert table.usd("cloudfront_https_requests_10k") == per_10k, region


def test_the_rule_error_on_sourced_figures_is_what_the_docs_say() -> None:
    """Apply the rule wherever a figure was read from a source for the region, and measure its error."""
    us = table_of("us-east-1")
    errors: dict[str, float] = {}
    # Paris: factor from its fgcalc Fargate figure and its EC2 t2.micro hour (0.0132, the same list).
    paris = table_of("eu-west-3")
    paris_factor = round(
        max(paris.usd("fargate_x86_vcpu_hour") / us.usd("fargate_x86_vcpu_hour"), 0.0132 / 0.0116), 4
    )
    for key in (
        "alb_hour",
        "alb_lcu_hour",
        "cloudwatch_logs_ingest_gb",
        "cloudwatch_logs_storage_gb_month",
        "legacy_instance_hour",
        "legacy_ebs_gb_month",
    ):
        assert "offer file" in paris.prices[key].note or "Price List" in paris.prices[key].note, key
        errors[f"eu-west-3 {key}"] = us.usd(key) * paris_factor / paris.usd(key) - 1
    # The newer tables: every figure not assumed, not uniform, not Fargate and not CloudFront was sourced.
    sourced: dict[str, list[str]] = {}
    for region in shipped_regions():
        if region in ("eu-west-3", "us-east-1"):
            continue
        table = table_of(region)
        keys = [
            key
            for key, price in table.prices.items()
            if assumed_factor(price.note) is None
            and key not in UNIFORM
            and not key.startswith(("fargate_", "cloudfront_"))
        ]
        factor = next(f for f in (assumed_factor(p.note) for p in table.prices.values()) if f is not None)
        for key in keys:
            errors[f"{region} {key}"] = us.usd(key) * factor / table.usd(key) - 1
        if keys:
            sourced[region] = sorted(keys)
    assert sourced == {
        "ap-northeast-1": sorted(
            ["alb_hour", "alb_lcu_hour", "cloudwatch_logs_ingest_gb", "cloudwatch_logs_storage_gb_month"]
        ),
        "eu-central-1": sorted(
            [
                "alb_hour",
                "alb_lcu_hour",
                "ecr_storage_gb_month",
                "secrets_manager_secret_month",
                "legacy_ebs_gb_month",
                "legacy_instance_hour",
                "s3_standard_gb_month",
            ]
        ),
        "eu-west-1": ["alb_hour"],
        "us-west-2": ["alb_hour", "alb_lcu_hour"],
        "eu-west-2": sorted(
            [
                "alb_hour",
                "alb_lcu_hour",
                "data_transfer_out_gb",
                "lambda_arm_request",
                "lambda_arm_gb_second",
                "cloudwatch_alarm_month",
                "cloudwatch_metric_month",
                "cloudwatch_logs_ingest_gb",
                "cloudwatch_logs_storage_gb_month",
                "ecr_storage_gb_month",
                "secrets_manager_secret_month",
                "kms_key_month",
                "legacy_ebs_gb_month",
            ]
        ),
    }
    low, high = min(errors.values()), max(errors.values())
    assert low == pytest.approx(RULE_ERROR_LOW, abs=0.005), errors
    assert high == pytest.approx(RULE_ERROR_HIGH, abs=0.005), errors


def test_a_region_without_a_table_says_how_to_price_it() -> None:
    assert "ca-central-1" not in shipped_regions()
    with pytest.raises(CostInputError) as raised:
        load_prices("ca-central-1")
    message = str(raised.value)
    assert raised.value.file == "--prices"
    assert "no price table is shipped for region 'ca-central-1'" in message
    for region in shipped_regions():
        assert region in message
    assert "--prices FILE" in message
    assert "docs/technical/cost.md, 'Regions'" in message


def test_a_shipped_region_takes_an_override_on_top(tmp_path: Path) -> None:
    """The override documented for correcting an assumed price: the file becomes that price's source."""
    override = tmp_path / "frankfurt.toml"
    override.write_text("[prices.cloudwatch_logs_ingest_gb]\nusd = 0.63\n", encoding="utf-8")
    assert table_of("eu-central-1").prices["cloudwatch_logs_ingest_gb"].note.startswith("ASSUMED")
    table = load_prices("eu-central-1", override)
    assert table.usd("cloudwatch_logs_ingest_gb") == 0.63
    assert table.prices["cloudwatch_logs_ingest_gb"].source == f"override: {override}"
    assert table.prices["http_api_request"].note.startswith("ASSUMED")


def test_s3_storage_is_priced_in_every_region() -> None:
    """The data of internal services: S3 Standard per GB-month where a source gave it, the rule elsewhere;
    the copy from S3 into a task of the same region is free everywhere."""
    sourced = {"us-east-1": 0.023, "eu-west-3": 0.024, "eu-central-1": 0.0245}
    for region in shipped_regions():
        table = table_of(region)
        price = table.prices["s3_standard_gb_month"]
        if region in sourced:
            assert price.usd == sourced[region], region
            assert assumed_factor(price.note) is None and "first 50 TB" in price.note, region
        else:
            assert assumed_factor(price.note) is not None, region
        assert table.usd("s3_transfer_same_region_gb") == 0.0
        assert table.prices["s3_transfer_same_region_gb"].source == "https://aws.amazon.com/s3/pricing/"
    assert "NOT CONFIRMED" in table_of("eu-west-3").prices["s3_standard_gb_month"].note
