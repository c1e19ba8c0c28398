"""`warmkeeper init --from compose.yaml` on compose files of our own: each hard case gets its outcome, the
written file validates, and nothing is dropped silently."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import pytest

from tests.conftest import run_cli
from warmkeeper.config import load_config

FIXTURES = Path(__file__).parent / "fixtures"


def init_from(tmp_path: Path, fixture: str, *args: str, compose: str | None = None) -> tuple[int, str, str]:
    """Run the real command in an empty folder on a copy of the fixture; its exit code, stdout, stderr."""
    source = tmp_path / "src"
    shutil.copytree(FIXTURES / fixture, source)
    if compose is not None:
        (source / "compose.yaml").write_text(compose, encoding="utf-8")
    work = tmp_path / "app"
    work.mkdir()
    result = run_cli(
        ["init", "--from", str(source / "compose.yaml"), "--region", "eu-west-1", *args], cwd=work
    )
    return result.returncode, result.stdout, result.stderr


def written(tmp_path: Path) -> dict[str, object]:
    return tomllib.loads((tmp_path / "app" / "warmkeeper.toml").read_text(encoding="utf-8"))


def test_a_stateless_service_becomes_the_entry_with_its_health_check(tmp_path: Path) -> None:
    code, out, err = init_from(tmp_path, "stateless")
    assert code == 0, err
    config = load_config(tmp_path / "app" / "warmkeeper.toml")
    (ping,) = config.containers
    assert ping.entry and ping.port == 9000 and ping.image == "python:3.12-slim"
    assert ping.command == ["python", "-m", "http.server", "9000"]
    assert ping.health.command is not None and ping.health.command[0] == "CMD"
    assert ping.health.path == "/ping"
    assert (ping.health.interval_seconds, ping.health.timeout_seconds, ping.health.retries) == (10, 3, 3)
    assert ping.health.start_period_seconds == 5
    assert "services.ping.restart: ignored" in out
    assert config.environment("staging").region == "eu-west-1"


def test_api_and_front_end_share_localhost_and_every_key_is_reported(tmp_path: Path) -> None:
    code, out, err = init_from(tmp_path, "api-front")
    assert code == 0, err
    config = load_config(tmp_path / "app" / "warmkeeper.toml")
    assert config.app.name == "shop"  # the compose file's name
    api, front = config.container("api"), config.container("front")
    assert front.entry and front.port == 3000 and not api.entry
    # The service name as a host is rewritten: one task shares one network namespace.
    assert front.environment["API_URL"] == "http://127.0.0.1:8000"
    assert "services.front.environment.API_URL: host 'api' rewritten to 127.0.0.1" in out
    assert front.depends_on == ["api"] and front.dependency_conditions == {"api": "healthy"}
    assert front.stop_timeout_seconds == 20
    assert api.environment == {"API_KEY_HEADER": "x-api-key", "WORKERS": "2", "LOG_LEVEL": "info"}
    assert api.build is not None and (tmp_path / "app" / api.build / "Dockerfile").is_file()
    assert (api.cpu, api.memory) == (512, 512)
    assert (api.build_target, api.build_args) == ("runtime", {"PYTHON_VERSION": "3.12"})
    # Rounded up to a valid Fargate size that holds the limits.
    staging = config.environment("staging")
    assert (staging.cpu, staging.memory) == (512, 1024)
    for key in ("container_name", "labels", "volumes"):
        assert f"services.{'front' if key != 'volumes' else 'api'}.{key}" in out, key
    assert "source mounted for development" in out


def test_a_database_is_refused_naming_it_and_its_volume_then_external_works(tmp_path: Path) -> None:
    code, out, err = init_from(tmp_path, "with-db")
    assert code == 2
    assert "service 'db' keeps state (its volume 'pgdata')" in err
    assert "--external db=URL" in err and "Aurora Serverless v2" in err
    assert "Traceback" not in err
    assert not (tmp_path / "app" / "warmkeeper.toml").exists()  # nothing half-written

    url = "postgres://app@shop.cluster-abc.eu-west-1.rds.amazonaws.com:5432/app"
    shutil.rmtree(tmp_path / "src")
    shutil.rmtree(tmp_path / "app")
    code, out, err = init_from(tmp_path, "with-db", "--external", f"db={url}")
    assert code == 0, err
    config = load_config(tmp_path / "app" / "warmkeeper.toml")
    (api,) = config.containers
    assert api.environment["DB_URL"] == url
    assert api.environment["DATABASE_URL"] == (
        "postgres://app:secret@shop.cluster-abc.eu-west-1.rds.amazonaws.com:5432/app"
    )
    assert api.depends_on == []
    assert "services.db: not imported: --external db=" in out


def test_a_mounted_proxy_config_is_baked_into_an_image_with_its_hosts_rewritten(tmp_path: Path) -> None:
    code, out, err = init_from(tmp_path, "proxy")
    assert code == 0, err
    config = load_config(tmp_path / "app" / "warmkeeper.toml")
    proxy = config.container("proxy")
    assert proxy.image is None and proxy.build == "warmkeeper-images/proxy"
    folder = tmp_path / "app" / "warmkeeper-images" / "proxy"
    assert (folder / "Dockerfile").read_text().splitlines()[1:] == [
        "FROM caddy:2",
        "COPY files/Caddyfile /etc/caddy/Caddyfile",
    ]
    assert "reverse_proxy 127.0.0.1:9000" in (folder / "files" / "Caddyfile").read_text()
    assert "Caddyfile:2: app:PORT rewritten to 127.0.0.1:PORT" in out
    # The file secret is not mapped, and says so with what to do.
    assert "services.app.secrets.api_token: NOT mapped (file ./api_token.txt)" in out


REFUSED = {
    "privileged": (
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    privileged: true\n",
        "services.web.privileged: refused",
    ),
    "host network": (
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    network_mode: host\n",
        "services.web.network_mode: 'host' refused",
    ),
    "devices": (
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    devices: ['/dev/fuse']\n",
        "services.web.devices: refused",
    ),
    "same port": (
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n"
        "  admin:\n    image: nginx\n    expose: ['80']\n",
        "services 'web' and 'admin' both listen on port 80",
    ),
    "ambiguous entry": (
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n  admin:\n    image: httpd\n"
        "    ports: ['8081:8081']\n",
        "pass --entry NAME for the one the front door reaches (candidates: ['web', 'admin'])",
    ),
    "no port": ("services:\n  web:\n    image: nginx\n", "services.web: no port"),
    "bind mount into a built image": (
        "services:\n  web:\n    build: .\n    ports: ['80:80']\n"
        "    volumes: ['./Caddyfile:/etc/caddy/Caddyfile']\n",
        "COPY ./Caddyfile /etc/caddy/Caddyfile in the Dockerfile",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_what_has_no_fargate_meaning_is_refused_in_one_line(tmp_path: Path, case: str) -> None:
    compose, message = REFUSED[case]
    code, _out, err = init_from(tmp_path, "proxy", compose=compose)
    assert code == 2
    assert message in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert not (tmp_path / "app" / "warmkeeper.toml").exists()


def test_an_ambiguous_entry_is_settled_by_entry(tmp_path: Path) -> None:
    compose, _ = REFUSED["ambiguous entry"]
    code, _out, err = init_from(tmp_path, "proxy", "--entry", "admin", compose=compose)
    assert code == 0, err
    config = load_config(tmp_path / "app" / "warmkeeper.toml")
    assert config.entry_container.name == "admin"


def test_a_cache_without_a_volume_is_imported_with_a_note_and_with_one_refused(tmp_path: Path) -> None:
    compose = (
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    environment:\n"
        "      CACHE: redis://cache:6379/0\n  cache:\n    image: redis:7\n    expose: ['6379']\n"
    )
    code, out, err = init_from(tmp_path, "proxy", compose=compose)
    assert code == 0, err
    assert "redis without a volume: imported as a cache that starts empty at every wake" in out
    config = load_config(tmp_path / "app" / "warmkeeper.toml")
    assert config.container("web").environment["CACHE"] == "redis://127.0.0.1:6379/0"
    shutil.rmtree(tmp_path / "src")
    shutil.rmtree(tmp_path / "app")
    kept = compose.replace("expose: ['6379']\n", "expose: ['6379']\n    volumes: ['cachedata:/data']\n")
    code, _out, err = init_from(tmp_path, "proxy", compose=kept)
    assert code == 2 and "service 'cache' keeps state (its volume 'cachedata')" in err


def test_profiles_and_unknown_keys_are_listed_not_dropped(tmp_path: Path) -> None:
    compose = (
        "services:\n  web:\n    image: nginx\n    ports: ['80:80']\n    shm_size: 1g\n"
        "  debug:\n    image: busybox\n    profiles: [debug]\nx-common: {}\nnetworks:\n  default: {}\n"
    )
    code, out, err = init_from(tmp_path, "proxy", compose=compose)
    assert code == 0, err
    assert "services.web.shm_size: ignored" in out
    assert "services.debug: not imported: only in profiles ['debug']" in out
    assert "networks: ignored" in out


@pytest.mark.infra
def test_the_imported_api_and_front_end_synthesize(tmp_path: Path) -> None:
    """The written file is a stack: one task with both containers, the front end waiting for the API's
    health check, the API's command and limits, the front end's rewritten upstream."""
    code, _out, err = init_from(tmp_path, "api-front")
    assert code == 0, err
    output = tmp_path / "cdk.out"
    synth = run_cli(
        [
            "synth",
            "--config",
            str(tmp_path / "app" / "warmkeeper.toml"),
            "--env",
            "staging",
            "--output",
            str(output),
        ],
        timeout=300,
    )
    assert synth.returncode == 0, synth.stdout + synth.stderr
    template = json.loads((output / "Shop-staging.template.json").read_text())
    (task,) = [r for r in template["Resources"].values() if r["Type"] == "AWS::ECS::TaskDefinition"]
    assert (task["Properties"]["Cpu"], task["Properties"]["Memory"]) == ("512", "1024")
    containers = {c["Name"]: c for c in task["Properties"]["ContainerDefinitions"]}
    api, front = containers["api"], containers["front"]
    assert api["Command"] == ["uvicorn", "main:app", "--host", "0.0.0.0", "--port", "8000"]
    assert (api["Cpu"], api["MemoryReservation"]) == (512, 512)
    assert api["HealthCheck"]["Command"][0] == "CMD-SHELL"
    assert front["DependsOn"] == [{"Condition": "HEALTHY", "ContainerName": "api"}]
    assert {"Name": "API_URL", "Value": "http://127.0.0.1:8000"} in front["Environment"]
    assert front["StopTimeout"] == 20
    assert api["Essential"] is True and front["Essential"] is True
