"""The store pages: the token first, then a query for the store's reader, inserts into leadflow's own tables and
columns only, and the store service serving both."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from pipelines.store.columns import InsertSchema
from pipelines.store.exceptions import StoreError
from pipelines.store.protocol import (
    INSERTABLE,
    STORE_RUN_COLUMNS,
    Refused,
    StorePages,
    answer_insert,
    answer_query,
    parse_insert,
)
from pipelines.store.wire import encode_row, encode_value
from services.store_service import Executors, build_app
from tests.unit.test_sink_batch import full_batch

T = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
TOKEN = "t" * 43
RUN_TYPES = {"started_at": "DateTime64(3, 'UTC')", "kind": "LowCardinality(String)",
             "latest_event_at": "Nullable(DateTime64(3, 'UTC'))"}  # fmt: skip
SCHEMA = InsertSchema({"store_runs": RUN_TYPES, "events": {"id": "String", "source": "String"}})


class FakeStore:
    """Answers queries with fixed rows; records inserts; fails on demand."""

    def __init__(self, rows: list[tuple[Any, ...]] | None = None, fail: bool = False) -> None:
        self.rows = rows or []
        self.fail = fail
        self.queries: list[tuple[str, dict[str, Any] | None]] = []
        self.inserts: list[tuple[str, list[Sequence[Any]], tuple[str, ...]]] = []

    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.queries.append((sql, parameters))
        if self.fail:
            raise StoreError("query failed: no such table")
        return self.rows

    def describe(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        self.queries.append((f"DESCRIBE {sql}", parameters))
        return [("a", "UInt8")]

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if self.fail:
            raise StoreError(f"insert into {table} failed: disk full")
        self.inserts.append((table, list(rows), tuple(columns)))

    def close(self) -> None:
        pass


def body(**request: Any) -> bytes:
    return json.dumps(request).encode()


def insert_body(table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> bytes:
    return body(table=table, columns=list(columns), rows=[encode_row(r) for r in rows])


def test_the_whitelist_covers_every_table_and_column_leadflow_writes() -> None:
    for table, _rows, columns in full_batch().tables():
        assert set(columns) <= INSERTABLE[table], table
    assert set(STORE_RUN_COLUMNS) == INSERTABLE["store_runs"]


@pytest.mark.parametrize(
    ("request_body", "reason"),
    [
        (body(table="system.users", columns=["name"], rows=[["x"]]), "leadflow's tables"),
        (body(table="events; DROP TABLE events", columns=["id"], rows=[["x"]]), "leadflow's tables"),
        (body(table="stage_entries", columns=["lead_id"], rows=[["x"]]), "leadflow's tables"),
        (body(table="events", columns=["id", "password"], rows=[["x", "y"]]), "no column 'password'"),
        (body(table="events", columns=["id", "id"], rows=[["x", "y"]]), "distinct"),
        (body(table="events", columns=[], rows=[]), "non-empty"),
        (body(table="events", columns=["id", "source"], rows=[["x"]]), "2 values each"),
        (body(table="events", columns=["id"], rows="x"), "list of lists"),
        (b"{not json", "not JSON"),
        (b"[1, 2]", "JSON object"),
    ],
)
def test_inserts_outside_leadflows_tables_and_columns_are_refused(request_body: bytes, reason: str) -> None:
    with pytest.raises(Refused, match=reason):
        parse_insert(request_body)
    store = FakeStore()
    answer = answer_insert(store, SCHEMA, request_body)
    assert answer.status == 400 and reason in answer.body["error"]
    assert store.inserts == []


def test_an_insert_reaches_the_store_with_its_values_decoded() -> None:
    store = FakeStore()
    row = (T, "live", None)
    answer = answer_insert(store, SCHEMA, insert_body("store_runs", STORE_RUN_COLUMNS, [row]))
    assert (answer.status, answer.body) == (200, {"inserted": 1})
    assert store.inserts == [("store_runs", [[T, "live", None]], STORE_RUN_COLUMNS)]


def test_a_badly_tagged_value_is_refused() -> None:
    answer = answer_insert(FakeStore(), SCHEMA, body(table="store_runs", columns=["kind"], rows=[[{"$dt": 1}]]))
    assert answer.status == 400 and "$dt" in answer.body["error"]


def test_a_failing_store_answers_503_so_the_writer_retries() -> None:
    run = insert_body("store_runs", STORE_RUN_COLUMNS, [(T, "live", None)])
    answer = answer_insert(FakeStore(fail=True), SCHEMA, run)
    assert answer.status == 503 and "disk full" in answer.body["error"]


@pytest.mark.parametrize(
    ("request_body", "reason"),
    [(body(sql=""), "non-empty"), (body(sql=7), "non-empty"), (body(sql="SELECT 1", parameters=[1]), "an object"),
     (body(sql="SELECT 1", describe="yes"), "true or false")],
)  # fmt: skip
def test_a_query_request_that_breaks_the_protocol_is_refused(request_body: bytes, reason: str) -> None:
    store = FakeStore()
    answer = answer_query(store, request_body)
    assert answer.status == 400 and reason in answer.body["error"]
    assert store.queries == []


def test_a_describe_request_asks_the_store_for_columns_only() -> None:
    store = FakeStore()
    answer = answer_query(store, body(sql="SELECT 1 AS a", describe=True))
    assert (answer.status, answer.body) == (200, {"rows": [["a", "UInt8"]]})
    assert store.queries == [("DESCRIBE SELECT 1 AS a", {})]


def test_a_query_gets_its_parameters_decoded_and_its_rows_encoded() -> None:
    rows = [(T, Decimal("1200.50"), [("mql", T)], {"x": 1})]
    store = FakeStore(rows)
    answer = answer_query(store, body(sql="SELECT 1;", parameters={"start": encode_value(T)}))
    assert answer.status == 200
    assert store.queries == [("SELECT 1;", {"start": T})]
    assert answer.body["rows"] == [[encode_value(v) for v in rows[0]]]


def test_a_store_error_on_a_query_is_answered_400() -> None:
    answer = answer_query(FakeStore(fail=True), body(sql="SELECT x FROM nowhere"))
    assert answer.status == 400 and "no such table" in answer.body["error"]


def serve(store: FakeStore, requests: list[tuple[str, bytes]], token: str | None = TOKEN) -> list[tuple[int, Any]]:
    """Send POST requests, with `token` as the bearer, to the store service's app on a loopback test server."""
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"

    async def run() -> list[tuple[int, Any]]:
        executors = Executors(ThreadPoolExecutor(max_workers=2), ThreadPoolExecutor(max_workers=1))
        try:
            async with TestClient(TestServer(build_app(StorePages(store, TOKEN, SCHEMA), executors))) as client:
                answers = []
                for path, payload in requests:
                    response = await client.post(path, data=payload, headers=headers)
                    answers.append((response.status, await response.json()))
                return answers
        finally:
            executors.shutdown()

    return asyncio.run(run())


