"""The HTTP API front door (`front_door = "http_api"`): API Gateway, a VPC link and Cloud Map.

Why: a load balancer bills every hour whether anybody calls or not; an HTTP API bills requests only,
and an HTTP API's VPC link needs no load balancer and has no hourly price of its own (API Gateway
pricing; AWS whitepaper "Best Practices for Designing Amazon API Gateway Private APIs and Private
Integration", Cost optimization, which contrasts it with REST private integrations and their hourly
Network Load Balancer). With no load balancer nothing in the network is open to the internet at all:
the tasks admit the VPC link's security group alone. The monthly figures are the cost model's.

What CloudFormation owns (never changed at run time):

- the API, its `$default` stage (auto-deploy, throttling from the config, JSON access logs);
- the waker integration (Lambda proxy, payload format 2.0) and the routes that use it:
  `ANY /_warmkeeper`, `ANY /_warmkeeper/{proxy+}` (always the waker) and `$default` (the waker: the
  cold path, and whatever no other route matches);
- the service integration (HTTP proxy through the VPC link to the Cloud Map service), used by no
  route of the template in a scale-to-zero environment.

What the waker owns (created and deleted at run time, like the load balancer's warm rule): the warm
routes `ANY /` and `ANY /{proxy+}` to the service integration. API Gateway picks the most specific
route, so while they exist every request but `/_warmkeeper*` reaches the service, and `$default`
(the waker) none; the waker creates them once a task is healthy in Cloud Map and deletes them before
it scales the service in. CloudFormation has never heard of them: `cdk deploy` cannot reset them,
whatever state the service is in, and the reconcile re-creates or deletes them when they disagree
with the service's state. The stage's auto-deploy publishes each change at once.

In an always-on environment the template's `$default` route goes to the service integration instead.
"""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import Aws, Duration, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_servicediscovery as servicediscovery
from cdk_nag import NagPackSuppression, NagSuppressions, RegexAppliesTo
from constructs import Construct

from warmkeeper.aws.http_api_routing import WARM_ROUTE_KEYS
from warmkeeper.config import HTTP_API_CLIENT_IP_HEADER
from warmkeeper.infra.cloud_map import namespace_name
from warmkeeper.infra.log_groups import log_group
from warmkeeper.infra.service import CLOUD_MAP_DNS_TTL_SECONDS
from warmkeeper.infra.stack_settings import StackSettings

STAGE_NAME = "$default"
DEFAULT_ROUTE_KEY = "$default"
WAKER_PATHS = ("/_warmkeeper", "/_warmkeeper/{proxy+}")
# The routes the waker creates while the service is warm (and the reconcile repairs), WARM_ROUTE_KEYS,
# are named by the runtime (warmkeeper.aws.http_api_routing) and reach the Lambda as WK_WARM_ROUTE_KEYS.
# One JSON object per request. $context.integrationErrorMessage and integration.status tell a request
# the VPC link or Cloud Map could not deliver (no healthy instance, link INACTIVE) from the app's own error.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "method": "$context.httpMethod",
        "path": "$context.path",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "protocol": "$context.protocol",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationStatus": "$context.integration.status",
        "integrationError": "$context.integrationErrorMessage",
        "userAgent": "$context.identity.userAgent",
    },
    separators=(",", ":"),
)


