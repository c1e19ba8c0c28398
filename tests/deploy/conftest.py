"""A deployed staging stack in moto, and a stand-in for what `cdk deploy` makes AWS do.

The boundary: the deployer runs the pinned CDK CLI through an injected runner. Here that runner is
`ScriptedCdk`: `cdk deploy` becomes what CloudFormation and ECS would do, played one step per
poll of the follow loop (the loop polls once per tick, so steps and ticks line up):

- what CloudFormation does through public APIs is done through moto's APIs: RegisterTaskDefinition
  of a new revision with the new image, UpdateService with that task definition (never a desired
  count: the template has none);
- what moto does not model is set on moto's own models, minimally: the service's `deployments`
  (moto keeps one deployment and never changes its rolloutState, so a rolling update, a circuit
  breaker FAILED and ECS's rollback deployment are written there), the service's `events`, its
  running/pending counts, and the stack's status (UPDATE_IN_PROGRESS, UPDATE_ROLLBACK_*). The
  deployer reads all of it back through the real DescribeServices/DescribeStacks responses.

The synthesizer is replaced too (the real one is one `infra` test in test_synthesis.py): it writes
a small cloud assembly whose task definition uses the image tag or digests it was given.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends
from rich.console import Console

from tests.conftest import EXAMPLE_CONFIG
from warmkeeper.config import AppConfig, EnvironmentSettings, load_config
from warmkeeper.deploy.aws import AwsDeployer
from warmkeeper.deploy.clients import AwsClients
from warmkeeper.deploy.preflight import CDK_BOOTSTRAP_VERSION_PARAMETER

REGION = "eu-west-3"
ACCOUNT = DEFAULT_ACCOUNT_ID
STACK = "Cityguided-staging"
CLUSTER = "cityguided-staging"
SERVICE = "cityguided-staging-service"
PREFIX = "/warmkeeper/cityguided/staging"
CONTAINERS = ("caddy", "api", "web")
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials only; no profile, no shared files, never the EC2 metadata endpoint."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


_SESSIONS: list[boto3.Session] = []


def shared_session() -> boto3.Session:
    """One boto3 session for every test: loading botocore's service models takes ~0.1 s per client."""
    if not _SESSIONS:
        _SESSIONS.append(boto3.Session(region_name=REGION))
    return _SESSIONS[0]


@pytest.fixture(scope="session")
def cfg() -> AppConfig:
    return load_config(EXAMPLE_CONFIG)


@pytest.fixture(scope="session")
def staging(cfg: AppConfig) -> EnvironmentSettings:
    return cfg.environment("staging")


def manifest(label: str) -> str:
    """A distinct image manifest per label: moto's ECR derives the digest from the layer digests."""
    layer = "sha256:" + hashlib.sha256(label.encode()).hexdigest()
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 7,
                "digest": layer,
            },
            "layers": [
                {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 7, "digest": layer}
            ],
        }
    )


