"""The 307 "back to the same URL" never sends a client to another host (CWE-601, open redirect).

A request for ``//evil.example/x`` that reaches the waker while the service is ready used to get
``Location: //evil.example/x``: a scheme-relative URL, which every client resolves to another host.
The checks below resolve the Location as a browser would (the WHATWG URL parser strips tabs and
newlines and reads ``\\`` as ``/`` in http(s) URLs) and require this host every time.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warmkeeper.core import IncomingRequest, Policy, RequestKind, State, answer_while_cold

THIS_HOST = "staging.cityguided.example"
BASE = f"https://{THIS_HOST}/some/page?x=1"


def browser_resolve(location: str) -> str:
    """The host a browser goes to for this Location, with the WHATWG parser's lenient steps."""
    cleaned = location.strip(
        "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f\x10\x11\x12\x13\x14"
        "\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f "
    )
    cleaned = "".join(ch for ch in cleaned if ch not in "\t\n\r").replace("\\", "/")
    return urlsplit(urljoin(BASE, cleaned)).netloc


def location_for(path: str, query: str = "") -> str:
    answer = answer_while_cold(
        IncomingRequest("POST", path, query, {"content-type": "application/json"}),
        RequestKind.API,
        Policy(),
        app_name="cityguided",
        state=State.WARM,
        ready=True,
    )
    assert answer.response is not None and answer.response.status == 307
    return answer.response.headers["Location"]


@pytest.mark.parametrize(
    "path",
    [
        "//evil.example/x",
        "///evil.example/x",
        "/\\evil.example",
        "/\\/evil.example",
        "\\\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        " //evil.example",
        "https://evil.example/x",
        "evil.example",
        "//user@evil.example:443/",
    ],
)
def test_attacker_paths_stay_on_this_host(path: str) -> None:
    location = location_for(path)
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))
    assert browser_resolve(location) == THIS_HOST


def test_ordinary_urls_come_back_unchanged() -> None:
    assert location_for("/api/items", "tag=a&tag=b") == "/api/items?tag=a&tag=b"
    assert location_for("/search", "q=caf%C3%A9&page=2") == "/search?q=caf%C3%A9&page=2"
    assert location_for("/a/b%20c/", "") == "/a/b%20c/"
    assert location_for("/", "") == "/"


@settings(max_examples=400)
@given(
    path=st.text(alphabet=st.sampled_from("/\\:@.?#% \t\nevil.x\x00\x1f~é"), max_size=24),
    query=st.text(alphabet=st.sampled_from("/\\&=?#%: \tab"), max_size=12),
)
def test_any_path_stays_on_this_host(path: str, query: str) -> None:
    location = location_for(path, query)
    assert location.startswith("/")
    assert not location.startswith(("//", "/\\"))
    assert browser_resolve(location) == THIS_HOST


@settings(max_examples=200)
@given(path=st.text(max_size=40), query=st.text(max_size=20))
def test_any_text_stays_on_this_host(path: str, query: str) -> None:
    location = location_for(path, query)
    assert location.isascii() and location.isprintable()  # a header value, nothing to reinterpret
    assert browser_resolve(location) == THIS_HOST
