"""The example's Caddy keeps a private environment private while it is warm.

warmkeeper gives the entry container the allowed ranges (WARMKEEPER_ALLOWED_FROM), the ranges of the
hops in front of it (WARMKEEPER_TRUSTED_PROXIES) and the header they write the client's address into
(WARMKEEPER_CLIENT_IP_HEADER). Real Caddy, real HTTP from loopback: 127.0.0.1 plays the trusted hop
(the load balancer, CloudFront's VPC origin, the VPC link), 127.0.0.2 a caller that is not one.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import httpx
import pytest

from tests.example.support import Running, start_caddy
from warmkeeper.local.loopback import free_port

ALLOWED = "203.0.113.0/24 2001:db8::/32"
INSIDER = "203.0.113.7"
OUTSIDER = "198.51.100.9"
HOP = "127.0.0.1"
NOT_A_HOP = "127.0.0.2"
VPC_HOP = "10.0.3.4"  # what an ALB appends behind CloudFront: the VPC origin's address in the VPC


def _get(
    port: int, path: str, *, source: str = HOP, headers: Mapping[str, str] | None = None
) -> httpx.Response:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, trust_env=False, timeout=5) as client:
        return client.get(f"http://127.0.0.1:{port}{path}", headers=dict(headers or {}))


def _caddy(api: Running, web: Running, env: Mapping[str, str]) -> Running:
    running = start_caddy(free_port(), api.port, web.port, env=env)
    running.wait_ready("/healthz")
    return running


@pytest.fixture(scope="module")
def behind_load_balancer(api: Running, web: Running) -> Iterator[Running]:
    """As behind a load balancer, with or without CloudFront: X-Forwarded-For, hops in the VPC."""
    running = _caddy(
        api,
        web,
        {
            "WARMKEEPER_ALLOWED_FROM": ALLOWED,
            "WARMKEEPER_TRUSTED_PROXIES": f"{HOP}/32 10.0.0.0/16",
            "WARMKEEPER_CLIENT_IP_HEADER": "X-Forwarded-For",
        },
    )
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def behind_http_api(api: Running, web: Running) -> Iterator[Running]:
    """As behind an HTTP API: its integration overwrites X-Warmkeeper-Client-Ip."""
    running = _caddy(
        api,
        web,
        {
            "WARMKEEPER_ALLOWED_FROM": ALLOWED,
            "WARMKEEPER_TRUSTED_PROXIES": f"{HOP}/32",
            "WARMKEEPER_CLIENT_IP_HEADER": "X-Warmkeeper-Client-Ip",
        },
    )
    yield running
    assert running.stop() == 0


@pytest.mark.parametrize("path", ["/", "/api/places"])
def test_an_allowed_client_gets_the_app(behind_load_balancer: Running, path: str) -> None:
    response = _get(behind_load_balancer.port, path, headers={"X-Forwarded-For": INSIDER})
    assert response.status_code != 403
    if path == "/":
        assert response.status_code == 200 and 'id="places"' in response.text


@pytest.mark.parametrize("path", ["/", "/api/places"])
def test_an_outsider_gets_403_before_any_upstream(behind_load_balancer: Running, path: str) -> None:
    response = _get(behind_load_balancer.port, path, headers={"X-Forwarded-For": OUTSIDER})
    assert response.status_code == 403
    assert "private" in response.text and "places" not in response.text


def test_an_outsider_cannot_pass_by_writing_an_allowed_address_first(behind_load_balancer: Running) -> None:
    # The outsider sent "X-Forwarded-For: 203.0.113.7"; the load balancer appended the real address.
    spoofed = _get(behind_load_balancer.port, "/", headers={"X-Forwarded-For": f"{INSIDER}, {OUTSIDER}"})
    assert spoofed.status_code == 403


def test_behind_cloudfront_the_viewer_is_the_entry_before_the_vpc_hop(behind_load_balancer: Running) -> None:
    # CloudFront appends the viewer's address, then the ALB appends the VPC origin's (a trusted hop).
    allowed = _get(
        behind_load_balancer.port, "/", headers={"X-Forwarded-For": f"{OUTSIDER}, {INSIDER}, {VPC_HOP}"}
    )
    refused = _get(
        behind_load_balancer.port, "/", headers={"X-Forwarded-For": f"{INSIDER}, {OUTSIDER}, {VPC_HOP}"}
    )
    assert allowed.status_code == 200
    assert refused.status_code == 403


def test_a_caller_that_is_not_a_trusted_hop_is_judged_by_its_own_address(
    behind_load_balancer: Running,
) -> None:
    response = _get(behind_load_balancer.port, "/", source=NOT_A_HOP, headers={"X-Forwarded-For": INSIDER})
    assert response.status_code == 403


def test_the_health_check_stays_open(behind_load_balancer: Running) -> None:
    assert _get(behind_load_balancer.port, "/healthz", source=NOT_A_HOP).status_code == 200


def test_behind_an_http_api_only_its_header_counts(behind_http_api: Running) -> None:
    port = behind_http_api.port
    allowed = _get(port, "/", headers={"X-Warmkeeper-Client-Ip": INSIDER, "X-Forwarded-For": OUTSIDER})
    refused = _get(port, "/", headers={"X-Warmkeeper-Client-Ip": OUTSIDER, "X-Forwarded-For": INSIDER})
    assert allowed.status_code == 200
    assert refused.status_code == 403


@pytest.mark.parametrize("allowed_from", [None, "", " "])
def test_without_ranges_nothing_is_refused(api: Running, web: Running, allowed_from: str | None) -> None:
    env = {} if allowed_from is None else {"WARMKEEPER_ALLOWED_FROM": allowed_from}
    running = _caddy(api, web, env)
    try:
        response = _get(running.port, "/", source=NOT_A_HOP, headers={"X-Forwarded-For": OUTSIDER})
        assert response.status_code == 200
    finally:
        assert running.stop() == 0
