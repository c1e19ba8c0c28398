"""One CloudFormation stack as warmkeeper reads it: status, and the outputs of the team contract.

The output keys are named in :mod:`warmkeeper.naming`: the CDK app writes them
(:mod:`warmkeeper.infra.stack`), the CLI and the deploys read them. Standard library and botocore
only (part of the Lambda bundle).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_cloudformation.client import CloudFormationClient

# A stack in one of these states is being changed by someone else: a second deploy must wait.
BUSY_SUFFIX = "_IN_PROGRESS"


@dataclass(frozen=True)
class StackInfo:
    name: str
    status: str
    status_reason: str | None
    last_updated: datetime | None
    outputs: dict[str, str] = field(default_factory=dict)

    @property
    def busy(self) -> bool:
        return self.status.endswith(BUSY_SUFFIX)

    @property
    def rolled_back(self) -> bool:
        """CloudFormation undid a change (or failed one): ROLLBACK_*, UPDATE_ROLLBACK_*, *_FAILED."""
        return "ROLLBACK" in self.status or self.status.endswith("_FAILED")


def describe_stack(cloudformation: CloudFormationClient, name: str) -> StackInfo | None:
    """The stack, or None when it does not exist (yet). Other AWS errors are raised as botocore's."""
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError" and "does not exist" in str(exc):
            return None
        raise
    if not stacks:
        return None
    stack = stacks[0]
    outputs = {
        item["OutputKey"]: item["OutputValue"]
        for item in stack.get("Outputs", [])
        if "OutputKey" in item and "OutputValue" in item
    }
    return StackInfo(
        name=name,
        status=stack["StackStatus"],
        status_reason=stack.get("StackStatusReason"),
        last_updated=stack.get("LastUpdatedTime") or stack.get("CreationTime"),
        outputs=outputs,
    )


def first_failure_reason(
    cloudformation: CloudFormationClient, name: str, since: datetime | None
) -> str | None:
    """The oldest resource failure of the stack's latest operation: usually the real cause."""
    try:
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError:
        return None
    failures = [
        event
        for event in events
        if event.get("ResourceStatus", "").endswith("_FAILED")
        and event.get("ResourceStatusReason")
        and (since is None or event["Timestamp"] >= since)
    ]
    if not failures:
        return None
    oldest = min(failures, key=lambda event: event["Timestamp"])
    return f"{oldest.get('LogicalResourceId', '?')}: {oldest.get('ResourceStatusReason')}"
