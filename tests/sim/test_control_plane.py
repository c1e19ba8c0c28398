"""The simulated clients behave as botocore does against AWS: each service's throttling code, what
standard mode retries, the token buckets of the documented quotas, botocore's ClientError."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.sim.support import in_process, quiet_world
from warmkeeper_sim.control_plane import SimClients, client_error
from warmkeeper_sim.identifiers import API_ID
from warmkeeper_sim.scenarios import http_api_config


def test_throttling_is_retried_then_raised_as_botocore_does() -> None:
    world = quiet_world()
    world.throttler.bursts.append((0.0, 1000.0, "ecs.read"))
    ecs = SimClients(world).client("ecs")

    def call() -> Exception | None:
        try:
            ecs.describe_services(cluster="cityguided-staging", services=["cityguided-staging"])
        except ClientError as exc:
            return exc
        return None

    error = in_process(world, call)
    assert isinstance(error, ClientError)
    assert error.response["Error"]["Code"] == "ThrottlingException"
    assert world.ledger.count("DescribeServices") == 6  # BOTO_CONFIG's max_attempts retries, plus the first
    assert world.ledger.given_up["DescribeServices"] == 1


def test_route_management_is_throttled_with_api_gateways_code() -> None:
    world = quiet_world(http_api_config())
    world.throttler.bursts.append((0.0, 1000.0, "apigatewayv2.management"))
    apigw = SimClients(world).client("apigatewayv2")

    def run() -> str:
        try:
            apigw.get_routes(ApiId=API_ID)
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "no error"

    assert in_process(world, run) == "TooManyRequestsException"
    assert world.ledger.given_up["GetRoutes"] == 1


def test_token_bucket_admits_the_documented_burst_then_the_refill() -> None:
    world = quiet_world()
    admitted = [world.throttler.admit("DescribeTargetHealth") for _ in range(60)]
    assert admitted.count(True) == 40  # ELB non-mutating bucket: 40 burst
    world.kernel.run(1.0)
    assert [world.throttler.admit("DescribeTargetHealth") for _ in range(20)].count(True) == 10


@pytest.mark.parametrize("code", ["ThrottlingException", "TooManyUpdates", "ParameterAlreadyExists"])
def test_errors_are_botocore_client_errors(code: str) -> None:
    error = client_error(code, "m", "PutParameter")
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] == code


def test_a_fake_refuses_what_botocore_refuses_before_sending() -> None:
    """botocore's service model checks the parameters: the fakes refuse the same calls."""
    from botocore.exceptions import ParamValidationError

    world = quiet_world()
    ecs = SimClients(world).client("ecs")

    def call(**kwargs: object) -> str:
        try:
            ecs.describe_services(**kwargs)
        except ParamValidationError as exc:
            return str(exc)
        return "accepted"

    assert "Unknown parameter" in in_process(world, lambda: call(cluster="c", services=["s"], bogus=1))
    assert "Missing required parameter" in in_process(world, lambda: call(cluster="c"))
    assert "Invalid type" in in_process(world, lambda: call(cluster="c", services="s"))


def test_a_fake_answer_outside_botocores_model_is_a_defect_of_the_simulation() -> None:
    from warmkeeper_sim.control_plane import FakeShapeError, check_response

    check_response("ecs", "DescribeServices", {"services": [{"serviceName": "s", "desiredCount": 1}]})
    with pytest.raises(FakeShapeError):
        check_response("ecs", "DescribeServices", {"services": [{"serviceName": "s", "desired": 1}]})
    with pytest.raises(AttributeError):
        _ = SimClients(quiet_world()).client("ecs").describe_everything
