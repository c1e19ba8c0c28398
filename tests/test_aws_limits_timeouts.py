"""Every front door waits longer than the Lambda runs, which outlives a hold.

CloudFront waits at most 60 s for an origin without a quota increase (CloudFront developer guide,
"Response timeout"; up to 180 s with one). A hold whose Lambda would outlast what CloudFront may wait
is refused when the config is read (exit 2, naming the key), never discovered as a 504 in staging.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLE_CONFIG, run_cli
from warmkeeper.aws_limits import (
    CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS,
    front_door_timeout_seconds,
    waker_timeout_seconds,
)
from warmkeeper.config import ConfigError, parse_config


def example(hold: int, **staging: Any) -> dict[str, Any]:
    # The example's staging is behind an HTTP API now; these tests are about CloudFront's origin
    # timeout, so their staging keeps the CloudFront front door.
    data: dict[str, Any] = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["scale_to_zero"]["hold_seconds"] = hold
    data["environments"]["staging"].update({"front_door": "cloudfront", **staging})
    return data


@pytest.mark.parametrize("hold", range(1, 61))
def test_each_bound_sits_strictly_inside_the_next(hold: int) -> None:
    assert hold < waker_timeout_seconds(hold) < front_door_timeout_seconds(hold)
    assert waker_timeout_seconds(hold) - hold >= 10  # the AWS calls around the hold


def test_example_staging_fits_behind_cloudfront_without_a_quota_increase() -> None:
    config = parse_config(example(25), EXAMPLE_CONFIG)
    staging = config.environment("staging")
    assert staging.front_door == "cloudfront"
    assert staging.cloudfront_origin_timeout_quota_seconds == CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS == 60
    assert front_door_timeout_seconds(25) <= 60


def test_a_hold_that_does_not_fit_behind_cloudfront_is_refused_naming_the_keys() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(example(50), EXAMPLE_CONFIG)
    assert raised.value.key == "scale_to_zero.hold_seconds"
    assert "environments.staging.cloudfront_origin_timeout_quota_seconds" in raised.value.problem
    assert "Lower hold_seconds to 40 or less" in raised.value.problem


def test_an_approved_quota_increase_lets_a_long_hold_through() -> None:
    data = example(50, cloudfront_origin_timeout_quota_seconds=120)
    # The example's production is behind CloudFront too: the hold is shared, so is the quota asked for.
    data["environments"]["production"]["cloudfront_origin_timeout_quota_seconds"] = 120
    config = parse_config(data, EXAMPLE_CONFIG)
    assert config.environment("staging").cloudfront_origin_timeout_quota_seconds == 120


@pytest.mark.parametrize("quota", [59, 181])
def test_quota_outside_what_cloudfront_offers_is_refused(quota: int) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(example(25, cloudfront_origin_timeout_quota_seconds=quota), EXAMPLE_CONFIG)
    assert raised.value.key == "environments.staging.cloudfront_origin_timeout_quota_seconds"


def test_cli_refuses_the_hold_with_exit_2(tmp_path: Path) -> None:
    text = (
        EXAMPLE_CONFIG.read_text(encoding="utf-8")
        .replace("hold_seconds = 25", "hold_seconds = 50")
        .replace('front_door = "http_api"', 'front_door = "cloudfront"')
    )
    path = tmp_path / "warmkeeper.toml"
    path.write_text(text, encoding="utf-8")
    result = run_cli(["validate", "--config", str(path)])
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "scale_to_zero.hold_seconds" in result.stderr
    assert "cloudfront_origin_timeout_quota_seconds" in result.stderr