class Cloud:
    """The moto account: a deployed staging stack with a service at `desired` tasks."""

    def __init__(self, desired: int):
        self.clients = AwsClients.for_region(REGION, shared_session())
        self.pushed: dict[str, dict[str, str]] = {}
        self.ecs = self.clients.ecs
        self.ecr = self.clients.ecr
        self.cfn = self.clients.cloudformation
        self.ssm = self.clients.ssm
        for name in CONTAINERS:
            self.ecr.create_repository(repositoryName=f"cityguided/{name}")
        self.ssm.put_parameter(Name=CDK_BOOTSTRAP_VERSION_PARAMETER, Value="27", Type="String")
        self.ecs.create_cluster(clusterName=CLUSTER)
        self.register_revision("v1")
        self.ecs.create_service(
            cluster=CLUSTER, serviceName=SERVICE, taskDefinition="cityguided-staging", desiredCount=desired
        )
        self.service_model.running_count = desired
        self.service_model.pending_count = 0
        outputs = {
            "ClusterName": CLUSTER,
            "ServiceName": SERVICE,
            "ParameterPrefix": PREFIX,
            "Url": "http://cityguided-staging.example",
            **{f"RepositoryUri{name.capitalize()}": f"{REGISTRY}/cityguided/{name}" for name in CONTAINERS},
        }
        template = {
            "Resources": {
                "Marker": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Name": "/marker", "Type": "String", "Value": "1"},
                }
            },
            "Outputs": {key: {"Value": value} for key, value in outputs.items()},
        }
        self.cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(template))

    def push(self, tag: str, containers: Sequence[str] = CONTAINERS, content: str = "") -> dict[str, str]:
        """Push TAG (or move it to new `content`); returns container -> digest."""
        digests = {}
        for name in containers:
            if tag in self.pushed and content:
                # Real ECR keeps the image a moved tag leaves (untagged); moto deletes it, so it
                # keeps a second tag here.
                self.ecr.put_image(
                    repositoryName=f"cityguided/{name}",
                    imageManifest=manifest(f"{name}-{tag}"),
                    imageTag=f"{tag}-was",
                )
            image = self.ecr.put_image(
                repositoryName=f"cityguided/{name}",
                imageManifest=manifest(f"{name}-{content or tag}"),
                imageTag=tag,
            )
            digests[name] = image["image"]["imageId"]["imageDigest"]
        self.pushed[tag] = {**self.pushed.get(tag, {}), **digests}
        return digests

    def register_revision(self, tag: str) -> str:
        definitions: list[Any] = [
            {"name": name, "image": f"{REGISTRY}/cityguided/{name}:{tag}", "memory": 128}
            for name in CONTAINERS
        ]
        result = self.ecs.register_task_definition(
            family="cityguided-staging", containerDefinitions=definitions
        )
        return result["taskDefinition"]["taskDefinitionArn"]

    @property
    def service_model(self) -> Any:
        return ecs_backends[ACCOUNT][REGION].services[f"{CLUSTER}:{SERVICE}"]

    @property
    def stack_model(self) -> Any:
        backend = cloudformation_backends[ACCOUNT][REGION]
        return next(stack for stack in backend.stacks.values() if stack.name == STACK)

    def service(self) -> dict[str, Any]:
        return dict(self.ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"][0])

    def history(self) -> list[dict[str, Any]] | None:
        try:
            value = self.ssm.get_parameter(Name=f"{PREFIX}/deploy/releases")["Parameter"]["Value"]
        except self.ssm.exceptions.ParameterNotFound:
            return None
        result: list[dict[str, Any]] = json.loads(value)
        return result

    # ---- what ECS / CloudFormation would do, written where moto does not model it ----

    def set_stack(self, status: str, reason: str | None = None) -> None:
        self.stack_model.status = status
        self.stack_model.status_reason = reason

    def event(self, message: str) -> None:
        self.service_model.events.insert(
            0,
            {
                "id": f"ev-{len(self.service_model.events) + 1}",
                "createdAt": datetime.now(UTC),
                "message": message,
            },
        )

    def set_deployments(self, *deployments: dict[str, Any]) -> None:
        self.service_model.deployments = [dict(d) for d in deployments]

    def set_counts(self, running: int, pending: int) -> None:
        self.service_model.running_count = running
        self.service_model.pending_count = pending


def deployment(
    ident: str,
    status: str,
    rollout: str,
    task_definition: str,
    *,
    desired: int = 1,
    running: int = 0,
    pending: int = 0,
    failed: int = 0,
    reason: str = "",
) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": f"ecs-svc/{ident}",
        "status": status,
        "rolloutState": rollout,
        "rolloutStateReason": reason
        or f"ECS deployment ecs-svc/{ident} {rollout.lower().replace('_', ' ')}.",
        "taskDefinition": task_definition,
        "desiredCount": desired,
        "runningCount": running,
        "pendingCount": pending,
        "failedTasks": failed,
        "createdAt": now,
        "updatedAt": now,
        "launchType": "FARGATE",
    }


Step = Callable[["Cloud"], None]


@dataclass
class ScriptedProcess:
    """`cdk deploy` as seen by the deployer: one scripted step per poll, then an exit code."""

    cloud: Cloud
    steps: list[Step]
    exit_code: int | None
    output: list[str] = field(default_factory=list)
    polls: int = 0
    terminated: bool = False

    def poll(self) -> int | None:
        if self.terminated:
            return -15
        if self.polls < len(self.steps):
            self.steps[self.polls](self.cloud)
            self.polls += 1
            return None
        return self.exit_code

    def read_lines(self) -> list[str]:
        lines, self.output = self.output, []
        return lines

    def terminate(self) -> None:
        self.terminated = True


