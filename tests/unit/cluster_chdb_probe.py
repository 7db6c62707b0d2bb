"""The child process of tests/unit/test_cluster_ddl.py: the cluster DDL in the real ClickHouse engine (chDB).

Run apart from pytest because chDB allows one server configuration per process: this one configures a one-shard
cluster on localhost, its macros and an in-memory Keeper. It reads a request on stdin and prints one JSON line.
"""

from __future__ import annotations

import json
import os
import re
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from pipelines.store.client import ClickHouseStore, ddl_statements
from schemas.cluster import ALTER, ON_CLUSTER, cluster_statements

REPO = Path(__file__).resolve().parents[2]
PLAIN_ENGINE = re.compile(
    r"Replicated(\w*MergeTree)\('/clickhouse/tables/\{shard\}/\{database\}/\{table\}', '\{replica\}'(?:, )?"
)
CONFIG = """<clickhouse>
  <remote_servers><leadflow><shard><replica><host>localhost</host><port>9000</port></replica></shard></leadflow>
  </remote_servers>
  <macros><cluster>leadflow</cluster><shard>01</shard><replica>r1</replica></macros>
  <tcp_port>9000</tcp_port>
  <zookeeper><implementation>testkeeper</implementation></zookeeper>
</clickhouse>
"""
# localhost:9000 is this process itself (tcp_port), so the one shard is local and nothing is ever dialled.

_OPEN_CLIENTS: list[Any] = []


def probe_main() -> None:
    """Run the chDB checks for the request on stdin; print the findings as one JSON line."""
    request = json.loads(sys.stdin.read())
    findings = _probe(Path(request["work"]), request["format"])
    print(json.dumps(findings, default=str), flush=True)
    os._exit(0)  # chDB's engine threads (Keeper, replicas) abort at interpreter exit; the answer is out


def _probe(work: Path, to_format: list[str]) -> dict[str, Any]:
    import clickhouse_connect

    config = work / "cluster.xml"
    config.write_text(CONFIG, encoding="utf-8")

    def client(database: str | None = None) -> Any:
        options = {"config-file": str(config)}
        opened = clickhouse_connect.get_client(
            interface="chdb", path=str(work / "store"), database=database, chdb_options=options
        )
        _OPEN_CLIENTS.append(opened)  # closing a chDB connection with replicated tables waits on Keeper forever
        return opened

    root = client()
    for database in ("replicated", "plain", "single"):
        root.command(f"CREATE DATABASE {database}")
    formatted, format_errors = _format(root, to_format)
    statements = cluster_statements(ddl_statements())
    # without a keeper a replicated table is read-only, so its ALTERs run on the plain tables only (below)
    created = [s.sql.replace(ON_CLUSTER, "") for s in statements if s.kind != ALTER]
    replicated_errors = _run(client("replicated"), created)
    plain = [PLAIN_ENGINE.sub(r"\1(", s.sql.replace(ON_CLUSTER, "")) for s in statements]
    replayed = _replay_both(client, plain, work)
    return {
        "formatted": formatted,
        "format_errors": format_errors,
        "replicated_errors": replicated_errors,
        **replayed,
        **_catalog(root),
    }


def _format(client: Any, statements: list[str]) -> tuple[list[str], dict[str, str]]:
    formatted, errors = [], {}
    for sql in statements:
        try:
            formatted.append(client.query("SELECT formatQuery({q:String})", parameters={"q": sql}).result_rows[0][0])
        except Exception as exc:
            errors[sql[:80]] = str(exc)[:300]
    return formatted, errors


def _run(client: Any, statements: list[str]) -> dict[str, str]:
    errors = {}
    for sql in statements:
        try:
            client.command(sql)
        except Exception as exc:
            errors[sql[:80]] = str(exc)[:300]
    return errors


def _catalog(root: Any) -> dict[str, Any]:
    where = "WHERE database IN ('replicated', 'single')"
    tables = root.query(f"SELECT database, name, engine, dependencies_table FROM system.tables {where}").result_rows
    replicas = root.query(
        "SELECT table, zookeeper_path, replica_name FROM system.replicas WHERE database = 'replicated'"
    ).result_rows
    columns: dict[str, dict[str, list[tuple[str, str]]]] = {"replicated": {}, "single": {}}
    for database, table, name, type_ in root.query(
        f"SELECT database, table, name, type FROM system.columns {where} ORDER BY position"
    ).result_rows:
        columns[database].setdefault(table, []).append((name, type_))
    return {
        "replicated_engines": {name: engine for db, name, engine, _ in tables if db == "replicated"},
        "dependents": {name: list(deps) for db, name, _, deps in tables if db == "replicated"},
        "replicas": {table: (path, replica) for table, path, replica in replicas},
        "columns": columns,
    }


def _replay_both(client: Any, plain_statements: list[str], work: Path) -> dict[str, Any]:
    """Replay the same simulated traffic into a single-node schema and into the Distributed one; report both."""
    from pipelines.agreements import load_agreements
    from pipelines.core.sla import Judge
    from pipelines.replay import replay_file
    from pipelines.store.client import ClickHouseStore
    from services.report import build_report
    from services.simulate import SimulationConfig, write_jsonl

    plain_client = client("plain")
    _run(plain_client, plain_statements)
    before = _table_names(plain_client)
    stores = {"single": ClickHouseStore(client("single")), "plain": ClickHouseStore(plain_client)}
    for store in stores.values():
        store.apply_ddl()
    events = work / "events.jsonl"
    write_jsonl(SimulationConfig(visitors=400, days=6), events)
    agreements = load_agreements(REPO / "agreements")
    now = datetime(2026, 11, 20, tzinfo=UTC)
    for store in stores.values():
        replay_file(events, store, Judge(agreements), now=now)
    month = (date(2026, 11, 1), date(2026, 12, 1))
    per_minute = "SELECT stage, minute, uniqExactMerge(leads) FROM stage_entries_per_minute GROUP BY ALL ORDER BY ALL"
    return {
        "worker_ddl_added": sorted(set(_table_names(plain_client)) - set(before)),
        "report": {name: build_report(s, *month, agreements, None, now) for name, s in stores.items()},
        "per_minute": {name: s.query(per_minute) for name, s in stores.items()},
        "row_counts": {
            table: plain_client.query(f"SELECT count() FROM {table}").result_rows[0][0]
            for table in ("events", "events_local", "stage_entries_per_minute_local")
        },
    }


def _table_names(client: Any) -> list[str]:
    return sorted(ClickHouseStore(client).table_names())
