"""The simulated AWS control plane: the API calls warmkeeper makes, with latency, token-bucket
throttling and the errors botocore raises, on top of the simulated services (one module each, wired
together by :mod:`.world`).

Choice (documented in docs/technical/aws-model.md): the simulation fakes the **boto3 clients**, not
warmkeeper's adapters. :class:`SimClients` is an :class:`~warmkeeper.aws.clients.AwsClients` whose
clients answer the same operations with the same shapes and raise the same
:class:`botocore.exceptions.ClientError` codes (``ThrottlingException``, ``TooManyUpdates``,
``ParameterAlreadyExists``, ``PriorityInUse``...). So the real engine **and** the real adapters run,
built by the real :func:`~warmkeeper.aws.engine.build_engine`. What botocore itself would do on an
error (standard retry mode: which codes it retries, its backoff, its retry quota) is reproduced by
:class:`SimClient` from botocore's own constants, since no HTTP is involved.
"""

from __future__ import annotations

import copy
import functools
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import botocore.session
from botocore.exceptions import ClientError, ParamValidationError
from botocore.model import OperationModel, ServiceModel
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker
from botocore.validate import ParamValidator

from warmkeeper.aws.clients import BOTO_CONFIG, AwsClients, CallDeadline, CallDeadlineError
from warmkeeper_sim.figures import BUCKETS, bucket_of, figure

if TYPE_CHECKING:
    from warmkeeper_sim.kernel import Kernel

# What botocore's standard mode retries (its own lists, so the simulation follows botocore's version).
THROTTLING_CODES: frozenset[str] = frozenset(ThrottledRetryableChecker._THROTTLED_ERROR_CODES)  # type: ignore[attr-defined]
RETRYABLE_CODES: frozenset[str] = THROTTLING_CODES | frozenset(
    TransientRetryableChecker._TRANSIENT_ERROR_CODES  # type: ignore[attr-defined]
)
# What each service answers when throttled (the others answer ThrottlingException).
THROTTLING_CODE = {
    "cloudwatch": "Throttling",
    "apigatewayv2": "TooManyRequestsException",
    "servicediscovery": "RequestLimitExceeded",
}


class FakeShapeError(AssertionError):
    """A simulated service answered what botocore's model of the service does not allow: a defect
    of the simulation, never something warmkeeper should handle."""


@functools.cache
def service_model(service: str) -> ServiceModel:
    """botocore's own model of the service (request and response shapes), as the real client uses."""
    return botocore.session.get_session().get_service_model(service)


def operation_model(service: str, operation: str) -> OperationModel:
    model = service_model(service)
    if operation not in model.operation_names:
        raise AttributeError(f"{service} has no operation {operation} in botocore's model")
    return model.operation_model(operation)


def check_request(service: str, operation: str, params: dict[str, Any]) -> None:
    """Reject what the real client rejects before sending: botocore's ParamValidationError."""
    shape = operation_model(service, operation).input_shape
    if shape is None:
        if params:
            raise ParamValidationError(report=f"{operation} takes no parameters")
        return
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        raise ParamValidationError(report=report.generate_report())


def check_response(service: str, operation: str, result: Any) -> None:
    """A fake's answer must fit the operation's output shape (member names and types)."""
    shape = operation_model(service, operation).output_shape
    if shape is None:
        if result:
            raise FakeShapeError(f"{service}.{operation} has no output, the fake answered {result!r}")
        return
    report = ParamValidator().validate(result, shape)
    if report.has_errors():
        raise FakeShapeError(
            f"{service}.{operation} answered outside botocore's model: {report.generate_report()}"
        )


