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

The synthesizer is replaced too (the real one runs in test_synthesis.py, marker `infra`): it writes
a small cloud assembly whose task definition uses the image tag or digests it was given.

The images stack (`Cityguided-staging-images`, the ECR repositories) is a real CloudFormation stack
in moto: `cdk deploy` of it creates it from the template in the assembly (moto creates the
repositories and evaluates the `RepositoryUri*` outputs), and `docker buildx build --push` becomes
a PutImage into moto's ECR (`FakeDocker`).
"""

from __future__ import annotations

import hashlib
import io
import json
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.cloudformation.models import cloudformation_backends
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ecs.models import ecs_backends
from rich.console import Console

from tests.conftest import EXAMPLE_CONFIG
from warmkeeper.aws.clients import AwsClients
from warmkeeper.config import AppConfig, EnvironmentSettings, parse_config
from warmkeeper.deploy.context import ReleaseContext
from warmkeeper.deploy.image_push import is_push
from warmkeeper.deploy.preflight import CDK_BOOTSTRAP_VERSION_PARAMETER
from warmkeeper.deploy.publish import ImagePublisher
from warmkeeper.deploy.release import AwsDeployer

REGION = "eu-west-3"
ACCOUNT = DEFAULT_ACCOUNT_ID
STACK = "Cityguided-staging"
IMAGES_STACK = "Cityguided-staging-images"
CLUSTER = "cityguided-staging"
SERVICE = "cityguided-staging-service"
PREFIX = "/warmkeeper/cityguided/staging"
# Every built container of the example: the app's three and the osrm service's (osrm-data is a public image).
CONTAINERS = ("caddy", "api", "web", "osrm")
REGISTRY = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com"


def repository(name: str) -> str:
    return f"cityguided-staging/{name}"


def images_template(containers: Sequence[str] = CONTAINERS) -> dict[str, Any]:
    """The images stack's shape: one repository per built container, its URI as an output."""
    logical = {name: f"{name.capitalize()}Repository" for name in containers}
    return {
        "Resources": {
            logical[name]: {
                "Type": "AWS::ECR::Repository",
                "Properties": {"RepositoryName": repository(name)},
            }
            for name in containers
        },
        "Outputs": {
            f"RepositoryUri{name.capitalize()}": {"Value": {"Fn::GetAtt": [logical[name], "RepositoryUri"]}}
            for name in containers
        },
    }


def outputs_template(outputs: Mapping[str, str]) -> dict[str, Any]:
    """A stack that stands for a deployed service stack: one harmless resource and these outputs."""
    return {
        "Resources": {
            "Marker": {
                "Type": "AWS::SSM::Parameter",
                "Properties": {"Name": "/marker", "Type": "String", "Value": "1"},
            }
        },
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }


def fake_aws_environment(monkeypatch: pytest.MonkeyPatch, folder: Path) -> None:
    """Fake credentials only; no profile, no shared files, never the EC2 metadata endpoint."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(folder / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(folder / "no-config"))
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_aws_environment(monkeypatch, tmp_path)


_SESSIONS: list[boto3.Session] = []


def shared_session() -> boto3.Session:
    """One boto3 session for every test: loading botocore's service models takes ~0.1 s per client."""
    if not _SESSIONS:
        _SESSIONS.append(boto3.Session(region_name=REGION))
    return _SESSIONS[0]


def load_balancer_example() -> AppConfig:
    """The example with staging behind CloudFront and an internal load balancer. The example's staging
    moved to the HTTP API, whose run-time side (route switch, payload 2.0) is a later change:
    the deploy flow these tests cover is the load balancer's, so they keep the front door they were
    written for."""
    data = tomllib.loads(EXAMPLE_CONFIG.read_text(encoding="utf-8"))
    data["environments"]["staging"]["front_door"] = "cloudfront"
    return parse_config(data, EXAMPLE_CONFIG.resolve())