def test_the_store_service_serves_both_pages_and_takes_batches_over_one_mebibyte() -> None:
    store = FakeStore([(1, "a")])
    big = [(f"event-{n}", "x" * 1000) for n in range(2000)]
    answers = serve(
        store,
        [
            ("/leadflow/query", body(sql="SELECT 1, 'a'")),
            ("/leadflow/insert", insert_body("events", ("id", "source"), big)),
            ("/leadflow/insert", insert_body("system.users", ["name"], [("root",)])),
        ],
    )
    assert answers[0] == (200, {"rows": [[1, "a"]]})
    assert answers[1] == (200, {"inserted": 2000})
    assert answers[2][0] == 400
    assert len(store.inserts) == 1 and len(store.inserts[0][1]) == 2000


@pytest.mark.parametrize("token", [None, "", "t" * 42, "T" * 43, "t" * 44, "Basic " + "t" * 43])
def test_without_the_token_both_pages_answer_401_and_touch_nothing(token: str | None) -> None:
    store = FakeStore([(1, "a")])
    run = insert_body("store_runs", STORE_RUN_COLUMNS, [(T, "live", None)])
    answers = serve(store, [("/leadflow/query", body(sql="SELECT 1")), ("/leadflow/insert", run)], token=token)
    assert [status for status, _ in answers] == [401, 401]
    assert "Authorization: Bearer" in answers[0][1]["error"]
    assert store.queries == [] and store.inserts == []


def test_the_token_is_compared_as_the_whole_header() -> None:
    pages = StorePages(FakeStore(), TOKEN, SCHEMA)
    assert pages.authorized(f"Bearer {TOKEN}")
    assert not pages.authorized(f"bearer {TOKEN}") and not pages.authorized(f"Bearer {TOKEN} ")
    assert not pages.authorized("Bearer \u00e9" + TOKEN[1:]) and not pages.authorized(None)
