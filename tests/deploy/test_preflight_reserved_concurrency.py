"""The account must be able to reserve the waker's concurrency, or the deploy stops.

Lambda keeps 100 of the account's concurrency unreserved; a new account's quota can be far lower
than 100 + the waker's reservation, and CloudFormation would then fail the deploy half-way. moto has
no GetAccountSettings, so the Lambda client here is a small fake answering as the API does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.deploy.conftest import Harness
from warmkeeper.deploy.preflight import PreflightError, check_reserved_concurrency


@dataclass
class FakeLambda:
    quota: int
    unreserved: int
    function_reservation: int | None = None  # None: the function does not exist yet

    def get_account_settings(self) -> dict[str, Any]:
        return {
            "AccountLimit": {
                "ConcurrentExecutions": self.quota,
                "UnreservedConcurrentExecutions": self.unreserved,
            }
        }

    def get_function_concurrency(self, FunctionName: str) -> dict[str, Any]:  # noqa: N803 - boto3's name
        if self.function_reservation is None:
            raise ClientError({"Error": {"Code": "ResourceNotFoundException"}}, "GetFunctionConcurrency")
        return {"ReservedConcurrentExecutions": self.function_reservation}


def test_a_default_account_reserves_the_default() -> None:
    found = check_reserved_concurrency(FakeLambda(1000, 1000), "f", 20, "staging")
    assert "can reserve 900" in found


def test_a_new_account_with_a_low_quota_is_refused_naming_the_key() -> None:
    with pytest.raises(PreflightError) as failure:
        check_reserved_concurrency(FakeLambda(10, 10), "f", 20, "staging")
    message = str(failure.value)
    assert message.startswith("environments.staging.waker_reserved_concurrency = 20:")
    assert "at most 0 can be reserved" in message


def test_the_functions_own_reservation_counts_as_available() -> None:
    # 130 quota, the waker already holds 20: 110 unreserved + 20 - 100 = 30 reservable.
    assert "can reserve 30" in check_reserved_concurrency(FakeLambda(130, 110, 20), "f", 25, "staging")


def test_no_reservation_is_accepted_and_a_low_quota_is_named() -> None:
    found = check_reserved_concurrency(FakeLambda(10, 10), "f", 0, "staging")
    assert found.startswith("waker: no reserved concurrency")
    assert "quota is 10 concurrent executions" in found and "502" in found
    assert "quota is" not in check_reserved_concurrency(FakeLambda(1000, 1000), "f", 0, "staging")


def test_the_deploy_runs_the_check_and_goes_on_when_the_quota_cannot_be_read(cold: Harness) -> None:
    # moto answers GetAccountSettings with an error: the deploy says so and is not blocked.
    result = cold.deployer.deploy("v2", timeout_seconds=600, dry_run=True)
    assert result.exit_code == 0, cold.output
    assert "waker: reserved concurrency 100; the account's Lambda quota could not be read" in cold.output
