"""Simulated AWS Lambda: the warmkeeper function with its concurrency limit, timeout and execution
environments, each running the **real** handler (:func:`warmkeeper.aws.lambda_handler.handler`) on
an engine built by the real :func:`~warmkeeper.aws.engine.build_engine` around
:class:`~warmkeeper_sim.control_plane.SimClients`, with the simulated clock and sleep injected. It is
invoked by the ALB, by the HTTP API (payload format 2.0) and asynchronously by EventBridge."""

from __future__ import annotations

import itertools
import json
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from warmkeeper.aws import lambda_handler
from warmkeeper.aws.engine import Warmkeeper, build_engine
from warmkeeper.aws.http_api_routing import LINK_PROBE_PATH
from warmkeeper.aws.snapshots import SnapshotCache
from warmkeeper.core.internal_wake import WAKE_SECRET_HEADER
from warmkeeper_sim.control_plane import SimClients, TokenBucket
from warmkeeper_sim.figures import figure
from warmkeeper_sim.front import Response
from warmkeeper_sim.identifiers import (
    ACCOUNT,
    API_ID,
    API_STAGE,
    FUNCTION_URL_DOMAIN,
    REGION,
    WAKE_SECRET,
)

if TYPE_CHECKING:
    from warmkeeper_sim.kernel import Kernel
    from warmkeeper_sim.world import World


def function_url_event(
    method: str, path: str, headers: dict[str, str], query: str = "", user_agent: str = "Go-http-client/1.1"
) -> dict[str, Any]:
    """A call from the app's task to the waker's function URL (payload format 2.0), with the wake
    secret: an internal wake from its Caddy, or an activity beacon report."""
    url_id = FUNCTION_URL_DOMAIN.split(".", 1)[0]
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": FUNCTION_URL_DOMAIN,
            WAKE_SECRET_HEADER.lower(): WAKE_SECRET,
            "user-agent": user_agent,
            **headers,
        },
        "requestContext": {
            "accountId": "anonymous",
            "apiId": url_id,
            "domainName": FUNCTION_URL_DOMAIN,
            "domainPrefix": url_id,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "10.0.1.10"},
            "routeKey": "$default",
            "stage": "$default",
        },
        "isBase64Encoded": False,
    }


@dataclass
class SimContext:
    """The parts of the Lambda context object a handler may read."""

    deadline: float
    kernel: Kernel
    aws_request_id: str
    function_name: str = "cityguided-staging-waker"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:cityguided-staging-waker"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - self.kernel.now) * 1000))


class ExecutionEnvironment:
    def __init__(self, world: World, generation: int) -> None:
        self.generation = generation
        self.initialized = False
        # Each environment has its own module state, hence its own snapshot cache (seeded: one
        # seed, one result).
        self.engine: Warmkeeper = build_engine(
            world.settings,
            SimClients(world),
            clock=world.kernel.datetime,
            sleep=world.kernel.sleep,
            snapshots=SnapshotCache(random.Random(world.kernel.random.random())),
            # The engine's request through the API's own URL (the VPC link's probe route).
            link_probe=lambda: _probe(world),
        )


def _probe(world: World) -> None:
    world.http_api.handle("GET", LINK_PROBE_PATH, {"user-agent": "warmkeeper-vpc-link-probe"})