def client_error(code: str, message: str, operation: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


def _operation_name(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


@dataclass
class TokenBucket:
    burst: float
    refill: float
    tokens: float
    updated: float = 0.0

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.refill)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass
class ApiLedger:
    """Every API call the simulation saw: per operation and second, throttled or not."""

    calls: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    throttled: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    errors: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    given_up: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cut_by_deadline: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def count(self, operation: str) -> int:
        return sum(self.calls[operation].values()) if operation in self.calls else 0

    def max_per_second(self) -> dict[str, int]:
        return {op: max(seconds.values()) for op, seconds in sorted(self.calls.items()) if seconds}

    def max_per_bucket_second(self) -> dict[str, int]:
        """Calls per second summed over the operations that share a bucket (what its quota limits)."""
        per_bucket: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        for op, seconds in self.calls.items():
            name = bucket_of(op)
            if name is None:
                continue
            for second, n in seconds.items():
                per_bucket[name][second] += n
        return {name: max(seconds.values()) for name, seconds in sorted(per_bucket.items())}


class Throttler:
    """The account's API token buckets, plus injected throttling bursts (fault injection)."""

    def __init__(self, kernel: Kernel, multiplier: float = 1.0) -> None:
        self.kernel = kernel
        self.buckets = {
            name: TokenBucket(
                bucket.burst * multiplier, bucket.refill * multiplier, bucket.burst * multiplier
            )
            for name, bucket in BUCKETS.items()
        }
        # (start, end, bucket name or "*"): every call in the window is throttled.
        self.bursts: list[tuple[float, float, str]] = []

    def admit(self, operation: str) -> bool:
        name = bucket_of(operation)
        now = self.kernel.now
        for start, end, target in self.bursts:
            if start <= now < end and target in ("*", name):
                return False
        if name is None:
            return True
        return self.buckets[name].take(now)


class RetryQuota:
    """botocore's standard-mode retry quota (one per client)."""

    def __init__(self) -> None:
        self.capacity = int(figure("botocore.retry_quota").value)
        self.available = self.capacity

    def acquire(self, cost: int = 5) -> bool:
        if cost > self.available:
            return False
        self.available -= cost
        return True

    def release(self, amount: int) -> None:
        self.available = min(self.capacity, self.available + amount)


class Account(Protocol):
    """What the clients need of the simulated account (:class:`warmkeeper_sim.world.World`)."""

    kernel: Kernel
    ledger: ApiLedger
    throttler: Throttler
    region: str

    def backend(self, service: str) -> Any: ...


class SimClient:
    """A boto3-like client of one service: ``client.describe_services(...)`` and so on."""

    def __init__(self, service: str, world: Account, quota: RetryQuota, deadline: CallDeadline) -> None:
        self.service = service
        self._world = world
        self._quota = quota
        self._deadline = deadline
        self._backend = world.backend(service)

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)
        operation = _operation_name(method)
        operation_model(self.service, operation)  # an operation the real client does not have fails here
        handler = getattr(self._backend, method, None)
        if handler is None:
            raise AttributeError(f"the simulated {self.service} client has no {method}")

        def call(**kwargs: Any) -> Any:
            return self._call(operation, handler, kwargs)

        return call

    def get_paginator(self, method: str) -> SimPaginator:
        return SimPaginator(self, method)

    def _call(self, operation: str, handler: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        # What botocore refuses before sending anything (a missing or unknown parameter, a wrong
        # type) is refused here the same way; what a fake answers must fit the response shape.
        check_request(self.service, operation, kwargs)
        kernel = self._world.kernel
        ledger = self._world.ledger
        # botocore's max_attempts counts the retries: the first attempt comes on top.
        total_attempts = int((getattr(BOTO_CONFIG, "retries", None) or {}).get("max_attempts", 5)) + 1
        attempt = 0
        while True:
            attempt += 1
            latency = figure("api.latency").draw(kernel.random)
            kernel.sleep(latency / 2)
            ledger.calls[operation][int(kernel.now)] += 1
            try:
                if not self._world.throttler.admit(operation):
                    ledger.throttled[operation] += 1
                    code = THROTTLING_CODE.get(self.service, "ThrottlingException")
                    raise client_error(code, "Rate exceeded", operation)
                result = handler(**copy.deepcopy(kwargs))
            except ClientError as exc:
                kernel.sleep(latency / 2)
                code = str(exc.response.get("Error", {}).get("Code", ""))
                ledger.errors[operation][code] += 1
                retryable = code in RETRYABLE_CODES and attempt < total_attempts
                if retryable:
                    try:
                        # The caller's deadline (a held request) refuses a retry that may not fit.
                        self._deadline.check_retry(operation, attempt)
                    except CallDeadlineError:
                        ledger.cut_by_deadline[operation] += 1
                        raise
                retry = retryable and self._quota.acquire(5)
                if not retry:
                    if code in RETRYABLE_CODES:
                        ledger.given_up[operation] += 1
                    raise
                # botocore's standard backoff: rand(0, 1) * min(base_scale * 2 ** (attempt - 1), 20 s).
                scale = 1.0 if code in THROTTLING_CODES else 0.05
                cap = figure("botocore.max_backoff").value
                kernel.sleep(kernel.random.random() * min(scale * 2 ** (attempt - 1), cap))
                continue
            kernel.sleep(latency / 2)
            self._quota.release(5 if attempt > 1 else 1)
            check_response(self.service, operation, result)
            return copy.deepcopy(result)


class SimPaginator:
    def __init__(self, client: SimClient, method: str) -> None:
        self._client = client
        self._method = method

    def paginate(self, **kwargs: Any) -> Iterator[dict[str, Any]]:
        call = getattr(self._client, self._method)
        token_in, token_out = _PAGINATION.get(self._method, ("NextToken", "NextToken"))
        while True:
            page: dict[str, Any] = call(**kwargs)
            yield page
            token = page.get(token_out)
            if not token:
                return
            kwargs = {**kwargs, token_in: token}


_PAGINATION = {"describe_rules": ("Marker", "NextMarker"), "list_tasks": ("nextToken", "nextToken")}


class SimClients(AwsClients):
    """The clients of one Lambda execution environment (each has its own botocore retry quota)."""

    def __init__(self, world: Account) -> None:  # no boto3 session: nothing here talks to AWS
        self.session = None  # type: ignore[assignment]
        self.config = BOTO_CONFIG
        self._made: dict[str, Any] = {}
        self._world = world
        self._quota = RetryQuota()
        self.deadline = CallDeadline(clock=lambda: world.kernel.now)

    @property
    def region(self) -> str | None:
        return self._world.region

    def client(self, service: str) -> Any:
        if service not in self._made:
            self._made[service] = SimClient(service, self._world, self._quota, self.deadline)
        return self._made[service]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()
