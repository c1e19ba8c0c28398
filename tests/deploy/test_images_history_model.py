"""Image build commands, the release history's encoding, and the modelled deploy duration."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest

from warmkeeper.aws.stack_outputs import StackInfo
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.deploy.duration import (
    StackTimings,
    model_cold_deploy,
    model_warm_deploy,
    timings_from_template,
)
from warmkeeper.deploy.history import HISTORY_LIMIT, MAX_PARAMETER_BYTES, Release, encode, with_release
from warmkeeper.deploy.image_push import ZSTD_OUTPUT, execute, is_push, plan_images
from warmkeeper.deploy.preflight import PreflightError, repository_of, repository_uris

REGISTRY = "123456789012.dkr.ecr.eu-west-3.amazonaws.com"
OUTPUTS = {
    f"RepositoryUri{n.capitalize()}": f"{REGISTRY}/cityguided-staging/{n}" for n in ("caddy", "api", "web")
}
URIS = {n: f"{REGISTRY}/cityguided-staging/{n}" for n in ("caddy", "api", "web")}


def test_arm64_host_needs_no_emulator(cfg: AppConfig, staging: EnvironmentSettings) -> None:
    plan = plan_images(cfg, staging, URIS, "abc", host_machine="aarch64")
    assert plan.commands[0].argv[:2] == ("docker", "login")
    assert [c.argv[c.argv.index("--platform") + 1] for c in plan.commands[1:]] == ["linux/arm64"] * 3
    assert plan.images == {n: f"{REGISTRY}/cityguided-staging/{n}:abc" for n in ("caddy", "api", "web")}


def test_x86_task_on_x86_host_builds_amd64_without_emulator(
    cfg: AppConfig, staging: EnvironmentSettings
) -> None:
    settings = staging.model_copy(update={"architecture": "x86_64"})
    plan = plan_images(cfg, settings, URIS, "abc", host_machine="x86_64")
    assert not any("binfmt" in " ".join(c.argv) for c in plan.commands)
    assert all("linux/amd64" in c.argv for c in plan.commands if "buildx" in c.argv)


def test_repositories_come_from_the_images_stack_outputs(cfg: AppConfig) -> None:
    stack = StackInfo("Cityguided-staging-images", "CREATE_COMPLETE", None, None, dict(OUTPUTS))
    assert repository_uris(cfg, stack, "fix it") == URIS
    assert {n: repository_of(uri) for n, uri in URIS.items()} == {
        n: f"cityguided-staging/{n}" for n in ("caddy", "api", "web")
    }
    stack.outputs.pop("RepositoryUriWeb")
    with pytest.raises(
        PreflightError, match=r"^stack Cityguided-staging-images has no output RepositoryUriWeb: fix it$"
    ):
        repository_uris(cfg, stack, "fix it")


def test_the_password_goes_to_stdin_only_and_a_failure_stops_the_plan(
    cfg: AppConfig, staging: EnvironmentSettings
) -> None:
    plan = plan_images(cfg, staging, URIS, "abc", host_machine="aarch64")
    ran: list[tuple[Sequence[str], str | None]] = []

    def run(argv: Sequence[str], stdin: str | None) -> int:
        ran.append((argv, stdin))
        return 1 if "cityguided-staging/api:abc" in " ".join(argv) else 0

    with pytest.raises(RuntimeError, match=r"cityguided-staging/api:abc.*exited with code 1"):
        execute(plan, lambda: "s3cr3t", run)
    assert [stdin for _argv, stdin in ran] == ["s3cr3t", None, None]  # login, caddy, api; web never ran
    assert all("s3cr3t" not in " ".join(argv) for argv, _stdin in ran)


def release(tag: str, containers: int = 3) -> Release:
    digests = {f"container-{n}": "sha256:" + (tag * 64)[:64] for n in range(containers)}
    return Release(tag, digests, "2026-01-01T00:00:00+00:00", "rolled")


def test_history_keeps_newest_first_and_redeploys_replace_the_top() -> None:
    history = with_release(with_release([], release("a")), release("b"))
    assert [r.tag for r in history] == ["b", "a"]
    assert [r.tag for r in with_release(history, release("b"))] == ["b", "a"]
    many: list[Release] = []
    for index in range(HISTORY_LIMIT + 5):
        many = with_release(many, release(f"t{index}"))
    assert len(many) == HISTORY_LIMIT and many[0].tag == f"t{HISTORY_LIMIT + 4}"


def test_history_fits_a_standard_ssm_parameter() -> None:
    # Six built containers and 40-character tags: ten releases would not fit in 4 KB.
    long_tags = [release(f"{index:02d}" + "f" * 38, containers=6) for index in range(HISTORY_LIMIT)]
    text = encode(long_tags)
    assert len(text.encode()) <= MAX_PARAMETER_BYTES
    kept = json.loads(text)
    assert 1 <= len(kept) < HISTORY_LIMIT and kept[0]["tag"] == long_tags[0].tag  # oldest dropped first


def test_modelled_deploy_reads_the_stack_settings() -> None:
    template = {
        "Resources": {
            "Tg": {
                "Type": "AWS::ElasticLoadBalancingV2::TargetGroup",
                "Properties": {
                    "TargetType": "ip",
                    "HealthCheckIntervalSeconds": 5,
                    "HealthyThresholdCount": 2,
                    "TargetGroupAttributes": [{"Key": "deregistration_delay.timeout_seconds", "Value": "15"}],
                },
            },
            "Task": {
                "Type": "AWS::ECS::TaskDefinition",
                "Properties": {"ContainerDefinitions": [{"StopTimeout": 20}, {"StopTimeout": 30}]},
            },
        }
    }
    timings = timings_from_template(template)
    assert timings == StackTimings(5, 2, 15, 30)
    warm = model_warm_deploy(timings)
    health = warm.phases["new target healthy (1-3 checks, 5 s apart)"]
    assert (health.low, health.typical, health.high) == (1, 5, 15)
    assert warm.phases["old target deregistration (15 s)"].typical == 15
    total = warm.total
    assert total.low < total.typical < total.high
    assert model_cold_deploy().total.high < total.low  # a cold deploy starts no task


def test_images_are_pushed_zstd_compressed_unless_turned_off(
    cfg: AppConfig, staging: EnvironmentSettings
) -> None:
    zstd = plan_images(cfg, staging, URIS, "abc", host_machine="aarch64")
    gzip = plan_images(cfg, staging, URIS, "abc", host_machine="aarch64", zstd=False)
    builds = [c.argv for c in zstd.commands if c.argv[:3] == ("docker", "buildx", "build")]
    assert builds and all(argv[argv.index("--output") + 1] == ZSTD_OUTPUT for argv in builds)
    assert all("--push" not in argv and is_push(argv) for argv in builds)
    assert "compression=zstd" in ZSTD_OUTPUT and "force-compression=true" in ZSTD_OUTPUT
    gzip_builds = [c.argv for c in gzip.commands if c.argv[:3] == ("docker", "buildx", "build")]
    assert all("--push" in argv and "--output" not in argv and is_push(argv) for argv in gzip_builds)
