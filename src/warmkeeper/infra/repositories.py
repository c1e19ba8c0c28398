"""Where each container's image comes from: an ECR repository per built container, or a given URI.

The repositories live in their own small stack (`<Stack>-images`, see `ImagesStack`), deployed by
`warmkeeper images` before it pushes: they must exist, with the images in them, before the service's
stack is first created, because CloudFormation starts a new service at one task (DesiredCount absent
means 1 on create). The service's stack imports them by name (`Images`), not through exports, so
neither stack locks the other.

Images are built and pushed outside CloudFormation (no container engine is needed to synthesize);
the task definition points at `<repository>@sha256:...` for each container given a digest (what a
deploy passes: reproducible), else at `<repository>:<tag>`.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from constructs import Construct

from warmkeeper.config import Container
from warmkeeper.infra.scan_skips import skip_checks
from warmkeeper.infra.stack_settings import StackSettings
from warmkeeper.naming import pascal

KEEP_IMAGES = 30  # enough to roll back through a month of daily deploys
UNTAGGED_IMAGE_DAYS = 7


class Repositories(Construct):
    """One ECR repository per built container (the images stack's one capability)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self.repositories: dict[str, ecr.Repository] = {}
        for container in settings.built_containers:
            repository = self.repositories[container.name] = ecr.Repository(
                self,
                f"{pascal(container.name)}Repository",
                # One set of repositories per environment: staging and production may share an
                # account and region, and two stacks cannot own the same repository name.
                repository_name=settings.repository_name(container.name),
                image_scan_on_push=True,
                # Immutable: a pushed tag names one image forever, so the release history's tags
                # stay true (deploys pin digests as well). `warmkeeper images` keeps an already
                # pushed tag instead of pushing it again (ECR refuses that).
                image_tag_mutability=ecr.TagMutability.IMMUTABLE,
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
            skip_checks(repository, "CKV_AWS_136")


class Images(Construct):
    """The service stack's view of the images: repositories imported by name, tag or digest per container."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StackSettings) -> None:
        super().__init__(scope, construct_id)
        self._tag = settings.image_tag
        self._digests = dict(settings.image_digests)
        # By name, not by a cross-stack export: the name is fixed by convention (warmkeeper.naming),
        # and an export would forbid replacing or deleting a repository while this stack uses it.
        self.repositories: dict[str, ecr.IRepository] = {
            container.name: ecr.Repository.from_repository_name(
                self, f"{pascal(container.name)}Repository", settings.repository_name(container.name)
            )
            for container in settings.built_containers
        }

    def image_for(self, container: Container) -> ecs.ContainerImage:
        if container.image is not None:
            return ecs.ContainerImage.from_registry(container.image)
        # CDK turns a `sha256:` value into `<uri>@sha256:...` (repositoryUriForTagOrDigest), a tag into
        # `<uri>:<tag>`.
        reference = self._digests.get(container.name, self._tag)
        return ecs.ContainerImage.from_ecr_repository(self.repositories[container.name], reference)
