#!/usr/bin/env python3
"""Prepare OSRM routing data from an OpenStreetMap extract and upload it to S3.

    scripts/osrm_prepare.py ile-de-france-latest.osm.pbf --s3-uri s3://my-bucket/osrm [--dry-run]

Runs the three MLD steps of the official OSRM image (``osrm-extract`` with a profile,
``osrm-partition``, ``osrm-customize``) under Podman or Docker, then uploads the result with boto3
(the credentials and region of the usual AWS chain). The same image tag must run the data: OSRM refuses
files prepared by another version, so the tag is recorded in the dataset's manifest.

What lands in S3, so that a task starting while an upload runs never reads half a dataset:

- ``<prefix>/<dataset>/map.osrm.*`` and ``<prefix>/<dataset>/manifest.json`` (files, sizes, source,
  image, profile), where ``<dataset>`` is the UTC time of preparation and the source's name;
- then, last, ``<prefix>/current.json``, which names the dataset to load. Until it is written, tasks
  keep loading the previous dataset.

The files are named ``map.osrm*`` whatever the region, so the service always runs
``osrm-routed --algorithm mld /data/map.osrm``.

Bad arguments exit 2 with a message naming the argument; a failed step exits 1, names the step and
removes the working directory the script created; nothing is uploaded unless every step succeeded.
``--dry-run`` prints the commands and the uploads without running or creating anything.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The image the service runs (examples/cityguided/osrm/Dockerfile): keep the two tags equal.
DEFAULT_IMAGE = "ghcr.io/project-osrm/osrm-backend:v5.27.1"
PROFILES = ("car", "foot", "bicycle")  # the profiles the image ships in /opt
BASE_NAME = "map"
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
POINTER = "current.json"

Runner = Callable[[Sequence[str]], int]


class UsageError(Exception):
    """A bad argument: exit 2 with the message."""


class StepError(Exception):
    """A step that failed: exit 1 with the message."""


@dataclass(frozen=True)
class Plan:
    pbf: Path
    bucket: str
    prefix: str
    profile: str
    image: str
    engine: str
    dataset: str

    @property
    def dataset_prefix(self) -> str:
        return f"{self.prefix}/{self.dataset}" if self.prefix else self.dataset

    @property
    def pointer_key(self) -> str:
        return f"{self.prefix}/{POINTER}" if self.prefix else POINTER

    def commands(self, work: Path) -> list[list[str]]:
        """The three MLD steps, each in a fresh container with the working directory at /data."""
        run = [self.engine, "run", "--rm", "-v", f"{work}:/data", self.image]
        osrm = f"/data/{BASE_NAME}.osrm"
        return [
            [*run, "osrm-extract", "-p", f"/opt/{self.profile}.lua", f"/data/{BASE_NAME}.osm.pbf"],
            [*run, "osrm-partition", osrm],
            [*run, "osrm-customize", osrm],
        ]


def parse_s3_uri(value: str) -> tuple[str, str]:
    """``s3://bucket[/prefix]`` -> (bucket, prefix without slashes at its ends)."""
    if not value.startswith("s3://"):
        raise UsageError(f"--s3-uri: expected s3://BUCKET[/PREFIX], got {value!r}")
    bucket, _, prefix = value.removeprefix("s3://").partition("/")
    if not BUCKET.match(bucket) or ".." in bucket:
        raise UsageError(
            f"--s3-uri: {bucket!r} is not a valid bucket name (3-63 lowercase letters, digits, dots, hyphens)"
        )
    return bucket, prefix.strip("/")


def find_engine(wanted: str | None) -> str | None:
    for name in [wanted] if wanted else ["podman", "docker"]:
        if shutil.which(name):
            return name
    return None


def make_plan(args: argparse.Namespace, now: dt.datetime) -> Plan:
    pbf: Path = args.pbf
    if not pbf.name.endswith(".osm.pbf"):
        raise UsageError(f"PBF: expected an OpenStreetMap extract named *.osm.pbf, got {str(pbf)!r}")
    if not pbf.is_file():
        raise UsageError(f"PBF: {str(pbf)!r} does not exist or is not a file")
    bucket, prefix = parse_s3_uri(args.s3_uri)
    engine = find_engine(args.engine)
    if engine is None:
        if not args.dry_run:
            wanted = args.engine or "podman or docker"
            raise UsageError(f"--engine: {wanted} not found on PATH; the OSRM steps run in a container")
        engine = args.engine or "docker"
    region = pbf.name.removesuffix(".osm.pbf")
    dataset = f"{now.strftime('%Y%m%dT%H%M%SZ')}-{re.sub(r'[^A-Za-z0-9._-]', '-', region)}"
    return Plan(pbf, bucket, prefix, args.profile, args.image, engine, dataset)


def default_runner(command: Sequence[str]) -> int:
    return subprocess.run(list(command), check=False).returncode


