"""Issue 12 outside the CDK app: a deployed stack tells its front door by its outputs, and the cost model
refuses an HTTP API environment with one line until its lines exist (no figure rather than a wrong one)."""

from __future__ import annotations

import tomllib

import pytest

from tests.conftest import EXAMPLE_CONFIG, run_cli
from warmkeeper import naming as keys
from warmkeeper.aws.stack_outputs import StackInfo
from warmkeeper.deploy.preflight import PreflightError, check_front_door, deployed_front_door


def _stack(*output_keys: str) -> StackInfo:
    return StackInfo(
        name="Cityguided-staging",
        status="UPDATE_COMPLETE",
        status_reason=None,
        last_updated=None,
        outputs={key: "x" for key in (keys.OUTPUT_URL, *output_keys)},
    )


def test_outputs_tell_the_three_front_doors_apart() -> None:
    assert deployed_front_door(_stack(keys.OUTPUT_LISTENER_ARN)) == "load_balancer"
    assert deployed_front_door(_stack(keys.OUTPUT_LISTENER_ARN, keys.OUTPUT_DISTRIBUTION_ID)) == "cloudfront"
    assert deployed_front_door(_stack(keys.OUTPUT_API_ID, keys.OUTPUT_VPC_LINK_ID)) == "http_api"


def test_switching_to_or_from_the_http_api_in_place_is_refused() -> None:
    check_front_door(_stack(keys.OUTPUT_API_ID), "staging", "http_api")  # same front door: fine
    with pytest.raises(
        PreflightError, match="deployed with front_door = 'cloudfront' and the config now says 'http_api'"
    ):
        check_front_door(_stack(keys.OUTPUT_DISTRIBUTION_ID), "staging", "http_api")
    with pytest.raises(PreflightError, match="deployed with front_door = 'http_api'"):
        check_front_door(_stack(keys.OUTPUT_API_ID), "staging", "load_balancer")


def test_cost_models_the_example_staging_behind_its_http_api() -> None:
    # The cost model has the HTTP API's lines (issue 12): the command prices it, no load balancer.
    assert (
        tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))["environments"]["staging"]["front_door"]
        == "http_api"
    )
    profile = EXAMPLE_CONFIG.parent / "traffic-staging.toml"
    result = run_cli(["cost", "--config", str(EXAMPLE_CONFIG), "--env", "staging", "--profile", str(profile)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Front door: API Gateway HTTP API -> VPC link -> Cloud Map, no load balancer" in result.stdout
    assert "Route 53 private hosted zone" in result.stdout
