"""The store's DDL on chDB: a table derived by a materialized view is filled from its source in an older store."""

from __future__ import annotations

from pathlib import Path

import clickhouse_connect

from pipelines.core.sla import Judge
from pipelines.replay import replay_file
from pipelines.store.client import DERIVED_TABLES, ClickHouseStore, ddl_statements
from services.simulate import SimulationConfig, write_jsonl

# lead_first_touch as a store made before lead_first_touches had it: the candidates grouped at query time
GROUPED_FIRST_TOUCH = """
SELECT
    lead_id,
    argMin(visitor_id, (visit_time, visit_source, visit_id)) AS visitor_id,
    min(visit_time) AS first_visit_at,
    argMin(url, (visit_time, visit_source, visit_id)) AS landing_url,
    argMin(referrer, (visit_time, visit_source, visit_id)) AS referrer,
    argMin(utm_source, (visit_time, visit_source, visit_id)) AS utm_source,
    argMin(utm_medium, (visit_time, visit_source, visit_id)) AS utm_medium,
    argMin(utm_campaign, (visit_time, visit_source, visit_id)) AS utm_campaign
FROM first_touch_candidates
GROUP BY lead_id"""


def _count(store: ClickHouseStore, table: str) -> int:
    return int(store.query(f"SELECT count() FROM {table} FINAL")[0][0])


def _older_statements() -> list[str]:
    """Return the DDL of a store made before the derived tables existed."""
    older = []
    for statement in ddl_statements():
        if statement.startswith("CREATE OR REPLACE VIEW lead_first_touch "):
            older.append(f"CREATE VIEW IF NOT EXISTS lead_first_touch AS {GROUPED_FIRST_TOUCH}")
        elif not any(table in statement for table in DERIVED_TABLES):
            older.append(statement)
    return older


def _first_touches(store: ClickHouseStore, sql: str) -> list[tuple[object, ...]]:
    return sorted(store.query(f"SELECT * FROM ({sql})"))


def test_an_older_store_gets_its_derived_tables_filled_once(tmp_path: Path) -> None:
    client = clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store"))
    store = ClickHouseStore(client)
    for statement in _older_statements():
        client.command(statement)
    events = tmp_path / "events.jsonl"
    write_jsonl(SimulationConfig(visitors=60), events)
    replay_file(events, store, Judge([]))
    stored = _count(store, "events")
    grouped = _first_touches(store, "SELECT * FROM lead_first_touch")
    assert stored > 100 and len(grouped) > 5
    store.apply_ddl()
    assert _count(store, "events_by_time") == stored
    assert _first_touches(store, "SELECT * FROM lead_first_touch") == grouped  # now read from lead_first_touches
    visits = "SELECT DISTINCT visitor_id, time FROM events WHERE type = 'web.visit'"
    stored = "SELECT DISTINCT visitor_key, arrayJoin(visits) AS time FROM visitor_months"
    assert store.query(f"SELECT uniqExact(visitor_key), count() FROM ({stored})") == store.query(
        f"SELECT uniqExact(visitor_id), count() FROM ({visits})"
    )
    rows = {table: int(store.query(f"SELECT count() FROM {table}")[0][0]) for table in DERIVED_TABLES}
    store.apply_ddl()  # the tables exist now: nothing is filled again
    assert {table: int(store.query(f"SELECT count() FROM {table}")[0][0]) for table in DERIVED_TABLES} == rows
    store.close()


def test_a_new_store_starts_empty(tmp_path: Path) -> None:
    store = ClickHouseStore(clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store")))
    store.apply_ddl()
    assert _count(store, "events_by_time") == 0 and _count(store, "lead_first_touches") == 0
    store.close()