def prepare(plan: Plan, work: Path, runner: Runner) -> dict[str, Any]:
    """Run the steps in ``work``; returns the manifest of the files made."""
    source = work / f"{BASE_NAME}.osm.pbf"
    try:
        os.link(plan.pbf, source)  # no copy of a large file when the working directory allows it
    except OSError:
        shutil.copyfile(plan.pbf, source)
    for command in plan.commands(work):
        step = command[command.index(plan.image) + 1]
        print(f"osrm-prepare: {step}: {shlex.join(command)}", flush=True)
        code = runner(command)
        if code != 0:
            raise StepError(f"{step} failed (exit {code}); nothing was uploaded")
    source.unlink()
    files = {p.name: p.stat().st_size for p in sorted(work.glob(f"{BASE_NAME}.osrm*")) if p.is_file()}
    if f"{BASE_NAME}.osrm.mldgr" not in files:
        raise StepError(f"the steps made no {BASE_NAME}.osrm.mldgr (the MLD graph); nothing was uploaded")
    return {
        "dataset": plan.dataset,
        "source": plan.pbf.name,
        "source_bytes": plan.pbf.stat().st_size,
        "image": plan.image,
        "profile": plan.profile,
        "algorithm": "mld",
        "osrm_file": f"{BASE_NAME}.osrm",
        "files": files,
        "total_bytes": sum(files.values()),
    }


def upload(plan: Plan, work: Path, manifest: dict[str, Any], s3: Any) -> None:
    """Data files, then the manifest, then the pointer: a reader never sees a partial dataset."""
    for name in manifest["files"]:
        s3.upload_file(str(work / name), plan.bucket, f"{plan.dataset_prefix}/{name}")
    body = json.dumps(manifest, indent=2).encode()
    s3.put_object(Bucket=plan.bucket, Key=f"{plan.dataset_prefix}/manifest.json", Body=body)
    pointer = {"dataset": plan.dataset, "prefix": plan.dataset_prefix, "total_bytes": manifest["total_bytes"]}
    s3.put_object(Bucket=plan.bucket, Key=plan.pointer_key, Body=json.dumps(pointer).encode())


def describe(plan: Plan, work: Path) -> list[str]:
    lines = [shlex.join(command) for command in plan.commands(work)]
    target = f"s3://{plan.bucket}/{plan.dataset_prefix}"
    lines += [
        f"upload {work}/{BASE_NAME}.osrm* -> {target}/",
        f"upload manifest.json -> {target}/manifest.json",
        f"upload {POINTER} -> s3://{plan.bucket}/{plan.pointer_key} (last)",
    ]
    return lines


def parser() -> argparse.ArgumentParser:
    result = argparse.ArgumentParser(
        prog="osrm_prepare.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    result.add_argument("pbf", type=Path, metavar="PBF", help="the OpenStreetMap extract (*.osm.pbf)")
    result.add_argument("--s3-uri", required=True, help="where to upload: s3://BUCKET[/PREFIX]")
    result.add_argument("--profile", choices=PROFILES, default="car", help="OSRM profile (default: car)")
    result.add_argument("--image", default=DEFAULT_IMAGE, help=f"OSRM image (default: {DEFAULT_IMAGE})")
    result.add_argument(
        "--engine", choices=("podman", "docker"), help="container engine (default: found on PATH)"
    )
    result.add_argument(
        "--work-dir", type=Path, help="keep the prepared files here (default: a temporary directory)"
    )
    result.add_argument("--dry-run", action="store_true", help="print what would run; run and create nothing")
    return result


def main(
    argv: Sequence[str] | None = None,
    *,
    s3: Any = None,
    runner: Runner = default_runner,
    now: dt.datetime | None = None,
) -> int:
    args = parser().parse_args(argv)
    try:
        plan = make_plan(args, now or dt.datetime.now(dt.UTC))
        if args.work_dir is not None and args.work_dir.exists() and any(args.work_dir.iterdir()):
            raise UsageError(f"--work-dir: {str(args.work_dir)!r} is not empty")
    except UsageError as error:
        print(f"osrm-prepare: {error}", file=sys.stderr)
        return 2
    if args.dry_run:
        for line in describe(plan, args.work_dir or Path("<temporary directory>")):
            print(line)
        return 0
    created = args.work_dir is None or not args.work_dir.exists()
    work = Path(tempfile.mkdtemp(prefix="osrm-prepare-")) if args.work_dir is None else args.work_dir
    work.mkdir(parents=True, exist_ok=True)
    try:
        return run(plan, work, s3, runner)
    finally:
        # The files are in S3 or the run failed: a directory the script made is not kept either way.
        if created and args.work_dir is None:
            shutil.rmtree(work, ignore_errors=True)


def run(plan: Plan, work: Path, s3: Any, runner: Runner) -> int:
    try:
        manifest = prepare(plan, work, runner)
    except (StepError, OSError) as error:
        print(f"osrm-prepare: {error}", file=sys.stderr)
        return 1
    target = f"s3://{plan.bucket}/{plan.dataset_prefix}"
    try:
        if s3 is None:
            import boto3  # only when uploading: the dry run and the argument checks need no AWS library

            s3 = boto3.client("s3")
        upload(plan, work, manifest, s3)
    except Exception as error:  # botocore's errors have no common base with the transfer's; no traceback
        print(f"osrm-prepare: upload to {target} failed: {error}", file=sys.stderr)
        print(
            f"osrm-prepare: {POINTER} was not changed: tasks keep loading the previous dataset",
            file=sys.stderr,
        )
        return 1
    print(
        f"osrm-prepare: {plan.dataset}: {manifest['total_bytes']} bytes in {target}; {POINTER} points to it"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
