"""The stack outputs of the contract: exact keys, per environment and stack."""

from __future__ import annotations

import pytest

from tests.infra.support import SynthesizedEnv

pytestmark = pytest.mark.infra

COMMON = {
    "Url",
    "ClusterName",
    "ServiceName",
    "ListenerArn",
    "ServiceTargetGroupArn",
    "WarmkeeperFunctionName",
    "ParameterPrefix",
    "KeepaliveSecretArn",
    "WarmRulePriority",
    "LoadBalancerDimension",
    "TargetGroupDimension",
    "DashboardName",
}


def test_output_keys(
    staging: SynthesizedEnv, production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    assert set(staging.raw["Outputs"]) == COMMON | {"IdleAlarmName", "DistributionId"}
    assert set(production.raw["Outputs"]) == COMMON
    assert set(https_staging.raw["Outputs"]) == COMMON | {"IdleAlarmName"}


def test_repository_outputs_are_in_the_images_stack(
    staging: SynthesizedEnv, production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    repositories = {"RepositoryUriCaddy", "RepositoryUriApi", "RepositoryUriWeb"}
    assert staging.images is not None and production.images is not None and https_staging.images is not None
    assert set(staging.images.raw["Outputs"]) == repositories
    assert set(production.images.raw["Outputs"]) == repositories
    # web uses a ready-made image there: no repository, no output.
    assert set(https_staging.images.raw["Outputs"]) == repositories - {"RepositoryUriWeb"}
    assert staging.images.stack.stack_name == "Cityguided-staging-images"
    assert production.images.stack.stack_name == "Cityguided-production-images"


def test_repository_uri_outputs_name_their_own_repository(images_stack: SynthesizedEnv) -> None:
    for key, output in images_stack.raw["Outputs"].items():
        container = key.removeprefix("RepositoryUri").lower()
        logical_id = images_stack.logical_id(f"Repositories/{container.capitalize()}Repository")
        # <account>.dkr.ecr.<region>.<suffix>/<repository name>: the name is the repository's Ref.
        assert output["Value"]["Fn::Join"][1][-2:] == ["/", {"Ref": logical_id}]
        assert "Export" not in output  # plain outputs: nothing locks the images stack


def test_output_values(any_env: SynthesizedEnv) -> None:
    outputs = {key: value["Value"] for key, value in any_env.raw["Outputs"].items()}
    assert outputs["ParameterPrefix"] == f"/warmkeeper/cityguided/{any_env.env_name}"
    assert outputs["DashboardName"] == f"Cityguided-{any_env.env_name}"
    assert outputs["ServiceTargetGroupArn"] == {"Ref": any_env.logical_id("Ingress/ServiceTargetGroup")}
    assert (
        outputs["ListenerArn"]
        == any_env.only("AWS::Lambda::Function")[1]["Environment"]["Variables"]["WK_LISTENER_ARN"]
    )
    variables = any_env.only("AWS::Lambda::Function")[1]["Environment"]["Variables"]
    assert outputs["WarmkeeperFunctionName"] == {"Ref": any_env.only("AWS::Lambda::Function")[0]}
    # The CLI looks for the warm route where the Lambda creates it.
    assert outputs["WarmRulePriority"] == variables["WK_WARM_RULE_PRIORITY"] == "10"
    if "IdleAlarmName" in outputs:
        assert outputs["IdleAlarmName"] == {"Ref": any_env.logical_id("Idle/Alarm")}
    assert any_env.stack.stack_name == f"Cityguided-{any_env.env_name}"
