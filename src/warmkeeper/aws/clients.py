"""The boto3 clients of warmkeeper, in one place: the Lambda, the ops commands and the deploys use them.

Standard library and boto3/botocore only: this module ships in the Lambda bundle. The edge (the
Lambda handler, a CLI command, a test) creates one :class:`AwsClients` from a session and injects
it; logic never creates a session or a client itself. Each client is made on first use (the Lambda
needs five, a deploy five others), always with :data:`BOTO_CONFIG`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError

if TYPE_CHECKING:
    from mypy_boto3_apigatewayv2.client import ApiGatewayV2Client
    from mypy_boto3_cloudformation.client import CloudFormationClient
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_ecr.client import ECRClient
    from mypy_boto3_ecs.client import ECSClient
    from mypy_boto3_elbv2.client import ElasticLoadBalancingv2Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_servicediscovery.client import ServiceDiscoveryClient
    from mypy_boto3_ssm.client import SSMClient
    from mypy_boto3_sts.client import STSClient

# Standard retries absorb the API throttling that many concurrent cold requests (the Lambda) or a
# deploy's polling loop can cause; bounded timeouts keep one stuck call from eating the Lambda's
# time or a person's patience.
BOTO_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5}, connect_timeout=3, read_timeout=10)

# botocore's standard mode waits rand(0, 1) * min(2 ** (attempt - 1), 20) s before a retry (its
# ExponentialBackoff); a retry is refused past a deadline when even the longest wait could not fit.
MAX_BACKOFF_SECONDS = 20.0
# What one attempt of an AWS call is allowed to take within a deadline (a call of the Lambda's APIs
# answers in tens of milliseconds; BOTO_CONFIG's read timeout bounds a stuck one).
ATTEMPT_BUDGET_SECONDS = 1.0

ClientT = TypeVar("ClientT")


class CallDeadlineError(BotoCoreError):
    """A retry of an AWS call would end past the caller's deadline (a request the front door times out)."""

    fmt = "{operation}: no retry after attempt {attempt}, the caller's deadline is {left:.1f} s away"


def longest_backoff(attempt: int) -> float:
    """The longest wait botocore's standard mode may make after ``attempt`` (1 for the first)."""
    return min(2.0 ** (attempt - 1), MAX_BACKOFF_SECONDS)


class CallDeadline:
    """A deadline for the AWS calls made while it is set (one invocation at a time uses the clients
    of a Lambda execution environment): a retry that may end past it is not made, the call raises
    :class:`CallDeadlineError` instead. ``clock`` in seconds (the simulation passes its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.at: float | None = None

    def set(self, seconds_from_now: float | None) -> None:
        self.at = None if seconds_from_now is None else self.clock() + seconds_from_now

    def check_retry(self, operation: str, attempt: int) -> None:
        """Raise when a retry after ``attempt`` could end past the deadline."""
        if self.at is None:
            return
        left = self.at - self.clock()
        if longest_backoff(attempt) + ATTEMPT_BUDGET_SECONDS > left:
            raise CallDeadlineError(operation=operation, attempt=attempt, left=left)


class _Client(Generic[ClientT]):
    """An attribute of :class:`AwsClients`: the service's client, made on first use."""

    def __init__(self, service: str) -> None:
        self.service = service

    def __get__(self, clients: AwsClients, owner: type[AwsClients]) -> ClientT:
        return cast(ClientT, clients.client(self.service))


class AwsClients:
    """The boto3 clients of one session (one region, one set of credentials), made on first use."""

    # The Lambda's clients...
    ecs: _Client[ECSClient] = _Client("ecs")
    elbv2: _Client[ElasticLoadBalancingv2Client] = _Client("elbv2")
    cloudwatch: _Client[CloudWatchClient] = _Client("cloudwatch")
    ssm: _Client[SSMClient] = _Client("ssm")
    secretsmanager: _Client[SecretsManagerClient] = _Client("secretsmanager")
    # ... and with front_door = "http_api", instead of elbv2:
    apigatewayv2: _Client[ApiGatewayV2Client] = _Client("apigatewayv2")
    servicediscovery: _Client[ServiceDiscoveryClient] = _Client("servicediscovery")
    # ... and what the CLI needs beside them: stack outputs, identity, images.
    cloudformation: _Client[CloudFormationClient] = _Client("cloudformation")
    sts: _Client[STSClient] = _Client("sts")
    ecr: _Client[ECRClient] = _Client("ecr")

    def __init__(self, session: boto3.session.Session, config: Config = BOTO_CONFIG) -> None:
        self.session = session
        self.config = config
        self._made: dict[str, Any] = {}
        # A boto3 session is not thread-safe: clients are made one at a time (they are, once made).
        self._lock = threading.Lock()
        self.deadline = CallDeadline()

    @classmethod
    def for_region(cls, region: str | None = None) -> AwsClients:
        """Credentials from the usual chain (environment, profile, SSO, the CI's OIDC role, the
        Lambda's role); ``region`` None: the environment's (AWS_REGION in a Lambda)."""
        return cls(boto3.session.Session(region_name=region))

    @property
    def region(self) -> str | None:
        return self.session.region_name

    def client(self, service: str) -> Any:
        """The client of ``service`` (a botocore service name), made once with :data:`BOTO_CONFIG`."""
        with self._lock:
            if service not in self._made:
                client = self.session.client(cast(Any, service), config=self.config)
                # Before botocore's own retry handler: a retry that cannot fit the deadline is refused.
                client.meta.events.register_first(
                    f"needs-retry.{client.meta.service_model.service_id.hyphenize()}", self._veto_retry
                )
                self._made[service] = client
            return self._made[service]

    def _veto_retry(
        self,
        response: Any = None,
        attempts: int = 1,
        caught_exception: Exception | None = None,
        operation: Any = None,
        **_: Any,
    ) -> None:
        """Only a failed attempt is retried: a successful one passes untouched."""
        if self.deadline.at is None:
            return
        status = response[0].status_code if response else None
        failed = caught_exception is not None or (status is not None and (status >= 500 or status == 429))
        if not failed and response is not None:
            code = str((response[1] or {}).get("Error", {}).get("Code", ""))
            failed = bool(code) and (
                "Throttl" in code or code in ("TooManyRequestsException", "RequestLimitExceeded")
            )
        if failed:
            self.deadline.check_retry(getattr(operation, "name", "call"), attempts)

    def available_regions(self, service: str) -> frozenset[str]:
        """Regions where AWS offers ``service``, from botocore's bundled endpoint data (no network)."""
        with self._lock:
            return frozenset(self.session.get_available_regions(service))


def has_credentials() -> bool:
    """Credentials from the environment, a profile, SSO or OIDC, without probing the EC2 metadata
    endpoint (a request to 169.254.169.254 hangs on machines that are not EC2)."""
    resolver = botocore.session.Session().get_component("credential_provider")
    resolver.remove("iam-role")
    try:
        return resolver.load_credentials() is not None
    except Exception:  # a broken profile: treated as "none usable"; the caller says how to set them
        return False
