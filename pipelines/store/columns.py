"""The rows `/leadflow/insert` takes: leadflow's tables and columns, each value of its column's type.

The column types are the store's own (`system.columns`), read through clickhouse-connect's type parser, and each
value is checked with pydantic in strict mode before clickhouse-connect serializes it: its serializer alone
truncates 1.5 to 1, takes an int as a DateTime64 and a string as an Array(String).

What a check of types cannot tell: a forged lead snapshot with a valid type (a revision of 2^64-1 wins
`ReplacingMergeTree(revision)` over every real one) looks like a real one. Who may insert is the defence there
(the token, docs/security.md). The page does refuse what no writer through it ever sends: a `store_runs` row other
than a live worker's start mark (`replay` marks the store only while it holds the store alone), or one that
starts in the future, since the report's default `as_of` follows the latest mark; nor a load of `owner_teams`
from the future, since the SLA board's teams follow the latest load.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any

from clickhouse_connect.datatypes.registry import get_from_name
from pydantic import AwareDatetime, ConfigDict, Field, TypeAdapter, ValidationError

from pipelines.core.rows import (
    DEAD_LETTER_COLUMNS,
    EVENT_COLUMNS,
    FIRST_TOUCH_COLUMNS,
    OWNER_TEAM_COLUMNS,
    SLA_EVENT_COLUMNS,
    SNAPSHOT_COLUMNS,
)

STORE_RUN_COLUMNS = ("started_at", "kind", "latest_event_at")
INSERTABLE: dict[str, frozenset[str]] = {
    "events": frozenset(EVENT_COLUMNS),
    "lead_snapshots": frozenset(SNAPSHOT_COLUMNS),
    "first_touch_candidates": frozenset(FIRST_TOUCH_COLUMNS),
    "dead_letters": frozenset(DEAD_LETTER_COLUMNS),
    "sla_events": frozenset(SLA_EVENT_COLUMNS),
    "store_runs": frozenset(STORE_RUN_COLUMNS),
    "owner_teams": frozenset(OWNER_TEAM_COLUMNS),
}
"""The tables that leadflow writes, and their columns: the only ones `/leadflow/insert` writes to."""

COLUMN_TYPES = "SELECT table, name, type FROM system.columns WHERE database = currentDatabase()"
CLOCK_SKEW = timedelta(minutes=5)  # how far a writer's clock may run ahead of the store's
STRICT = ConfigDict(strict=True)
# DateTime64's range (ClickHouse clamps what lies outside it, silently)
TIME_RANGE = Field(ge=datetime(1900, 1, 1, tzinfo=UTC), le=datetime(2299, 12, 31, 23, 59, 59, tzinfo=UTC))
INTEGERS = {f"{sign}Int{bits}": bits for bits in (8, 16, 32, 64) for sign in ("", "U")}


class RowRefused(ValueError):
    """An insert that leadflow never makes: the message names the table, row, column and why."""


def _integer(name: str) -> Any:
    bits = INTEGERS[name]
    low, high = (0, 2**bits - 1) if name.startswith("U") else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return Annotated[int, Field(ge=low, le=high)]


def _annotation(column_type: Any) -> Any:
    """Return the Python type that a value of a ClickHouse column type must have."""
    base = column_type.base_type
    if base in INTEGERS:
        found = _integer(base)
    elif base in ("String", "FixedString"):
        found = str
    elif base in ("Float32", "Float64"):
        found = Annotated[float, Field(allow_inf_nan=False)]
    elif base in ("DateTime", "DateTime64"):
        found = Annotated[AwareDatetime, TIME_RANGE]
    elif base == "Array":
        found = list.__class_getitem__(_annotation(column_type.element_type))
    elif base == "Tuple":
        found = tuple.__class_getitem__(tuple(_annotation(t) for t in column_type.element_types))
    else:
        raise TypeError(f"no insert check for the column type {column_type.name}")
    return found | None if column_type.nullable else found


@dataclass(frozen=True)
class InsertSchema:
    """The declared type of every column that leadflow writes, by table."""

    types: dict[str, dict[str, str]]

    def check(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
        """Raise RowRefused unless every value has its column's type (and store marks are a live worker's)."""
        declared = self.types.get(table, {})
        adapter = _adapter(tuple(declared[c] for c in columns))
        try:
            adapter.validate_python([tuple(row) for row in rows])
        except ValidationError as exc:
            raise RowRefused(_first_error(exc, table, columns)) from None
        if table == "store_runs":
            _check_runs(columns, rows, datetime.now(UTC))
        if table == "owner_teams":
            _check_not_ahead(table, "loaded_at", columns, rows, datetime.now(UTC))


def load_schema(client: Any) -> InsertSchema:
    """Read the declared types of leadflow's columns from the store."""
    types: dict[str, dict[str, str]] = {}
    for table, name, column_type in client.query(COLUMN_TYPES).result_rows:
        if name in INSERTABLE.get(table, ()):
            types.setdefault(table, {})[name] = column_type
    return InsertSchema(types)


@lru_cache(maxsize=64)
def _adapter(column_types: tuple[str, ...]) -> TypeAdapter[Any]:
    """Return the strict validator of a list of rows of these column types (built once per shape)."""
    row: Any = tuple.__class_getitem__(tuple(_annotation(get_from_name(t)) for t in column_types))
    rows: Any = list.__class_getitem__(row)
    return TypeAdapter(rows, config=STRICT)


def _first_error(exc: ValidationError, table: str, columns: Sequence[str]) -> str:
    error = exc.errors(include_url=False)[0]
    location = list(error["loc"])
    where = f"row {location[0]}, column {columns[int(location[1])]}" if len(location) >= 2 else "the rows"
    return f"{table}: {where}: {error['msg']} (got {error.get('input')!r:.80})"


def _check_runs(columns: Sequence[str], rows: Sequence[Sequence[Any]], now: datetime) -> None:
    for number, row in enumerate(rows):
        values = dict(zip(columns, row, strict=True))
        if values.get("kind") != "live" or values.get("latest_event_at") is not None:
            raise RowRefused(f"store_runs: row {number}: only a live worker's start mark is written through the page")
    _check_not_ahead("store_runs", "started_at", columns, rows, now)


def _check_not_ahead(
    table: str, column: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], now: datetime
) -> None:
    """Refuse a mark from the future: the latest mark is the one that counts (report `as_of`, the board's teams)."""
    for number, row in enumerate(rows):
        marked = dict(zip(columns, row, strict=True)).get(column)
        if marked is not None and marked > now + CLOCK_SKEW:
            raise RowRefused(f"{table}: row {number}: {column} {marked.isoformat()} is in the future")
