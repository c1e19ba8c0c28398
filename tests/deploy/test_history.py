"""The release history's encoding in one SSM parameter (deploy/history.py)."""

from __future__ import annotations

import json

from warmkeeper.deploy.history import HISTORY_LIMIT, MAX_PARAMETER_BYTES, Release, encode, with_release

REGISTRY = "123456789012.dkr.ecr.eu-west-3.amazonaws.com"
BUILT = ("caddy", "api", "web", "osrm")
OUTPUTS = {f"RepositoryUri{n.capitalize()}": f"{REGISTRY}/cityguided-staging/{n}" for n in BUILT}
URIS = {n: f"{REGISTRY}/cityguided-staging/{n}" for n in BUILT}


def release(tag: str, containers: int = 3) -> Release:
    digests = {f"container-{n}": "sha256:" + (tag * 64)[:64] for n in range(containers)}
    return Release(tag, digests, "2026-01-01T00:00:00+00:00", "rolled")


def test_history_keeps_newest_first_and_redeploys_replace_the_top() -> None:
    history = with_release(with_release([], release("a")), release("b"))
    assert [r.tag for r in history] == ["b", "a"]
    assert [r.tag for r in with_release(history, release("b"))] == ["b", "a"]
    many: list[Release] = []
    for index in range(HISTORY_LIMIT + 5):
        many = with_release(many, release(f"t{index}"))
    assert len(many) == HISTORY_LIMIT and many[0].tag == f"t{HISTORY_LIMIT + 4}"


def test_history_fits_a_standard_ssm_parameter() -> None:
    # Six built containers and 40-character tags: ten releases would not fit in 4 KB.
    long_tags = [release(f"{index:02d}" + "f" * 38, containers=6) for index in range(HISTORY_LIMIT)]
    text = encode(long_tags)
    assert len(text.encode()) <= MAX_PARAMETER_BYTES
    kept = json.loads(text)
    assert 1 <= len(kept) < HISTORY_LIMIT and kept[0]["tag"] == long_tags[0].tag  # oldest dropped first
