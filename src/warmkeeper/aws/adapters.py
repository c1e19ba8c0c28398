"""Thin boto3 adapters, one per AWS service, each with its client injected.

They translate between AWS shapes and plain values; every decision is in :mod:`warmkeeper.core` and
the order of calls in :mod:`warmkeeper.aws.engine`. Tests construct them with moto-backed clients.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from warmkeeper.aws.logs import log
from warmkeeper.aws.metrics import dimensions, emf_document
from warmkeeper.aws_limits import METRIC_VISIBILITY_SECONDS
from warmkeeper.core import Routing
from warmkeeper.core.activity import ActivityReport
from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.report import TaskStatus

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_ecs.client import ECSClient
    from mypy_boto3_elbv2.client import ElasticLoadBalancingv2Client
    from mypy_boto3_secretsmanager.client import SecretsManagerClient
    from mypy_boto3_ssm.client import SSMClient

WARM_ROUTE_TAG_KEY = "warmkeeper:role"
WARM_ROUTE_TAG_VALUE = "warm-route"


def utc_now() -> datetime:
    return datetime.now(UTC)


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- ECS -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServiceState:
    desired: int
    running: int
    pending: int
    deployment_in_progress: bool


class EcsService:
    """The one ECS service: counts, deployments, tasks, and the desired count."""

    def __init__(self, ecs: ECSClient, cluster: str, service: str) -> None:
        self._ecs = ecs
        self.cluster = cluster
        self.service = service

    def describe(self) -> ServiceState:
        response = self._ecs.describe_services(cluster=self.cluster, services=[self.service])
        services = response.get("services", [])
        if not services or services[0].get("status") == "INACTIVE":
            raise ServiceNotFoundError(f"ECS service {self.service!r} not found in cluster {self.cluster!r}")
        service = services[0]
        deployments = service.get("deployments", [])
        # A rolling deploy shows the new PRIMARY beside the ACTIVE one it replaces; a single
        # deployment still rolling out says IN_PROGRESS.
        in_progress = len(deployments) > 1 or any(
            d.get("status") == "PRIMARY" and d.get("rolloutState") == "IN_PROGRESS" for d in deployments
        )
        return ServiceState(
            desired=int(service.get("desiredCount", 0)),
            running=int(service.get("runningCount", 0)),
            pending=int(service.get("pendingCount", 0)),
            deployment_in_progress=in_progress,
        )

    def set_desired(self, count: int) -> None:
        self._ecs.update_service(cluster=self.cluster, service=self.service, desiredCount=count)

    def tasks(self, healthy_ips: frozenset[str] = frozenset()) -> list[TaskStatus]:
        """The service's tasks, healthy when the load balancer says so for the task's IP."""
        arns: list[str] = []
        # Live tasks only (desired RUNNING, which includes those still starting); stopped ones are
        # ECS's history, not the service's state.
        paginator = self._ecs.get_paginator("list_tasks")
        for page in paginator.paginate(
            cluster=self.cluster, serviceName=self.service, desiredStatus="RUNNING"
        ):
            arns.extend(page.get("taskArns", []))
        if not arns:
            return []
        result: list[TaskStatus] = []
        for start in range(0, len(arns), 100):
            described = self._ecs.describe_tasks(cluster=self.cluster, tasks=arns[start : start + 100])
            for task in described.get("tasks", []):
                ips = {
                    detail.get("value", "")
                    for attachment in task.get("attachments", [])
                    for detail in attachment.get("details", [])
                    if detail.get("name") == "privateIPv4Address"
                }
                last_status = str(task.get("lastStatus", ""))
                if ips & healthy_ips:
                    health = "healthy"
                elif last_status in ("DEACTIVATING", "STOPPING", "DEPROVISIONING", "STOPPED"):
                    health = "stopping"
                elif last_status == "RUNNING" and task.get("healthStatus") == "UNHEALTHY":
                    health = "unhealthy"
                else:
                    health = "starting"
                started = task.get("startedAt")
                result.append(
                    TaskStatus(
                        task_id=str(task.get("taskArn", "")).rsplit("/", 1)[-1],
                        health=health,
                        started_at=started if isinstance(started, datetime) else None,
                        version=str(task.get("taskDefinitionArn", "")).rsplit("/", 1)[-1] or None,
                    )
                )
        return result


class ServiceNotFoundError(WarmkeeperError, LookupError):
    pass


# --- ELBv2: target health and the warm route -----------------------------------------------------------


@dataclass(frozen=True)
class TargetHealth:
    healthy: int
    healthy_ips: frozenset[str]


class RoutingConflictError(WarmkeeperError, RuntimeError):
    """Another rule holds the warm route's priority: warmkeeper will not delete a rule it does not own."""


