"""The expiry tag of short-lived container groups: how the program writes it and how the reaper reads it.

The tag holds an absolute UTC time (``2025-01-31T12:00:00Z``), not a duration, so the reaper needs no
knowledge of when or by whom a group was created, and a human can read it in the portal.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

EXPIRY_TAG = "expires-at"
_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def expiry_tag_value(now: datetime, ttl_hours: int) -> str:
    """The tag value for a group created at ``now`` that may live ``ttl_hours``."""
    if now.tzinfo is None:
        raise ValueError("expiry times are computed from an aware (UTC) clock")
    return (now.astimezone(UTC) + timedelta(hours=ttl_hours)).strftime(_FORMAT)


def parse_expiry(value: str) -> datetime:
    """Read a tag value written by :func:`expiry_tag_value`; anything else is a ``ValueError``."""
    return datetime.strptime(value.strip(), _FORMAT).replace(tzinfo=UTC)


def parse_timestamp(value: str) -> datetime:
    """Parse an ISO 8601 time given on a command line (``--now``); naive times are taken as UTC."""
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
