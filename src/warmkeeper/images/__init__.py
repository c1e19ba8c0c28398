"""Container images on this machine: the engine (Docker or Podman), local base images, builds, sizes.

`warmkeeper images --local` builds every container's image with the same Dockerfiles that
`warmkeeper images` pushes to ECR, measures what a registry would store, and the twin's containers
runtime (:mod:`warmkeeper.local.runtimes`) runs the result.
"""
