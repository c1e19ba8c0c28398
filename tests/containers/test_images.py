"""Each CityGuided image, built by `warmkeeper images --local`: it fits the budget, runs as a
non-root user with a read-only root file system and no capability (as the task definition runs it),
passes the task definition's own health check and stops within its stop timeout."""

from __future__ import annotations

import json
import time

import pytest

from tests.containers.support import podman
from tests.e2e.support import EXAMPLE_CONFIG, wait_for
from warmkeeper.config import load_config
from warmkeeper.images.build import local_image_tag
from warmkeeper.local.runtimes import health_argv

# The first test to use `built_images` may build the base image and the three images (minutes).
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

CFG = load_config(EXAMPLE_CONFIG)


def test_images_local_prints_each_size_and_a_task_total_within_budget(built_images: str) -> None:
    for name in ("caddy", "api", "web"):
        assert f"│ {name} " in built_images, built_images
    assert "task total: " in built_images and "shared layers counted once" in built_images
    assert "within budget" in built_images
    sizes = json.loads((EXAMPLE_CONFIG.parents[2] / "cdk.out/images-local/sizes.json").read_text())
    assert set(sizes["images"]) == {"caddy", "api", "web"}
    task = sizes["task"]
    assert 0 < task["zstd_mb"] <= task["gzip_mb"] <= 100
    # Shared layers count once: the total is less than the sum of the images.
    assert task["gzip_mb"] < sum(image["gzip_mb"] for image in sizes["images"].values())


def _run_argv(name: str, pod: str | None = None) -> list[str]:
    """`podman run` as ECS runs the container: a read-only root file system (no tmpfs of podman's
    own), a volume at each declared writable path, every capability dropped."""
    container = CFG.container(name)
    argv = ["run", "--detach", "--name", f"wk-image-test-{name}", "--read-only", "--read-only-tmpfs=false"]
    argv += ["--cap-drop", "ALL"] + (["--pod", pod] if pod else [])
    for path in container.writable_paths:
        argv += ["--volume", path]
    for key, value in container.environment.items():
        argv += ["--env", f"{key}={value}"]
    return [*argv, local_image_tag(CFG, container)]


@pytest.mark.parametrize("name", ["caddy", "api", "web"])
def test_image_runs_non_root_passes_its_health_check_and_stops_on_sigterm(
    built_images: str, name: str
) -> None:
    container = CFG.container(name)
    image = local_image_tag(CFG, container)
    run_name = f"wk-image-test-{name}"
    # Caddy's health check answers only once the api and the web answer theirs (it starts with
    # them, as in the task): it runs in a pod with them, which share its localhost as on Fargate.
    pod = "wk-image-test-pod" if container.depends_on else None
    names = [run_name, *(f"wk-image-test-{d}" for d in container.depends_on)]
    for stale in names:
        podman("rm", "--force", "--time", "0", stale)
    if pod:
        podman("pod", "rm", "--force", pod)
        created = podman("pod", "create", "--name", pod)
        assert created.returncode == 0, created.stderr
        for dependency in container.depends_on:
            started = podman(*_run_argv(dependency, pod))
            assert started.returncode == 0, started.stderr
    assert container.read_only_root
    started = podman(*_run_argv(name, pod))
    assert started.returncode == 0, started.stderr
    try:
        # The task definition's exact health command, run in the container as the ECS agent does.
        command = health_argv(container)
        wait_for(
            lambda: podman("exec", run_name, *command, timeout=30).returncode == 0,
            60,
            f"{name}'s health check {command}",
            interval=0.5,
        )
        uid = podman("exec", run_name, "id", "-u").stdout.strip()
        assert uid.isdigit() and int(uid) != 0, uid
        user = podman("inspect", "--format", "{{.Config.User}}", image).stdout.strip()
        assert user and not user.startswith(("0", "root")), user

        began = time.monotonic()
        stopped = podman("stop", "--time", str(container.stop_timeout_seconds), run_name)
        elapsed = time.monotonic() - began
        assert stopped.returncode == 0, stopped.stderr
        state = json.loads(podman("inspect", run_name).stdout)[0]["State"]
        # Stopped by SIGTERM well within the stop timeout, not killed when it ran out (137).
        assert elapsed < container.stop_timeout_seconds, elapsed
        assert state["ExitCode"] in (0, 143), state
    finally:
        for leftover in names:
            podman("rm", "--force", "--time", "0", leftover)
        if pod:
            podman("pod", "rm", "--force", pod)
