"""Run the boards' ClickHouse panel queries against a store for a time range, as Grafana would."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from dashboards.macros import expand_clickhouse
from dashboards.sdk import PanelQuery
from pipelines.store.client import Store


@dataclass(frozen=True)
class PanelResult:
    """What one panel query returned: its columns (name, type), rows and run time."""

    query: PanelQuery
    sql: str
    columns: tuple[tuple[str, str], ...]
    rows: list[tuple[Any, ...]]
    seconds: float

    @property
    def missing(self) -> list[str]:
        """Return the columns the panel reads that the query did not return."""
        names = {name for name, _ in self.columns}
        return [c for c in self.query.columns if c not in names]

    def as_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready data."""
        names = [name for name, _ in self.columns]
        return {
            "board": self.query.board,
            "panel": self.query.panel,
            "ref_id": self.query.ref_id,
            "columns": names,
            "types": [kind for _, kind in self.columns],
            "missing": self.missing,
            "rows": [[json_value(v) for v in row] for row in self.rows],
            "seconds": round(self.seconds, 4),
        }


def json_value(value: Any) -> Any:
    """Return a query value as JSON data: times as ISO text, decimals as floats."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, tuple | list):
        return [json_value(v) for v in value]
    return value


def run_queries(
    store: Store, queries: Sequence[PanelQuery], start: datetime, end: datetime, interval_s: int
) -> Iterator[PanelResult]:
    """Expand each query's macros for [start, end] and run it, with its columns described first."""
    for query in queries:
        sql = expand_clickhouse(query.sql, start, end, interval_s)
        columns = tuple((str(row[0]), str(row[1])) for row in store.describe(sql))
        began = time.perf_counter()
        rows = store.query(sql)
        yield PanelResult(query, sql, columns, rows, time.perf_counter() - began)


def default_interval(start: datetime, end: datetime, points: int = 300) -> int:
    """Return the interval Grafana would pick for about `points` points over the range, in whole seconds."""
    return max(1, int((end - start).total_seconds() // points))
