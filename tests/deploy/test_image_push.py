"""The image build and push commands of `warmkeeper images` (deploy/image_push.py) and the repositories
they push to."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from warmkeeper.aws.stack_outputs import StackInfo
from warmkeeper.config import AppConfig, EnvironmentSettings
from warmkeeper.deploy.image_push import ZSTD_OUTPUT, execute, is_push, plan_images
from warmkeeper.deploy.preflight import PreflightError, repository_of, repository_uris

REGISTRY = "123456789012.dkr.ecr.eu-west-3.amazonaws.com"
# Every built container of every service: the app's three and the osrm service's own (osrm-data uses a
# public image and is not built).
BUILT = ("caddy", "api", "web", "osrm")
OUTPUTS = {f"RepositoryUri{n.capitalize()}": f"{REGISTRY}/cityguided-staging/{n}" for n in BUILT}
URIS = {n: f"{REGISTRY}/cityguided-staging/{n}" for n in BUILT}


def test_arm64_host_emulates_only_for_the_x86_service(cfg: AppConfig, staging: EnvironmentSettings) -> None:
    plan = plan_images(cfg, staging, URIS, "abc", host_machine="aarch64")
    # The app's task is arm64 (the environment's); osrm says x86_64 for its own task.
    assert plan.commands[0].argv[-2:] == ("--install", "amd64")
    assert plan.commands[1].argv[:2] == ("docker", "login")
    assert [c.argv[c.argv.index("--platform") + 1] for c in plan.commands[2:]] == [
        "linux/arm64",
        "linux/arm64",
        "linux/arm64",
        "linux/amd64",
    ]
    assert plan.images == {n: f"{REGISTRY}/cityguided-staging/{n}:abc" for n in BUILT}


def test_an_app_without_services_keeps_one_platform(cfg: AppConfig, staging: EnvironmentSettings) -> None:
    alone = cfg.model_copy(update={"services": []})
    plan = plan_images(alone, staging, URIS, "abc", host_machine="aarch64")
    assert plan.commands[0].argv[:2] == ("docker", "login")
    assert [c.argv[c.argv.index("--platform") + 1] for c in plan.commands[1:]] == ["linux/arm64"] * 3


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
    assert {n: repository_of(uri) for n, uri in URIS.items()} == {n: f"cityguided-staging/{n}" for n in BUILT}
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
    # binfmt (osrm is x86_64), login, caddy, api; web and osrm never ran
    assert [stdin for _argv, stdin in ran] == [None, "s3cr3t", None, None]
    assert all("s3cr3t" not in " ".join(argv) for argv, _stdin in ran)


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


def test_a_containers_dockerfile_target_and_build_arguments_reach_the_build(
    cfg: AppConfig, staging: EnvironmentSettings
) -> None:
    data = cfg.model_dump(mode="json")
    data["containers"][1] |= {
        "dockerfile": "Dockerfile.prod",
        "build_target": "runtime",
        "build_args": {"PYTHON_VERSION": "3.12"},
    }
    changed = AppConfig.model_validate({**data, "source": cfg.source})
    plan = plan_images(changed, staging, URIS, "abc", host_machine="aarch64")
    (api,) = [c.argv for c in plan.commands if f"{URIS['api']}:abc" in c.argv]
    assert api[api.index("--file") + 1].endswith("api/Dockerfile.prod")
    assert api[api.index("--target") + 1] == "runtime"
    assert api[api.index("--build-arg") + 1] == "PYTHON_VERSION=3.12"
    (web,) = [c.argv for c in plan.commands if f"{URIS['web']}:abc" in c.argv]
    assert web[web.index("--file") + 1].endswith("web/Dockerfile") and "--target" not in web