@pytest.fixture(scope="session")
def cfg() -> AppConfig:
    return load_balancer_example()


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
    """The moto account: staging's images stack, and its service stack at `desired` tasks.

    `desired=None`: the service stack does not exist yet; `images_stack=False`: neither does the
    images stack (a new environment: only the CDK bootstrap is there).
    """

    def __init__(self, desired: int | None, images_stack: bool = True):
        self.clients = AwsClients(shared_session())
        self.pushed: dict[str, dict[str, str]] = {}
        self.ecs = self.clients.ecs
        self.ecr = self.clients.ecr
        self.cfn = self.clients.cloudformation
        self.ssm = self.clients.ssm
        self.ssm.put_parameter(Name=CDK_BOOTSTRAP_VERSION_PARAMETER, Value="27", Type="String")
        if images_stack:
            self.deploy_template(IMAGES_STACK, images_template())
        if desired is not None:
            self.create_service_stack(desired, self.register_revision("v1"))

    def deploy_template(self, name: str, template: Mapping[str, Any]) -> None:
        """Create or update a stack from a template, as CloudFormation would (in moto)."""
        body = json.dumps(template)
        try:
            self.cfn.describe_stacks(StackName=name)
        except ClientError:
            self.cfn.create_stack(StackName=name, TemplateBody=body)
            return
        self.cfn.update_stack(StackName=name, TemplateBody=body)

    def create_service_stack(self, desired: int, task_definition: str) -> None:
        """The service stack: cluster, service (at `desired` tasks) and the contract's outputs."""
        self.ecs.create_cluster(clusterName=CLUSTER)
        self.ecs.create_service(
            cluster=CLUSTER, serviceName=SERVICE, taskDefinition=task_definition, desiredCount=desired
        )
        self.service_model.running_count = desired
        self.service_model.pending_count = 0
        outputs = {
            "ClusterName": CLUSTER,
            "ServiceName": SERVICE,
            "ParameterPrefix": PREFIX,
            "Url": "http://cityguided-staging.example",
        }
        if load_balancer_example().environment("staging").front_door == "cloudfront":
            # What the CloudFront front door adds to the outputs (the deploy compares front doors).
            outputs |= {"Url": "https://d111111abcdef8.cloudfront.net", "DistributionId": "E2EXAMPLE"}
        self.cfn.create_stack(StackName=STACK, TemplateBody=json.dumps(outputs_template(outputs)))

    def push(self, tag: str, containers: Sequence[str] = CONTAINERS, content: str = "") -> dict[str, str]:
        """Push TAG (or move it to new `content`); returns container -> digest."""
        digests = {}
        for name in containers:
            if tag in self.pushed and content:
                # Real ECR keeps the image a moved tag leaves (untagged); moto deletes it, so it
                # keeps a second tag here.
                self.ecr.put_image(
                    repositoryName=repository(name),
                    imageManifest=manifest(f"{name}-{tag}"),
                    imageTag=f"{tag}-was",
                )
            image = self.ecr.put_image(
                repositoryName=repository(name),
                imageManifest=manifest(f"{name}-{content or tag}"),
                imageTag=tag,
            )
            digests[name] = image["image"]["imageId"]["imageDigest"]
        self.pushed[tag] = {**self.pushed.get(tag, {}), **digests}
        return digests

    def register_revision(self, tag: str, digests: Mapping[str, str] | None = None) -> str:
        """A task definition revision: images by digest when given (what the deploy pins), else by tag."""
        reference = {name: f"@{digests[name]}" if digests else f":{tag}" for name in CONTAINERS}
        definitions: list[Any] = [
            {"name": name, "image": f"{REGISTRY}/{repository(name)}{reference[name]}", "memory": 128}
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
        return self._stack(STACK)

    @staticmethod
    def stack_names() -> list[str]:
        backend = cloudformation_backends[ACCOUNT][REGION]
        return sorted(stack.name for stack in backend.stacks.values())

    def stack_status(self, name: str) -> str:
        return str(self.cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])

    def _stack(self, name: str) -> Any:
        backend = cloudformation_backends[ACCOUNT][REGION]
        return next(stack for stack in backend.stacks.values() if stack.name == name)

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

    def set_stack(self, status: str, reason: str | None = None, name: str = STACK) -> None:
        model = self.stack_model if name == STACK else self._stack(name)
        model.status = status
        model.status_reason = reason

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
    """The injected runner: records every CLI call.

    `deploy <service stack>` plays `steps`; `deploy <images stack>` is CloudFormation deploying the
    assembly's template into moto (or failing with `images_exit_code`).
    """

    cloud: Cloud
    steps: list[Step] = field(default_factory=list)
    exit_code: int | None = 0
    output: list[str] = field(default_factory=list)
    images_exit_code: int | None = 0
    calls: list[list[str]] = field(default_factory=list)
    process: ScriptedProcess | None = None

    def start(self, args: Sequence[str]) -> ScriptedProcess:
        self.calls.append(list(args))
        if args[0] == "diff":
            return ScriptedProcess(
                self.cloud, [], 0, ["Stack Cityguided-staging", "[~] AWS::ECS::TaskDefinition"]
            )
        assert args[0] == "deploy"
        if args[1] == IMAGES_STACK:
            return self._deploy_images(Path(args[args.index("--app") + 1]))
        self.process = ScriptedProcess(self.cloud, list(self.steps), self.exit_code, list(self.output))
        return self.process

    def _deploy_images(self, assembly: Path) -> ScriptedProcess:
        def deploy(cloud: Cloud) -> None:
            template = json.loads((assembly / f"{IMAGES_STACK}.template.json").read_text())
            cloud.deploy_template(IMAGES_STACK, template)

        if self.images_exit_code != 0:
            return ScriptedProcess(
                self.cloud, [], self.images_exit_code, [f"❌  {IMAGES_STACK} failed: AccessDenied"]
            )
        return ScriptedProcess(self.cloud, [deploy], 0, [f"{IMAGES_STACK}: deploying... [1/1]"])


