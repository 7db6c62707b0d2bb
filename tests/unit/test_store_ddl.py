"""The store's DDL on chDB: a table derived by a materialized view is filled from its source in an older store."""

from __future__ import annotations

from pathlib import Path

import clickhouse_connect

from pipelines.core.sla import Judge
from pipelines.replay import replay_file
from pipelines.store.client import DERIVED_TABLES, ClickHouseStore, ddl_statements
from services.simulate import SimulationConfig, write_jsonl


def _count(store: ClickHouseStore, table: str) -> int:
    return int(store.query(f"SELECT count() FROM {table} FINAL")[0][0])


def test_an_older_store_gets_its_derived_tables_filled_once(tmp_path: Path) -> None:
    client = clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store"))
    store = ClickHouseStore(client)
    older = [s for s in ddl_statements() if not any(table in s for table in DERIVED_TABLES)]
    for statement in older:  # a store made before the derived tables existed
        client.command(statement)
    events = tmp_path / "events.jsonl"
    write_jsonl(SimulationConfig(visitors=60), events)
    replay_file(events, store, Judge([]))
    stored = _count(store, "events")
    assert stored > 100
    store.apply_ddl()
    assert _count(store, "events_by_time") == stored
    rows = int(store.query("SELECT count() FROM events_by_time")[0][0])
    store.apply_ddl()  # the table exists now: nothing is filled again
    assert int(store.query("SELECT count() FROM events_by_time")[0][0]) == rows
    store.close()


def test_a_new_store_starts_empty(tmp_path: Path) -> None:
    store = ClickHouseStore(clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store")))
    store.apply_ddl()
    assert _count(store, "events_by_time") == 0
    store.close()
