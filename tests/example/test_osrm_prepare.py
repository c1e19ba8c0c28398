"""scripts/osrm_prepare.py: its arguments, its dry run, and the order of its steps and uploads.

The OSRM image cannot be pulled here, so the container steps are a fake runner that makes the files
osrm-extract/partition/customize would; the uploads go to moto's S3. Argument errors are checked
on the script run as a process (exit code, message, no traceback).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "osrm_prepare.py"
NOW = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)
BUCKET = "cityguided-osrm-data"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("osrm_prepare_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["osrm_prepare_script"] = module
    spec.loader.exec_module(module)
    return module


prepare = load()


def run_script(*args: str, path: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PATH": path} if path is not None else None
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=60, check=False, env=env
    )


@pytest.fixture
def pbf(tmp_path: Path) -> Path:
    path = tmp_path / "ile-de-france-latest.osm.pbf"
    path.write_bytes(b"\x00" * 4096)
    return path


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["missing.osm.pbf", "--s3-uri", "s3://cityguided-osrm-data"],
            "PBF: 'missing.osm.pbf' does not exist",
        ),
        (["map.pbf", "--s3-uri", "s3://cityguided-osrm-data"], "PBF: expected an OpenStreetMap extract"),
    ],
)
def test_a_bad_pbf_is_named(args: list[str], words: str) -> None:
    result = run_script(*args)
    assert result.returncode == 2
    assert words in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "uri", ["https://bucket/osrm", "s3://", "s3://Upper_Case", "s3://ab", "s3://-dash-first", "s3://a..b/x"]
)
def test_a_bad_s3_uri_is_named(pbf: Path, uri: str) -> None:
    result = run_script(str(pbf), "--s3-uri", uri, "--dry-run")
    assert result.returncode == 2
    assert result.stderr.startswith("osrm-prepare: --s3-uri:") and "Traceback" not in result.stderr


def test_missing_arguments_and_unknown_profile_are_usage_errors(pbf: Path) -> None:
    assert "--s3-uri" in run_script(str(pbf)).stderr
    bad = run_script(str(pbf), "--s3-uri", f"s3://{BUCKET}", "--profile", "tram")
    assert bad.returncode == 2 and "--profile" in bad.stderr and "car" in bad.stderr


def test_without_a_container_engine_it_stops_before_creating_anything(pbf: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    result = run_script(str(pbf), "--s3-uri", f"s3://{BUCKET}", "--work-dir", str(work), path="/nonexistent")
    assert result.returncode == 2
    assert "--engine: podman or docker not found on PATH" in result.stderr
    assert not work.exists()


def test_a_non_empty_work_dir_is_refused(pbf: Path, tmp_path: Path) -> None:
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "old.txt").write_text("x")
    result = run_script(
        str(pbf), "--s3-uri", f"s3://{BUCKET}", "--work-dir", str(tmp_path / "work"), "--dry-run"
    )
    assert result.returncode == 2 and "--work-dir" in result.stderr and "not empty" in result.stderr


def test_the_dry_run_prints_the_mld_steps_and_the_uploads_and_creates_nothing(pbf: Path) -> None:
    before = sorted(pbf.parent.iterdir())
    result = run_script(str(pbf), "--s3-uri", f"s3://{BUCKET}/staging/", "--engine", "podman", "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line.split(prepare.DEFAULT_IMAGE, 1)[1].split()[0] for line in lines[:3]]
    assert steps == ["osrm-extract", "osrm-partition", "osrm-customize"]
    assert all(line.startswith("podman run --rm -v") for line in lines[:3])
    assert "-p /opt/car.lua /data/map.osm.pbf" in lines[0] and lines[1].endswith("/data/map.osrm")
    assert "-ile-de-france-latest/" in lines[3] and lines[3].startswith("upload ")
    assert lines[-1].endswith(f"s3://{BUCKET}/staging/current.json (last)")
    assert sorted(pbf.parent.iterdir()) == before


# Some of the files each MLD step makes (OSRM 5.27's names).
OUTPUTS = {
    "osrm-extract": ["map.osrm.ebg", "map.osrm.geometry", "map.osrm.names", "map.osrm.timestamp"],
    "osrm-partition": ["map.osrm.partition", "map.osrm.cells"],
    "osrm-customize": ["map.osrm.mldgr", "map.osrm.cell_metrics"],
}


class FakeOsrmImage:
    """Stands in for the containers: records each command and makes the files the step makes."""

    def __init__(self, fail_at: str | None = None) -> None:
        self.commands: list[list[str]] = []
        self.fail_at = fail_at

    def __call__(self, command: Sequence[str]) -> int:
        self.commands.append(list(command))
        step = command[command.index(prepare.DEFAULT_IMAGE) + 1]
        work = Path(command[command.index("-v") + 1].rsplit(":/data", 1)[0])
        assert (work / "map.osm.pbf").exists() or step != "osrm-extract"
        if step == self.fail_at:
            return 3
        for name in OUTPUTS[step]:
            (work / name).write_bytes(b"\x01" * 1000)
        return 0


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
        yield client


def keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_it_uploads_the_dataset_then_points_to_it(pbf: Path, tmp_path: Path, s3: Any) -> None:
    image = FakeOsrmImage()
    work = tmp_path / "work"
    code = prepare.main(
        [str(pbf), "--s3-uri", f"s3://{BUCKET}/staging", "--engine", "podman", "--work-dir", str(work)],
        s3=s3,
        runner=image,
        now=NOW,
    )
    assert code == 0
    assert [c[c.index(prepare.DEFAULT_IMAGE) + 1] for c in image.commands] == [
        "osrm-extract",
        "osrm-partition",
        "osrm-customize",
    ]
    dataset = "20261206T100000Z-ile-de-france-latest"
    made = sorted(name for names in OUTPUTS.values() for name in names)
    assert keys(s3) == sorted(
        [f"staging/{dataset}/{name}" for name in made]
        + [f"staging/{dataset}/manifest.json", "staging/current.json"]
    )
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=f"staging/{dataset}/manifest.json")["Body"].read())
    assert manifest["total_bytes"] == 1000 * len(made) and manifest["source_bytes"] == 4096
    assert manifest["image"] == prepare.DEFAULT_IMAGE and manifest["algorithm"] == "mld"
    pointer = json.loads(s3.get_object(Bucket=BUCKET, Key="staging/current.json")["Body"].read())
    assert pointer == {"dataset": dataset, "prefix": f"staging/{dataset}", "total_bytes": 1000 * len(made)}
    # The extract's link or copy is not uploaded, and the kept working directory holds the dataset.
    assert not (work / "map.osm.pbf").exists() and (work / "map.osrm.mldgr").exists()


def test_a_failed_step_uploads_nothing_and_removes_its_directory(
    pbf: Path, s3: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    image = FakeOsrmImage(fail_at="osrm-partition")
    code = prepare.main(
        [str(pbf), "--s3-uri", f"s3://{BUCKET}", "--engine", "podman"], s3=s3, runner=image, now=NOW
    )
    assert code == 1
    assert "osrm-partition failed (exit 3); nothing was uploaded" in capsys.readouterr().err
    assert len(image.commands) == 2
    assert keys(s3) == []
    assert list((tmp_path / "tmp").iterdir()) == []


class FailingS3:
    """The real (moto) client, except that the third file upload fails, as a lost connection would."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.uploads = 0

    def upload_file(self, *args: Any) -> None:
        self.uploads += 1
        if self.uploads == 3:
            raise ConnectionError("connection reset by peer")
        self.client.upload_file(*args)

    def put_object(self, **kwargs: Any) -> Any:
        return self.client.put_object(**kwargs)


