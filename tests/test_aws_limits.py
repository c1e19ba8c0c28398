"""The AWS limits module: standard library only, read by the config, the CDK app and the Lambda."""

from __future__ import annotations

from pathlib import Path

import pytest

import warmkeeper
from warmkeeper import aws_limits
from warmkeeper.infra.bundle import bundle_files, imported_names
from warmkeeper.naming import WARM_RULE_PRIORITY

SOURCE_ROOT = Path(warmkeeper.__file__).resolve().parent.parent


def test_imports_only_the_standard_library() -> None:
    path = Path(aws_limits.__file__)
    imported = imported_names(path, "warmkeeper.aws_limits")
    assert imported <= {"__future__", "__future__.annotations"}


def test_the_lambda_bundle_reads_the_limits_from_it() -> None:
    # Settings.__post_init__ checks the warm rule's priority against RULE_PRIORITIES.
    assert "warmkeeper/aws_limits.py" in bundle_files(SOURCE_ROOT, "warmkeeper.aws.lambda_handler")


def test_fargate_sizes_pair_every_cpu_with_increasing_memory() -> None:
    assert sorted(aws_limits.FARGATE_TASK_SIZES) == [256, 512, 1024, 2048, 4096, 8192, 16384]
    for cpu, memory in aws_limits.FARGATE_TASK_SIZES.items():
        assert list(memory) == sorted(set(memory))
        assert memory[0] == 2 * cpu  # the smallest task of each size: 2 MiB per CPU unit
    assert aws_limits.FARGATE_TASK_SIZES[256] == (512, 1024, 2048)
    assert aws_limits.FARGATE_TASK_SIZES[16384][-1] == 122880


def test_listener_rule_priorities_are_elbs_range() -> None:
    assert aws_limits.RULE_PRIORITIES[0] == 1
    assert aws_limits.RULE_PRIORITIES[-1] == 50000
    assert WARM_RULE_PRIORITY in aws_limits.RULE_PRIORITIES


def test_cloudfront_prefix_lists_are_managed_prefix_list_ids() -> None:
    lists = aws_limits.CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS
    assert "eu-west-3" in lists and "us-east-1" in lists
    assert all(value.startswith("pl-") for value in lists.values())
    assert len(set(lists.values())) == len(lists)


@pytest.mark.parametrize("hold", [1, 10, 15, 25, 40, 60])
def test_the_waker_budget_nests_inside_the_limits(hold: int) -> None:
    lambda_timeout = aws_limits.waker_timeout_seconds(hold)
    assert hold < lambda_timeout < aws_limits.front_door_timeout_seconds(hold)
    assert lambda_timeout >= aws_limits.WAKER_MIN_TIMEOUT_SECONDS
    assert (
        aws_limits.front_door_timeout_seconds(hold) - lambda_timeout == aws_limits.FRONT_DOOR_MARGIN_SECONDS
    )


def test_the_default_hold_fits_cloudfronts_standard_timeout_and_the_http_apis() -> None:
    assert aws_limits.front_door_timeout_seconds(25) <= aws_limits.CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS
    assert 25 + aws_limits.HTTP_API_HOLD_MARGIN_SECONDS <= aws_limits.HTTP_API_INTEGRATION_TIMEOUT_SECONDS
    assert (
        aws_limits.CLOUDFRONT_STANDARD_ORIGIN_TIMEOUT_SECONDS
        < aws_limits.CLOUDFRONT_MAX_ORIGIN_TIMEOUT_SECONDS
    )
