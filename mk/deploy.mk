# Releases: images, deploys, rollbacks and smoke tests. The same targets on a laptop and in CI
# (.github/workflows/deploy.yml runs exactly these, nothing else). Every release, the first one of
# a new environment included, is these two steps in this order:
#   make images ENV=staging TAG=$(git rev-parse HEAD)   deploy the <Stack>-images stack (ECR
#                                                       repositories), build + push the arm64 images
#   make deploy ENV=staging TAG=...                     checks, cdk deploy (images pinned by digest),
#                                                       follow ECS (ENV=local: the twin)
DEPLOY_TIMEOUT ?= 1200
IMAGES_TIMEOUT ?= 600
PREWARM_MINUTES ?= 30

.PHONY: images deploy diff rollback prewarm smoke

images: setup ## Deploy ENV's ECR repositories (<Stack>-images), then build and push TAG's images there
	@test -n "$(TAG)" || { echo "error: TAG is required (make images TAG=<commit>)" >&2; exit 2; }
	warmkeeper images --config $(CONFIG) --env $(ENV) --tag $(TAG) --timeout $(IMAGES_TIMEOUT)

deploy: setup ## Deploy TAG (pushed by `make images`) to ENV: checks, cdk deploy, follow ECS (ENV=local: the twin)
	warmkeeper deploy --config $(CONFIG) --env $(ENV) $(if $(TAG),--image-tag $(TAG)) --timeout $(DEPLOY_TIMEOUT)

diff: setup ## Show what deploying TAG to ENV would change (checks + cdk diff, changes nothing)
	warmkeeper deploy --config $(CONFIG) --env $(ENV) $(if $(TAG),--image-tag $(TAG)) --dry-run

rollback: setup ## Redeploy ENV's previous release (recorded image digests)
	warmkeeper rollback --config $(CONFIG) --env $(ENV) --timeout $(DEPLOY_TIMEOUT)

prewarm: setup ## Wake ENV through its keep-alive webhook (POST /_warmkeeper/keepalive) and hold it warm PREWARM_MINUTES
	warmkeeper keepalive --config $(CONFIG) --env $(ENV) --webhook --minutes $(PREWARM_MINUTES)

smoke: setup ## Smoke-test ENV on AWS: cold start, waiting page, hold, keep-alive, sleep (skipped without credentials)
	warmkeeper smoke --config $(CONFIG) --env $(ENV)
