"""One environment's two stacks: thin compositions of one construct per capability, and their outputs.

- `ImagesStack` (`<Stack>-images`): the ECR repositories, deployed by `warmkeeper images` before it
  pushes, so the first creation of the service finds its images;
- `WarmkeeperStack` (`<Stack>`): everything else; it imports the repositories by name.

The output keys are the contract with the deploy tooling and the CLI (see docs/technical/ecs-fargate.md).
"""

from __future__ import annotations

from typing import Any

from aws_cdk import CfnOutput, Environment, Fn, Stack, Tags
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from aws_cdk import aws_servicediscovery as servicediscovery
from constructs import Construct

from warmkeeper import naming as keys
from warmkeeper.core.front_doors import RouteSwitch
from warmkeeper.infra.autoscaling import Autoscaling
from warmkeeper.infra.cloud_map import ServiceDiscovery
from warmkeeper.infra.cluster import Cluster
from warmkeeper.infra.front_door import CloudFrontFrontDoor
from warmkeeper.infra.http_api import STAGE_NAME, HttpApiFrontDoor
from warmkeeper.infra.idle import IdleDetector, api_request_count, service_request_count
from warmkeeper.infra.ingress import Ingress
from warmkeeper.infra.internal_service import InternalServices
from warmkeeper.infra.monitoring import Monitoring
from warmkeeper.infra.network import Network
from warmkeeper.infra.repositories import Images, Repositories
from warmkeeper.infra.routing import ListenerRouting
from warmkeeper.infra.schedules import WarmSchedules
from warmkeeper.infra.service import AppService
from warmkeeper.infra.stack_settings import StackSettings
from warmkeeper.infra.task_events import TaskStopEvents
from warmkeeper.infra.waker_function import Waker
from warmkeeper.naming import WARM_RULE_PRIORITY, repository_output_key

AVAILABILITY_ZONES = 2


def _environment(settings: StackSettings) -> Environment:
    # The configured region; the account is the deployer's unless the config names one.
    return Environment(account=settings.env.account, region=settings.env.region)


class ImagesStack(Stack):
    """The environment's ECR repositories, one per built container, and their URIs as outputs."""

    def __init__(self, scope: Construct, settings: StackSettings) -> None:
        super().__init__(
            scope,
            settings.images_stack_name,
            stack_name=settings.images_stack_name,
            description=f"warmkeeper: {settings.app_name} {settings.env_name} ECR repositories",
            env=_environment(settings),
        )
        Tags.of(self).add("warmkeeper:app", settings.app_name)
        Tags.of(self).add("warmkeeper:env", settings.env_name)
        repositories = Repositories(self, "Repositories", settings=settings)
        for container, repository in repositories.repositories.items():
            # A plain output, no export: the service stack finds the repository by its name.
            CfnOutput(
                self,
                repository_output_key(container),
                value=repository.repository_uri,
                description=f"ECR repository of the {container} image",
            )