class HttpApiFrontDoor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
        task_security_group: ec2.SecurityGroup,
        cloud_map_service: servicediscovery.IService,
        function: lambda_.Function,
        role: iam.IRole,
    ) -> None:
        super().__init__(scope, construct_id)
        env = settings.env
        entry = settings.entry_container

        # The VPC link's network interfaces sit in the tasks' subnets; its security group talks to the
        # tasks' entry port only, and is the one source the tasks admit (nothing from 0.0.0.0/0).
        self.vpc_link_security_group = ec2.SecurityGroup(
            self,
            "VpcLinkSecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=f"{settings.stack_name} HTTP API VPC link: to the tasks entry port only",
        )
        # The egress rule inline: a group with no inline egress rule gets AWS's default allow-all (CDK
        # writes a rule towards another group as a resource of its own, so it is set here directly).
        # The tasks' ingress rule is a resource of its own: both inline, each group would reference
        # the other, a cycle CloudFormation refuses.
        cfn_link_group = self.vpc_link_security_group.node.default_child
        assert isinstance(cfn_link_group, ec2.CfnSecurityGroup)
        cfn_link_group.add_property_override(
            "SecurityGroupEgress",
            [
                {
                    "Description": "HTTP API VPC link to the tasks entry port",
                    "DestinationSecurityGroupId": task_security_group.security_group_id,
                    "FromPort": entry.port,
                    "IpProtocol": "tcp",
                    "ToPort": entry.port,
                }
            ],
        )
        ec2.CfnSecurityGroupIngress(
            self,
            "TasksFromVpcLink",
            group_id=task_security_group.security_group_id,
            source_security_group_id=self.vpc_link_security_group.security_group_id,
            ip_protocol="tcp",
            from_port=entry.port,
            to_port=entry.port,
            description="From the HTTP API VPC link only",
        )
        self.vpc_link = apigwv2.VpcLink(
            self,
            "VpcLink",
            vpc=vpc,
            subnets=subnets,
            security_groups=[self.vpc_link_security_group],
            vpc_link_name=f"{settings.resource_prefix}-tasks",
        )

        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=settings.resource_prefix,
            description=f"warmkeeper {settings.app_name} {settings.env_name}: front door, no load balancer",
            create_default_stage=False,
        )
        domain: apigwv2.DomainName | None = None
        if env.domain and env.certificate_arn:
            # The config checked that the certificate is in the stack's region (a regional endpoint).
            domain = apigwv2.DomainName(
                self,
                "Domain",
                domain_name=env.domain,
                certificate=acm.Certificate.from_certificate_arn(self, "Certificate", env.certificate_arn),
                endpoint_type=apigwv2.EndpointType.REGIONAL,
                security_policy=apigwv2.SecurityPolicy.TLS_1_2,
            )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name=STAGE_NAME,
            auto_deploy=True,
            # A cost guard and a brake on a runaway client: API Gateway answers 429 past these.
            throttle=apigwv2.ThrottleSettings(rate_limit=env.api_rate_limit, burst_limit=env.api_burst_limit),
            domain_mapping=apigwv2.DomainMappingOptions(domain_name=domain) if domain else None,
        )
        access_logs = log_group(
            self, "AccessLogs", settings=settings, name=settings.log_group_name("api-access")
        )
        cfn_stage = self.stage.node.default_child
        assert isinstance(cfn_stage, apigwv2.CfnStage)
        cfn_stage.access_log_settings = apigwv2.CfnStage.AccessLogSettingsProperty(
            destination_arn=access_logs.log_group_arn, format=ACCESS_LOG_FORMAT
        )

        # Neither integration sets a timeout: an HTTP API's default is its maximum, 30 s
        # (HTTP_API_INTEGRATION_TIMEOUT_SECONDS; CDK's own check stops at 29 s), and the config refused a
        # hold that would not fit it.
        # The service, through the VPC link: API Gateway asks Cloud Map for a healthy instance
        # (DiscoverInstances) and sends the request to its address and SRV port.
        # Scaling to zero, the integration reads a Cloud Map service of the waker's own: only the
        # waker registers in it, each task once ECS finds its containers healthy (RegisterInstance with
        # the initial status HEALTHY, applied at once), and removes it when the task goes. ECS's own
        # registrations (the service above) are never discovered by API Gateway then: ECS registers a
        # task before it listens, with a first health status AWS does not document, and Cloud Map
        # applies ECS's health reports about 30 s late (HealthCheckCustomConfig), so a task could be
        # discovered before it listens, or 30 s after. Always on, no waker registers: ECS's service.
        self.front_service: servicediscovery.Service | None = None
        if env.scale_to_zero:
            self.front_service = servicediscovery.Service(
                self,
                "FrontService",
                namespace=cloud_map_service.namespace,
                name=f"{settings.app_name}-front",
                description=f"{settings.stack_name}: the ready tasks API Gateway reaches (the waker's)",
                dns_record_type=servicediscovery.DnsRecordType.SRV,
                dns_ttl=Duration.seconds(CLOUD_MAP_DNS_TTL_SECONDS),
                custom_health_check=servicediscovery.HealthCheckCustomConfig(),
            )
        discovered = self.front_service or cloud_map_service
        self.service_integration = apigwv2.HttpIntegration(
            self,
            "ServiceIntegration",
            http_api=self.api,
            integration_type=apigwv2.HttpIntegrationType.HTTP_PROXY,
            connection_type=apigwv2.HttpConnectionType.VPC_LINK,
            connection_id=self.vpc_link.vpc_link_id,
            integration_uri=discovered.service_arn,
            method=apigwv2.HttpMethod.ANY,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_1_0,
            # A private environment: the entry container judges each request by this header, which API
            # Gateway overwrites with the address of the connection it accepted (whatever the client
            # sent under that name). X-Forwarded-For and Forwarded are reserved: no mapping may set them.
            parameter_mapping=(
                apigwv2.ParameterMapping().overwrite_header(
                    HTTP_API_CLIENT_IP_HEADER.lower(),
                    apigwv2.MappingValue.context_variable("identity.sourceIp"),
                )
                if settings.env.wake_allowed_from
                else None
            ),
        )
        # The waker: Lambda proxy, payload format 2.0. CDK's integration adds one invoke permission
        # per route, each limited to this API and that route.
        waker = integrations.HttpLambdaIntegration(
            "Waker",
            function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        waker_routes: list[apigwv2.HttpRoute] = []
        for path in WAKER_PATHS:
            waker_routes += self.api.add_routes(
                path=path, methods=[apigwv2.HttpMethod.ANY], integration=waker
            )
        # Route-level throttles: the app's routes (the warm routes the waker creates, and $default when
        # always on) take the stage's default; the waker's routes have their own, lower buckets.
        route_limits = {
            f"ANY {path}": (env.endpoint_rate_limit, env.endpoint_burst_limit) for path in WAKER_PATHS
        }
        if env.scale_to_zero:
            waker_routes.append(
                apigwv2.HttpRoute(
                    self,
                    "DefaultRoute",
                    http_api=self.api,
                    route_key=apigwv2.HttpRouteKey.DEFAULT,
                    integration=waker,
                )
            )
            route_limits[DEFAULT_ROUTE_KEY] = (env.waker_rate_limit, env.waker_burst_limit)
            stack_route_ids = [route.route_id for route in waker_routes]
        else:
            # Always on: the service takes everything the waker's paths do not; nothing switches.
            default_route = apigwv2.CfnRoute(
                self,
                "DefaultRoute",
                api_id=self.api.api_id,
                route_key=DEFAULT_ROUTE_KEY,
                target=f"integrations/{self.service_integration.integration_id}",
            )
            stack_route_ids = [route.route_id for route in waker_routes] + [default_route.ref]
        self._stack_route_ids = stack_route_ids
        # RouteSettings is a JSON object keyed by route key: CDK passes its values through as written.
        cfn_stage.route_settings = {
            key: {"ThrottlingRateLimit": rate, "ThrottlingBurstLimit": burst}
            for key, (rate, burst) in route_limits.items()
        }
        for route in waker_routes:  # a route's settings need the route
            self.stage.node.add_dependency(route)
        self._suppress_findings()
        self._domain = env.domain if domain else None
        self._wire_waker(settings, role, cloud_map_service)

    @staticmethod
    def _record_statements(cloud_map_service: servicediscovery.IService) -> list[iam.PolicyStatement]:
        """RegisterInstance writes the SRV record of the instance in the namespace's private hosted
        zone, with the caller's permissions (Cloud Map API permissions reference)."""
        namespace = cloud_map_service.namespace
        if not isinstance(namespace, servicediscovery.PrivateDnsNamespace):
            return []
        zone = f"arn:{Aws.PARTITION}:route53:::hostedzone/{namespace.namespace_hosted_zone_id}"
        return [
            iam.PolicyStatement(
                sid="WriteTheRecordsOfTheWakersOwnInstances",
                actions=["route53:ChangeResourceRecordSets", "route53:GetHostedZone"],
                resources=[zone],
            )
        ]

    def _wire_waker(
        self,
        settings: StackSettings,
        role: iam.IRole,
        cloud_map_service: servicediscovery.IService,
    ) -> None:
        """What the waker needs to switch the warm routes and to see the tasks as API Gateway does."""
        # The Lambda's settings of this front door (fields of warmkeeper.aws.lambda_settings.Settings): the
        # stack writes them into the function's environment with the others (Waker.write_settings).
        self.waker_settings: dict[str, Any] = {
            "front_door": settings.env.front_door,
            "api_id": self.api.api_id,
            "api_stage": STAGE_NAME,
            "service_integration_id": self.service_integration.integration_id,
            "warm_route_keys": WARM_ROUTE_KEYS,
            "vpc_link_id": self.vpc_link.vpc_link_id,
            "cloud_map_namespace": namespace_name(settings),
            "cloud_map_service_id": cloud_map_service.service_id,
            "cloud_map_service_name": cloud_map_service.service_name,
        }
        front = self.front_service
        if front is not None:
            self.waker_settings |= {
                "cloud_map_front_service_id": front.service_id,
                "cloud_map_front_service_name": front.service_name,
            }
        registered_in = front or cloud_map_service
        stack = Stack.of(self)
        api_arn = f"arn:{Aws.PARTITION}:apigateway:{stack.region}::/apis/{self.api.api_id}"
        policy = iam.Policy(
            self,
            "WakerPolicy",
            roles=[role],
            statements=[
                iam.PolicyStatement(
                    sid="CreateWarmRoutesOnThisApi",
                    actions=["apigateway:POST"],
                    resources=[f"{api_arn}/routes"],
                ),
                iam.PolicyStatement(
                    sid="ReadAndChangeRoutesOfThisApi",
                    actions=["apigateway:GET", "apigateway:PATCH", "apigateway:DELETE"],
                    resources=[f"{api_arn}/routes", f"{api_arn}/routes/*"],
                ),
                # The routes of an HTTP API take no tags, so the waker may change any route of its
                # API (the warm routes' ids are unknown until it creates them); the stack's own routes
                # (the waker's paths, $default) are taken out of that by their ids.
                iam.PolicyStatement(
                    sid="NeverTheStacksOwnRoutes",
                    effect=iam.Effect.DENY,
                    actions=["apigateway:PATCH", "apigateway:DELETE"],
                    resources=[f"{api_arn}/routes/{route_id}" for route_id in self._stack_route_ids],
                ),
                iam.PolicyStatement(
                    sid="ReadThisApisIntegrationsAndVpcLink",
                    actions=["apigateway:GET"],
                    resources=[
                        f"{api_arn}/integrations/*",
                        f"arn:{Aws.PARTITION}:apigateway:{stack.region}::/vpclinks/{self.vpc_link.vpc_link_id}",
                    ],
                ),
                iam.PolicyStatement(
                    sid="SeeTheTasksAsApiGatewayDoes",
                    actions=["servicediscovery:DiscoverInstances"],
                    # DiscoverInstances has no resource type; the namespace condition scopes it.
                    resources=["*"],
                    conditions={"StringEquals": {"servicediscovery:NamespaceName": namespace_name(settings)}},
                ),
                iam.PolicyStatement(
                    sid="ReadTheInstancesOfThisCloudMapService",
                    actions=[
                        "servicediscovery:ListInstances",
                        "servicediscovery:GetInstance",
                        "servicediscovery:GetInstancesHealthStatus",
                    ],
                    resources=list(dict.fromkeys([cloud_map_service.service_arn, registered_in.service_arn])),
                ),
                # A task ECS finds healthy is registered by the waker at once (Cloud Map applies
                # ECS's health report about 30 s late): its own instances, in the service API Gateway
                # reads (the front service when scaling to zero), in that service only.
                iam.PolicyStatement(
                    sid="RegisterReadyTasksInThisCloudMapService",
                    actions=["servicediscovery:RegisterInstance", "servicediscovery:DeregisterInstance"],
                    resources=[registered_in.service_arn],
                ),
                *self._record_statements(cloud_map_service),
            ],
        )
        NagSuppressions.add_resource_suppressions(
            policy,
            [
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "The warm routes are created at run time, so their ids are unknown in advance; the "
                        "wildcard covers the routes and integrations of this one HTTP API "
                        "(/apis/<api id>/routes/*, /apis/<api id>/integrations/*) and nothing else."
                    ),
                    applies_to=[
                        RegexAppliesTo(
                            regex="/^Resource::arn:<AWS::Partition>:apigateway:.*\\/routes\\/\\*$/"
                        ),
                        RegexAppliesTo(
                            regex="/^Resource::arn:<AWS::Partition>:apigateway:.*\\/integrations\\/\\*$/"
                        ),
                    ],
                ),
                NagPackSuppression(
                    id="AwsSolutions-IAM5",
                    reason=(
                        "servicediscovery:DiscoverInstances supports no resource-level permission and "
                        "needs Resource *; the servicediscovery:NamespaceName condition limits it to this "
                        "environment's own namespace. It is read-only: the waker sees the instances "
                        "API Gateway would pick before it switches the warm routes."
                    ),
                    applies_to=["Resource::*"],
                ),
            ],
        )

    def _suppress_findings(self) -> None:
        NagSuppressions.add_resource_suppressions(
            self,
            [
                NagPackSuppression(
                    id="AwsSolutions-APIG4",
                    reason=(
                        "The API is the public web site itself (pages and its JSON API): visitors are not "
                        "authenticated by API Gateway. The app authenticates what needs it; the waker's "
                        "keep-alive webhook checks its bearer token (a Secrets Manager secret)."
                    ),
                ),
            ],
            apply_to_children=True,
        )

    @property
    def url(self) -> str:
        """The configured domain (pointed at the API's regional domain name by DNS), else execute-api's."""
        if self._domain:
            return f"https://{self._domain}"
        return self.api.api_endpoint
