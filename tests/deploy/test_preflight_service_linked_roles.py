"""A fresh account has neither the ECS nor the Application Auto Scaling service-linked
role, and the first `cdk deploy` then fails with "Unable to assume IAM role" (aws-cdk#4108).

The deploy creates them once every check passed, right before `cdk deploy`, and ignores "already
exists" (AWS answers InvalidInput "Service role name ... has been taken in this account", moto
EntityAlreadyExists). Without iam:CreateServiceLinkedRole it stops and says exactly what to run.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.deploy.conftest import Harness
from tests.deploy.test_release_first_deploy import stack_created
from warmkeeper.deploy.preflight import SERVICE_LINKED_ROLES, PreflightError, ensure_service_linked_roles

SERVICES = ("ecs.amazonaws.com", "ecs.application-autoscaling.amazonaws.com")


def linked_roles(harness: Harness) -> dict[str, str]:
    iam = harness.deployer.context.clients.client("iam")
    found = {}
    for service in SERVICES:
        roles = iam.list_roles(PathPrefix=f"/aws-service-role/{service}/")["Roles"]
        if roles:
            found[service] = roles[0]["RoleName"]
    return found


def refuse(harness: Harness, operation: str, code: str, message: str) -> list[str]:
    """Make IAM answer `operation` with an error, as AWS would; the calls are recorded."""
    iam = harness.deployer.context.clients.client("iam")
    calls: list[str] = []

    def fail(params: dict[str, Any], **_: Any) -> None:
        calls.append(str(params.get("AWSServiceName", params)))
        raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    iam.meta.events.register(f"before-call.iam.{operation}", fail)
    return calls


def test_the_roles_aws_names_are_the_ones_created() -> None:
    assert set(SERVICE_LINKED_ROLES) == set(SERVICES)


def test_first_deploy_in_a_fresh_account_creates_both_roles_before_cdk_deploy(new_env: Harness) -> None:
    published = new_env.publisher.publish("v1", timeout_seconds=300)
    assert linked_roles(new_env) == {}
    new_env.cdk.steps = stack_created(dict(published.digests))
    result = new_env.deployer.deploy("v1", timeout_seconds=600)
    assert result.exit_code == 0, new_env.output
    assert set(linked_roles(new_env)) == set(SERVICES)
    out = new_env.output
    assert "created service-linked role" in out
    assert out.index("created service-linked role") < out.index("→ cdk deploy Cityguided-staging (image tag")


def test_existing_roles_are_left_alone(cold: Harness) -> None:
    iam = cold.deployer.context.clients.client("iam")
    for service in SERVICES:
        iam.create_service_linked_role(AWSServiceName=service)
    attempts = refuse(cold, "CreateServiceLinkedRole", "AccessDenied", "must not be called")
    assert ensure_service_linked_roles(iam) == []
    assert attempts == []


def test_already_exists_as_aws_says_it_counts_as_present(cold: Harness) -> None:
    iam = cold.deployer.context.clients.client("iam")
    # Created meanwhile by another deploy: AWS's own words for it.
    refuse(
        cold,
        "CreateServiceLinkedRole",
        "InvalidInput",
        "Service role name AWSServiceRoleForECS has been taken in this account, "
        "please try a different suffix.",
    )
    assert ensure_service_linked_roles(iam) == []


def test_without_iam_permission_the_deploy_says_exactly_what_to_run(cold: Harness) -> None:
    refuse(cold, "CreateServiceLinkedRole", "AccessDenied", "User is not authorized to perform iam:Create...")
    with pytest.raises(PreflightError) as failure:
        cold.deployer.deploy("v2", timeout_seconds=600)
    message = str(failure.value)
    for service in SERVICES:
        assert f"aws iam create-service-linked-role --aws-service-name {service}" in message
    assert cold.cdk.calls == []  # nothing deployed


def test_a_dry_run_creates_nothing_and_says_what_a_deploy_would_create(cold: Harness) -> None:
    result = cold.deployer.deploy("v2", timeout_seconds=600, dry_run=True)
    assert result.exit_code == 0, cold.output
    assert linked_roles(cold) == {}
    assert "would create service-linked role" in cold.output
