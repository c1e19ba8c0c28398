"""Checks that run before a deploy changes anything; each failure is one line and exit code 2.

Order (cheapest and most basic first): credentials and account, region, the images stack and the
images of the tag in its ECR repositories (resolved to digests), the stack is not busy and keeps its
front door, the CDK bootstrap, then synthesis and cdk-nag (see :mod:`warmkeeper.deploy.synthesis`).
Once they all passed, right before `cdk deploy`, the account's ECS and Application Auto Scaling
service-linked roles are created if missing (:func:`ensure_service_linked_roles`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError

from warmkeeper.aws.stack_outputs import StackInfo, describe_stack
from warmkeeper.config import AppConfig
from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.naming import (
    OUTPUT_URL,
    built_containers,
    check_image_tag,
    front_door_of_outputs,
    images_stack_name,
    repository_output_key,
)

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.client import CloudFormationClient
    from mypy_boto3_ecr.client import ECRClient
    from mypy_boto3_ecr.type_defs import ImageIdentifierTypeDef
    from mypy_boto3_ssm.client import SSMClient
    from mypy_boto3_sts.client import STSClient

    from warmkeeper.aws.clients import AwsClients

# The default qualifier of `cdk bootstrap`; CDK stores the bootstrap version in this parameter.
CDK_BOOTSTRAP_VERSION_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


class PreflightError(WarmkeeperError):
    """A deploy must not start: one line saying what is wrong and how to fix it."""


@dataclass(frozen=True)
class Identity:
    account: str
    arn: str


def check_tag_argument(tag: str, option: str = "--image-tag") -> str:
    """The image tag given as `option`, checked (:func:`warmkeeper.naming.check_image_tag`)."""
    try:
        return check_image_tag(tag)
    except ValueError as exc:
        raise PreflightError(f"{option}: {exc}") from None


def check_credentials(sts: STSClient, expected_account: str | None, env: str) -> Identity:
    """Who the deploy runs as; the account must be the one the config names, if it names one."""
    try:
        identity = sts.get_caller_identity()
    except (NoCredentialsError, PartialCredentialsError):
        raise  # the CLI says it, in one place for every command (warmkeeper.cli.describe_error)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise PreflightError(
            f"AWS credentials rejected by STS: {error.get('Code', '?')}: {error.get('Message', exc)}"
        ) from None
    except BotoCoreError as exc:
        raise PreflightError(f"cannot reach AWS STS to check the credentials: {exc}") from None
    account = identity["Account"]
    if expected_account is not None and account != expected_account:
        raise PreflightError(
            f"the AWS credentials are for account {account} but environments.{env}.account is "
            f"{expected_account}: use the {env} account's credentials"
        )
    return Identity(account=account, arn=identity["Arn"])


def check_region(region: str, clients: AwsClients, env: str) -> None:
    """The configured region offers ECS, ECR and CloudFormation, and the clients point at it."""
    for service in ("ecs", "ecr", "cloudformation"):
        if region not in clients.available_regions(service):
            raise PreflightError(
                f"environments.{env}.region: {region!r} is not a region where AWS offers {service}"
            )
    if clients.region != region:
        raise PreflightError(
            f"the AWS clients point at {clients.region} but environments.{env}.region is {region}"
        )


def repository_uris(cfg: AppConfig, stack: StackInfo, fix: str) -> dict[str, str]:
    """container -> repository URI, from the images stack's `RepositoryUri<Container>` outputs."""
    uris: dict[str, str] = {}
    for container in built_containers(cfg):
        key = repository_output_key(container.name)
        uri = stack.outputs.get(key)
        if not uri or "/" not in uri:
            raise PreflightError(f"stack {stack.name} has no output {key}: {fix}")
        uris[container.name] = uri
    return uris


def repository_of(uri: str) -> str:
    """`123456789012.dkr.ecr.eu-west-3.amazonaws.com/cityguided-staging/api` -> `cityguided-staging/api`."""
    return uri.split("/", 1)[1]


def check_images_stack(
    cloudformation: CloudFormationClient, cfg: AppConfig, env: str, tag: str
) -> dict[str, str]:
    """The images stack exists and is settled; container -> repository name, from its outputs.

    On the first deploy of an environment this is what fails, with what to run first.
    """
    name = images_stack_name(cfg, env)
    fix = f"run `make images TAG={tag} ENV={env}` first (it deploys {name}, then pushes the images)"
    stack = describe_stack(cloudformation, name)
    if stack is None:
        raise PreflightError(
            f"stack {name} (the ECR repositories) does not exist: first deploy of {env}? {fix}"
        )
    if stack.busy:
        raise PreflightError(f"stack {name} is {stack.status}: `warmkeeper images` is running; wait for it")
    if stack.rolled_back and not stack.status.startswith("UPDATE_ROLLBACK_COMPLETE"):
        raise PreflightError(f"stack {name} is {stack.status}: {fix}")
    return {container: repository_of(uri) for container, uri in repository_uris(cfg, stack, fix).items()}