class LoadBalancerRouting:
    """Target health of the service's target group, and the run-time "warm route" listener rule.

    The warm route (path ``/*`` -> service target group, tagged ``warmkeeper:role=warm-route``) is
    created and deleted here only, never by CloudFormation: a ``cdk deploy`` cannot change routing.
    """

    def __init__(
        self,
        elbv2: ElasticLoadBalancingv2Client,
        listener_arn: str,
        service_target_group_arn: str,
        warm_rule_priority: int,
    ) -> None:
        self._elbv2 = elbv2
        self.listener_arn = listener_arn
        self.target_group_arn = service_target_group_arn
        self.priority = warm_rule_priority

    def target_health(self) -> TargetHealth:
        response = self._elbv2.describe_target_health(TargetGroupArn=self.target_group_arn)
        healthy = [
            d
            for d in response.get("TargetHealthDescriptions", [])
            if d.get("TargetHealth", {}).get("State") == "healthy"
        ]
        return TargetHealth(
            healthy=len(healthy),
            healthy_ips=frozenset(str(d.get("Target", {}).get("Id", "")) for d in healthy),
        )

    def _rules(self) -> list[dict[str, Any]]:
        paginator = self._elbv2.get_paginator("describe_rules")
        return [
            dict(rule)
            for page in paginator.paginate(ListenerArn=self.listener_arn)
            for rule in page.get("Rules", [])
        ]

    def _forwards_to_service(self, rule: dict[str, Any]) -> bool:
        for action in rule.get("Actions", []):
            if action.get("Type") != "forward":
                continue
            if action.get("TargetGroupArn") == self.target_group_arn:
                return True
            groups = action.get("ForwardConfig", {}).get("TargetGroups", [])
            if any(g.get("TargetGroupArn") == self.target_group_arn for g in groups):
                return True
        return False

    def _is_tagged_warm_route(self, rule_arn: str) -> bool:
        descriptions = self._elbv2.describe_tags(ResourceArns=[rule_arn]).get("TagDescriptions", [])
        return any(
            tag.get("Key") == WARM_ROUTE_TAG_KEY and tag.get("Value") == WARM_ROUTE_TAG_VALUE
            for description in descriptions
            for tag in description.get("Tags", [])
        )

    def warm_rule_arn(self) -> str | None:
        """The warm route's ARN, or None.

        A rule at the priority that forwards elsewhere is ours only if it carries our tag: then the
        stack replaced the service's target group (an entry-port change) after the rule was made,
        and the rule is pointed at the current one. Any other rule there is somebody else's.
        """
        for rule in self._rules():
            if rule.get("Priority") != str(self.priority):
                continue
            arn = str(rule["RuleArn"])
            if self._forwards_to_service(rule):
                return arn
            if self._is_tagged_warm_route(arn):
                self._elbv2.modify_rule(
                    RuleArn=arn, Actions=[{"Type": "forward", "TargetGroupArn": self.target_group_arn}]
                )
                log.warning(
                    "warm route %s re-pointed at the current target group %s", arn, self.target_group_arn
                )
                return arn
            raise RoutingConflictError(
                f"listener rule at priority {self.priority} ({arn}) does not forward to the service "
                f"target group and has no {WARM_ROUTE_TAG_KEY}={WARM_ROUTE_TAG_VALUE} tag: remove it or "
                "change WK_WARM_RULE_PRIORITY"
            )
        return None

    def routing(self) -> Routing:
        return Routing.SERVICE if self.warm_rule_arn() else Routing.WAKER

    def route_to_service(self) -> bool:
        """Create the warm route; False when it already existed (idempotent)."""
        if self.warm_rule_arn():
            return False
        try:
            self._elbv2.create_rule(
                ListenerArn=self.listener_arn,
                Priority=self.priority,
                Conditions=[{"Field": "path-pattern", "PathPatternConfig": {"Values": ["/*"]}}],
                Actions=[{"Type": "forward", "TargetGroupArn": self.target_group_arn}],
                Tags=[{"Key": WARM_ROUTE_TAG_KEY, "Value": WARM_ROUTE_TAG_VALUE}],
            )
        except ClientError as exc:
            # Two invocations racing to create it: the loser sees the priority taken.
            if _error_code(exc) == "PriorityInUse" and self.warm_rule_arn():
                return False
            raise
        return True

    def route_to_waker(self) -> bool:
        """Delete the warm route; False when there was none (idempotent)."""
        arn = self.warm_rule_arn()
        if arn is None:
            return False
        try:
            self._elbv2.delete_rule(RuleArn=arn)
        except ClientError as exc:
            if _error_code(exc) == "RuleNotFound":
                return False
            raise
        return True


