"""The store pages, apart from any web framework: `/leadflow/query` and `/leadflow/insert` on the store one holds.

`answer_query` and `answer_insert` take the request body and give the answer (status and JSON); they block on
the store, so servers call them off the event loop. The worker's web server and `leadflow store serve` both
use them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pipelines.core.rows import (
    DEAD_LETTER_COLUMNS,
    EVENT_COLUMNS,
    FIRST_TOUCH_COLUMNS,
    SLA_EVENT_COLUMNS,
    SNAPSHOT_COLUMNS,
)
from pipelines.store.client import Store
from pipelines.store.exceptions import StoreError, StoreRejected
from pipelines.store.wire import decode_parameters, decode_value, encode_value

STORE_RUN_COLUMNS = ("started_at", "kind", "latest_event_at")
INSERTABLE: dict[str, frozenset[str]] = {
    "events": frozenset(EVENT_COLUMNS),
    "lead_snapshots": frozenset(SNAPSHOT_COLUMNS),
    "first_touch_candidates": frozenset(FIRST_TOUCH_COLUMNS),
    "dead_letters": frozenset(DEAD_LETTER_COLUMNS),
    "sla_events": frozenset(SLA_EVENT_COLUMNS),
    "store_runs": frozenset(STORE_RUN_COLUMNS),
}
"""The tables that leadflow writes, and their columns: the only ones `/leadflow/insert` writes to."""

READ_ONLY = re.compile(r"^\s*(SELECT|WITH)\b", re.IGNORECASE)


class Refused(ValueError):
    """A request that breaks the protocol; the message says why."""


@dataclass(frozen=True)
class Answer:
    """A page's answer: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Insert:
    """A checked insert request, values decoded."""

    table: str
    columns: tuple[str, ...]
    rows: list[list[Any]]


def _object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise Refused(f"the body is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise Refused("the body must be a JSON object")
    return value


def check_query(sql: str) -> str:
    """Return `sql` if it is one SELECT or WITH statement; Refused otherwise."""
    if not READ_ONLY.match(sql) or ";" in sql.rstrip().rstrip(";"):
        raise Refused("only one SELECT or WITH query is allowed")
    return sql


def parse_query(body: bytes) -> tuple[str, dict[str, Any]]:
    """Return the (sql, parameters) of a query request; Refused for anything but one read query."""
    request = _object(body)
    sql = check_query(str(request.get("sql", "")))
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Refused("parameters must be an object")
    return sql, decode_parameters(parameters)


def _columns(table: Any, columns: Any) -> tuple[str, ...]:
    allowed = INSERTABLE.get(table) if isinstance(table, str) else None
    if allowed is None:
        raise Refused(f"inserts go only into leadflow's tables ({', '.join(sorted(INSERTABLE))}), not {table!r}")
    if not isinstance(columns, list) or not columns or len(set(map(str, columns))) != len(columns):
        raise Refused("columns must be a non-empty list of distinct names")
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise Refused(f"{table} has no column {unknown[0]!r} that leadflow writes")
    return tuple(columns)


def parse_insert(body: bytes) -> Insert:
    """Return the checked, decoded insert of a request `{table, columns, rows}`; Refused otherwise."""
    request = _object(body)
    table = request.get("table")
    columns = _columns(table, request.get("columns"))
    rows = request.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, list) and len(r) == len(columns) for r in rows):
        raise Refused(f"rows must be a list of lists of {len(columns)} values each")
    return Insert(str(table), columns, [[decode_value(v) for v in row] for row in rows])


def answer_query(store: Store, body: bytes) -> Answer:
    """Run a query request on the store and answer its rows, encoded."""
    try:
        sql, parameters = parse_query(body)
        rows = store.query(sql, parameters)
        return Answer(200, {"rows": [[encode_value(v) for v in row] for row in rows]})
    except (Refused, StoreError, ValueError, TypeError) as exc:
        return Answer(400, {"error": str(exc)})


def answer_insert(store: Store, body: bytes) -> Answer:
    """Run an insert request on the store; 400 for a refused request, 422 for refused rows, 503 when it failed."""
    try:
        insert = parse_insert(body)
    except ValueError as exc:
        return Answer(400, {"error": str(exc)})
    try:
        store.insert(insert.table, insert.rows, insert.columns)
    except StoreRejected as exc:
        return Answer(422, {"error": str(exc)})
    except StoreError as exc:
        return Answer(503, {"error": str(exc)})
    return Answer(200, {"inserted": len(insert.rows)})
