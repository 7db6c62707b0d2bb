"""The store pages, apart from any web framework: `/leadflow/query` and `/leadflow/insert` on the store one holds.

A caller shows the store's token (`Authorization: Bearer <token>`, compared in constant time) before its body is
read; without it the answer is 401. A query runs in the store's read-only sessions under ClickHouse's own guards
(pipelines/store/reader.py); an insert goes only into leadflow's tables and columns, each value of its column's
type (pipelines/store/columns.py). The page methods block on the store, so servers call them off the event loop.
The worker's web server and `leadflow store serve` both use them.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from pipelines.store.client import Store
from pipelines.store.columns import INSERTABLE, STORE_RUN_COLUMNS, InsertSchema, RowRefused
from pipelines.store.exceptions import StoreError, StoreRejected
from pipelines.store.wire import decode_parameters, decode_value, encode_value

__all__ = [
    "INSERTABLE",
    "STORE_RUN_COLUMNS",
    "Answer",
    "Insert",
    "Query",
    "Refused",
    "StorePages",
    "answer_insert",
    "answer_query",
    "parse_insert",
    "parse_query",
]


class Refused(ValueError):
    """A request that breaks the protocol; the message says why."""


@dataclass(frozen=True)
class Answer:
    """A page's answer: HTTP status, JSON body and extra headers."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


UNAUTHORIZED = Answer(
    401,
    {"error": "the store pages need the store's token: Authorization: Bearer <token> (docs/security.md)"},
    {"WWW-Authenticate": 'Bearer realm="leadflow store"'},
)


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


@dataclass(frozen=True)
class Query:
    """A query request: the SQL, its parameters decoded, and whether only its columns are asked for."""

    sql: str
    parameters: dict[str, Any]
    describe: bool = False


def parse_query(body: bytes) -> Query:
    """Return the query of a request; what the query may do, the store's reader decides."""
    request = _object(body)
    sql = request.get("sql")
    if not isinstance(sql, str) or not sql.strip():
        raise Refused("sql must be a non-empty string")
    parameters = request.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise Refused("parameters must be an object")
    describe = request.get("describe", False)
    if not isinstance(describe, bool):
        raise Refused("describe must be true or false")
    return Query(sql, decode_parameters(parameters), describe)


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
        query = parse_query(body)
        run = store.describe if query.describe else store.query
        rows = run(query.sql, query.parameters)
        return Answer(200, {"rows": [[encode_value(v) for v in row] for row in rows]})
    except (Refused, StoreError, ValueError, TypeError) as exc:
        return Answer(400, {"error": str(exc)})


def answer_insert(store: Store, schema: InsertSchema, body: bytes) -> Answer:
    """Run an insert request on the store; 400 for a refused request, 422 for refused rows, 503 when it failed."""
    try:
        insert = parse_insert(body)
        schema.check(insert.table, insert.columns, insert.rows)
    except (Refused, RowRefused, ValueError) as exc:
        return Answer(400, {"error": str(exc)})
    try:
        store.insert(insert.table, insert.rows, insert.columns)
    except StoreRejected as exc:
        return Answer(422, {"error": str(exc)})
    except StoreError as exc:
        return Answer(503, {"error": str(exc)})
    return Answer(200, {"inserted": len(insert.rows)})


class StorePages:
    """The pages of the store this process holds, for callers that show its token."""

    def __init__(self, store: Store, token: str, schema: InsertSchema) -> None:
        self.store = store
        self._expected = f"Bearer {token}".encode()
        self._schema = schema

    def authorized(self, authorization: str | None) -> bool:
        """Say whether an Authorization header carries the store's token (in constant time)."""
        return hmac.compare_digest((authorization or "").encode("utf-8", "replace"), self._expected)

    def query(self, body: bytes) -> Answer:
        """Answer an authorized query request."""
        return answer_query(self.store, body)

    def insert(self, body: bytes) -> Answer:
        """Answer an authorized insert request."""
        return answer_insert(self.store, self._schema, body)
