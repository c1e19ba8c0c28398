"""Cloud Map for `front_door = "http_api"`: where API Gateway finds the tasks.

An HTTP API private integration reaches ECS tasks through a Cloud Map service: API Gateway calls
DiscoverInstances and sends each request to one healthy instance's address and port. The port is
only there when the instance was registered with an SRV record (an A record carries the address
alone), so the ECS service registers its entry container with SRV records (see
:class:`warmkeeper.infra.service.AppService`), and with ECS's custom health status: an instance is
discovered only while ECS considers its task healthy.

The namespace is a private DNS namespace, because ECS registers SRV records into DNS namespaces only
(CDK refuses an HTTP namespace for ECS service discovery, as ECS does). Cloud Map creates a Route 53
private hosted zone for it: 0.50 USD a month (Route 53 pricing, per hosted zone, first 25), the one
fixed monthly charge of this front door. The zone's DNS names are not used by API Gateway (it asks
the Cloud Map API); the app's tasks resolve the internal services' names in it (A records, see
:mod:`warmkeeper.infra.internal_service`). Behind a load balancer the namespace exists only when the
app has internal services.
"""

from __future__ import annotations

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from warmkeeper.infra.stack_settings import StackSettings


def namespace_name(settings: StackSettings) -> str:
    """`staging.cityguided.warmkeeper.internal`: unique per environment, never resolvable outside the VPC."""
    return f"{settings.env_name}.{settings.app_name}.warmkeeper.internal"


class ServiceDiscovery(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        vpc: ec2.IVpc,
        description: str | None = None,
    ) -> None:
        """`description`: behind a load balancer the namespace exists for the internal services alone."""
        super().__init__(scope, construct_id)
        self.namespace = servicediscovery.PrivateDnsNamespace(
            self,
            "Namespace",
            name=namespace_name(settings),
            vpc=vpc,
            description=description
            or f"{settings.stack_name}: the tasks API Gateway's VPC link may reach (SRV records)",
        )
