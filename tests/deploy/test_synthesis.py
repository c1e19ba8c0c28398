"""The deploy's synthesis check on the real CDK app (one synthesis, ~20 s): tag wiring, manifest, model."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pytest

from warmkeeper.config import AppConfig
from warmkeeper.deploy.model import model_warm_deploy, timings_from_template
from warmkeeper.deploy.preflight import PreflightError
from warmkeeper.deploy.synthesis import check_assembly, check_template_images, synthesize_with_infra

pytestmark = pytest.mark.infra
TAG = "0f3c9e1"
DIGESTS = {name: "sha256:" + f"{index}" * 64 for index, name in enumerate(("caddy", "api", "web"))}


@pytest.fixture(scope="module")
def assembly(cfg: AppConfig, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("aws_cdk")
    output = tmp_path_factory.mktemp("deploy-assembly")
    synthesize_with_infra(cfg, "staging", output, TAG, DIGESTS)
    return output


def test_real_assembly_passes_the_checks_and_uses_the_tag(cfg: AppConfig, assembly: Path) -> None:
    template, _warnings = check_assembly(assembly, "Cityguided-staging")
    assert template.name == "Cityguided-staging.template.json"
    from warmkeeper.infra.app import synthesize

    # Pinned by digest exactly when the CDK app accepts digests; else by the tag (ECS pins that).
    accepts_digests = "image_digests" in inspect.signature(synthesize).parameters
    assert check_template_images(template, cfg, TAG, DIGESTS) is accepts_digests
    with pytest.raises(PreflightError, match="does not use image tag other-tag"):
        check_template_images(template, cfg, "other-tag", {})


def test_real_assembly_with_a_nag_error_is_refused(assembly: Path, tmp_path: Path) -> None:
    copy = tmp_path / "assembly"
    copy.mkdir()
    for path in assembly.glob("*.json"):
        shutil.copy2(path, copy / path.name)
    manifest = json.loads((copy / "manifest.json").read_text())
    finding = {"type": "aws:cdk:error", "data": "AwsSolutions-IAM5: injected finding"}
    side_file = manifest["artifacts"]["Cityguided-staging"].get("additionalMetadataFile")
    # Recent CDK versions keep the stack's metadata in a side file: the finding goes where CDK puts it.
    target = copy / side_file if side_file else copy / "manifest.json"
    data = json.loads(target.read_text())
    entries = data if side_file else data["artifacts"]["Cityguided-staging"].setdefault("metadata", {})
    entries["/Cityguided-staging/Injected/Resource"] = [finding]
    target.write_text(json.dumps(data))
    with pytest.raises(PreflightError, match="/Cityguided-staging/Injected/Resource: AwsSolutions-IAM5"):
        check_assembly(copy, "Cityguided-staging")


def test_modelled_duration_uses_the_synthesized_settings(assembly: Path) -> None:
    template = json.loads((assembly / "Cityguided-staging.template.json").read_text())
    timings = timings_from_template(template)
    assert (timings.health_interval_seconds, timings.healthy_threshold) == (5, 2)  # design: 5 s x 2
    assert 0 < timings.deregistration_delay_seconds <= 30  # design: a short deregistration delay
    assert model_warm_deploy(timings).total.typical < 300
