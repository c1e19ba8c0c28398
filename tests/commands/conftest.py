"""The commands that reach AWS run against the deploy tests' moto harness (tests/deploy/conftest.py)."""

from tests.deploy.conftest import aws_env as aws_env
