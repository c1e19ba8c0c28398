"""The containers runtime's health checks: a command that cannot run says why; an entry without one is
probed on its port. The engine is scripted (the real one runs in tests/containers)."""

from __future__ import annotations

import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.test_config import MINIMAL
from warmkeeper.config import AppConfig, Container, parse_config
from warmkeeper.images.container_cli import Engine
from warmkeeper.local.runtimes import ContainerRuntime, ContainersError


@dataclass(frozen=True)
class ScriptedPodman(Engine):
    """Podman whose `exec` answers as a container without wget does; everything else succeeds."""

    calls: list[tuple[str, ...]] = field(default_factory=list, compare=False)

    def run(self, *args: str, **_: Any) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        if args[0] == "exec":
            return subprocess.CompletedProcess(
                args,
                127,
                "",
                "Error: crun: executable file `wget` not found in $PATH: No such file or directory: "
                "OCI runtime attempted to invoke a command that was not found\n",
            )
        if args[:2] == ("pod", "ps"):
            return subprocess.CompletedProcess(args, 0, "[]", "")
        return subprocess.CompletedProcess(args, 0, "", "")


@dataclass
class FakeTask:
    task_id: str
    cfg: AppConfig
    ports: dict[str, int]
    entry_port: int


def config(tmp_path: Path) -> AppConfig:
    return parse_config(tomllib.loads(MINIMAL), tmp_path / "warmkeeper.toml")


def test_a_health_command_that_cannot_run_shows_the_engines_own_error(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    runtime = ContainerRuntime(cfg, cfg.environment("local"), engine=ScriptedPodman("podman", "podman"))
    task = FakeTask("t1", cfg, {"edge": 40000}, 40000)
    edge: Container = cfg.container("edge")
    assert runtime.probe(task, edge) is False
    description = runtime.probe_description(task, edge)
    # The engine's words, not "not healthy": the check never ran.
    assert "cannot run: Error: crun: executable file `wget` not found in $PATH" in description
    assert "use a command the image has" in description


def test_an_entry_without_a_health_command_is_probed_on_its_port(tmp_path: Path) -> None:
    import http.server
    import threading

    text = MINIMAL.replace(
        'command = ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/healthz"]\n', ""
    )
    cfg = parse_config(tomllib.loads(text), tmp_path / "warmkeeper.toml")
    engine = ScriptedPodman("podman", "podman")
    runtime = ContainerRuntime(cfg, cfg.environment("local"), engine=engine)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    server.RequestHandlerClass.log_message = lambda *args: None  # type: ignore[method-assign]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        task = FakeTask("t1", cfg, {"edge": port}, port)
        edge = cfg.container("edge")
        # The path answers 404 here: a failed check, and the description says what was probed.
        assert runtime.probe(task, edge) is False
        assert runtime.probe_description(task, edge) == f"GET /healthz on port {port} (no health command)"
        assert not [call for call in engine.calls if call[0] == "exec"]
        root = edge.model_copy(update={"health": edge.health.model_copy(update={"path": "/"})})
        assert runtime.probe(task, root) is True
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class EmptyPodman(ScriptedPodman):
    """Podman with no image at all."""

    def image_exists(self, ref: str) -> bool:
        return False


def test_a_missing_image_says_to_pull_it_and_a_missing_build_says_to_build_it(tmp_path: Path) -> None:
    cfg = config(tmp_path)
    with pytest.raises(ContainersError) as missing:
        ContainerRuntime(cfg, cfg.environment("local"), engine=EmptyPodman("podman", "podman"))
    # The first container has an image: pulled, not built.
    assert "pull it: `podman pull public.ecr.aws/docker/library/caddy:2`" in str(missing.value)
    built = cfg.model_copy(update={"containers": cfg.containers[1:]})
    with pytest.raises(ContainersError, match="build it with `make images-local`"):
        ContainerRuntime(built, cfg.environment("local"), engine=EmptyPodman("podman", "podman"))
