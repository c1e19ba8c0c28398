# The one interface for people and CI: every workflow step is one of these targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

CONFIG ?= examples/cityguided/warmkeeper.toml
ENV ?= staging
TAG ?=
UV_VERSION := 0.13.8
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PATH := $(CURDIR)/.tools/bin:$(CURDIR)/.venv/bin:$(CURDIR)/node_modules/.bin:$(PATH)

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

# uv: the one on PATH, else a private copy in .tools/ installed from PyPI.
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)

.PHONY: help setup browser demo test test-fast lint fmt synth validate cost clean

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(CURDIR)/.tools/bin/uv:
	@echo "uv not found: installing uv $(UV_VERSION) into .tools/"
	@# Debian's python3 has no venv/pip until python3-venv is installed.
	python3 -m venv .tools 2>/dev/null || { rm -rf .tools; $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq python3-venv >/dev/null && python3 -m venv .tools; }
	.tools/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --all-extras
	@touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

setup: .venv/.synced node_modules/.installed ## Install Python (uv) and Node (npm) dependencies from the lock files

# The browser test drives Debian's Chromium (a test tool's own browser download cannot work offline).
/usr/bin/chromium:
	@echo "installing Debian's chromium for the end-to-end browser test"
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null

browser: /usr/bin/chromium ## Install headless Chromium (Debian package) for the browser test

demo: setup ## Run the CityGuided example on http://localhost:8080 (another port: make demo PORT=8090)
	warmkeeper up --config $(CONFIG) $(if $(PORT),--port $(PORT))

lint: setup ## ruff and mypy
	ruff check src tests bench examples scripts
	ruff format --check src tests bench examples scripts
	mypy

fmt: setup ## Format and fix what ruff can
	ruff format src tests bench examples scripts
	ruff check --fix src tests bench examples scripts

test: setup browser podman lint scan ## Lint, checkov, then every test (unit, moto, CDK synthesis, end to end, browser, images)
	pytest

test-fast: setup ## Unit and moto tests only (no synthesis, no twin, no images, no simulated AWS)
	pytest -m "not infra and not e2e and not containers and not browser" \
	  --ignore=tests/infra --ignore=tests/e2e --ignore=tests/containers --ignore=tests/sim --ignore=tests/repository

validate: setup ## Check the config file
	warmkeeper validate --config $(CONFIG)

synth: setup ## Synthesize ENV's template into cdk.out (no AWS credentials needed)
	warmkeeper synth --config $(CONFIG) --env $(ENV)

cost: setup ## Modelled monthly cost of ENV (line by line, vs always on and the legacy EC2)
	warmkeeper cost --config $(CONFIG) --env $(ENV)

clean: ## Remove build output (not the dependencies)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache

# Targets of one area each (deploys, images, smoke tests...) live beside this file.
-include $(wildcard mk/*.mk)
