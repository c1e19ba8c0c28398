"""The stack outputs of the contract: exact keys, per environment."""

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
    "LoadBalancerDimension",
    "TargetGroupDimension",
    "DashboardName",
}


def test_output_keys(
    staging: SynthesizedEnv, production: SynthesizedEnv, https_staging: SynthesizedEnv
) -> None:
    repositories = {"RepositoryUriCaddy", "RepositoryUriApi", "RepositoryUriWeb"}
    assert set(staging.raw["Outputs"]) == COMMON | repositories | {"IdleAlarmName"}
    assert set(production.raw["Outputs"]) == COMMON | repositories
    # web uses a ready-made image there: no repository, no output.
    assert set(https_staging.raw["Outputs"]) == COMMON | (repositories - {"RepositoryUriWeb"}) | {
        "IdleAlarmName"
    }


def test_output_values(any_env: SynthesizedEnv) -> None:
    outputs = {key: value["Value"] for key, value in any_env.raw["Outputs"].items()}
    assert outputs["ParameterPrefix"] == f"/warmkeeper/cityguided/{any_env.env_name}"
    assert outputs["DashboardName"] == f"Cityguided-{any_env.env_name}"
    assert outputs["ServiceTargetGroupArn"] == {"Ref": any_env.logical_id("Ingress/ServiceTargetGroup")}
    assert (
        outputs["ListenerArn"]
        == any_env.only("AWS::Lambda::Function")[1]["Environment"]["Variables"]["WK_LISTENER_ARN"]
    )
    assert outputs["WarmkeeperFunctionName"] == {"Ref": any_env.only("AWS::Lambda::Function")[0]}
    if "IdleAlarmName" in outputs:
        assert outputs["IdleAlarmName"] == {"Ref": any_env.logical_id("Idle/Alarm")}
    assert any_env.stack.stack_name == f"Cityguided-{any_env.env_name}"
