# `make scan`: checkov over every environment's synthesized templates and the example's Dockerfiles.
# checkov pins boto3 1.35.x, which the project's boto3 >= 1.40 excludes, so it cannot share uv.lock:
# it lives in its own virtualenv (.tools/checkov), installed from scripts/scan/requirements.txt, where
# checkov and every dependency are pinned with their hashes (`make scan-lock` re-pins them).
# Offline: no platform key, no policy metadata download (--skip-download, BC_SKIP_MAPPING) and no
# check for a newer checkov (CKV_SKIP_PACKAGE_UPDATE_CHECK). Every finding is fixed or skipped where it
# is declared (CloudFormation metadata set by warmkeeper.infra.scan_skips; `# checkov:skip=` in a
# Dockerfile), each with its reason; docs/technical/security.md lists them.
SCAN_VENV := $(CURDIR)/.tools/checkov
SCAN_REQUIREMENTS := scripts/scan/requirements.txt
SCAN_OUTPUT := $(CURDIR)/cdk.out/scan
SCAN_ENVS := staging production
CHECKOV := BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=TRUE $(SCAN_VENV)/bin/checkov --skip-download --compact --quiet

.PHONY: scan scan-lock

$(SCAN_VENV)/.installed: $(SCAN_REQUIREMENTS) | $(UV)
	rm -rf $(SCAN_VENV)
	$(UV) venv --quiet --python 3.11 $(SCAN_VENV)
	$(UV) pip install --quiet --python $(SCAN_VENV)/bin/python --require-hashes --no-deps -r $(SCAN_REQUIREMENTS)
	@touch $@

scan: setup $(SCAN_VENV)/.installed ## checkov, offline, over every environment's templates and the Dockerfiles
	rm -rf $(SCAN_OUTPUT)
	for env in $(SCAN_ENVS); do \
	  warmkeeper synth --config $(CONFIG) --env $$env --output $(SCAN_OUTPUT)/$$env >/dev/null; \
	done
	$(CHECKOV) --framework cloudformation --directory $(SCAN_OUTPUT)
	$(CHECKOV) --framework dockerfile --directory $(dir $(CONFIG))

scan-lock: | $(UV) ## Re-pin checkov and its dependencies, with hashes, in scripts/scan/requirements.txt
	cd scripts/scan && $(UV) pip compile requirements.in --generate-hashes --universal \
	  --python-version 3.11 --custom-compile-command "make scan-lock" --quiet -o requirements.txt
