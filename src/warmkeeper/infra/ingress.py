"""The Application Load Balancer, its listeners and the service's ip target group.

Which target a request reaches is decided by :mod:`warmkeeper.infra.routing`; this construct owns the
doors. With `front_door = "load_balancer"` the load balancer faces the internet: HTTPS with the
configured ACM certificate and an HTTP listener that only redirects to it (plain HTTP alone only when
the environment says `allow_plain_http = true`). With
`front_door = "cloudfront"` it is internal, in isolated subnets, with one HTTP listener that admits
CloudFront's origin-facing addresses alone (:mod:`warmkeeper.infra.front_door` terminates TLS).
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from warmkeeper.aws_limits import (
    ALB_DEFAULT_IDLE_TIMEOUT_SECONDS,
    CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS,
    front_door_timeout_seconds,
)
from warmkeeper.infra.scan_skips import skip_checks
from warmkeeper.infra.stack_settings import StackSettings

# Fast health checks so a woken task takes traffic ~10 s after it answers (interval x threshold).
HEALTH_CHECK_INTERVAL_SECONDS = 5
HEALTHY_THRESHOLD = 2
UNHEALTHY_THRESHOLD = 2
# The ALB's timeout must stay below its interval.
MAX_HEALTH_CHECK_TIMEOUT_SECONDS = HEALTH_CHECK_INTERVAL_SECONDS - 1
# In-flight requests get this long after a task leaves the target group; the containers' stop
# timeouts then let each process finish what it still holds.
DEREGISTRATION_DELAY_SECONDS = 15


class Ingress(Construct):
    # The HTTP listener that only redirects to HTTPS (an internet-facing ALB with a certificate).
    redirect_listener: elbv2.ApplicationListener | None

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        vpc: ec2.IVpc,
        subnets: ec2.SubnetSelection,
    ) -> None:
        super().__init__(scope, construct_id)
        entry = settings.entry_container
        internet_facing = settings.env.internet_facing_load_balancer
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            allow_all_outbound=False,
            description=(
                f"{settings.stack_name} load balancer: HTTP(S) from the internet"
                if internet_facing
                else f"{settings.stack_name} load balancer: HTTP from the CloudFront VPC origin"
            ),
        )
        # The load balancer only ever talks to the tasks' entry port. CDK adds that rule (to the
        # tasks' security group) as a separate resource, and a security group created without any
        # inline egress rule gets AWS's default allow-all egress: this inline rule prevents that.
        self.security_group.add_egress_rule(
            ec2.Peer.ipv4(vpc.vpc_cidr_block),
            ec2.Port.tcp(entry.port),
            "To the tasks' entry port inside the VPC (requests and health checks)",
        )
        self.load_balancer = elbv2.ApplicationLoadBalancer(
            self,
            "LoadBalancer",
            vpc=vpc,
            vpc_subnets=subnets,
            internet_facing=internet_facing,
            security_group=self.security_group,
            drop_invalid_header_fields=True,
            # ALB has no timeout of its own for a Lambda target (it waits for the function's answer or
            # its timeout); its idle timeout closes the client's connection while nothing is sent, so
            # it stays above the Lambda's timeout (a held API request included).
            idle_timeout=Duration.seconds(
                max(
                    ALB_DEFAULT_IDLE_TIMEOUT_SECONDS,
                    front_door_timeout_seconds(settings.config.scale_to_zero.hold_seconds),
                )
            ),
        )
        if internet_facing:
            NagSuppressions.add_resource_suppressions(
                self.security_group,
                [
                    NagPackSuppression(
                        id="AwsSolutions-EC23",
                        reason=(
                            "This is the security group of an internet-facing load balancer serving a "
                            "public web site: it opens exactly the listener ports (80, and 443 with a "
                            "certificate) to 0.0.0.0/0. Nothing else is open; the tasks behind it accept "
                            "traffic from this security group alone."
                        ),
                    )
                ],
            )
        skip_checks(self.load_balancer, "CKV_AWS_91")
        NagSuppressions.add_resource_suppressions(
            self.load_balancer,
            [
                NagPackSuppression(
                    id="AwsSolutions-ELB2",
                    reason=(
                        "No S3 access-log bucket, by choice of cost and footprint for a small app: every "
                        "request is still accounted for by the load balancer's CloudWatch metrics (the "
                        "dashboard), by the entry container's log group (reverse-proxy log, with the "
                        "client address from X-Forwarded-For) and, while the service sleeps, by the "
                        "warmkeeper Lambda's log. Rejected connections are in the VPC flow logs. Access "
                        "logs can be enabled with ApplicationLoadBalancer.log_access_logs(bucket)."
                    ),
                )
            ],
        )
        self.service_target_group = elbv2.ApplicationTargetGroup(
            self,
            "ServiceTargetGroup",
            vpc=vpc,
            target_type=elbv2.TargetType.IP,
            protocol=elbv2.ApplicationProtocol.HTTP,
            port=entry.port,
            deregistration_delay=Duration.seconds(DEREGISTRATION_DELAY_SECONDS),
            health_check=elbv2.HealthCheck(
                path=entry.health.path,
                interval=Duration.seconds(HEALTH_CHECK_INTERVAL_SECONDS),
                timeout=Duration.seconds(min(entry.health.timeout_seconds, MAX_HEALTH_CHECK_TIMEOUT_SECONDS)),
                healthy_threshold_count=HEALTHY_THRESHOLD,
                unhealthy_threshold_count=UNHEALTHY_THRESHOLD,
                healthy_http_codes="200-399",
            ),
        )
        certificate_arn = settings.env.certificate_arn
        # A private environment: the listeners are not opened to the internet; the security group
        # admits the allowed ranges alone, on the listener ports (the waker and the warm app alike).
        allowed = settings.env.wake_allowed_from
        open_to_all = not allowed
        if internet_facing and allowed:
            ports = [80, 443] if certificate_arn is not None else [80]
            for cidr in allowed:
                peer = ec2.Peer.ipv6(cidr) if ":" in cidr else ec2.Peer.ipv4(cidr)
                for port in ports:
                    self.security_group.add_ingress_rule(peer, ec2.Port.tcp(port), "wake_allowed_from")
        if not internet_facing:
            # TLS ends at CloudFront; its VPC origin speaks HTTP to this listener inside the VPC.
            self.listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=False
            )
            skip_checks(self.listener, "CKV_AWS_2", "CKV_AWS_103")
            self.redirect_listener = None
            # CloudFront's requests, VPC origins included, come from its origin-facing addresses: the
            # AWS-managed prefix list admits them and nothing else (the VPC's own addresses neither).
            self.security_group.add_ingress_rule(
                ec2.Peer.prefix_list(CLOUDFRONT_ORIGIN_FACING_PREFIX_LISTS[settings.env.aws_region]),
                ec2.Port.tcp(80),
                "CloudFront origin-facing addresses (com.amazonaws.global.cloudfront.origin-facing)",
            )
        elif certificate_arn is not None:
            # The listener that carries traffic; its default action is set by the routing construct.
            self.listener = self.load_balancer.add_listener(
                "Https",
                port=443,
                protocol=elbv2.ApplicationProtocol.HTTPS,
                certificates=[elbv2.ListenerCertificate.from_arn(certificate_arn)],
                ssl_policy=elbv2.SslPolicy.RECOMMENDED_TLS,
                open=open_to_all,
            )
            self.redirect_listener = self.load_balancer.add_redirect(
                source_port=80,
                source_protocol=elbv2.ApplicationProtocol.HTTP,
                target_port=443,
                target_protocol=elbv2.ApplicationProtocol.HTTPS,
                open=open_to_all,
            )
        else:
            # Plain HTTP to the internet: only an environment that says allow_plain_http = true gets
            # here (warmkeeper.config refuses the others before synthesis).
            if not settings.env.allow_plain_http:
                raise ValueError(
                    f"environments.{settings.env_name}: plain HTTP to the internet needs allow_plain_http"
                )
            self.listener = self.load_balancer.add_listener(
                "Http", port=80, protocol=elbv2.ApplicationProtocol.HTTP, open=open_to_all
            )
            skip_checks(self.listener, "CKV_AWS_2", "CKV_AWS_103")
            self.redirect_listener = None

    def url(self, settings: StackSettings) -> str:
        """The address people use with an internet-facing load balancer: the configured domain when
        there is one, else the ALB's name. (Behind CloudFront, the front door's URL is the one.)"""
        scheme = "https" if settings.env.https else "http"
        host = settings.env.domain or self.load_balancer.load_balancer_dns_name
        return f"{scheme}://{host}"
