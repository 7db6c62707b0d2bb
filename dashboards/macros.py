"""Grafana's macros expanded as Grafana and its data sources expand them, so panel queries run outside Grafana.

ClickHouse: the official plugin's macros (pkg/macros/macros.go of grafana/clickhouse-datasource v4); times go
in as epoch seconds or milliseconds, so the session time zone does not matter. Prometheus: the dashboard
variables Grafana itself replaces before the query reaches Prometheus.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

MACRO = re.compile(r"\$__(\w+)(?:\(([^()]*)\))?")
PROM_VARIABLE = re.compile(r"\$__(rate_interval|interval|range)\b")


def _seconds(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("macro times must be timezone-aware")
    return int(t.timestamp())


def _millis(t: datetime) -> int:
    if t.tzinfo is None:
        raise ValueError("macro times must be timezone-aware")
    return int(t.timestamp() * 1000)


class Range:
    """A panel's time range and interval, as the plugin receives them."""

    def __init__(self, start: datetime, end: datetime, interval_s: int) -> None:
        self.start, self.end, self.interval_s = start, end, max(1, int(interval_s))

    def date_time(self, t: datetime) -> str:
        """Return the plugin's DateTime literal of an instant."""
        return f"toDateTime({_seconds(t)})"

    def date_time64(self, t: datetime) -> str:
        """Return the plugin's DateTime64(3) literal of an instant."""
        return f"fromUnixTimestamp64Milli({_millis(t)})"


def _filter(rng: Range, column: str, literal: Callable[[datetime], str]) -> str:
    return f"{column} >= {literal(rng.start)} AND {column} <= {literal(rng.end)}"


def _one(name: str, args: list[str]) -> str:
    if len(args) != 1:
        raise ValueError(f"$__{name} expects 1 argument, got {len(args)}")
    return args[0]


def _expand_one(rng: Range, name: str, args: list[str] | None) -> str:
    """Return the text of one macro."""
    values: dict[str, Callable[[], str]] = {
        "fromTime": lambda: rng.date_time(rng.start),
        "toTime": lambda: rng.date_time(rng.end),
        "fromTime_ms": lambda: rng.date_time64(rng.start),
        "toTime_ms": lambda: rng.date_time64(rng.end),
        "interval_s": lambda: str(rng.interval_s),
    }
    if name in values and args is None:
        return values[name]()
    if args is None:
        raise ValueError(f"unknown ClickHouse macro $__{name}")
    if name == "timeFilter":
        return _filter(rng, _one(name, args), rng.date_time)
    if name == "timeFilter_ms":
        return _filter(rng, _one(name, args), rng.date_time64)
    if name == "dateFilter":
        column = _one(name, args)
        lower, upper = rng.start.astimezone(UTC), rng.end.astimezone(UTC)
        return f"{column} >= toDate('{lower:%Y-%m-%d}') AND {column} <= toDate('{upper:%Y-%m-%d}')"
    if name == "timeInterval":
        return f"toStartOfInterval(toDateTime({_one(name, args)}), INTERVAL {rng.interval_s} second)"
    if name == "timeInterval_ms":
        column = _one(name, args)
        return f"toStartOfInterval(toDateTime64({column}, 3), INTERVAL {rng.interval_s * 1000} millisecond)"
    raise ValueError(f"unknown ClickHouse macro $__{name}(...)")


def expand_clickhouse(sql: str, start: datetime, end: datetime, interval_s: int = 60) -> str:
    """Return `sql` with the ClickHouse plugin's macros replaced for the range [start, end]."""
    rng = Range(start, end, interval_s)

    def replace(match: re.Match[str]) -> str:
        raw = match.group(2)
        args = None if raw is None else [a.strip().replace('"', "").replace("'", "") for a in raw.split(",")]
        return _expand_one(rng, match.group(1), args)

    return MACRO.sub(replace, sql)


def expand_promql(expr: str, interval: str = "15s", rate_interval: str = "1m", range_: str = "1h") -> str:
    """Return `expr` with Grafana's $__interval, $__rate_interval and $__range replaced."""
    values = {"interval": interval, "rate_interval": rate_interval, "range": range_}
    return PROM_VARIABLE.sub(lambda m: values[m.group(1)], expr)
