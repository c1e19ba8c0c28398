"""Simulated AWS Secrets Manager: the keepalive token's secret."""

from __future__ import annotations

from typing import Any

from warmkeeper_sim.identifiers import KEEPALIVE_TOKEN


class Secrets:
    def get_secret_value(self, SecretId: str, **_: Any) -> dict[str, Any]:
        return {"SecretString": KEEPALIVE_TOKEN}
