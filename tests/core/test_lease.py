"""Keep-alive lease math and the webhook token check."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from warmkeeper.core import LeaseError, Policy, bearer_token, extend_lease, lease_minutes, token_matches

POLICY = Policy(default_lease_minutes=30, max_lease_minutes=240)
NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("requested", "granted"),
    [(None, 30), ("", 30), ("15", 15), (" 60 ", 60), (15, 15), ("240", 240), ("241", 240), ("99999", 240)],
)
def test_lease_minutes_defaults_and_bounds(requested: str | int | None, granted: int) -> None:
    assert lease_minutes(requested, POLICY) == granted


@pytest.mark.parametrize("requested", ["0", "-5", "abc", "1.5", "١٢", 0, -1, True])
def test_lease_minutes_rejects_what_is_not_a_positive_whole_number(requested: str | int) -> None:
    with pytest.raises(LeaseError, match="whole number"):
        lease_minutes(requested, POLICY)


@pytest.mark.parametrize("digits", [10, 4301, 100_000])
def test_minutes_of_any_length_is_refused_with_a_short_message(digits: int) -> None:
    # Python's int() raises its own ValueError past 4,300 digits: the waker answered 503 / 500.
    with pytest.raises(LeaseError) as refused:
        lease_minutes("7" * digits, POLICY)
    assert f"got {digits} digits" in str(refused.value)
    assert len(str(refused.value)) < 120


def test_leading_zeros_do_not_count_as_digits() -> None:
    assert lease_minutes("0" * 5000 + "15", POLICY) == 15


@given(st.text(max_size=6000))
def test_any_text_is_a_bounded_lease_or_a_lease_error(requested: str) -> None:
    try:
        granted = lease_minutes(requested, POLICY)
    except LeaseError as refused:
        assert len(str(refused)) < 120  # the client's value is never echoed whole
        return
    assert 1 <= granted <= POLICY.max_lease_minutes


def test_extend_lease_from_nothing() -> None:
    assert extend_lease(None, 10, NOW) == NOW + timedelta(minutes=10)


def test_extend_lease_never_shortens_a_longer_lease() -> None:
    longer = NOW + timedelta(minutes=90)
    assert extend_lease(longer, 10, NOW) == longer


def test_extend_lease_replaces_an_expired_or_shorter_lease() -> None:
    assert extend_lease(NOW - timedelta(minutes=1), 10, NOW) == NOW + timedelta(minutes=10)
    assert extend_lease(NOW + timedelta(minutes=5), 10, NOW) == NOW + timedelta(minutes=10)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer s3cret", "s3cret"),
        ("bearer s3cret", "s3cret"),
        ("Bearer   s3cret  ", "s3cret"),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearer", None),
        ("Bearer ", None),
        ("", None),
        (None, None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_token_matches_only_the_exact_token() -> None:
    assert token_matches("s3cret", "s3cret")
    assert not token_matches("s3cret ", "s3cret")
    assert not token_matches("S3CRET", "s3cret")
    assert not token_matches("", "s3cret")
    assert not token_matches(None, "s3cret")
    assert not token_matches("", "")  # an unset secret never lets anybody in
    assert not token_matches("x", None)
    assert token_matches("é-ünïcode", "é-ünïcode")


def test_token_check_uses_a_constant_time_comparison(monkeypatch: pytest.MonkeyPatch) -> None:
    import hmac

    from warmkeeper.core import lease

    calls: list[tuple[bytes, bytes]] = []
    real_compare = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real_compare(a, b)

    monkeypatch.setattr(lease.hmac, "compare_digest", spy)
    assert not token_matches("guess", "s3cret")
    assert calls == [(b"guess", b"s3cret")]