def resolve_image_digests(
    ecr: ECRClient,
    repositories: Mapping[str, str],
    tag: str,
    expected: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """container -> `sha256:...` of TAG in its repository; every missing image in one line.

    `repositories` maps each built container to its ECR repository name. With `expected` (a
    rollback), each recorded digest must still exist; the tag may have moved since, the digest is
    what gets deployed.
    """
    digests: dict[str, str] = {}
    missing: list[str] = []
    for container, repository in repositories.items():
        wanted_digest = (expected or {}).get(container)
        image_id: ImageIdentifierTypeDef = (
            {"imageDigest": wanted_digest} if wanted_digest else {"imageTag": tag}
        )
        try:
            details = ecr.describe_images(repositoryName=repository, imageIds=[image_id])["imageDetails"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            if code == "RepositoryNotFoundException":
                missing.append(f"{container} (repository {repository} does not exist)")
                continue
            if code == "ImageNotFoundException":
                missing.append(f"{container} ({repository}:{wanted_digest or tag})")
                continue
            raise
        if not details:
            missing.append(f"{container} ({repository}:{wanted_digest or tag})")
            continue
        digests[container] = details[0]["imageDigest"]
    if missing:
        hint = (
            "the recorded images were deleted from ECR (lifecycle policy?)"
            if expected
            else f"build and push them first: make images TAG={tag}"
        )
        raise PreflightError(f"images for tag {tag} missing in ECR: {', '.join(missing)}; {hint}")
    return digests


def pushed_digests(ecr: ECRClient, repositories: Mapping[str, str], tag: str) -> dict[str, str]:
    """container -> `sha256:...` for the containers whose repository already holds TAG."""
    found: dict[str, str] = {}
    for container, repository in repositories.items():
        try:
            details = ecr.describe_images(repositoryName=repository, imageIds=[{"imageTag": tag}])[
                "imageDetails"
            ]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in (
                "ImageNotFoundException",
                "RepositoryNotFoundException",
            ):
                continue
            raise
        if details:
            found[container] = details[0]["imageDigest"]
    return found


def deployed_front_door(stack: StackInfo) -> str | None:
    """The front door a deployed stack has (its outputs say), None when it has no outputs to tell."""
    if OUTPUT_URL not in stack.outputs:  # a stack whose creation failed: nothing deployed to compare
        return None
    return front_door_of_outputs(stack.outputs)


def check_front_door(stack: StackInfo | None, env: str, front_door: str) -> None:
    """Refuse to switch an existing stack's front door in place.

    Switching replaces the load balancer (internet-facing <-> internal is a replacement), and
    CloudFormation creates the new one while the old one still holds the service's target groups: AWS
    refuses to attach a target group to a second load balancer, the update fails and rolls back. So
    the deploy stops before any change and says how to switch.
    """
    if stack is None:
        return
    deployed = deployed_front_door(stack)
    if deployed is None or deployed == front_door:
        return
    raise PreflightError(
        f"environments.{env}.front_door: stack {stack.name} was deployed with front_door = "
        f"'{deployed}' and the config now says '{front_door}'. That replaces the load balancer, which "
        "CloudFormation cannot do in place (its target groups stay attached to the old one: the change "
        f"would fail and roll back). To switch: `warmkeeper destroy --env {env}` (the images stack and its "
        f"images stay), then deploy again; or put front_door back to '{deployed}'"
    )


def check_bootstrap(ssm: SSMClient, account: str, region: str) -> int:
    """`cdk deploy` needs the CDK bootstrap stack (asset bucket, deploy roles) in the account/region."""
    try:
        value = ssm.get_parameter(Name=CDK_BOOTSTRAP_VERSION_PARAMETER)["Parameter"]["Value"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
            raise PreflightError(
                f"account {account} is not CDK-bootstrapped in {region}: run "
                f"`npx cdk bootstrap aws://{account}/{region}` once"
            ) from None
        raise
    try:
        return int(value)
    except ValueError:
        raise PreflightError(
            f"SSM parameter {CDK_BOOTSTRAP_VERSION_PARAMETER} holds {value!r}, not a bootstrap version"
        ) from None


# The service-linked roles a first deploy needs: ECS's (the service's network interfaces and load
# balancer registration) and Application Auto Scaling's for ECS (the production autoscaling). A fresh
# account has neither until something creates them; CloudFormation then fails with "Unable to assume
# IAM role" (aws-cdk#4108). Each lives under the path /aws-service-role/<service>/.
SERVICE_LINKED_ROLES = {
    "ecs.amazonaws.com": "AWSServiceRoleForECS",
    "ecs.application-autoscaling.amazonaws.com": "AWSServiceRoleForApplicationAutoScaling_ECSService",
}


def _linked_role_exists(iam: Any, service: str) -> bool | None:
    """True/False, or None when the credentials may not list roles."""
    try:
        roles = iam.list_roles(PathPrefix=f"/aws-service-role/{service}/").get("Roles", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("AccessDenied", "AccessDeniedException"):
            return None
        raise
    return bool(roles)


def _already_exists(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    code, message = error.get("Code", ""), str(error.get("Message", ""))
    # AWS: InvalidInput "Service role name AWSServiceRoleForECS has been taken in this account, please
    # try a different suffix." (IAM API reference; the same words in every tool's bug reports).
    return code == "EntityAlreadyExists" or (code == "InvalidInput" and "has been taken" in message)


def ensure_service_linked_roles(iam: Any, *, create: bool = True) -> list[str]:
    """Create the missing service-linked roles (``create`` False: only name them); the services
    whose role this call created (or would create). "Already exists" counts as present.

    Raises PreflightError, with the commands to run, when IAM refuses the creation.
    """
    missing = [service for service in SERVICE_LINKED_ROLES if _linked_role_exists(iam, service) is not True]
    if not create:
        return missing
    created: list[str] = []
    refused: list[str] = []
    for service in missing:
        try:
            iam.create_service_linked_role(AWSServiceName=service)
        except ClientError as exc:
            if _already_exists(exc):
                continue
            if exc.response.get("Error", {}).get("Code") in ("AccessDenied", "AccessDeniedException"):
                refused.append(service)
                continue
            raise
        created.append(service)
    if refused:
        commands = "; ".join(f"aws iam create-service-linked-role --aws-service-name {s}" for s in refused)
        raise PreflightError(
            "these credentials may not create the service-linked roles a first deploy needs "
            f"({', '.join(SERVICE_LINKED_ROLES[s] for s in refused)}); have someone with IAM access run, "
            f"once per account: {commands}"
        )
    return created


# Lambda keeps this much of the account's concurrency unreserved; a reservation that would leave less
# is refused (Lambda developer guide, "Configuring reserved concurrency").
LAMBDA_MIN_UNRESERVED_CONCURRENCY = 100


def check_reserved_concurrency(lambda_client: Any, function_name: str, wanted: int, env: str) -> str:
    """The account can reserve `wanted` for the waker (`environments.<env>.waker_reserved_concurrency`).

    A new account's concurrency quota can be far below 100 + the reservation; CloudFormation would
    then fail the deploy half-way. Returns what was found, for the log; an account whose settings
    cannot be read (permission, an endpoint without the API) is not blocked: the deploy says so.
    """
    try:
        limit = lambda_client.get_account_settings()["AccountLimit"]
    except (ClientError, BotoCoreError) as exc:
        if wanted == 0:
            return "waker: no reserved concurrency (waker_reserved_concurrency = 0)"
        return f"waker: reserved concurrency {wanted}; the account's Lambda quota could not be read ({exc})"
    if wanted == 0:
        quota = int(limit.get("ConcurrentExecutions", 0) or 0)
        if 0 < quota < LAMBDA_MIN_UNRESERVED_CONCURRENCY:
            # The simulated herd (docs/technical/aws-model.md) needs about 50 at its peak: below 100
            # the first second of a herd meets throttled invokes, which the front door answers itself.
            return (
                "waker: no reserved concurrency (waker_reserved_concurrency = 0); the account's Lambda "
                f"quota is {quota} concurrent executions: the first requests of a cold herd beyond it get "
                "the front door's own error, 502 from ALB (docs/technical/ecs-scale-to-zero.md, new "
                "accounts); ask AWS for a higher 'Concurrent executions' quota"
            )
        return "waker: no reserved concurrency (waker_reserved_concurrency = 0)"
    unreserved = int(limit.get("UnreservedConcurrentExecutions", 0))
    try:
        current = lambda_client.get_function_concurrency(FunctionName=function_name).get(
            "ReservedConcurrentExecutions"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        current = None  # first deploy: the function does not exist yet
    available = unreserved + int(current or 0) - LAMBDA_MIN_UNRESERVED_CONCURRENCY
    if wanted > available:
        raise PreflightError(
            f"environments.{env}.waker_reserved_concurrency = {wanted}: the account's Lambda concurrency "
            f"quota is {limit.get('ConcurrentExecutions', '?')} and Lambda keeps "
            f"{LAMBDA_MIN_UNRESERVED_CONCURRENCY} unreserved, so at most {max(0, available)} can be reserved "
            "for the waker here: set the key to that or less (0: no reservation), or ask AWS for a higher "
            "Lambda 'Concurrent executions' quota"
        )
    return f"waker: reserved concurrency {wanted} (the account can reserve {available})"
