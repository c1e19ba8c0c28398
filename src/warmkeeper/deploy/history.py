"""The release history of one environment, kept in SSM so `warmkeeper rollback` knows what ran before.

Parameter `<ParameterPrefix>/deploy/releases` (the stack output `ParameterPrefix`, the SSM path this
environment owns) holds a JSON list, newest first, of the releases that deployed successfully:
the image tag, the digest of every built image, when, and how it ended (rolled/cold/unchanged).
A rollback deploys the second entry by digest and, once that succeeded, drops the first: a second
rollback goes one release further back instead of returning to the bad one.

Chosen over reading task-definition revisions because a revision carries no digest of a tag that
has since moved, and a cold deploy leaves no running task to read one from.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_ssm import SSMClient

HISTORY_LIMIT = 10
# Standard-tier SSM parameters hold at most 4 KB: older entries are dropped to stay below it.
MAX_PARAMETER_BYTES = 4096


@dataclass(frozen=True)
class Release:
    tag: str
    digests: dict[str, str] = field(default_factory=dict)
    deployed_at: str = ""  # ISO 8601, UTC
    outcome: str = ""

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Release:
        return cls(
            tag=str(data["tag"]),
            digests={str(k): str(v) for k, v in dict(data.get("digests", {})).items()},
            deployed_at=str(data.get("deployed_at", "")),
            outcome=str(data.get("outcome", "")),
        )


def parameter_name(prefix: str) -> str:
    return f"{prefix.rstrip('/')}/deploy/releases"


def with_release(history: list[Release], release: Release) -> list[Release]:
    """The history with `release` on top; redeploying the current tag replaces it, not duplicates it."""
    rest = history[1:] if history and history[0].tag == release.tag else history
    return [release, *rest][:HISTORY_LIMIT]


def encode(history: list[Release]) -> str:
    kept = list(history)
    while True:
        text = json.dumps([asdict(r) for r in kept], separators=(",", ":"))
        if len(text.encode()) <= MAX_PARAMETER_BYTES or len(kept) <= 1:
            return text
        kept.pop()


class ReleaseHistory:
    def __init__(self, ssm: SSMClient, prefix: str):
        self.ssm = ssm
        self.name = parameter_name(prefix)

    def read(self) -> list[Release]:
        try:
            value = self.ssm.get_parameter(Name=self.name)["Parameter"]["Value"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return []
            raise
        try:
            return [Release.from_json(item) for item in json.loads(value)]
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"SSM parameter {self.name} is not a release history: {exc}") from None

    def write(self, history: list[Release]) -> None:
        self.ssm.put_parameter(
            Name=self.name,
            Value=encode(history),
            Type="String",
            Overwrite=True,
            Description="warmkeeper: releases deployed to this environment, newest first",
        )

    def record(self, release: Release) -> None:
        self.write(with_release(self.read(), release))
