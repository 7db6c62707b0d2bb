"""Reads on real chDB: ClickHouse's own read-only mode and limits hold by themselves, and the parse check closes
what clickhouse-local leaves open (INTO OUTFILE, the file() function) and keeps reads to leadflow's tables."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import clickhouse_connect
import pytest

from pipelines.store.client import ClickHouseStore, embedded_reader
from pipelines.store.exceptions import QueryRefused, StoreError
from pipelines.store.reader import QueryLimits, Reader

SMALL = QueryLimits(timeout=2.0, memory=256 * 1024**2, result_rows=1000)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ClickHouseStore]:
    """A fresh embedded store, DDL applied, with small limits."""
    client = clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store"))
    opened = ClickHouseStore(client, embedded_reader(client, SMALL))
    opened.apply_ddl()
    yield opened
    opened.close()


@pytest.fixture
def unparsed(store: ClickHouseStore) -> Iterator[Reader]:
    """A reader of the same store without the parse check: ClickHouse's own guards alone."""
    client = store._client
    reader = Reader(embedded_reader(client, SMALL)._connect, client, SMALL, parse=False)
    yield reader
    reader.close()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
        "SELECT * FROM executable('id', 'TSV', 'a String')",
        "SELECT * FROM remote('127.0.0.1:9', system.one)",
        "SELECT * FROM s3('http://127.0.0.1:9/leadflow/k.csv')",
        "SELECT * FROM sqlite('/tmp/x.sqlite', 't')",
        "SELECT * FROM python(frame)",
        "INSERT INTO store_runs VALUES (now(), 'replay', now())",
        "WITH 1 AS x INSERT INTO FUNCTION file('/tmp/leadflow-x.csv', 'CSV', 'a UInt8') SELECT 1",
        "CREATE TABLE t (a UInt8) ENGINE = File(CSV)",
        "SELECT 1 SETTINGS readonly = 0",
        "SELECT 1 SETTINGS max_execution_time = 0",
        "SELECT 1 SETTINGS max_memory_usage = 0",
    ],
)
def test_clickhouse_read_only_mode_refuses_writes_table_functions_and_setting_changes(
    unparsed: Reader, sql: str
) -> None:
    frame = {"a": [1]}  # chDB's python() would read a variable of the caller's frames
    assert frame
    with pytest.raises(StoreError, match=r"READONLY|readonly"):
        unparsed.query(sql)


def test_the_session_settings_are_the_limits_and_read_only(unparsed: Reader) -> None:
    rows = unparsed.query(
        "SELECT name, value FROM system.settings WHERE name IN "
        "('readonly', 'max_execution_time', 'max_memory_usage', 'max_result_rows', 'result_overflow_mode', "
        "'allow_introspection_functions')"
    )
    assert dict(rows) == {
        "readonly": "1",
        "allow_introspection_functions": "0",
        "max_execution_time": "2",
        "max_memory_usage": str(256 * 1024**2),
        "max_result_rows": "1000",
        "result_overflow_mode": "throw",
    }


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT count() FROM numbers(1e12)", "TIMEOUT_EXCEEDED"),
        ("SELECT length(groupArray(number)) FROM numbers(250000000)", "MEMORY_LIMIT_EXCEEDED"),
        ("SELECT number FROM numbers(2000)", "TOO_MANY_ROWS_OR_BYTES"),
    ],
)
def test_a_read_past_a_limit_ends_with_clickhouses_error_and_the_next_read_is_right(
    store: ClickHouseStore, sql: str, error: str
) -> None:
    began = time.monotonic()
    with pytest.raises(StoreError, match=error):
        store.query(sql)
    assert time.monotonic() - began < 10
    # chDB hands a failed query's unread rows to the next query of the same session: that session is closed
    assert store.query("SELECT 42") == [(42,)]
    assert store.query("SELECT count() FROM numbers(5)") == [(5,)]


