"""`warmkeeper images` and the first deploy of a new environment, against moto (see conftest).

The first deploy must find its images: CloudFormation creates a service without DesiredCount at
one task. So `make images` deploys the images stack (the ECR repositories) and pushes, and only
then does `make deploy` create the service's stack.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.deploy.conftest import (
    CLUSTER,
    CONTAINERS,
    IMAGES_STACK,
    REGISTRY,
    SERVICE,
    STACK,
    Cloud,
    Harness,
    Step,
    deployment,
    repository,
)
from warmkeeper.deploy.follow import DeployOutcome
from warmkeeper.deploy.preflight import PreflightError
from warmkeeper.deploy.publish import PublishError


def stack_created(digests: dict[str, str]) -> list[Step]:
    """What CloudFormation does on CREATE: the service starts at one task (no DesiredCount)."""
    state: dict[str, Any] = {}

    def create(cloud: Cloud) -> None:
        cloud.create_service_stack(1, cloud.register_revision("v1", digests))
        cloud.set_stack("CREATE_IN_PROGRESS", "User Initiated")
        state["td"] = cloud.service()["taskDefinition"]
        cloud.set_deployments(deployment("first", "PRIMARY", "IN_PROGRESS", state["td"], pending=1))
        cloud.set_counts(running=0, pending=1)
        cloud.event(f"(service {SERVICE}) has started 1 tasks: (task 1f2e3d).")

    def healthy(cloud: Cloud) -> None:
        cloud.set_deployments(deployment("first", "PRIMARY", "COMPLETED", state["td"], running=1))
        cloud.set_counts(running=1, pending=0)
        cloud.event(f"(service {SERVICE}) has reached a steady state.")

    def stack_done(cloud: Cloud) -> None:
        cloud.set_stack("CREATE_COMPLETE")

    return [create, healthy, stack_done]


def ecr_digests(cloud: Cloud, tag: str) -> dict[str, str]:
    return {
        name: cloud.ecr.describe_images(repositoryName=repository(name), imageIds=[{"imageTag": tag}])[
            "imageDetails"
        ][0]["imageDigest"]
        for name in CONTAINERS
    }


def test_a_deploy_before_make_images_says_what_to_run(new_env: Harness) -> None:
    with pytest.raises(PreflightError) as failure:
        new_env.deployer.deploy("v1", timeout_seconds=600)

    assert str(failure.value) == (
        f"stack {IMAGES_STACK} (the ECR repositories) does not exist: first deploy of staging? "
        f"run `make images TAG=v1 ENV=staging` first (it deploys {IMAGES_STACK}, then pushes the images)"
    )
    assert new_env.cdk.calls == [] and new_env.synth.calls == []


def test_first_deploy_images_then_deploy(new_env: Harness) -> None:
    # 1. make images TAG=v1 ENV=staging: the images stack, then the pushes.
    published = new_env.publisher.publish("v1", timeout_seconds=300)

    (images_deploy,) = new_env.cdk.calls
    assert images_deploy[:5] == [
        "deploy",
        IMAGES_STACK,
        "--exclusively",
        "--app",
        str(new_env.publisher.context.assembly_dir),
    ]
    repositories = new_env.cloud.ecr.describe_repositories()["repositories"]
    assert sorted(r["repositoryName"] for r in repositories) == sorted(repository(n) for n in CONTAINERS)
    # Pushed to the URIs of the stack's outputs, after a login with ECR's token on stdin.
    # The emulator first: the osrm service is x86_64, the app arm64 (the builder here is arm64).
    assert [c[:2] for c in new_env.docker.commands] == [["docker", "run"], ["docker", "login"]] + [
        ["docker", "buildx"]
    ] * len(CONTAINERS)
    assert new_env.docker.passwords and new_env.docker.passwords[0] not in str(new_env.docker.commands)
    assert published.images == {n: f"{REGISTRY}/{repository(n)}:v1" for n in CONTAINERS}
    assert dict(published.digests) == ecr_digests(new_env.cloud, "v1")
    out = new_env.output
    assert out.index(f"stack {IMAGES_STACK}: not created yet") < out.index(f"→ cdk deploy {IMAGES_STACK}")
    assert out.index(f"stack {IMAGES_STACK} deployed") < out.index("→ <ECR token> | docker login")

    # 2. make deploy TAG=v1 ENV=staging: creates the service's stack with the pushed images.
    new_env.cdk.steps = stack_created(dict(published.digests))
    result = new_env.deployer.deploy("v1", timeout_seconds=600)

    assert (result.exit_code, result.outcome) == (0, DeployOutcome.ROLLED), new_env.output
    assert f"stack {STACK}: not created yet (first deploy)" in new_env.output
    assert new_env.synth.calls == [("v1", dict(published.digests))]
    service_deploy = new_env.cdk.calls[1]
    assert service_deploy[:3] == ["deploy", STACK, "--exclusively"]  # the images stack is left alone
    task_definition = new_env.cloud.ecs.describe_task_definition(
        taskDefinition=new_env.cloud.service()["taskDefinition"]
    )["taskDefinition"]
    assert {c["name"]: c["image"] for c in task_definition["containerDefinitions"]} == {
        n: f"{REGISTRY}/{repository(n)}@{published.digests[n]}" for n in CONTAINERS
    }
    assert new_env.cloud.service()["desiredCount"] == 1
    history = new_env.cloud.history()
    assert history is not None and history[0]["digests"] == dict(published.digests)


def test_images_again_updates_the_stack_and_pushes_the_new_tag(cold: Harness) -> None:
    published = cold.publisher.publish("v3", timeout_seconds=300)

    assert [call[:2] for call in cold.cdk.calls] == [["deploy", IMAGES_STACK]]
    assert f"stack {IMAGES_STACK}: CREATE_COMPLETE" in cold.output  # it existed already
    assert cold.cloud.stack_status(IMAGES_STACK) == "UPDATE_COMPLETE"
    assert dict(published.digests) == ecr_digests(cold.cloud, "v3")
    assert cold.cloud.service()["desiredCount"] == 0  # the service stack is not touched


def test_a_failed_images_stack_deploy_pushes_nothing(new_env: Harness) -> None:
    new_env.cdk.images_exit_code = 1

    with pytest.raises(PublishError) as failure:
        new_env.publisher.publish("v1", timeout_seconds=300)

    assert failure.value.exit_code == 1
    assert str(failure.value).startswith(f"cdk deploy {IMAGES_STACK} exited with code 1")
    assert str(failure.value).endswith("; no image was pushed")
    assert f"cdk  ❌  {IMAGES_STACK} failed: AccessDenied" in new_env.output
    assert new_env.docker.commands == []


def test_an_images_stack_deploy_past_the_timeout_is_stopped(new_env: Harness) -> None:
    new_env.cdk.images_exit_code = None  # the CLI never returns

    with pytest.raises(PublishError) as failure:
        new_env.publisher.publish("v1", timeout_seconds=30)

    assert failure.value.exit_code == 3
    assert "did not finish within 30 s" in str(failure.value)
    assert new_env.clock.now == 30
    assert new_env.docker.commands == []


def test_a_failed_build_stops_the_pushes(new_env: Harness) -> None:
    new_env.docker.fail_on = f"{repository('api')}:v1"

    with pytest.raises(PublishError, match=f"{repository('api')}:v1 .*exited with code 1"):
        new_env.publisher.publish("v1", timeout_seconds=300)

    assert [c[c.index("--tag") + 1] for c in new_env.docker.commands if "--tag" in c] == [
        f"{REGISTRY}/{repository('caddy')}:v1",
        f"{REGISTRY}/{repository('api')}:v1",
    ]


@pytest.mark.parametrize(
    ("prepare", "expected"),
    [
        (lambda h: h.cloud.set_stack("UPDATE_IN_PROGRESS", name=IMAGES_STACK), "another `warmkeeper images`"),
        (lambda h: None, "--tag: 'v 3' is not a valid image tag"),
        (
            lambda h: h.cloud.ssm.delete_parameter(Name="/cdk-bootstrap/hnb659fds/version"),
            "is not CDK-bootstrapped",
        ),
    ],
    ids=["images stack busy", "bad tag", "not bootstrapped"],
)
def test_images_checks_stop_before_any_change(cold: Harness, prepare: Any, expected: str) -> None:
    prepare(cold)
    tag = "v 3" if expected.startswith("--tag") else "v3"
    with pytest.raises(PreflightError, match=expected):
        cold.publisher.publish(tag, timeout_seconds=300)
    assert cold.cdk.calls == [] and cold.docker.commands == [] and cold.images_synth.calls == 0


def test_preview_on_a_new_environment_changes_nothing(new_env: Harness) -> None:
    lines = new_env.publisher.preview("v1")

    assert lines[0].startswith(f"cdk deploy {IMAGES_STACK} --exclusively --app ")
    # The URIs the stack's outputs will have: the account's registry and the environment's names.
    assert [line.split("--tag ")[1].split()[0] for line in lines if "--tag" in line] == [
        f"{REGISTRY}/{repository(n)}:v1" for n in CONTAINERS
    ]
    assert new_env.cdk.calls == [] and new_env.docker.commands == []
    assert new_env.cloud.cfn.describe_stacks()["Stacks"] == []
    assert CLUSTER not in str(new_env.cloud.ecs.list_clusters())