@dataclass
class ScriptedCdk:
    """The injected runner: records every CLI call; `deploy` starts the script."""

    cloud: Cloud
    steps: list[Step] = field(default_factory=list)
    exit_code: int | None = 0
    output: list[str] = field(default_factory=list)
    calls: list[list[str]] = field(default_factory=list)
    process: ScriptedProcess | None = None

    def start(self, args: Sequence[str]) -> ScriptedProcess:
        self.calls.append(list(args))
        if args[0] == "diff":
            return ScriptedProcess(
                self.cloud, [], 0, ["Stack Cityguided-staging", "[~] AWS::ECS::TaskDefinition"]
            )
        assert args[0] == "deploy"
        self.process = ScriptedProcess(self.cloud, list(self.steps), self.exit_code, list(self.output))
        return self.process


@dataclass
class FakeSynth:
    """Writes a minimal cloud assembly whose task definition uses the tag (or digests) it is given."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    nag_error: str | None = None
    pin_digests: bool = False  # what warmkeeper.infra does once it accepts image_digests
    tag_override: str | None = None  # a CDK app that ignores the tag it was given

    def __call__(
        self, cfg: AppConfig, env: str, output: Path, image_tag: str, digests: Mapping[str, str]
    ) -> Path:
        self.calls.append((image_tag, dict(digests)))
        output.mkdir(parents=True)

        def reference(name: str) -> str:
            if self.pin_digests and name in digests:
                return f"@{digests[name]}"
            return f":{self.tag_override or image_tag}"

        # Shaped like CDK's: the repository URI from intrinsics, then ":tag" or "@digest".
        definitions = [
            {
                "Name": name,
                "Image": {
                    "Fn::Join": ["", [{"Fn::GetAtt": [f"{name}Repo", "Arn"]}, f".dkr.ecr/x{reference(name)}"]]
                },
            }
            for name in CONTAINERS
        ]
        template = {
            "Resources": {
                "Task": {
                    "Type": "AWS::ECS::TaskDefinition",
                    "Properties": {"ContainerDefinitions": definitions},
                }
            }
        }
        (output / f"{STACK}.template.json").write_text(json.dumps(template))
        metadata: dict[str, list[dict[str, str]]] = {
            "/Cityguided-staging/Service": [{"type": "aws:cdk:warning", "data": "w"}]
        }
        if self.nag_error:
            metadata["/Cityguided-staging/Role/Resource"] = [
                {"type": "aws:cdk:error", "data": self.nag_error}
            ]
        artifacts = {
            STACK: {
                "type": "aws:cloudformation:stack",
                "environment": f"aws://{ACCOUNT}/{REGION}",
                "properties": {"templateFile": f"{STACK}.template.json"},
                "metadata": metadata,
            }
        }
        (output / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": artifacts}))
        return output / f"{STACK}.template.json"


@dataclass
class FakeClock:
    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Harness:
    cloud: Cloud
    cdk: ScriptedCdk
    synth: FakeSynth
    clock: FakeClock
    console_file: io.StringIO
    deployer: AwsDeployer

    @property
    def output(self) -> str:
        return self.console_file.getvalue()


def make_harness(cfg: AppConfig, settings: EnvironmentSettings, cloud: Cloud, tmp_path: Path) -> Harness:
    cdk = ScriptedCdk(cloud)
    synth = FakeSynth()
    clock = FakeClock()
    console_file = io.StringIO()
    console = Console(file=console_file, width=240, color_system=None)
    deployer = AwsDeployer(
        cfg,
        "staging",
        settings,
        AwsClients.for_region(REGION, shared_session()),
        runner=cdk,
        synthesize=synth,
        assembly_dir=tmp_path / "cdk.out" / "deploy-staging",
        console=console,
        clock=clock,
        sleep=clock.sleep,
        poll_seconds=5.0,
    )
    return Harness(cloud, cdk, synth, clock, console_file, deployer)


@pytest.fixture
def warm(aws_env: None, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path) -> Iterator[Harness]:
    """Staging running one task of v1; v2 pushed."""
    with mock_aws():
        cloud = Cloud(desired=1)
        cloud.push("v1")
        cloud.push("v2")
        yield make_harness(cfg, staging, cloud, tmp_path)


@pytest.fixture
def cold(aws_env: None, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path) -> Iterator[Harness]:
    """Staging asleep (desired 0); v2 pushed."""
    with mock_aws():
        cloud = Cloud(desired=0)
        cloud.push("v1")
        cloud.push("v2")
        yield make_harness(cfg, staging, cloud, tmp_path)