# --- SSM: the small state (wake lock, lease, last wake) -------------------------------------------------


@dataclass(frozen=True)
class WakeLock:
    """Exists while warmkeeper keeps the service awake; taken with a compare-and-set."""

    requested_at: datetime
    healthy_at: datetime | None = None
    failure_reported: bool = False
    adopted: bool = False  # the service was found awake without a lock (scaled up outside warmkeeper)
    # The front door's link had to be re-created during this wake: its duration says nothing of the
    # next wake's, so it is left out of the estimate.
    link_delayed: bool = False

    def to_json(self) -> str:
        return json.dumps(
            {
                "requested_at": _iso(self.requested_at),
                "healthy_at": _iso(self.healthy_at),
                "failure_reported": self.failure_reported,
                "adopted": self.adopted,
                "link_delayed": self.link_delayed,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> WakeLock:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = {}
        if not isinstance(data, dict):
            data = {}
        # An unreadable lock counts as very old, so the stale-lock repair can remove it.
        requested = _parse_time(data.get("requested_at")) or datetime(1970, 1, 1, tzinfo=UTC)
        return cls(
            requested_at=requested,
            healthy_at=_parse_time(data.get("healthy_at")),
            failure_reported=bool(data.get("failure_reported", False)),
            adopted=bool(data.get("adopted", False)),
            link_delayed=bool(data.get("link_delayed", False)),
        )


@dataclass(frozen=True)
class LastWake:
    requested_at: datetime
    healthy_at: datetime | None
    seconds: float | None
    # The cold-start seconds of the last few wakes, newest last (this one included): what the waker
    # estimates the next wake from (a record written before it existed has none).
    recent_seconds: tuple[float, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "requested_at": _iso(self.requested_at),
                "healthy_at": _iso(self.healthy_at),
                "seconds": self.seconds,
                "recent_seconds": list(self.recent_seconds),
            },
            sort_keys=True,
        )

    def durations(self) -> tuple[float, ...]:
        """The recorded wake durations, newest last."""
        if self.recent_seconds:
            return self.recent_seconds
        return (self.seconds,) if self.seconds is not None else ()

    @classmethod
    def from_json(cls, text: str) -> LastWake | None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(data, dict):
            return None
        requested = _parse_time(data.get("requested_at"))
        if requested is None:
            return None
        seconds = data.get("seconds")
        recent = data.get("recent_seconds")
        return cls(
            requested_at=requested,
            healthy_at=_parse_time(data.get("healthy_at")),
            seconds=float(seconds) if isinstance(seconds, int | float) else None,
            recent_seconds=tuple(
                float(value)
                for value in (recent if isinstance(recent, list) else [])
                if isinstance(value, int | float)
            ),
        )


@dataclass(frozen=True)
class StoredState:
    lock: WakeLock | None
    lease_until: datetime | None
    last_wake: LastWake | None
    activity: ActivityReport | None = None


def _activity_from_json(text: str | None) -> ActivityReport | None:
    """The stored beacon report (None when absent or unreadable: the metric decides then)."""
    if not text:
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    reported_at = _parse_time(data.get("reported_at")) if isinstance(data, dict) else None
    if reported_at is None:
        return None
    return ActivityReport(reported_at=reported_at, last_request_at=_parse_time(data.get("last_request_at")))


class StateStore:
    """Four SSM parameters under the environment's prefix (no database):

    - ``<prefix>/wake-lock``: taken with ``put_parameter(Overwrite=False)``, the compare-and-set that
      makes any number of concurrent cold requests cause one scale-up; deleted after a sleep.
    - ``<prefix>/lease-until``: end of the keep-alive lease (ISO 8601).
    - ``<prefix>/last-wake``: the last wake and its cold-start seconds (for status and the docs).
    - ``<prefix>/activity``: the app's tasks' activity beacon, merged (:mod:`warmkeeper.core.activity`).
    """

    def __init__(self, ssm: SSMClient, prefix: str) -> None:
        self._ssm = ssm
        self.lock_name = f"{prefix}/wake-lock"
        self.lease_name = f"{prefix}/lease-until"
        self.last_wake_name = f"{prefix}/last-wake"
        self.activity_name = f"{prefix}/activity"

    def read(self) -> StoredState:
        response = self._ssm.get_parameters(
            Names=[self.lock_name, self.lease_name, self.last_wake_name, self.activity_name]
        )
        values = {p["Name"]: p.get("Value", "") for p in response.get("Parameters", [])}
        lock_text = values.get(self.lock_name)
        last_wake_text = values.get(self.last_wake_name)
        return StoredState(
            lock=WakeLock.from_json(lock_text) if lock_text is not None else None,
            lease_until=_parse_time(values.get(self.lease_name)),
            last_wake=LastWake.from_json(last_wake_text) if last_wake_text else None,
            activity=_activity_from_json(values.get(self.activity_name)),
        )

    def record_activity(self, report: ActivityReport) -> ActivityReport:
        """Merge a beacon report into the stored one (read, merge, write: two tasks reporting in the
        same instant may lose one report, which the next one, at most REPORT_GAP_SECONDS later,
        repeats). Returns what was stored."""
        try:
            current = self._ssm.get_parameter(Name=self.activity_name)["Parameter"].get("Value")
        except ClientError as exc:
            if _error_code(exc) != "ParameterNotFound":
                raise
            current = None
        previous = _activity_from_json(current)
        merged = previous.merged_with(report) if previous is not None else report
        value = json.dumps(
            {"reported_at": _iso(merged.reported_at), "last_request_at": _iso(merged.last_request_at)},
            separators=(",", ":"),
        )
        self._ssm.put_parameter(Name=self.activity_name, Value=value, Type="String", Overwrite=True)
        return merged

    def take_wake_lock(self, lock: WakeLock) -> bool:
        """Compare-and-set: True for the one caller that created the lock, False for everybody else."""
        try:
            self._ssm.put_parameter(
                Name=self.lock_name,
                Value=lock.to_json(),
                Type="String",
                Overwrite=False,
                Description="warmkeeper wake lock (deleted when the service sleeps)",
            )
        except ClientError as exc:
            if _error_code(exc) == "ParameterAlreadyExists":
                return False
            raise
        return True

    def update_wake_lock(self, lock: WakeLock) -> None:
        self._ssm.put_parameter(Name=self.lock_name, Value=lock.to_json(), Type="String", Overwrite=True)

    def clear_wake_lock(self) -> bool:
        try:
            self._ssm.delete_parameter(Name=self.lock_name)
        except ClientError as exc:
            if _error_code(exc) == "ParameterNotFound":
                return False
            raise
        return True

    def put_lease(self, until: datetime) -> None:
        self._ssm.put_parameter(Name=self.lease_name, Value=_iso(until) or "", Type="String", Overwrite=True)

    def clear_lease(self) -> None:
        try:
            self._ssm.delete_parameter(Name=self.lease_name)
        except ClientError as exc:
            if _error_code(exc) != "ParameterNotFound":
                raise

    def put_last_wake(self, record: LastWake) -> None:
        self._ssm.put_parameter(
            Name=self.last_wake_name, Value=record.to_json(), Type="String", Overwrite=True
        )


# --- Secrets Manager: the keep-alive token ---------------------------------------------------------------


class KeepaliveSecret:
    """The keep-alive token, read from Secrets Manager and kept a few minutes (rotation-friendly)."""

    CACHE_SECONDS = 300.0

    def __init__(
        self,
        secretsmanager: SecretsManagerClient,
        secret_arn: str | None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._client = secretsmanager
        self._arn = secret_arn
        self._clock = clock
        self._cached: tuple[str, datetime] | None = None

    def token(self) -> str | None:
        if self._arn is None:
            return None
        now = self._clock()
        if self._cached and (now - self._cached[1]).total_seconds() < self.CACHE_SECONDS:
            return self._cached[0]
        value = self._client.get_secret_value(SecretId=self._arn).get("SecretString")
        token = value.strip() if isinstance(value, str) else None
        if token:
            self._cached = (token, now)
        return token or None


# --- CloudWatch: our metrics, and the traffic the service saw ---------------------------------------------


class Metrics:
    """Our custom metrics (as EMF log lines, see :mod:`warmkeeper.aws.metrics`) and the request
    activity the idle alarm reads too (from CloudWatch): the service target group's RequestCount
    behind a load balancer, the stage's Count (AWS/ApiGateway, ApiId and Stage) behind an HTTP API."""

    def __init__(
        self,
        cloudwatch: CloudWatchClient,
        namespace: str,
        app: str,
        env: str,
        load_balancer_dimension: str | None = None,
        target_group_dimension: str | None = None,
        *,
        api: tuple[str, str] | None = None,
        clock: Callable[[], datetime] = utc_now,
        custom_metrics: bool = True,
    ) -> None:
        self._cloudwatch = cloudwatch
        self._custom_metrics = custom_metrics
        self._api = api  # (api id, stage)
        self.namespace = namespace
        self.dimensions = dimensions(app, env)
        self._lb = load_balancer_dimension
        self._tg = target_group_dimension
        self._clock = clock

    def put(self, name: str, value: float, unit: str = "Count") -> None:
        """Emit one data point: an EMF line on the log channel, no API call (so no failure to handle
        on the request path either)."""
        document = emf_document(self.namespace, self.dimensions, {name: value}, {name: unit}, self._clock())
        if not self._custom_metrics:
            # The same fields, without the EMF block: a log line to query, not a metric to pay for.
            del document["_aws"]
        log.info("metric", extra=document)

    def _request_metric(self) -> Any:
        if self._api is not None:
            api_id, stage = self._api
            return {
                "Namespace": "AWS/ApiGateway",
                "MetricName": "Count",
                "Dimensions": [{"Name": "ApiId", "Value": api_id}, {"Name": "Stage", "Value": stage}],
            }
        if self._lb and self._tg:
            return {
                "Namespace": "AWS/ApplicationELB",
                "MetricName": "RequestCount",
                "Dimensions": [
                    {"Name": "LoadBalancer", "Value": self._lb},
                    {"Name": "TargetGroup", "Value": self._tg},
                ],
            }
        return None

    def last_activity(
        self, now: datetime, lookback_minutes: float, *, margin_seconds: float = METRIC_VISIBILITY_SECONDS
    ) -> datetime | None:
        """End of the last minute in which the service's target group counted a request, plus
        ``margin_seconds``, or None.

        None when the metric has no data in the window: like the idle alarm's TreatMissingData =
        breaching, that counts as idle. ``margin_seconds=0`` when something else (the activity beacon)
        covers the minutes not yet published.
        """
        metric = self._request_metric()
        if metric is None:
            return None
        # A minute's data point becomes visible minutes after the minute ends: a request made in
        # the last METRIC_VISIBILITY_SECONDS may not be counted yet. So the window reaches that much
        # further back, and the activity found is taken as that much later (capped at now): the
        # idle clock then runs from when the last request could have been made, not from the last
        # minute already published.
        margin = timedelta(seconds=margin_seconds)
        start = now - timedelta(minutes=lookback_minutes + 2) - timedelta(seconds=METRIC_VISIBILITY_SECONDS)
        response = self._cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "requests",
                    "MetricStat": {
                        "Metric": metric,
                        "Period": 60,
                        "Stat": "Sum",
                    },
                    "ReturnData": True,
                }
            ],
            StartTime=start,
            EndTime=now + timedelta(minutes=1),
        )
        latest: datetime | None = None
        for result in response.get("MetricDataResults", []):
            for timestamp, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                if value >= 1:
                    end = timestamp.astimezone(UTC) + timedelta(seconds=60) + margin
                    end = min(end, now)
                    latest = end if latest is None or end > latest else latest
        return latest
