"""The insert check against the types a real chDB store declares: leadflow's own rows pass (as the wire carries
them), values of another type, out of range or that would be silently converted are refused, and so are store
marks that only `replay`, holding the store alone, may write."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import clickhouse_connect
import pytest

from pipelines.core.rows import OWNER_TEAM_COLUMNS, SNAPSHOT_COLUMNS, to_owner_team_rows
from pipelines.core.sla import Judge
from pipelines.store.client import ClickHouseStore
from pipelines.store.columns import INSERTABLE, STORE_RUN_COLUMNS, InsertSchema, RowRefused
from pipelines.store.wire import decode_value, encode_row
from schemas.owners import OwnersFile
from tests.unit.test_sink_batch import full_batch

T = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)


@pytest.fixture(scope="module")
def schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InsertSchema]:
    """The declared column types of a fresh embedded store."""
    path = tmp_path_factory.mktemp("columns") / "store"
    store = ClickHouseStore(clickhouse_connect.get_client(interface="chdb", path=str(path)))
    store.apply_ddl()
    yield store.insert_schema()
    store.close()


def over_the_wire(rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    """The rows as the insert page decodes them from RemoteStore's JSON."""
    return [[decode_value(v) for v in json.loads(json.dumps(encode_row(row)))] for row in rows]


def test_every_column_leadflow_writes_has_a_declared_type(schema: InsertSchema) -> None:
    assert {table: set(types) for table, types in schema.types.items()} == {
        table: set(columns) for table, columns in INSERTABLE.items()
    }


def test_the_rows_leadflow_writes_pass_as_the_wire_carries_them(schema: InsertSchema) -> None:
    tables = list(full_batch().tables())
    assert {table for table, _rows, _columns in tables} >= {"events", "lead_snapshots", "dead_letters"}
    for table, rows, columns in tables:
        schema.check(table, columns, over_the_wire(rows))
    schema.check("store_runs", STORE_RUN_COLUMNS, over_the_wire([(T, "live", None)]))


def snapshot(**changes: Any) -> list[Any]:
    (_table, rows, columns), *_ = (t for t in full_batch().tables() if t[0] == "lead_snapshots")
    row = dict(zip(columns, over_the_wire(rows)[0], strict=True))
    row.update(changes)
    return [row[c] for c in SNAPSHOT_COLUMNS]


@pytest.mark.parametrize(
    ("changes", "column", "reason"),
    [
        ({"revision": -1}, "revision", "greater than or equal to 0"),
        ({"revision": 2**64}, "revision", "less than or equal to 18446744073709551615"),
        ({"revision": 1.5}, "revision", "valid integer"),
        ({"revision": True}, "revision", "valid integer"),
        ({"revision": "7"}, "revision", "valid integer"),
        ({"episode": 70_000}, "episode", "less than or equal to 65535"),
        ({"lead_id": 5}, "lead_id", "valid string"),
        ({"created_at": 12345}, "created_at", "valid datetime"),
        ({"created_at": "2026-11-02T09:30:00+00:00"}, "created_at", "valid datetime"),
        ({"created_at": datetime(2026, 11, 2)}, "created_at", "timezone"),  # noqa: DTZ001 - the naive value is the attack
        ({"last_event_at": datetime(2400, 1, 1, tzinfo=UTC)}, "last_event_at", "less than or equal to"),
        ({"visitor_ids": "abc"}, "visitor_ids", "valid list"),
        ({"visitor_ids": [1]}, "visitor_ids", "valid string"),
        ({"entries": [[1, "mql", T]]}, "entries", "valid tuple"),
        ({"stage": None}, "stage", "valid string"),
    ],
)
def test_a_value_not_of_its_columns_type_is_refused_with_row_and_column(
    schema: InsertSchema, changes: dict[str, Any], column: str, reason: str
) -> None:
    with pytest.raises(RowRefused, match=rf"lead_snapshots: row 0, column {column}: .*{reason}"):
        schema.check("lead_snapshots", SNAPSHOT_COLUMNS, [snapshot(**changes)])


def test_a_snapshot_of_any_valid_revision_passes_the_type_check(schema: InsertSchema) -> None:
    # a forged revision of 2^64-1 has a valid type: only the token keeps it out (docs/security.md)
    schema.check("lead_snapshots", SNAPSHOT_COLUMNS, [snapshot(revision=2**64 - 1)])


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ((T, "replay", T), "only a live worker's start mark"),
        ((T, "live", datetime(2099, 1, 1, tzinfo=UTC)), "only a live worker's start mark"),
        ((T, "", None), "only a live worker's start mark"),
        ((datetime.now(UTC) + timedelta(hours=1), "live", None), "in the future"),
    ],
)
def test_store_marks_other_than_a_live_workers_start_are_refused(
    schema: InsertSchema, row: tuple[Any, ...], reason: str
) -> None:
    with pytest.raises(RowRefused, match=reason):
        schema.check("store_runs", STORE_RUN_COLUMNS, [row])


def test_a_mark_without_its_kind_is_refused(schema: InsertSchema, tmp_path: Path) -> None:
    with pytest.raises(RowRefused, match="only a live worker's start mark"):
        schema.check("store_runs", ("started_at",), [(T,)])


def test_a_team_load_is_a_mark_and_a_row_per_member_and_passes_the_check(schema: InsertSchema) -> None:
    owners = OwnersFile.model_validate(
        {"teams": [{"name": "emea", "manager": "mgr-1", "members": ["rep-01", "rep-02"]}]}
    )
    rows = to_owner_team_rows(Judge([], owners).teams, T)
    assert rows == [(T, "", "", ""), (T, "rep-01", "emea", "mgr-1"), (T, "rep-02", "emea", "mgr-1")]
    assert to_owner_team_rows(Judge([]).teams, T) == [(T, "", "", "")]
    schema.check("owner_teams", OWNER_TEAM_COLUMNS, over_the_wire(rows))


def test_a_team_load_from_the_future_is_refused(schema: InsertSchema) -> None:
    ahead = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(RowRefused, match=r"owner_teams: row 0: loaded_at .* is in the future"):
        schema.check("owner_teams", OWNER_TEAM_COLUMNS, to_owner_team_rows({}, ahead))
