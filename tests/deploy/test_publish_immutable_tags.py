"""ECR repositories with immutable tags: a pushed tag never moves.

Deploys already pin digests; immutability makes the tag itself trustworthy (the release history's
tag names one image forever). What it changes for `make images TAG=...`: pushing a tag that already
exists fails in ECR (ImageTagAlreadyExistsException), so a re-run of the same tag (a CI job retried
after a later step failed) would fail. The images already in ECR under that tag are the release:
they are kept, not rebuilt, with a note naming their digests.
"""

from __future__ import annotations

from tests.deploy.conftest import CONTAINERS, Harness, repository


def make_immutable(harness: Harness) -> None:
    """What the images stack sets on every repository (asserted on the real template in tests/infra)."""
    for name in CONTAINERS:
        harness.cloud.ecr.put_image_tag_mutability(
            repositoryName=repository(name), imageTagMutability="IMMUTABLE"
        )


def builds(harness: Harness) -> list[list[str]]:
    return [c for c in harness.docker.commands if c[:3] == ["docker", "buildx", "build"]]


def test_images_again_with_the_same_tag_keeps_the_pushed_images(new_env: Harness) -> None:
    first = new_env.publisher.publish("v1", timeout_seconds=300)
    make_immutable(new_env)
    new_env.docker.build = "rebuilt"  # a rebuild would give other digests
    pushes_before = len(builds(new_env))

    again = new_env.publisher.publish("v1", timeout_seconds=300)

    assert dict(again.digests) == dict(first.digests)
    assert len(builds(new_env)) == pushes_before  # nothing rebuilt, nothing pushed
    for name in CONTAINERS:
        assert (
            f"{name}: {repository(name)}:v1 is already in ECR ({first.digests[name][:19]}…)" in new_env.output
        )


def test_a_tag_pushed_for_some_containers_only_gets_the_others(new_env: Harness) -> None:
    new_env.publisher.publish("v1", timeout_seconds=300)
    make_immutable(new_env)
    # A previous run stopped after the first push: the tag is missing in the other repositories.
    for name in CONTAINERS[1:]:
        new_env.cloud.ecr.batch_delete_image(repositoryName=repository(name), imageIds=[{"imageTag": "v1"}])
    pushes_before = len(builds(new_env))

    again = new_env.publisher.publish("v1", timeout_seconds=300)

    rebuilt = builds(new_env)[pushes_before:]
    assert [c[c.index("--tag") + 1].rsplit("/", 2)[-1] for c in rebuilt] == [
        f"{n}:v1" for n in CONTAINERS[1:]
    ]
    assert set(again.digests) == set(CONTAINERS)
