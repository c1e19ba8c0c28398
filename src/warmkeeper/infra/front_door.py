"""CloudFront in front of the internal load balancer (`front_door = "cloudfront"`).

Why: an internet-facing ALB needs a public IPv4 address per Availability Zone, and AWS bills every
public IPv4 address by the hour (0.005 USD, since February 2024): 7.30 USD a month for two, a fifth of a
sleeping staging environment's bill (docs/technical/cost.md, modelled). Behind CloudFront the ALB is
internal (no public address) and CloudFront reaches it through a VPC origin, which costs nothing extra;
CloudFront bills requests and data transfer out, which the always-free tier covers for a small app.
People also get HTTPS on `*.cloudfront.net` without a domain or a certificate.

The distribution is a pass-through, not a cache: every request goes to the ALB, save the repeat within
1 s of an answer the app itself marked cacheable (per visitor), so the listener rules (warm route, waker),
the idle detection (ALB RequestCount) and the deploys behave exactly as with an internet-facing ALB.
"""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_elasticloadbalancingv2 as elbv2
from cdk_nag import NagPackSuppression, NagSuppressions
from constructs import Construct

from warmkeeper.aws_limits import front_door_timeout_seconds
from warmkeeper.infra.scan_skips import skip_checks
from warmkeeper.infra.stack_settings import StackSettings

# CloudFront caches error answers for 10 s by default: the waker's 503 + Retry-After and a 502 during a
# wake must reach the next request fresh, so no status is ever cached.
UNCACHED_ERROR_STATUSES = (400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504)
# The longest a cacheable answer is kept (the smallest maximum TTL that still lets CloudFront forward
# a cache-key header: see CloudFrontFrontDoor._pass_through_cache_policy).
PASS_THROUGH_MAX_TTL_SECONDS = 1


def origin_read_timeout_seconds(settings: StackSettings) -> int:
    """Longer than the Lambda can run (a held request included), so CloudFront never answers a 504
    for a request the waker still holds. The config refuses a hold for which this would exceed
    CloudFront's quota (60 s unless `cloudfront_origin_timeout_quota_seconds` says AWS approved more)."""
    return front_door_timeout_seconds(settings.config.scale_to_zero.hold_seconds)


class CloudFrontFrontDoor(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        load_balancer: elbv2.ApplicationLoadBalancer,
    ) -> None:
        super().__init__(scope, construct_id)
        env = settings.env
        origin = origins.VpcOrigin.with_application_load_balancer(
            load_balancer,
            # TLS ends here; the VPC origin carries the request to the ALB inside the VPC.
            protocol_policy=cloudfront.OriginProtocolPolicy.HTTP_ONLY,
            http_port=80,
            read_timeout=Duration.seconds(origin_read_timeout_seconds(settings)),
            vpc_origin_name=f"{settings.resource_prefix}-alb",
        )
        certificate = None
        if env.certificate_arn is not None:
            # The config checked that it is in us-east-1, the only region CloudFront takes it from.
            certificate = acm.Certificate.from_certificate_arn(self, "Certificate", env.certificate_arn)
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"warmkeeper {settings.app_name} {settings.env_name}",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_ALL,
                cache_policy=self._pass_through_cache_policy(),
                # Every viewer header, cookie and query string, plus CloudFront's own headers
                # (CloudFront-Forwarded-Proto: the app can tell its visitors came over HTTPS, since
                # the ALB's X-Forwarded-Proto says http, the VPC origin's protocol).
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_AND_CLOUDFRONT_2022,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                compress=False,  # the app compresses (Caddy); CloudFront passes answers as they are
            ),
            error_responses=[
                cloudfront.ErrorResponse(http_status=status, ttl=Duration.seconds(0))
                for status in UNCACHED_ERROR_STATUSES
            ],
            # Edge locations in North America and Europe: the cheapest class, where the users are.
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            domain_names=[env.domain] if env.domain else None,
            certificate=certificate,
            minimum_protocol_version=(
                cloudfront.SecurityPolicyProtocol.TLS_V1_2_2021 if certificate is not None else None
            ),
        )
        suppressions = [
            NagPackSuppression(
                id="AwsSolutions-CFR1",
                reason=(
                    "A city guide serves visitors from every country: no geo restriction. Abuse from one "
                    "place would be answered with a rate rule when it happens, not by closing countries."
                ),
            ),
            NagPackSuppression(
                id="AwsSolutions-CFR2",
                reason=(
                    "No AWS WAF web ACL: one costs 5 USD a month plus 1 USD per rule, a quarter of the "
                    "staging budget. The load balancer admits CloudFront's origin-facing addresses "
                    "alone, has no public address, and AWS Shield Standard covers the distribution."
                ),
            ),
            NagPackSuppression(
                id="AwsSolutions-CFR3",
                reason=(
                    "No standard access logs (an S3 bucket to keep and expire): every request still "
                    "reaches the load balancer, whose metrics and the entry container's access log "
                    "(client address from X-Forwarded-For) account for it, as with no CloudFront."
                ),
            ),
        ]
        if certificate is None:
            suppressions += [
                NagPackSuppression(
                    id="AwsSolutions-CFR4",
                    reason=(
                        "No domain configured: the distribution serves *.cloudfront.net with CloudFront's "
                        "default certificate, whose TLS policy CloudFront fixes. Setting domain and a "
                        "us-east-1 certificate_arn gives TLSv1.2_2021 as the minimum."
                    ),
                ),
            ]
        NagSuppressions.add_resource_suppressions(self.distribution, suppressions)
        skip_checks(self.distribution, "CKV_AWS_68", "CKV_AWS_86")
        if certificate is None:
            skip_checks(self.distribution, "CKV_AWS_174")
        self._domain = env.domain

    def _pass_through_cache_policy(self) -> cloudfront.CachePolicy:
        """Nothing cached unless the app says so, and then for 1 s at most, per visitor.

        Not the managed CachingDisabled policy: with it, CloudFront drops the Authorization header
        of GET and HEAD requests (a header reaches the origin on those only when it is part of the
        cache key, and a cache key needs a maximum TTL above 0), so an API protected by a bearer
        token would break behind the front door. Here the key holds Authorization, every cookie and
        every query string; the default TTL is 0, so an answer without Cache-Control is never kept.
        """
        return cloudfront.CachePolicy(
            self,
            "PassThrough",
            comment="warmkeeper pass-through: Authorization kept, 1 s at most for answers marked cacheable",
            default_ttl=Duration.seconds(0),
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.seconds(PASS_THROUGH_MAX_TTL_SECONDS),
            header_behavior=cloudfront.CacheHeaderBehavior.allow_list("Authorization"),
            cookie_behavior=cloudfront.CacheCookieBehavior.all(),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            # Compressed and plain answers are told apart, and the normalised Accept-Encoding reaches
            # the app, which compresses (Caddy).
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )

    @property
    def url(self) -> str:
        """The configured domain (pointed at the distribution by a DNS alias), else CloudFront's name."""
        return f"https://{self._domain or self.distribution.distribution_domain_name}"
