"""Simulated AWS Secrets Manager: the keep-alive token's secret and the wake secret."""

from __future__ import annotations

from typing import Any

from warmkeeper_sim.identifiers import KEEPALIVE_TOKEN, WAKE_SECRET, WAKE_SECRET_ARN


class Secrets:
    def get_secret_value(self, SecretId: str, **_: Any) -> dict[str, Any]:
        return {"SecretString": WAKE_SECRET if SecretId == WAKE_SECRET_ARN else KEEPALIVE_TOKEN}
