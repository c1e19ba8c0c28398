"""Where each container's image comes from: an ECR repository per built container, or a given URI.

Images are built and pushed outside CloudFormation (no container engine is needed to synthesize);
the task definition points at `<repository>:<tag>`, the tag coming from the `imageTag` context value.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from warmkeeper.config import Container
from warmkeeper.infra.settings import StackSettings, pascal

KEEP_IMAGES = 30  # enough to roll back through a month of daily deploys
UNTAGGED_IMAGE_DAYS = 7


class Images(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self._tag = settings.image_tag
        self.repositories: dict[str, ecr.Repository] = {}
        for container in settings.config.containers:
            if container.build is None:
                continue
            self.repositories[container.name] = ecr.Repository(
                self,
                f"{pascal(container.name)}Repository",
                # One set of repositories per environment: staging and production may share an
                # account and region, and two stacks cannot own the same repository name.
                repository_name=f"{settings.app_name}-{settings.env_name}/{container.name}",
                image_scan_on_push=True,
                # Mutable: the default tag is `latest`, which every push moves. Deploys that need
                # immutability pass a commit id as the tag.
                image_tag_mutability=ecr.TagMutability.MUTABLE,
                lifecycle_rules=[
                    ecr.LifecycleRule(
                        rule_priority=1,
                        description=f"Untagged images expire after {UNTAGGED_IMAGE_DAYS} days",
                        tag_status=ecr.TagStatus.UNTAGGED,
                        max_image_age=Duration.days(UNTAGGED_IMAGE_DAYS),
                    ),
                    ecr.LifecycleRule(
                        rule_priority=2,
                        description=f"Keep the {KEEP_IMAGES} most recent images (storage cost, rollbacks)",
                        tag_status=ecr.TagStatus.ANY,
                        max_image_count=KEEP_IMAGES,
                    ),
                ],
                # Deleting the stack must not delete the only copy of released images.
                removal_policy=RemovalPolicy.RETAIN,
            )

    def image_for(self, container: Container) -> ecs.ContainerImage:
        if container.image is not None:
            return ecs.ContainerImage.from_registry(container.image)
        return ecs.ContainerImage.from_ecr_repository(self.repositories[container.name], self._tag)
