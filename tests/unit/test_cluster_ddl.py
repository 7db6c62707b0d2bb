"""The cluster DDL: the committed file is the generator's output, ClickHouse parses every statement, the cluster
has the shape the README promises, and chDB runs what a single server can run of it.

chDB runs in a child process (`probe_main`): it needs a server config of its own (a one-shard cluster on
localhost, the {cluster}/{shard}/{replica} macros, an in-memory Keeper), and a process holds one chDB engine.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from pipelines.store.client import ddl_statements
from schemas.cluster import (
    ALTER,
    DISTRIBUTED_TABLE,
    LOCAL_TABLE,
    MATERIALIZED_VIEW,
    VIEW,
    ClusterDdlError,
    ClusterStatement,
    cluster_statements,
    render,
    replicated_engine,
    sharding_key,
)

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "deploy" / "clickhouse" / "cluster.sql"
REPLICA_PREFIX = "'/clickhouse/tables/{shard}/{database}/{table}', '{replica}'"
EXAMPLES = {
    "quoted": "CREATE TABLE `odd name` (`lead_id` String, v UInt8) ENGINE = ReplacingMergeTree(v) ORDER BY `lead_id`",
    "qualified": "CREATE TABLE IF NOT EXISTS crm.deals (deal_id String) ENGINE = MergeTree() ORDER BY deal_id",
    "engine column": "CREATE TABLE t (engine String, sign Int8) ENGINE=CollapsingMergeTree(sign) ORDER BY engine",
    "no key": "CREATE TABLE raw (line String) ENGINE = MergeTree ORDER BY tuple() SETTINGS index_granularity = 1024",
    "memory": "CREATE TABLE scratch (x UInt8) ENGINE = Memory",
}


# --- the committed file and the generator -------------------------------------------------------------


@pytest.fixture(scope="module")
def statements() -> list[ClusterStatement]:
    return cluster_statements(ddl_statements())


def test_committed_file_is_the_generators_output(statements: list[ClusterStatement]) -> None:
    expected = render(statements)
    assert COMMITTED.read_text(encoding="utf-8") == expected, (
        "deploy/clickhouse/cluster.sql is stale: run `leadflow schemas cluster-ddl --out deploy/clickhouse/cluster.sql`"
    )


def test_the_command_writes_the_same_file(tmp_path: Path) -> None:
    from services.cli import main

    out = tmp_path / "cluster.sql"
    assert main(["schemas", "cluster-ddl", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == COMMITTED.read_text(encoding="utf-8")


def test_engines_keep_their_own_arguments() -> None:
    assert replicated_engine("ReplacingMergeTree", "revision") == (
        f"ReplicatedReplacingMergeTree({REPLICA_PREFIX}, revision)"
    )
    assert replicated_engine("MergeTree", "") == f"ReplicatedMergeTree({REPLICA_PREFIX})"


def test_sharding_keys_follow_the_lead_then_the_sorting_key() -> None:
    assert sharding_key(["subject", "lead_id"], ["source", "id"])[0] == "cityHash64(subject)"
    assert sharding_key(["lead_id", "x"], ["x"])[0] == "cityHash64(lead_id)"
    assert sharding_key(["topic", "offset"], ["topic", "offset"])[0] == "cityHash64(topic, offset)"
    assert sharding_key(["line"], [])[0] == "rand()"


def _by_name(statements: list[ClusterStatement]) -> dict[str, ClusterStatement]:
    """Return each table's or view's creating statement by name (a later ALTER of it is not one)."""
    return {s.name: s for s in statements if s.kind != ALTER}


def test_quoted_and_qualified_names_keep_their_form() -> None:
    quoted = _by_name(cluster_statements([EXAMPLES["quoted"]]))
    assert quoted["odd name_local"].sql.startswith("CREATE TABLE \"odd name_local\" ON CLUSTER '{cluster}' (")
    assert "Distributed('{cluster}', currentDatabase(), \"odd name_local\", cityHash64(lead_id))" in (
        quoted["odd name"].sql
    )
    qualified = _by_name(cluster_statements([EXAMPLES["qualified"]]))
    assert qualified["deals"].sql.startswith(
        "CREATE TABLE IF NOT EXISTS crm.deals ON CLUSTER '{cluster}' AS crm.deals_local"
    )
    assert "Distributed('{cluster}', 'crm', deals_local, cityHash64(deal_id))" in qualified["deals"].sql


def test_only_the_engine_clause_changes_even_next_to_a_column_named_engine() -> None:
    local = _by_name(cluster_statements([EXAMPLES["engine column"]]))["t_local"].sql
    assert local == (
        "CREATE TABLE t_local ON CLUSTER '{cluster}' (engine String, sign Int8) "
        f"ENGINE = ReplicatedCollapsingMergeTree({REPLICA_PREFIX}, sign) ORDER BY engine"
    )


def test_a_table_outside_the_merge_tree_family_only_runs_on_every_server() -> None:
    (only,) = cluster_statements([EXAMPLES["memory"]])
    assert only.sql == "CREATE TABLE scratch ON CLUSTER '{cluster}' (x UInt8) ENGINE = Memory"


def test_alter_and_drop_reach_the_local_and_the_distributed_table() -> None:
    create = "CREATE TABLE events (subject String, id String) ENGINE = ReplacingMergeTree ORDER BY id"
    column = "ALTER TABLE events ADD COLUMN IF NOT EXISTS note String"
    index = "ALTER TABLE events ADD INDEX by_subject subject TYPE bloom_filter GRANULARITY 4"
    result = cluster_statements([create, column, index, "DROP TABLE IF EXISTS events"])
    assert [s.sql for s in result[2:]] == [
        "ALTER TABLE events_local ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS note String",
        "ALTER TABLE events ON CLUSTER '{cluster}' ADD COLUMN IF NOT EXISTS note String",
        "ALTER TABLE events_local ON CLUSTER '{cluster}' ADD INDEX by_subject subject TYPE bloom_filter GRANULARITY 4",
        "DROP TABLE IF EXISTS events ON CLUSTER '{cluster}'",
        "DROP TABLE IF EXISTS events_local ON CLUSTER '{cluster}'",
    ]


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("CREATE MATERIALIZED VIEW m ENGINE = MergeTree ORDER BY a AS SELECT a FROM t", "needs TO a table"),
        ("CREATE TABLE t ON CLUSTER c (a String) ENGINE = MergeTree ORDER BY a", "already has ON CLUSTER"),
        ("ALTER TABLE events ON CLUSTER c ADD COLUMN b String", "already has ON CLUSTER"),
        ("CREATE TABLE t (a String) ORDER BY a", "needs an ENGINE"),
        ("INSERT INTO t VALUES ('a')", "no cluster form"),
        ("ALTER TABLE events ADD COLUMN c String, ADD INDEX i c TYPE minmax GRANULARITY 1", "split column changes"),
    ],
)
def test_what_has_no_safe_cluster_form_is_refused(statement: str, message: str) -> None:
    create = "CREATE TABLE events (id String) ENGINE = MergeTree ORDER BY id"
    with pytest.raises(ClusterDdlError, match=message):
        cluster_statements([create, statement])


# --- the shape of the cluster schema, from the statements themselves -------------------------------


def _single_node_tables() -> dict[str, tuple[str, list[str]]]:
    """Return each MergeTree table of schemas/sql with its engine and column names."""
    tables = {}
    for sql in ddl_statements():
        tree = sqlglot.parse_one(sql, read="clickhouse")
        engine = tree.find(exp.EngineProperty)
        if isinstance(tree, exp.Create) and engine is not None and engine.this.name.endswith("MergeTree"):
            columns = [c.name for c in tree.this.expressions if isinstance(c, exp.ColumnDef)]
            tables[tree.this.this.name] = (engine.this.name, columns)
    return tables


def test_every_statement_runs_on_the_cluster(statements: list[ClusterStatement]) -> None:
    for statement in statements:
        cluster = sqlglot.parse_one(statement.sql, read="clickhouse").find(exp.OnCluster)
        assert cluster is not None and cluster.this.name == "{cluster}", statement.sql


def test_every_merge_tree_table_has_a_replicated_local_table_and_a_distributed_twin(
    statements: list[ClusterStatement],
) -> None:
    by_name = _by_name(statements)
    tables = _single_node_tables()
    assert tables, "schemas/sql has no MergeTree table"
    for name, (engine, columns) in tables.items():
        local, twin = by_name[f"{name}_local"], by_name[name]
        assert (local.kind, twin.kind) == (LOCAL_TABLE, DISTRIBUTED_TABLE)
        assert f"ENGINE = Replicated{engine}({REPLICA_PREFIX}" in local.sql
        key = re.search(rf"Distributed\('\{{cluster\}}', currentDatabase\(\), {name}_local, (.+)\)$", twin.sql)
        assert key is not None, twin.sql
        lead = next((c for c in ("subject", "lead_id") if c in columns), None)
        assert key.group(1) != "rand()" or engine == "MergeTree", f"{name}: rows of one key must meet on one shard"
        assert lead is None or key.group(1) == f"cityHash64({lead})", f"{name}: one lead's rows on one shard"


def test_replacing_tables_keep_their_version_column(statements: list[ClusterStatement]) -> None:
    local = _by_name(statements)["lead_snapshots_local"].sql
    assert f"ReplicatedReplacingMergeTree({REPLICA_PREFIX}, revision)" in local


def _tables_read(sql: str) -> set[str]:
    tree = sqlglot.parse_one(sql, read="clickhouse")
    return {t.name for t in tree.expression.find_all(exp.Table)} if tree.expression else set()


def test_materialized_views_follow_and_fill_local_tables(statements: list[ClusterStatement]) -> None:
    local_tables = {s.name for s in statements if s.kind == LOCAL_TABLE}
    views = [s for s in statements if s.kind == MATERIALIZED_VIEW]
    assert views, "schemas/sql has no materialized view"
    for view in views:
        target = sqlglot.parse_one(view.sql, read="clickhouse").find(exp.ToTableProperty)
        assert target is not None and target.this.name in local_tables, view.sql
        source = sqlglot.parse_one(view.sql, read="clickhouse").expression.args["from_"].this.name
        assert source in local_tables, view.sql


def test_plain_views_read_the_distributed_tables(statements: list[ClusterStatement]) -> None:
    local_tables = {s.name for s in statements if s.kind == LOCAL_TABLE}
    for view in (s for s in statements if s.kind == VIEW):
        assert not _tables_read(view.sql) & local_tables, view.sql


# --- chDB: the real ClickHouse parser and engine ----------------------------------------------------


@pytest.fixture(scope="module")
def chdb_findings(statements: list[ClusterStatement], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    examples = [s.sql for sql in EXAMPLES.values() for s in cluster_statements([sql])]
    request = {"work": str(tmp_path_factory.mktemp("chdb-cluster")), "format": [s.sql for s in statements] + examples}
    done = subprocess.run(
        [sys.executable, "-c", "from tests.unit.cluster_chdb_probe import probe_main; probe_main()"],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=180,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, f"chDB probe gave no answer (exit {done.returncode}):\n{done.stderr[-3000:]}"
    return dict(json.loads(lines[-1]))


def test_clickhouse_parses_every_statement(chdb_findings: dict[str, Any]) -> None:
    assert chdb_findings["format_errors"] == {}
    for formatted in chdb_findings["formatted"]:
        assert "ON CLUSTER `{cluster}`" in formatted


def test_chdb_creates_every_replicated_table_and_expands_the_macros(
    chdb_findings: dict[str, Any], statements: list[ClusterStatement]
) -> None:
    assert chdb_findings["replicated_errors"] == {}
    engines = chdb_findings["replicated_engines"]
    for statement in statements:
        assert statement.name in engines
    replicas = chdb_findings["replicas"]
    assert set(replicas) == {s.name for s in statements if s.kind == LOCAL_TABLE}
    for table, (path, replica) in replicas.items():
        assert (path, replica) == (f"/clickhouse/tables/01/replicated/{table}", "r1")


def test_chdb_runs_the_same_columns_on_local_and_distributed_tables(chdb_findings: dict[str, Any]) -> None:
    columns = chdb_findings["columns"]
    for name in _single_node_tables():
        assert columns["single"][name] == columns["replicated"][f"{name}_local"] == columns["replicated"][name]


def test_the_materialized_view_fires_on_the_local_table(chdb_findings: dict[str, Any]) -> None:
    assert chdb_findings["dependents"]["lead_snapshots_local"] == ["stage_entries_per_minute_mv"]
    assert chdb_findings["dependents"]["lead_snapshots"] == []


def test_worker_start_up_ddl_changes_nothing_on_the_cluster_schema(chdb_findings: dict[str, Any]) -> None:
    assert chdb_findings["worker_ddl_added"] == []


def test_report_through_distributed_tables_equals_the_single_node_report(chdb_findings: dict[str, Any]) -> None:
    counts = chdb_findings["row_counts"]
    assert counts["events"] == counts["events_local"] > 0
    assert counts["stage_entries_per_minute_local"] > 0
    assert chdb_findings["per_minute"]["single"] == chdb_findings["per_minute"]["plain"]
    assert chdb_findings["report"]["plain"] == chdb_findings["report"]["single"]
