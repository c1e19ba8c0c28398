# Releases: images, deploys, rollbacks and smoke tests. The same targets on a laptop and in CI
# (.github/workflows/deploy.yml runs exactly these, nothing else).
#   make images TAG=$(git rev-parse HEAD)      build + push the arm64 images to the stack's ECR
#   make deploy ENV=staging TAG=...            checks, cdk deploy, follow ECS (ENV=local: the twin)
DEPLOY_TIMEOUT ?= 1200

.PHONY: images deploy diff rollback prewarm smoke

images: setup ## Build and push TAG's images (docker buildx, the task's architecture) to ENV's ECR
	@test -n "$(TAG)" || { echo "error: TAG is required (make images TAG=<commit>)" >&2; exit 2; }
	warmkeeper images --config $(CONFIG) --env $(ENV) --tag $(TAG)

deploy: setup ## Deploy TAG to ENV: checks, cdk deploy, follow ECS until done (ENV=local: the twin)
	warmkeeper deploy --config $(CONFIG) --env $(ENV) $(if $(TAG),--image-tag $(TAG)) --timeout $(DEPLOY_TIMEOUT)

diff: setup ## Show what deploying TAG to ENV would change (checks + cdk diff, changes nothing)
	warmkeeper deploy --config $(CONFIG) --env $(ENV) $(if $(TAG),--image-tag $(TAG)) --dry-run

rollback: setup ## Redeploy ENV's previous release (recorded image digests)
	warmkeeper rollback --config $(CONFIG) --env $(ENV) --timeout $(DEPLOY_TIMEOUT)

prewarm: setup ## Wake ENV through the keep-alive webhook and hold it warm (a lease)
	warmkeeper keepalive --config $(CONFIG) --env $(ENV)

smoke: setup ## Smoke-test ENV on AWS: cold start, waiting page, hold, keep-alive, sleep (skipped without credentials)
	warmkeeper smoke --config $(CONFIG) --env $(ENV)
