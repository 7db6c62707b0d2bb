"""Attacks on `/leadflow/insert` of a real `leadflow store serve`: forged rows (a snapshot that can never be
replaced, made-up customers, a replay mark in 2099) are refused without the store's token, rows of the wrong type
or outside leadflow's tables even with it, and the report and the tables stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines.core.lead import snapshot
from pipelines.core.rows import OWNER_TEAM_COLUMNS, SNAPSHOT_COLUMNS, to_snapshot_row
from pipelines.store.columns import STORE_RUN_COLUMNS
from pipelines.store.wire import encode_row
from tests.integration.processes import leadflow_json
from tests.security.conftest import Served
from tests.unit.factories import at, form_event, lead_state, stage_event

pytestmark = [pytest.mark.security, pytest.mark.timeout(300)]
MONTH = ["report", "--month", "2026-11", "--format", "json"]


def request(table: str, columns: tuple[str, ...] | list[str], rows: list[Any]) -> dict[str, Any]:
    return {"table": table, "columns": list(columns), "rows": [encode_row(row) for row in rows]}


def forged_customers(count: int) -> list[list[Any]]:
    """Snapshots, as leadflow writes them, of `count` customers that never existed, each at revision 2^64-1."""
    rows = []
    for n in range(count):
        lead = f"forged-{n}"
        state = lead_state([form_event(lead, f"v-{lead}", at(0)), stage_event(lead, "customer", at(60 * 24 * 10))])
        row = dict(zip(SNAPSHOT_COLUMNS, to_snapshot_row(snapshot(state)), strict=True))
        rows.append([{**row, "revision": 2**64 - 1}[column] for column in SNAPSHOT_COLUMNS])
    return rows


@pytest.fixture(scope="module")
def report(served: Served) -> dict[str, Any]:
    """November's report before any attack."""
    return dict(leadflow_json(MONTH, served.env, served.folder))


@pytest.mark.parametrize("token", [None, "", "x" * 43])
def test_forged_snapshots_and_marks_without_the_token_are_refused_and_change_nothing(
    served: Served, report: dict[str, Any], token: str | None
) -> None:
    before = served.pages.fingerprint()
    snapshots = request("lead_snapshots", SNAPSHOT_COLUMNS, forged_customers(500))
    mark = request("store_runs", STORE_RUN_COLUMNS, [(datetime.now(UTC), "replay", datetime(2099, 1, 1, tzinfo=UTC))])
    assert [served.pages.insert(body, token=token).status for body in (snapshots, mark)] == [401, 401]
    assert served.pages.fingerprint() == before
    after = leadflow_json(MONTH, served.env, served.folder)
    assert after["counts"] == report["counts"] and after["window"]["as_of"] == report["window"]["as_of"]


def test_a_replay_mark_in_2099_is_refused_even_with_the_token(served: Served, report: dict[str, Any]) -> None:
    mark = (datetime.now(UTC), "replay", datetime(2099, 1, 1, tzinfo=UTC))
    answer = served.pages.insert(request("store_runs", STORE_RUN_COLUMNS, [mark]))
    assert answer.status == 400 and "only a live worker's start mark" in answer.body["error"]
    future = (datetime(2099, 1, 1, tzinfo=UTC), "live", None)
    assert served.pages.insert(request("store_runs", STORE_RUN_COLUMNS, [future])).status == 400
    assert leadflow_json(MONTH, served.env, served.folder)["window"]["as_of"] == report["window"]["as_of"]


def test_a_team_load_from_the_future_is_refused_even_with_the_token(served: Served) -> None:
    # the SLA board follows the latest load of owner_teams: one dated 2099 would pin its teams for ever
    before = served.pages.fingerprint()
    load = [(datetime(2099, 1, 1, tzinfo=UTC), "", "", ""), (datetime(2099, 1, 1, tzinfo=UTC), "rep-01", "x", "m")]
    answer = served.pages.insert(request("owner_teams", OWNER_TEAM_COLUMNS, load))
    assert answer.status == 400 and "loaded_at 2099-01-01T00:00:00+00:00 is in the future" in answer.body["error"]
    assert served.pages.insert(request("owner_teams", OWNER_TEAM_COLUMNS, load), token=None).status == 401
    assert served.pages.fingerprint() == before
    now = [(datetime.now(UTC), "", "", ""), (datetime.now(UTC), "rep-01", "emea", "mgr-emea")]
    assert served.pages.insert(request("owner_teams", OWNER_TEAM_COLUMNS, now)).status == 200
    assert served.pages.store().query("SELECT team FROM owner_teams WHERE owner_id = 'rep-01'") == [("emea",)]


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"revision": -1}, "greater than or equal to 0"),
        ({"revision": 2**64}, "less than or equal to"),
        ({"revision": "18446744073709551615"}, "valid integer"),
        ({"revision": 1.5}, "valid integer"),
        ({"episode": 2**16}, "less than or equal to 65535"),
        ({"lead_id": 7}, "valid string"),
        ({"visitor_ids": "abc"}, "valid list"),
        ({"created_at": 12345}, "valid datetime"),
    ],
)
def test_rows_of_the_wrong_type_are_refused_even_with_the_token(
    served: Served, change: dict[str, Any], reason: str
) -> None:
    before = served.pages.fingerprint()
    (row,) = forged_customers(1)
    changed = [change.get(column, value) for column, value in zip(SNAPSHOT_COLUMNS, row, strict=True)]
    answer = served.pages.insert(request("lead_snapshots", SNAPSHOT_COLUMNS, [changed]))
    assert answer.status == 400 and reason in answer.body["error"], answer.text
    assert served.pages.fingerprint() == before


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"table": "system.users", "columns": ["name"], "rows": [["root"]]}, "leadflow's tables"),
        ({"table": "stage_entries", "columns": ["lead_id"], "rows": [["x"]]}, "leadflow's tables"),
        ({"table": "events FORMAT CSV", "columns": ["id"], "rows": [["x"]]}, "leadflow's tables"),
        ({"table": "events", "columns": ["id", "_part"], "rows": [["x", "y"]]}, "no column '_part'"),
        ({"table": "events", "columns": ["id) SELECT 1 --"], "rows": [["x"]]}, "no column"),
        (b"\xff\xfe", "not JSON"),
    ],
)
def test_inserts_outside_leadflows_tables_and_columns_are_refused(served: Served, body: Any, reason: str) -> None:
    before = served.pages.fingerprint()
    answer = served.pages.insert(body)
    assert answer.status == 400 and reason in answer.body["error"]
    assert served.pages.fingerprint() == before
