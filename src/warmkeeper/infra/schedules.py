"""Warm schedules: one EventBridge Scheduler schedule per warm window of the environment.

Each schedule fires a few minutes before its window opens (the lead: the Lambda's modelled wake,
60 s, a minute for the scheduler's delivery and a minute for the reconcile that routes the traffic to
the healthy task; the simulated AWS checks it, src/warmkeeper_sim/schedule_scenario.py) in the
window's own time zone
(``ScheduleExpressionTimezone``: 08:30 Europe/Paris stays 08:30 across daylight saving). It invokes
the warmkeeper Lambda with a keep-warm event; the Lambda takes a lease for the lead plus the window
and wakes the service (the same path as ``POST /_warmkeeper/keepalive``, without the token: the
invocation is authorised by IAM). The lease holds the service warm through the window whatever the
traffic: the idle alarm and the reconcile do not sleep a service under lease. When it ends, the normal
idle rule applies. A lease never shortens a longer one, so a ``warmkeeper keepalive`` on top of a
window, or a duplicate delivery, only ever extends it.

What AWS documents and this relies on (EventBridge Scheduler user guide and API reference):

- delivery is at least once: a duplicate invocation extends the lease to the same end, at most
  later by the delay between the two deliveries;
- no flexible time window (``Mode: OFF``): the invocation is due at the minute given;
- failed invocations are retried with backoff until ``MaximumRetryAttempts`` or
  ``MaximumEventAgeInSeconds`` (at least 60 s); the event age here is the lead plus a few minutes,
  so a late retry still lands near the window's opening, never hours into it;
- the schedule assumes an execution role that may invoke this function and nothing else.
Skip dates (``warm_schedule_skip``): a Scheduler cron cannot leave out dates, so each schedule still
fires on them; the dates are in its input (``"skip": ["2026-12-25", ...]``) and the Lambda takes no
lease when the opening falls on one. They travel in the input rather than in a WK_* variable because
they belong to the schedules: the Lambda stays without any schedule of its own, an environment
without dates keeps the input it had, and an event delivered after a config change carries the
dates of the schedule that sent it.
EventBridge Scheduler bills invocations (14 million a month free, then USD 1.00 per million): one a
working day per window, nothing worth a cost line.
"""

from __future__ import annotations

import json

from aws_cdk import Aws
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from warmkeeper.aws.engine import DEFAULT_WAKE_ESTIMATE_SECONDS
from warmkeeper.core.schedule import (
    AWS_RECONCILE_SECONDS,
    scheduler_trigger,
    wake_lead_minutes,
    warm_window_event,
)
from warmkeeper.infra.stack_settings import StackSettings

# Retries of a failed invocation stop this long after it was due (documented minimum: 60 s).
RETRY_SECONDS_AFTER_OPENING = 300
MAX_RETRY_ATTEMPTS = 5


def warm_lead_minutes() -> int:
    """Minutes between a schedule's invocation and its window's opening: the Lambda's modelled wake,
    the scheduler's delivery and the reconcile that routes the traffic to the healthy task."""
    return wake_lead_minutes(DEFAULT_WAKE_ESTIMATE_SECONDS, routing_seconds=AWS_RECONCILE_SECONDS)


class WarmSchedules(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: StackSettings, function: lambda_.IFunction
    ) -> None:
        super().__init__(scope, construct_id)
        windows = settings.env.warm_windows
        skip = settings.env.warm_skip_dates
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            ),
            description=f"{settings.stack_name}: warm schedules invoke the warmkeeper Lambda",
        )
        self.role.add_to_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[function.function_arn])
        )
        lead = warm_lead_minutes()
        self.schedules: list[scheduler.CfnSchedule] = []
        for index, window in enumerate(windows):
            trigger = scheduler_trigger(window, lead)
            self.schedules.append(
                scheduler.CfnSchedule(
                    self,
                    f"Window{index}",
                    name=f"{settings.resource_prefix}-warm-{index}"[:64],
                    description=f"{settings.stack_name}: warm {window.text} (woken {lead} min before)",
                    schedule_expression=trigger.expression,
                    schedule_expression_timezone=trigger.timezone,
                    flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
                    state="ENABLED",
                    target=scheduler.CfnSchedule.TargetProperty(
                        arn=function.function_arn,
                        role_arn=self.role.role_arn,
                        input=json.dumps(warm_window_event(window, lead, skip)),
                        retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                            maximum_event_age_in_seconds=lead * 60 + RETRY_SECONDS_AFTER_OPENING,
                            maximum_retry_attempts=MAX_RETRY_ATTEMPTS,
                        ),
                    ),
                )
            )