class LambdaFunction:
    def __init__(self, world: World) -> None:
        self.world = world
        self.in_flight = 0
        self.peak = 0
        self.throttled = 0
        self.invocations = 0
        self.errors = 0
        self.timeouts = 0
        self.generation = 0
        self._idle: list[ExecutionEnvironment] = []
        self._request_ids = itertools.count(1)
        # Lambda's scaling rate: new execution environments per function, as a token bucket.
        rate = figure("lambda.scaling_rate").value
        self._scaling = TokenBucket(rate, rate / 10.0, rate)
        self.scaling_throttled = 0

    @property
    def limit(self) -> int:
        config = self.world.config
        return (
            config.reserved_concurrency
            if config.reserved_concurrency is not None
            else config.account_concurrency
        )

    def recycle(self) -> None:
        """A configuration change (new settings): every execution environment is replaced."""
        self.generation += 1
        self._idle.clear()

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any]:
        """A synchronous invoke from the calling process.

        Returns ("ok" | "error" | "timeout" | "throttled", the handler's result or exception)."""
        kernel = self.world.kernel
        if self.in_flight >= self.limit:
            self.throttled += 1
            return "throttled", None
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.invocations += 1
        env = None
        while self._idle:
            candidate = self._idle.pop()
            if candidate.generation == self.generation:
                env = candidate
                break
        if env is None:
            if not self._scaling.take(kernel.now):
                self.in_flight -= 1
                self.invocations -= 1
                self.throttled += 1
                self.scaling_throttled += 1
                return "throttled", None
            env = ExecutionEnvironment(self.world, self.generation)
        deadline = kernel.now + self.world.config.lambda_timeout
        context = SimContext(
            deadline=deadline, kernel=kernel, aws_request_id=f"req-{next(self._request_ids)}"
        )
        process = kernel.spawn(lambda: self._run(env, event, context), name="invocation")
        init = 0.0 if env.initialized else figure("lambda.init").draw(kernel.random)
        finished = kernel.wait(process, self.world.config.lambda_timeout + init)
        self.in_flight -= 1
        if not finished:
            process.kill()
            self.timeouts += 1
            return "timeout", None
        outcome, result = process.result
        if outcome == "error":
            self.errors += 1
        self._idle.append(env)
        return outcome, result

    def _run(self, env: ExecutionEnvironment, event: dict[str, Any], context: SimContext) -> tuple[str, Any]:
        kernel = self.world.kernel
        if not env.initialized:
            kernel.sleep(figure("lambda.init").draw(kernel.random))
            env.initialized = True
            context.deadline = kernel.now + self.world.config.lambda_timeout
        lambda_handler.use(env.engine)
        try:
            return "ok", lambda_handler.handler(event, context)
        except Exception as exc:  # an unhandled error is what ALB and the async retries see
            self.world.log_lines.append(
                json.dumps({"level": "error", "message": "unhandled", "error": repr(exc)})
            )
            return "error", exc

    def from_alb(self, method: str, path: str, headers: dict[str, str]) -> Response:
        event = {
            "requestContext": {"elb": {"targetGroupArn": self.world.alb.lambda_tg.arn}},
            "httpMethod": method,
            "path": path,
            "queryStringParameters": {},
            "headers": dict(headers),
            "body": "",
            "isBase64Encoded": False,
        }
        outcome, result = self.invoke(event)
        if outcome != "ok" or not isinstance(result, dict):
            self.world.traffic_note(f"alb_lambda_{outcome}")
            status = int(figure("alb.status_lambda_failed").value)
            return Response(status, {}, "502 Bad Gateway", "alb")
        response_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        for name, values in (result.get("multiValueHeaders") or {}).items():
            response_headers[name.lower()] = ", ".join(str(v) for v in values)
        return Response(
            int(result.get("statusCode", 502)), response_headers, str(result.get("body", "")), "waker"
        )

    def from_http_api(self, method: str, path: str, headers: dict[str, str]) -> Response:
        """The HTTP API's Lambda integration: payload format 2.0, answered within 30 s or not at all."""
        kernel = self.world.kernel
        kernel.sleep(figure("apigw.lambda_overhead").draw(kernel.random))
        cookies = [c.strip() for c in headers.get("cookie", "").split(";") if c.strip()]
        event = {
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": path,
            "rawQueryString": "",
            "cookies": cookies,
            "headers": {k.lower(): v for k, v in headers.items() if k.lower() != "cookie"},
            "requestContext": {
                "apiId": API_ID,
                "stage": API_STAGE,
                "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "198.51.100.7"},
            },
            "body": "",
            "isBase64Encoded": False,
        }
        box: list[tuple[str, Any]] = []
        call = kernel.spawn(lambda: box.append(self.invoke(event)), name="apigw invoke")
        if not kernel.wait(call, figure("apigw.integration_timeout").value):
            # API Gateway stops waiting; the invocation runs on to its own timeout.
            self.world.traffic_note("apigw_integration_timeout")
            status = int(figure("apigw.status_integration_timeout").value)
            return Response(status, {}, '{"message":"Service Unavailable"}', "apigw")
        outcome, result = box[0]
        if outcome != "ok" or not isinstance(result, dict):
            self.world.traffic_note(f"apigw_lambda_{outcome}")
            status = int(figure("apigw.status_lambda_failed").value)
            return Response(status, {}, '{"message":"Internal Server Error"}', "apigw")
        response_headers = {k.lower(): str(v) for k, v in (result.get("headers") or {}).items()}
        if result.get("cookies"):
            response_headers["set-cookie"] = ", ".join(str(c) for c in result["cookies"])
        return Response(
            int(result.get("statusCode", 500)), response_headers, str(result.get("body", "")), "waker"
        )

    def invoke_async(self, event: dict[str, Any]) -> None:
        """EventBridge's asynchronous invoke: Lambda's queue retries throttles and errors."""
        kernel = self.world.kernel

        def run() -> None:
            errors = 0
            throttles = 0
            while True:
                outcome, _ = self.invoke(event)
                if outcome == "ok":
                    return
                if outcome == "throttled":
                    throttles += 1
                    kernel.sleep(min(2.0**throttles, 300.0))
                    continue
                errors += 1
                if errors > figure("lambda.async_retries").value:
                    self.world.traffic_note("async_event_dropped")
                    return
                kernel.sleep(60.0 * errors)  # one minute, then two (Lambda's async retry schedule)

        kernel.spawn(run, delay=figure("lambda.async_queue_delay").draw(kernel.random), name="async")