def _assembly(output: Path, stack: str, template: Mapping[str, Any], metadata: Mapping[str, Any]) -> Path:
    """A cloud assembly of one stack, shaped like CDK's (manifest.json + the template)."""
    output.mkdir(parents=True)
    (output / f"{stack}.template.json").write_text(json.dumps(template))
    artifacts = {
        stack: {
            "type": "aws:cloudformation:stack",
            "environment": f"aws://{ACCOUNT}/{REGION}",
            "properties": {"templateFile": f"{stack}.template.json"},
            "metadata": dict(metadata),
        }
    }
    (output / "manifest.json").write_text(json.dumps({"version": "48.0.0", "artifacts": artifacts}))
    return output / f"{stack}.template.json"


@dataclass
class FakeSynth:
    """Writes a minimal cloud assembly whose task definition uses the digests (or tag) it is given."""

    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    nag_error: str | None = None
    ignore_digests: bool = False  # a CDK app that drops the digests (ECS would resolve the tag)
    tag_override: str | None = None  # ... and one that also ignores the tag it was given
    repository_prefix: str = "cityguided-staging"  # another name: pulls from another repository

    def __call__(
        self, cfg: AppConfig, env: str, output: Path, image_tag: str, digests: Mapping[str, str]
    ) -> Path:
        self.calls.append((image_tag, dict(digests)))

        def reference(name: str) -> str:
            if not self.ignore_digests and name in digests:
                return f"@{digests[name]}"
            return f":{self.tag_override or image_tag}"

        # Shaped like CDK's: the account and region from intrinsics, then "/repo@digest" or ":tag".
        definitions = [
            {
                "Name": name,
                "Image": {
                    "Fn::Join": [
                        "",
                        [
                            {"Ref": "AWS::AccountId"},
                            f".dkr.ecr.{REGION}.",
                            {"Ref": "AWS::URLSuffix"},
                            f"/{self.repository_prefix}/{name}{reference(name)}",
                        ],
                    ]
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
        metadata: dict[str, list[dict[str, str]]] = {
            "/Cityguided-staging/Service": [{"type": "aws:cdk:warning", "data": "w"}]
        }
        if self.nag_error:
            metadata["/Cityguided-staging/Role/Resource"] = [
                {"type": "aws:cdk:error", "data": self.nag_error}
            ]
        return _assembly(output, STACK, template, metadata)


@dataclass
class FakeImagesSynth:
    """Writes the images stack's assembly (`images_template`)."""

    calls: int = 0

    def __call__(self, cfg: AppConfig, env: str, output: Path) -> Path:
        self.calls += 1
        return _assembly(output, IMAGES_STACK, images_template(), {})


@dataclass
class FakeDocker:
    """`docker login` and `docker buildx build` (pushing) at the command boundary: a push is a PutImage."""

    cloud: Cloud
    fail_on: str | None = None  # a command containing this text exits 1
    build: str = ""  # what this run's builds contain: another value, another digest for the same tag
    commands: list[list[str]] = field(default_factory=list)
    passwords: list[str] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], stdin: str | None) -> int:
        self.commands.append(list(argv))
        if self.fail_on and self.fail_on in " ".join(argv):
            return 1
        if list(argv[:2]) == ["docker", "login"]:
            self.passwords.append(stdin or "")
            return 0 if stdin else 1
        if list(argv[:3]) == ["docker", "buildx", "build"] and is_push(argv):
            uri, _, tag = argv[argv.index("--tag") + 1].rpartition(":")
            name = uri.split("/", 1)[1]
            try:
                self.cloud.ecr.put_image(
                    repositoryName=name, imageManifest=manifest(f"{name}-{tag}-{self.build}"), imageTag=tag
                )
            except ClientError:  # e.g. ImageTagAlreadyExistsException: docker push fails, exit 1
                return 1
        return 0


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
    images_synth: FakeImagesSynth
    docker: FakeDocker
    clock: FakeClock
    console_file: io.StringIO
    deployer: AwsDeployer
    publisher: ImagePublisher

    @property
    def output(self) -> str:
        return self.console_file.getvalue()


def make_harness(cfg: AppConfig, settings: EnvironmentSettings, cloud: Cloud, tmp_path: Path) -> Harness:
    cdk = ScriptedCdk(cloud)
    synth = FakeSynth()
    images_synth = FakeImagesSynth()
    docker = FakeDocker(cloud)
    clock = FakeClock()
    console_file = io.StringIO()
    console = Console(file=console_file, width=240, color_system=None)
    clients = AwsClients(shared_session())

    def context(assembly: str) -> ReleaseContext:
        return ReleaseContext(
            cfg=cfg,
            env="staging",
            settings=settings,
            clients=clients,
            runner=cdk,
            assembly_dir=tmp_path / "cdk.out" / assembly,
            console=console,
            clock=clock,
            sleep=clock.sleep,
        )

    deployer = AwsDeployer(context("deploy-staging"), synthesize=synth, poll_seconds=5.0)
    publisher = ImagePublisher(
        context("images-staging"),
        synthesize=images_synth,
        run=docker,
        host_machine="aarch64",  # the app task's architecture (osrm's x86_64 image needs the emulator)
    )
    return Harness(cloud, cdk, synth, images_synth, docker, clock, console_file, deployer, publisher)


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


@pytest.fixture
def new_env(aws_env: None, cfg: AppConfig, staging: EnvironmentSettings, tmp_path: Path) -> Iterator[Harness]:
    """An environment never deployed: the account is CDK-bootstrapped, nothing else exists."""
    with mock_aws():
        yield make_harness(cfg, staging, Cloud(desired=None, images_stack=False), tmp_path)
