"""What every construct of one environment's stack needs to know, computed once from the typed config.

Constructs receive this object (and each other's constructs), never raw dicts or the TOML file, so a
name such as the SSM prefix or the idle alarm's name is derived in one place only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from warmkeeper.config import AppConfig, Container, EnvironmentSettings
from warmkeeper.core import Policy
from warmkeeper.naming import (
    built_containers,
    check_image_digests,
    check_image_tag,
    function_name,
    images_stack_name,
    repository_name,
)

# Listener rule priorities (lower wins) of the rules the stack owns. The warm route's
# (warmkeeper.naming.WARM_RULE_PRIORITY) is created and deleted at run time by the warmkeeper Lambda,
# never by CloudFormation, and lies between them.
WAKER_PATHS_RULE_PRIORITY = 1
SERVICE_ANCHOR_RULE_PRIORITY = 49999
WAKER_DEFAULT_RULE_PRIORITY = 50000
SERVICE_ROUTE_HEADER = "X-Warmkeeper-Route"


@dataclass(frozen=True)
class StackSettings:
    """One AWS environment of one app, as the CDK constructs see it."""

    config: AppConfig
    env_name: str
    env: EnvironmentSettings
    image_tag: str = "latest"
    # container -> `sha256:...`: these containers' images are pinned by digest, the others use the tag.
    image_digests: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        config: AppConfig,
        env_name: str,
        image_tag: str = "latest",
        image_digests: Mapping[str, str] | None = None,
    ) -> StackSettings:
        """Raise ValueError on an environment without a stack, a bad tag or a bad digest."""
        if env_name == "local":
            raise ValueError("the local environment has no AWS stack; use staging or production")
        check_image_tag(image_tag)
        return cls(
            config=config,
            env_name=env_name,
            env=config.require_https(env_name),
            image_tag=image_tag,
            image_digests=check_image_digests(config, image_digests or {}),
        )

    @property
    def app_name(self) -> str:
        return self.config.app.name

    @property
    def stack_name(self) -> str:
        return self.config.stack_name(self.env_name)

    @property
    def images_stack_name(self) -> str:
        return images_stack_name(self.config, self.env_name)

    def repository_name(self, container: str) -> str:
        return repository_name(self.config, self.env_name, container)

    @property
    def built_containers(self) -> list[Container]:
        return built_containers(self.config)

    @property
    def resource_prefix(self) -> str:
        """Prefix of the physical names people look for in the console: `cityguided-staging`."""
        return f"{self.app_name}-{self.env_name}"

    @property
    def parameter_prefix(self) -> str:
        """SSM path owned by this environment; the Lambda keeps its small state under it."""
        return f"/warmkeeper/{self.app_name}/{self.env_name}"

    @property
    def function_name(self) -> str:
        return function_name(self.config, self.env_name)

    @property
    def idle_alarm_name(self) -> str:
        return f"{self.stack_name}-idle"

    @property
    def dashboard_name(self) -> str:
        return self.stack_name

    @property
    def production_like(self) -> bool:
        """Always-on environments keep their logs and keys when the stack is deleted."""
        return not self.env.scale_to_zero

    @property
    def entry_container(self) -> Container:
        return self.config.entry_container

    def log_group_name(self, container: str) -> str:
        return f"/warmkeeper/{self.app_name}/{self.env_name}/{container}"

    @property
    def policy(self) -> Policy:
        """The environment's core policy (:meth:`AppConfig.policy`): what the Lambda decides with."""
        return self.config.policy(self.env)