class WarmkeeperStack(Stack):
    def __init__(self, scope: Construct, settings: StackSettings) -> None:
        super().__init__(
            scope,
            settings.stack_name,
            stack_name=settings.stack_name,
            description=f"warmkeeper: {settings.app_name} {settings.env_name} on ECS Fargate",
            env=_environment(settings),
        )
        self.settings = settings
        Tags.of(self).add("warmkeeper:app", settings.app_name)
        Tags.of(self).add("warmkeeper:env", settings.env_name)

        network = Network(self, "Network", settings=settings)
        cluster = Cluster(self, "Cluster", settings=settings, vpc=network.vpc)
        images = Images(self, "Images", settings=settings)
        # What stands between the visitors and the service, by how the waker switches routes.
        with_front_door = {
            RouteSwitch.LISTENER_RULE: self._with_load_balancer,
            RouteSwitch.API_ROUTES: self._with_http_api,
        }
        with_front_door[settings.env.door.route_switch](settings, network, cluster, images)

    def _with_load_balancer(
        self, settings: StackSettings, network: Network, cluster: Cluster, images: Images
    ) -> None:
        """`front_door = "load_balancer"` or `"cloudfront"`: an ALB routes between the waker and the tasks."""
        ingress = Ingress(
            self, "Ingress", settings=settings, vpc=network.vpc, subnets=network.load_balancer_subnets
        )
        front_door: CloudFrontFrontDoor | None = None
        url = ingress.url(settings)
        if settings.env.door.cdn:
            front_door = CloudFrontFrontDoor(
                self, "FrontDoor", settings=settings, load_balancer=ingress.load_balancer
            )
            url = front_door.url
        app_service = AppService(
            self,
            "App",
            settings=settings,
            cluster=cluster.cluster,
            vpc=network.vpc,
            subnets=network.public_subnets,
            images=images,
            target_group=ingress.service_target_group,
        )
        internal = self._internal_services(settings, network, cluster, images, app_service, namespace=None)
        waker = Waker(
            self,
            "Waker",
            settings=settings,
            cluster=cluster.cluster,
            service=app_service.service,
            load_balancer=ingress.load_balancer,
            listener=ingress.listener,
            service_target_group=ingress.service_target_group,
            **self._internal_waker_arguments(app_service, internal),
        )
        self._connect(app_service, internal, waker)
        assert waker.target_group is not None  # a waker with a listener has its Lambda target group
        ListenerRouting(
            self,
            "Routing",
            settings=settings,
            listener=ingress.listener,
            service_target_group=ingress.service_target_group,
            waker_target_group=waker.target_group,
        )
        idle = self._scaling(
            settings,
            cluster,
            app_service,
            waker,
            requests=service_request_count(
                settings.env.door.request_metric, ingress.load_balancer, ingress.service_target_group
            ),
            target_group=ingress.service_target_group,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            cluster=cluster.cluster,
            service=app_service.service,
            load_balancer=ingress.load_balancer,
            service_target_group=ingress.service_target_group,
            waker_target_group=waker.target_group,
            function=waker.function,
            distribution_id=front_door.distribution.distribution_id if front_door else None,
            internal_services=internal,
        )

        # The contract's keys (warmkeeper.aws.stack_outputs), read back by the CLI and the deploys.
        outputs = self._common_outputs(settings, url, cluster, app_service, waker, monitoring, idle)
        outputs |= {
            keys.OUTPUT_LISTENER_ARN: (ingress.listener.listener_arn, "The listener that carries traffic"),
            keys.OUTPUT_SERVICE_TARGET_GROUP_ARN: (
                ingress.service_target_group.target_group_arn,
                "ip target group",
            ),
            # The CLI drives the same engine as the Lambda: it must look for the warm route where
            # the Lambda creates it (WK_WARM_RULE_PRIORITY).
            keys.OUTPUT_WARM_RULE_PRIORITY: (str(WARM_RULE_PRIORITY), "Priority of the run-time warm route"),
            keys.OUTPUT_LOAD_BALANCER_DIMENSION: (
                ingress.load_balancer.load_balancer_full_name,
                "AWS/ApplicationELB",
            ),
            keys.OUTPUT_TARGET_GROUP_DIMENSION: (
                ingress.service_target_group.target_group_full_name,
                "AWS/ApplicationELB",
            ),
        }
        if front_door is not None:
            outputs[keys.OUTPUT_DISTRIBUTION_ID] = (
                front_door.distribution.distribution_id,
                "CloudFront distribution in front of the internal load balancer",
            )
        self._add_outputs(outputs)

    def _with_http_api(
        self, settings: StackSettings, network: Network, cluster: Cluster, images: Images
    ) -> None:
        """`front_door = "http_api"`: an HTTP API, a VPC link and Cloud Map; no load balancer at all."""
        discovery = ServiceDiscovery(self, "Discovery", settings=settings, vpc=network.vpc)
        app_service = AppService(
            self,
            "App",
            settings=settings,
            cluster=cluster.cluster,
            vpc=network.vpc,
            subnets=network.public_subnets,
            images=images,
            cloud_map_namespace=discovery.namespace,
        )
        cloud_map_service = app_service.cloud_map_service
        assert cloud_map_service is not None  # the service registers in the namespace given above
        internal = self._internal_services(
            settings, network, cluster, images, app_service, namespace=discovery.namespace
        )
        waker = Waker(
            self,
            "Waker",
            settings=settings,
            cluster=cluster.cluster,
            service=app_service.service,
            load_balancer=None,
            listener=None,
            service_target_group=None,
            **self._internal_waker_arguments(app_service, internal),
        )
        self._connect(app_service, internal, waker)
        front_door = HttpApiFrontDoor(
            self,
            "FrontDoor",
            settings=settings,
            vpc=network.vpc,
            subnets=network.public_subnets,
            task_security_group=app_service.security_group,
            cloud_map_service=cloud_map_service,
            function=waker.function,
            role=waker.role,
        )
        waker.write_settings(**front_door.waker_settings)
        idle = self._scaling(
            settings,
            cluster,
            app_service,
            waker,
            requests=api_request_count(settings.env.door.request_metric, front_door.api.api_id, STAGE_NAME),
            target_group=None,
        )
        monitoring = Monitoring(
            self,
            "Monitoring",
            settings=settings,
            cluster=cluster.cluster,
            service=app_service.service,
            load_balancer=None,
            service_target_group=None,
            waker_target_group=None,
            function=waker.function,
            api_id=front_door.api.api_id,
            internal_services=internal,
        )
        outputs = self._common_outputs(
            settings, front_door.url, cluster, app_service, waker, monitoring, idle
        )
        outputs |= {
            keys.OUTPUT_API_ID: (front_door.api.api_id, "HTTP API (the front door)"),
            keys.OUTPUT_API_STAGE: (STAGE_NAME, "The HTTP API's stage (auto-deploy)"),
            keys.OUTPUT_SERVICE_INTEGRATION_ID: (
                front_door.service_integration.integration_id,
                "VPC-link integration the run-time warm routes point to",
            ),
            keys.OUTPUT_VPC_LINK_ID: (front_door.vpc_link.vpc_link_id, "VPC link into the tasks' subnets"),
            keys.OUTPUT_CLOUD_MAP_SERVICE_ID: (
                cloud_map_service.service_id,
                "Cloud Map service of the tasks",
            ),
        }
        if front_door.front_service is not None:
            outputs[keys.OUTPUT_CLOUD_MAP_FRONT_SERVICE_ID] = (
                front_door.front_service.service_id,
                "Cloud Map service API Gateway reads: the ready tasks the waker registers",
            )
        self._add_outputs(outputs)

    def _internal_services(
        self,
        settings: StackSettings,
        network: Network,
        cluster: Cluster,
        images: Images,
        app_service: AppService,
        *,
        namespace: servicediscovery.INamespace | None,
    ) -> InternalServices | None:
        """The app's internal services, if the config declares any, in the front door's Cloud Map
        namespace (an HTTP API's) or in one of their own (behind a load balancer)."""
        if not settings.config.services:
            return None
        if namespace is None:
            namespace = ServiceDiscovery(
                self,
                "Discovery",
                settings=settings,
                vpc=network.vpc,
                description=f"{settings.stack_name}: the internal services the app's tasks reach (A records)",
            ).namespace
        return InternalServices(
            self,
            "Services",
            settings=settings,
            cluster=cluster.cluster,
            vpc=network.vpc,
            subnets=network.public_subnets,
            images=images,
            namespace=namespace,
            app_service=app_service,
        )

    @staticmethod
    def _internal_waker_arguments(
        app_service: AppService, internal: InternalServices | None
    ) -> dict[str, Any]:
        # The app's service by its name (a reference would close a cycle: see AppService).
        arguments: dict[str, Any] = {"service_name": app_service.service_name}
        if internal is not None:
            arguments["internal_services"] = internal
        return arguments

    @staticmethod
    def _connect(app_service: AppService, internal: InternalServices | None, waker: Waker) -> None:
        if waker.endpoint is not None:
            app_service.reach_waker(waker.endpoint.url, waker.endpoint.secret)
        if internal is not None:
            assert waker.endpoint is not None  # a waker given internal services has its URL and secret
            internal.connect(waker.endpoint, waker.function)

    def _scaling(
        self,
        settings: StackSettings,
        cluster: Cluster,
        app_service: AppService,
        waker: Waker,
        *,
        requests: cloudwatch.Metric,
        target_group: elbv2.ApplicationTargetGroup | None,
    ) -> IdleDetector | None:
        """What scales the service, the same behind every front door: with scale-to-zero the idle
        alarm (on the front door's request count) and the stopping tasks' events to the waker (a
        Spot interruption), otherwise target tracking. Returns the idle detector, if any."""
        # Created after the cluster's capacity-provider association, deleted before it
        # (containers-roadmap#631): a dependency on the cluster construct covers the association CDK
        # adds under it at synthesis.
        app_service.service.node.add_dependency(cluster.cluster)
        if not settings.env.scale_to_zero:
            Autoscaling(
                self, "Autoscaling", settings=settings, service=app_service.service, target_group=target_group
            )
            return None
        TaskStopEvents(
            self,
            "TaskEvents",
            settings=settings,
            cluster=cluster.cluster,
            service=app_service.service,
            function=waker.function,
        )
        if settings.env.warm_schedule:
            WarmSchedules(self, "WarmSchedules", settings=settings, function=waker.function)
        return IdleDetector(self, "Idle", settings=settings, requests=requests, function=waker.function)

    @staticmethod
    def _common_outputs(
        settings: StackSettings,
        url: str,
        cluster: Cluster,
        app_service: AppService,
        waker: Waker,
        monitoring: Monitoring,
        idle: IdleDetector | None,
    ) -> dict[str, tuple[str, str]]:
        outputs = {
            keys.OUTPUT_URL: (url, "Where people open the app"),
            keys.OUTPUT_CLUSTER: (cluster.cluster.cluster_name, "ECS cluster"),
            keys.OUTPUT_SERVICE: (
                app_service.service.service_name,
                "ECS service (no desired count in the template)",
            ),
            keys.OUTPUT_FUNCTION_NAME: (waker.function.function_name, "The warmkeeper Lambda"),
            keys.OUTPUT_PARAMETER_PREFIX: (settings.parameter_prefix, "SSM path of the Lambda's state"),
            keys.OUTPUT_KEEPALIVE_SECRET_ARN: (
                waker.keepalive_secret.secret_arn,
                "Token of POST /_warmkeeper/keepalive",
            ),
        }
        if monitoring.dashboard_name is not None:
            outputs[keys.OUTPUT_DASHBOARD_NAME] = (monitoring.dashboard_name, "CloudWatch dashboard")
        if idle is not None:
            outputs[keys.OUTPUT_IDLE_ALARM_NAME] = (
                idle.alarm.alarm_name,
                "Goes to ALARM when the service is idle",
            )
        return outputs

    def _add_outputs(self, outputs: dict[str, tuple[str, str]]) -> None:
        for key, (value, description) in outputs.items():
            CfnOutput(self, key, value=value, description=description)

    @property
    def availability_zones(self) -> list[str]:
        """Two AZs of the region, resolved at deploy time (Fn::GetAZs): synthesis needs no AWS lookup."""
        return [Fn.select(index, Fn.get_azs()) for index in range(AVAILABILITY_ZONES)]
