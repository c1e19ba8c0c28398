"""The boto3 clients a deploy needs, created once at the edge (the CLI) and passed in.

Logic never creates a client itself: tests hand in moto-backed (or scripted) clients instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_ecs import ECSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient


@dataclass(frozen=True)
class AwsClients:
    sts: STSClient
    ecr: ECRClient
    ecs: ECSClient
    cloudformation: CloudFormationClient
    ssm: SSMClient

    @property
    def region(self) -> str:
        return self.ecs.meta.region_name

    @classmethod
    def for_region(cls, region: str, session: boto3.Session | None = None) -> AwsClients:
        """Clients for one region; credentials come from the usual chain (env, profile, OIDC role)."""
        session = session or boto3.Session(region_name=region)
        return cls(
            sts=session.client("sts", region_name=region),
            ecr=session.client("ecr", region_name=region),
            ecs=session.client("ecs", region_name=region),
            cloudformation=session.client("cloudformation", region_name=region),
            ssm=session.client("ssm", region_name=region),
        )
