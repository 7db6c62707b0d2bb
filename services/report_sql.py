"""What every report query shares: the type of its time parameters, and instants to and from the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

TS = "DateTime64(3, 'UTC')"
MILLISECOND = timedelta(milliseconds=1)  # the store's resolution


def sql_time(instant: datetime) -> str:
    """Return an instant as a query parameter of type TS (UTC, to the millisecond)."""
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def through(instant: datetime) -> datetime:
    """Return the exclusive upper bound that keeps what happened at `instant` itself."""
    return instant + MILLISECOND


def stored_time(value: datetime) -> datetime:
    """Return an instant read from the store as an aware UTC datetime (chDB gives it without tzinfo)."""
    return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