def test_clickhouse_local_leaves_into_outfile_and_file_open_which_the_parse_check_closes(
    store: ClickHouseStore, unparsed: Reader, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("canary-4711")
    assert unparsed.query(f"SELECT file('{secret}')") == [("canary-4711",)]  # why the parse check exists
    with pytest.raises(QueryRefused, match="function file"):
        store.query(f"SELECT file('{secret}')")
    with pytest.raises(QueryRefused, match="INTO OUTFILE"):
        store.query(f"SELECT 1 INTO OUTFILE '{tmp_path / 'out.txt'}'")
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize(
    ("sql", "reason"),
    [
        ("SELECT * FROM system.settings", "table system.settings"),
        ("SELECT * FROM information_schema.tables", "table information_schema.tables"),
        ("SELECT 1 FROM events WHERE id IN system.processes", "IN system.processes"),
        ("SELECT * FROM merge('system', '.*')", "table function merge"),
        ("SELECT * FROM events AS e JOIN system.users AS u ON 1", "table system.users"),
        ("SELECT hostName()", "function hostName"),
        ("SELECT version()", "function version"),
        ("SELECT sleepEachRow(1) FROM events", "function sleepEachRow"),
        ("SELECT dictGet('d', 'a', 1)", "function dictGet"),
        ("SELECT aiGenerate('hello')", "function aiGenerate"),
        ("SELECT * FROM {t:Identifier}", "type Identifier"),
        ("SELECT 1 FORMAT JSON", "FORMAT clause"),
        ("SHOW TABLES", "not ShowTablesQuery"),
        ("EXPLAIN SELECT 1", "not ExplainQuery"),
        ("SELECT 1; SELECT 2", "Multi-statements"),
    ],
)
def test_the_parse_check_keeps_reads_to_leadflows_tables_and_pure_functions(
    store: ClickHouseStore, sql: str, reason: str
) -> None:
    with pytest.raises(StoreError, match=reason):
        store.query(sql, {"t": "system.users"} if "{t:" in sql else None)


def test_leadflows_own_kinds_of_reads_are_answered(store: ClickHouseStore) -> None:
    sql = """
        WITH recent AS (SELECT lead_id, stage FROM lead_snapshots FINAL WHERE last_event_at >= {since:DateTime64(3)})
        SELECT countIf(stage = 'mql'), uniqExactIf(lead_id, stage IN ('sql', 'customer')), toStartOfMonth(now()),
               arrayMap(x -> x * 2, [1, 2]), sumOrNull(1), count() OVER (), formatReadableSize(1024),
               multiIf(1 > 2, 'a', 'b'), default.events.id
        FROM recent LEFT JOIN default.events ON events.lead_id = recent.lead_id
        WHERE recent.lead_id IN (SELECT lead_id FROM leads) AND 1 IN {ids:Array(UInt8)}
        GROUP BY ALL LIMIT 1
    """
    assert store.query(sql, {"since": "2026-01-01 00:00:00", "ids": [1]}) == []
    assert store.describe("SELECT count() AS n, 'x' AS s") == [("n", "UInt64"), ("s", "String")]


def test_cancel_ends_the_reads_under_way_at_once(tmp_path: Path) -> None:
    client = clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store"))
    store = ClickHouseStore(client, embedded_reader(client, QueryLimits(timeout=60)))
    failures: list[Exception] = []

    def long_read() -> None:
        try:
            store.query("SELECT count() FROM numbers(1e12)")
        except StoreError as exc:
            failures.append(exc)

    reading = threading.Thread(target=long_read)
    reading.start()
    time.sleep(1.0)
    began = time.monotonic()
    store.cancel_queries()
    reading.join(10)
    assert not reading.is_alive() and time.monotonic() - began < 5
    assert "QUERY_WAS_CANCELLED" in str(failures[0])
    assert store.query("SELECT 1") == [(1,)]
    store.close()
