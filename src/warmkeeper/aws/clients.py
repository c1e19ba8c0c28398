"""The boto3 clients of warmkeeper, in one place: the Lambda, the ops commands and the deploys use them.

Standard library and boto3/botocore only: this module ships in the Lambda bundle. The edge (the
Lambda handler, a CLI command, a test) creates one :class:`AwsClients` from a session and injects
it; logic never creates a session or a client itself. Each client is made on first use (the Lambda
needs five, a deploy five others), always with :data:`BOTO_CONFIG`.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import boto3
import botocore.session
from botocore.config import Config

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

ClientT = TypeVar("ClientT")


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
                self._made[service] = self.session.client(cast(Any, service), config=self.config)
            return self._made[service]

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