def test_a_failed_upload_leaves_the_pointer_alone(
    pbf: Path, s3: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    s3.put_object(Bucket=BUCKET, Key="current.json", Body=b'{"dataset": "previous"}')
    failing = FailingS3(s3)
    code = prepare.main(
        [str(pbf), "--s3-uri", f"s3://{BUCKET}", "--engine", "podman"],
        s3=failing,
        runner=FakeOsrmImage(),
        now=NOW,
    )
    assert code == 1
    err = capsys.readouterr().err
    assert f"upload to s3://{BUCKET}/20261206T100000Z-ile-de-france-latest failed" in err
    assert "connection reset by peer" in err and "current.json was not changed" in err
    assert "Traceback" not in err
    # Two files of the new dataset made it; no manifest, and the pointer still names the previous one.
    assert len(keys(s3)) == 3 and not any(key.endswith("manifest.json") for key in keys(s3))
    assert s3.get_object(Bucket=BUCKET, Key="current.json")["Body"].read() == b'{"dataset": "previous"}'


START_SH = Path(__file__).resolve().parents[2] / "examples" / "cityguided" / "osrm" / "start.sh"


def run_start(data: Path, tmp_path: Path, image: str) -> subprocess.CompletedProcess[str]:
    """osrm/start.sh (the AWS image's command) with a fake osrm-routed that prints its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "osrm-routed"
    fake.write_text('#!/bin/sh\necho "osrm-routed $*"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "OSRM_DATA_DIR": str(data), "OSRM_IMAGE": image}
    return subprocess.run(
        ["sh", str(START_SH)], env=env, capture_output=True, text=True, timeout=30, check=False
    )


def test_the_images_start_script_runs_a_dataset_the_script_prepared(
    pbf: Path, tmp_path: Path, s3: Any
) -> None:
    work = tmp_path / "work"
    code = prepare.main(
        [str(pbf), "--s3-uri", f"s3://{BUCKET}", "--engine", "podman", "--work-dir", str(work)],
        s3=s3,
        runner=FakeOsrmImage(),
        now=NOW,
    )
    assert code == 0
    data = tmp_path / "data"
    data.mkdir()
    # What the init container copies from S3: the dataset named by current.json, manifest included.
    pointer = json.loads(s3.get_object(Bucket=BUCKET, Key="current.json")["Body"].read())
    for entry in s3.list_objects_v2(Bucket=BUCKET, Prefix=pointer["prefix"] + "/")["Contents"]:
        name = entry["Key"].rsplit("/", 1)[1]
        (data / name).write_bytes(s3.get_object(Bucket=BUCKET, Key=entry["Key"])["Body"].read())
    started = run_start(data, tmp_path, prepare.DEFAULT_IMAGE)
    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == f"osrm-routed --algorithm mld --ip 0.0.0.0 --port 5000 {data}/map.osrm"
    other = run_start(data, tmp_path, "ghcr.io/project-osrm/osrm-backend:v6.0.0")
    assert other.returncode == 1 and "prepared with another image" in other.stderr
    (data / "map.osrm.mldgr").unlink()
    missing = run_start(data, tmp_path, prepare.DEFAULT_IMAGE)
    assert missing.returncode == 1 and "no dataset" in missing.stderr


def test_the_image_tag_is_the_same_for_preparing_and_running() -> None:
    dockerfile = (START_SH.parent / "Dockerfile").read_text(encoding="utf-8")
    assert f"ARG OSRM_IMAGE={prepare.DEFAULT_IMAGE}\n" in dockerfile
