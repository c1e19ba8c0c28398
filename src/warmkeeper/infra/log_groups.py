"""CloudWatch log groups with the environment's retention: every log group of the stack comes from here."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from warmkeeper.infra.scan_skips import skip_checks
from warmkeeper.infra.stack_settings import StackSettings

# The config accepts exactly the retentions CloudWatch Logs offers (in days).
_RETENTION: dict[int, logs.RetentionDays] = {
    1: logs.RetentionDays.ONE_DAY,
    3: logs.RetentionDays.THREE_DAYS,
    5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK,
    14: logs.RetentionDays.TWO_WEEKS,
    30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS,
    90: logs.RetentionDays.THREE_MONTHS,
    120: logs.RetentionDays.FOUR_MONTHS,
    150: logs.RetentionDays.FIVE_MONTHS,
    180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR,
    400: logs.RetentionDays.THIRTEEN_MONTHS,
    545: logs.RetentionDays.EIGHTEEN_MONTHS,
    731: logs.RetentionDays.TWO_YEARS,
    1096: logs.RetentionDays.THREE_YEARS,
    1827: logs.RetentionDays.FIVE_YEARS,
    2192: logs.RetentionDays.SIX_YEARS,
    2557: logs.RetentionDays.SEVEN_YEARS,
}


def retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"{days} days is not a CloudWatch Logs retention") from None


def log_group(scope: Construct, construct_id: str, *, settings: StackSettings, name: str) -> logs.LogGroup:
    """A named log group: people find `/warmkeeper/<app>/<env>/<what>` without opening the template.

    Always-on environments keep their logs when the stack is deleted (an incident may need them);
    scale-to-zero environments are disposable and delete theirs.
    """
    group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=name,
        retention=retention(settings.env.log_retention_days),
        removal_policy=RemovalPolicy.RETAIN if settings.production_like else RemovalPolicy.DESTROY,
    )
    skip_checks(group, "CKV_AWS_158")
    return group
