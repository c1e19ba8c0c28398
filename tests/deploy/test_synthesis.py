"""The first release of a new environment with the real CDK app (marker `infra`), against moto.

`warmkeeper images` synthesizes the real images stack, which moto's CloudFormation deploys (it
creates the repositories and evaluates the `RepositoryUri*` outputs); the pushes land in moto's
ECR; then `warmkeeper deploy --dry-run` resolves the tag to those digests and synthesizes the real
service stack with them. One synthesis of each stack for the whole module.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from moto import mock_aws

from tests.deploy.conftest import (
    CONTAINERS,
    IMAGES_STACK,
    REGISTRY,
    STACK,
    Cloud,
    fake_aws_environment,
    make_harness,
    repository,
)
from tests.infra.support import flatten_join
from warmkeeper.aws.stack_outputs import describe_stack
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.deploy.duration import model_warm_deploy, timings_from_template
from warmkeeper.deploy.preflight import PreflightError
from warmkeeper.deploy.release import DeployResult
from warmkeeper.deploy.synthesis import (
    check_assembly,
    check_template_images,
    synthesize_images_with_infra,
    synthesize_with_infra,
)

pytestmark = pytest.mark.infra
TAG = "0f3c9e1"


@dataclass(frozen=True)
class Release:
    digests: dict[str, str]  # what `warmkeeper images` read back from ECR after pushing
    images_outputs: dict[str, str]  # the images stack's outputs, as moto's CloudFormation made them
    images_assembly: Path
    assembly: Path
    result: DeployResult
    output: str


@pytest.fixture(scope="module")
def release(
    cfg: AppConfig, staging: EnvironmentSettings, tmp_path_factory: pytest.TempPathFactory
) -> Release:
    pytest.importorskip("aws_cdk")
    folder = tmp_path_factory.mktemp("first-release")
    with pytest.MonkeyPatch.context() as monkeypatch, mock_aws():
        fake_aws_environment(monkeypatch, folder)
        harness = make_harness(cfg, staging, Cloud(desired=None, images_stack=False), folder)
        harness.publisher.synthesize = synthesize_images_with_infra
        harness.deployer.synthesize = synthesize_with_infra
        published = harness.publisher.publish(TAG, timeout_seconds=300)
        result = harness.deployer.deploy(TAG, timeout_seconds=300, dry_run=True)
        images_stack = describe_stack(harness.cloud.cfn, IMAGES_STACK)
        assert images_stack is not None
        return Release(
            digests=dict(published.digests),
            images_outputs=images_stack.outputs,
            images_assembly=harness.publisher.context.assembly_dir,
            assembly=harness.deployer.context.assembly_dir,
            result=result,
            output=harness.output,
        )


def test_the_real_images_stack_creates_the_repositories_the_deploy_reads(release: Release) -> None:
    assert release.images_outputs == {
        f"RepositoryUri{name.capitalize()}": f"{REGISTRY}/{repository(name)}" for name in CONTAINERS
    }
    # `warmkeeper images` synthesized the images stack alone: a small, quick assembly.
    manifest = json.loads((release.images_assembly / "manifest.json").read_text())
    stacks = [a for a, v in manifest["artifacts"].items() if v["type"] == "aws:cloudformation:stack"]
    assert stacks == [IMAGES_STACK]


def test_the_digests_resolved_from_ecr_are_pinned_in_the_real_template(
    cfg: AppConfig, release: Release
) -> None:
    assert release.result.exit_code == 0, release.output
    assert "images pinned by digest" in release.output
    template, _warnings = check_assembly(release.assembly, STACK)
    # Every task definition: the app's and the osrm service's, whose init container uses a public image.
    definitions = [
        definition
        for resource in json.loads(template.read_text())["Resources"].values()
        if resource["Type"] == "AWS::ECS::TaskDefinition"
        for definition in resource["Properties"]["ContainerDefinitions"]
    ]
    images = {definition["Name"]: flatten_join(definition["Image"]) for definition in definitions}
    assert images.pop("osrm-data") == "public.ecr.aws/aws-cli/aws-cli:2.22.35"
    assert images == {
        name: f"<TOKEN>.dkr.ecr.eu-west-3.<TOKEN>/{repository(name)}@{release.digests[name]}"
        for name in CONTAINERS
    }
    repositories = {name: repository(name) for name in CONTAINERS}
    with pytest.raises(PreflightError, match="does not use image tag other-tag"):
        check_template_images(template, cfg, "other-tag", {}, repositories)


def test_real_assembly_with_a_nag_error_is_refused(release: Release, tmp_path: Path) -> None:
    copy = tmp_path / "assembly"
    copy.mkdir()
    for path in release.assembly.glob("*.json"):
        shutil.copy2(path, copy / path.name)
    manifest = json.loads((copy / "manifest.json").read_text())
    finding = {"type": "aws:cdk:error", "data": "AwsSolutions-IAM5: injected finding"}
    side_file = manifest["artifacts"][STACK].get("additionalMetadataFile")
    # Recent CDK versions keep the stack's metadata in a side file: the finding goes where CDK puts it.
    target = copy / side_file if side_file else copy / "manifest.json"
    data = json.loads(target.read_text())
    entries = data if side_file else data["artifacts"][STACK].setdefault("metadata", {})
    entries["/Cityguided-staging/Injected/Resource"] = [finding]
    target.write_text(json.dumps(data))
    with pytest.raises(PreflightError, match="/Cityguided-staging/Injected/Resource: AwsSolutions-IAM5"):
        check_assembly(copy, STACK)


def test_modelled_duration_uses_the_synthesized_settings(release: Release) -> None:
    template = json.loads((release.assembly / f"{STACK}.template.json").read_text())
    timings = timings_from_template(template)
    assert (timings.health_interval_seconds, timings.healthy_threshold) == (5, 2)  # design: 5 s x 2
    assert 0 < timings.deregistration_delay_seconds <= 30  # design: a short deregistration delay
    assert model_warm_deploy(timings).total.typical < 300
