"""The front door of a deployed stack, told by its outputs, and the deploy's refusal to switch an
environment's front door in place (deploy/preflight.py)."""

from __future__ import annotations

import pytest

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
