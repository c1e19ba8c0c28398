"""Keep-alive leases and the webhook's token check.

A lease holds the service warm until a time; ``POST /_warmkeeper/keepalive?minutes=N`` asks for one.
N is bounded by the policy, and a new lease never shortens a longer one already running.
"""

from __future__ import annotations

import hmac
from datetime import datetime, timedelta

from warmkeeper.core.errors import WarmkeeperError
from warmkeeper.core.machine import Policy


class LeaseError(WarmkeeperError, ValueError):
    """The requested lease length is not a whole number of minutes >= 1."""


# More digits than any lease needs (a year is 525,600 minutes): a longer value is refused before
# int() sees it, since Python refuses to convert a string of more than 4,300 digits (and it would be
# echoed back whole in the error message).
MAX_MINUTES_DIGITS = 9


def _shown(value: str) -> str:
    """A client's value as an error message quotes it: at most 40 characters."""
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def lease_minutes(requested: str | int | None, policy: Policy) -> int:
    """The lease length to grant: the default when none is asked, at most ``max_lease_minutes``.

    Raises :class:`LeaseError` for a value that is not a whole number >= 1 (the caller answers 400).
    """
    if requested is None or requested == "":
        return policy.default_lease_minutes
    if isinstance(requested, bool):
        raise LeaseError("minutes must be a whole number >= 1")
    if isinstance(requested, str):
        text = requested.strip()
        if not text.isdigit() or not text.isascii():
            raise LeaseError(f"minutes must be a whole number >= 1, got {_shown(requested)}")
        if len(text.lstrip("0")) > MAX_MINUTES_DIGITS:
            raise LeaseError(
                f"minutes must be a whole number of at most {MAX_MINUTES_DIGITS} digits, "
                f"got {len(text)} digits"
            )
        value = int(text.lstrip("0") or "0")
    else:
        value = requested
    if value < 1:
        raise LeaseError(f"minutes must be a whole number >= 1, got {value}")
    return min(value, policy.max_lease_minutes)


def extend_lease(current_until: datetime | None, minutes: int, now: datetime) -> datetime:
    """The lease end after asking for ``minutes`` more from now (never earlier than the current end)."""
    asked = now + timedelta(minutes=minutes)
    if current_until is not None and current_until > asked:
        return current_until
    return asked


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, else None."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def token_matches(presented: str | None, expected: str | None) -> bool:
    """Constant-time comparison; an empty or missing expected token matches nothing."""
    if not expected or presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))
