"""What the infra tests share: one synthesized environment and small readers of its template."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warmkeeper.config import AppConfig, EnvironmentSettings

if TYPE_CHECKING:
    from aws_cdk import Stack
    from aws_cdk.assertions import Template


@dataclass
class SynthesizedEnv:
    """One stack, synthesized once per test session, and its template read back from the assembly."""

    variant: str
    config: AppConfig
    env_name: str
    image_tag: str
    stack: Stack
    template_path: Path
    raw: dict[str, Any]
    images: SynthesizedEnv | None = None  # a service stack's images stack, from the same synthesis
    _template: Template | None = field(default=None, repr=False)

    @property
    def settings(self) -> EnvironmentSettings:
        return self.config.environment(self.env_name)

    @property
    def assembly_dir(self) -> Path:
        return self.template_path.parent

    @property
    def template(self) -> Template:
        """CDK assertions on the synthesized JSON (Template.from_stack would synthesize again)."""
        if self._template is None:
            from aws_cdk.assertions import Template

            self._template = Template.from_json(self.raw)
        return self._template

    def resources(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.raw["Resources"].items()
            if resource["Type"] == resource_type
        }

    def only(self, resource_type: str) -> tuple[str, dict[str, Any]]:
        """The one resource of a type, as (logical id, Properties)."""
        found = self.resources(resource_type)
        assert len(found) == 1, f"{self.variant}: expected one {resource_type}, found {sorted(found)}"
        logical_id, resource = next(iter(found.items()))
        return logical_id, resource.get("Properties", {})

    def logical_id(self, construct_path: str) -> str:
        """Logical id of a construct's resource, by its path in the stack (e.g. 'Ingress/LoadBalancer')."""
        full_path = f"{self.stack.stack_name}/{construct_path}"
        matches = [
            logical_id
            for logical_id, resource in self.raw["Resources"].items()
            if resource.get("Metadata", {}).get("aws:cdk:path") in (full_path, f"{full_path}/Resource")
        ]
        assert len(matches) == 1, f"{self.variant}: {construct_path!r} matches {matches}"
        return matches[0]

    def properties(self, logical_id: str) -> dict[str, Any]:
        return dict(self.raw["Resources"][logical_id].get("Properties", {}))


def ref(logical_id: str) -> dict[str, str]:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> dict[str, list[str]]:
    return {"Fn::GetAtt": [logical_id, attribute]}


def flatten_join(value: Any) -> str:
    """Render an `Fn::Join` of strings and tokens as text, each token as `<TOKEN>`."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(flatten_join(part) for part in parts)
    return "<TOKEN>"


def dashboard_body(body: Any) -> dict[str, Any]:
    """The dashboard's JSON body, with every CloudFormation token replaced by the text <TOKEN>."""
    parsed: dict[str, Any] = json.loads(flatten_join(body))
    return parsed


def statements(policy_properties: dict[str, Any]) -> list[dict[str, Any]]:
    return list(policy_properties["PolicyDocument"]["Statement"])


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
