# Container images on this machine: the engine and the tools that make local base images, and
# `make images-local`, which builds every container's image here and prints their compressed sizes.
# Podman (Debian's) is the engine when no Docker daemon answers; runc because crun fails on hosts
# with hybrid cgroups; catatonit is the pause process of a pod's infra container; mmdebstrap makes a Debian base, busybox-static an Alpine stand-in, and zstd
# measures zstd-compressed sizes, for when public container registries cannot be reached.
# containernetworking-plugins is named because Podman's common files depend on a virtual network
# stack: without it apt may pick another provider than the one the tests ran with here (CNI).
CONTAINER_TOOLS := podman runc catatonit containernetworking-plugins mmdebstrap busybox-static zstd slirp4netns uidmap
CONTAINER_TOOL_BINARIES := /usr/bin/podman /usr/sbin/runc /usr/bin/catatonit /usr/bin/mmdebstrap /bin/busybox /usr/bin/zstd

.PHONY: podman images-local

podman: ## Install Podman, runc, mmdebstrap, busybox-static and zstd (Debian packages) for local images
	@missing=0; for f in $(CONTAINER_TOOL_BINARIES); do [ -x "$$f" ] || missing=1; done; \
	if [ "$$missing" = 1 ]; then \
	  command -v apt-get >/dev/null || { echo "error: install $(CONTAINER_TOOLS) with your package manager" >&2; exit 2; }; \
	  echo "installing Debian's $(CONTAINER_TOOLS)"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq \
	    --no-install-recommends $(CONTAINER_TOOLS) >/dev/null; \
	fi

images-local: setup podman ## Build every container's image here (Docker, else Podman) and print their compressed sizes
	warmkeeper images --config $(CONFIG) --env $(ENV) --local
