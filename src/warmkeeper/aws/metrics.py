"""The Lambda's custom metrics, named once: the engine emits them, the dashboard and alarms read them.

They leave the Lambda as CloudWatch embedded metric format (EMF) log lines, not PutMetricData
calls: no CloudWatch API call on the request path and no ``cloudwatch:PutMetricData`` permission.
CloudWatch Logs extracts the metrics from any log event of the function's log group that follows
the EMF specification (CloudWatch user guide, "Specification: Embedded metric format" and "Using
the embedded metric format with Lambda"). Standard library only: part of the Lambda bundle.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

METRICS_NAMESPACE = "Warmkeeper"


def dimensions(app: str, env: str) -> dict[str, str]:
    """Every metric's dimensions: the app and environment names."""
    return {"App": app, "Env": env}


class MetricName(StrEnum):
    """The custom metrics of the contract (namespace :data:`METRICS_NAMESPACE`, dimensions App/Env)."""

    WAKES = "Wakes"  # a scale-up warmkeeper asked for (once per wake, whatever the concurrency)
    COLD_START_SECONDS = "ColdStartSeconds"  # wake request -> first healthy target, as the Lambda saw it
    SLEEPS = "Sleeps"
    HELD_REQUESTS = "HeldRequests"  # API requests held while the service woke
    WAKE_FAILURES = "WakeFailures"  # once per wake that was not healthy within wake_timeout_seconds
    # 1 per reconcile that found the HTTP API's VPC link INACTIVE (front_door = "http_api" only)
    VPC_LINK_INACTIVE = "VpcLinkInactive"

    @property
    def unit(self) -> str:
        """The CloudWatch unit the metric is published with."""
        return "Seconds" if self is MetricName.COLD_START_SECONDS else "Count"


def emf_document(
    namespace: str,
    dimensions: Mapping[str, str],
    values: Mapping[str, float],
    units: Mapping[str, str],
    timestamp: datetime,
) -> dict[str, Any]:
    """One EMF document: the ``_aws`` metadata (timestamp in epoch milliseconds, one metric directive
    with one dimension set) and, at the root, the dimension values and the metric values it names."""
    return {
        "_aws": {
            "Timestamp": int(timestamp.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": namespace,
                    "Dimensions": [list(dimensions)],
                    "Metrics": [{"Name": name, "Unit": units[name]} for name in values],
                }
            ],
        },
        **dimensions,
        **values,
    }
