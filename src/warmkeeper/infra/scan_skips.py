"""checkov's findings that warmkeeper accepts, declared on the resource they are about.

`make scan` runs checkov over every environment's synthesized templates. A finding is either fixed in
the construct or skipped here, as CloudFormation metadata checkov reads (``Metadata.checkov.skip``,
each entry with the check's id and the reason), next to the resource's cdk-nag suppressions. The
reasons are written once, in :data:`REASONS`, so the same check is accepted for the same reason
everywhere, and docs/technical/security.md lists every one of them (a test compares the two).
"""

from __future__ import annotations

from aws_cdk import CfnResource
from constructs import IConstruct

# One reason per check: why the finding is accepted for a small app that must cost little when idle.
REASONS: dict[str, str] = {
    "CKV_AWS_158": (
        "CloudWatch Logs encrypts every log group at rest with an AWS-owned key; a customer-managed KMS "
        "key costs 1 USD a month plus its requests and protects against nothing the IAM policies do not "
        "already stop (only the task and the waker write, readers need logs:* on the group)."
    ),
    "CKV_AWS_136": (
        "ECR encrypts images at rest with AES-256 by default; images hold no secret (secrets are injected "
        "by ARN at run time), so a customer-managed KMS key would add cost and no protection."
    ),
    "CKV_AWS_149": (
        "The keep-alive secret (and a scale-to-zero environment's wake secret) is encrypted with the "
        "account's AWS-managed key for Secrets Manager; a customer-managed key costs 1 USD a month and "
        "the readers are the waker's role (and, for the wake secret, the app's task execution role) alone."
    ),
    "CKV_AWS_116": (
        "The waker answers synchronous requests (load balancer, HTTP API), which have no dead-letter "
        "queue; its EventBridge events (alarm, task stopped, the one-minute reconcile) are idempotent "
        "and the next one-minute reconcile redoes whatever a lost event would have done."
    ),
    "CKV_AWS_117": (
        "The waker calls AWS APIs only (ECS, ELB or API Gateway, SSM, CloudWatch, Secrets Manager); in a "
        "VPC it would need a NAT gateway (about 33 USD a month) or interface endpoints (about 8 USD each a "
        "month) to reach them, several times the staging budget, for no access it does not have today."
    ),
    "CKV_AWS_173": (
        "The waker's environment holds resource names and the scale-to-zero policy, no secret: the "
        "keep-alive token is read from Secrets Manager at run time. Lambda encrypts variables at rest "
        "with an AWS-managed key."
    ),
    "CKV_AWS_258": (
        "The waker's function URL (scale-to-zero environments and apps with internal services) has auth "
        "type NONE: the callers are the app's tasks (their Caddy and activity beacon), which cannot sign "
        "requests with SigV4. The handler refuses with 403 any call without the wake secret before "
        "doing anything else, a valid call can only record the app's activity or start a configured "
        "internal service within its max_tasks, and the function's reserved concurrency bounds what a "
        "flood of calls can take."
    ),
    "CKV_AWS_91": (
        "No S3 access-log bucket on the load balancer, by cost and footprint: its CloudWatch metrics, the "
        "entry container's access log and, while the service sleeps, the waker's log account for every "
        "request (the cdk-nag ELB2 suppression says the same)."
    ),
    "CKV_AWS_2": (
        "This HTTP listener is on an internal load balancer with no public address: its security group "
        "admits CloudFront's origin-facing addresses alone, and CloudFront terminates TLS and redirects "
        "viewers from HTTP to HTTPS. Listeners of an internet-facing load balancer only redirect to "
        "HTTPS unless the environment says allow_plain_http = true."
    ),
    "CKV_AWS_103": (
        "Same listener as CKV_AWS_2: plain HTTP inside the VPC from CloudFront's VPC origin, TLS at "
        "CloudFront (or, with allow_plain_http = true, a plain-HTTP environment the config accepted)."
    ),
    "CKV_AWS_68": (
        "No AWS WAF web ACL on the distribution by default: one costs 5 USD a month, 1 USD per rule and "
        "0.60 USD per million requests, more than the whole staging budget (5 EUR a month); "
        "docs/technical/security.md gives it as the upgrade path (a rate-based rule per client address)."
    ),
    "CKV_AWS_86": (
        "No CloudFront standard access logs (an S3 bucket to keep and expire): every request that is not "
        "answered by CloudFront itself reaches the load balancer and the entry container's access log."
    ),
    "CKV_AWS_174": (
        "No domain configured: the distribution serves *.cloudfront.net with CloudFront's default "
        "certificate, whose security policy CloudFront fixes. With domain and a us-east-1 "
        "certificate_arn the minimum is TLSv1.2_2021."
    ),
    "CKV_AWS_65": (
        "Container Insights is on where the environment is watched (a dashboard or an alarm e-mail), whose "
        "dashboard rows and tasks-short alarms read it. Elsewhere it is off: billed as custom metrics "
        "while tasks run, it was the largest line of a sleeping staging's bill, for charts nobody opens; "
        "`warmkeeper status`, the AWS/ECS service metrics and the logs remain (container_insights = true "
        "turns it on)."
    ),
}


def skip_checks(construct: IConstruct, *check_ids: str) -> None:
    """Declare on the construct's CloudFormation resource that checkov may skip these checks, each
    with its reason from :data:`REASONS` (an unknown id is a programming error: KeyError)."""
    resource = construct if isinstance(construct, CfnResource) else construct.node.default_child
    if not isinstance(resource, CfnResource):
        raise TypeError(f"{construct.node.path}: no CloudFormation resource to declare checkov skips on")
    current = resource.get_metadata("checkov")
    entries: list[dict[str, str]] = list(current.get("skip", [])) if isinstance(current, dict) else []
    known = {entry["id"] for entry in entries}
    entries += [{"id": check, "comment": REASONS[check]} for check in check_ids if check not in known]
    resource.add_metadata("checkov", {"skip": entries})
