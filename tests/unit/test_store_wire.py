"""The store pages' JSON encoding: every value the sink writes or a query returns comes back with its type."""

from __future__ import annotations

import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.core.lead import snapshot
from pipelines.core.model import Origin
from pipelines.core.rows import SNAPSHOT_COLUMNS
from pipelines.core.sla import BREACHED, SlaEvent
from pipelines.sink import RowBatch
from pipelines.store.wire import decode_parameters, decode_value, encode_parameters, encode_row, insert_bodies
from tests.unit.factories import parse, stage_event
from tests.unit.sla_cases import JUDGE, LEAD, berlin, human, mql_at
from tests.unit.test_sink_batch import full_batch


def over_json(value: Any) -> Any:
    """Encode, send as JSON text (standard JSON only), decode."""
    from pipelines.store.wire import encode_value

    return decode_value(json.loads(json.dumps(encode_value(value), allow_nan=False)))


def same(a: Any, b: Any) -> bool:
    """Equal and of the same type all the way down; datetimes by wall time and UTC offset, Decimals exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, datetime):
        return (a.replace(tzinfo=None), a.utcoffset()) == (b.replace(tzinfo=None), b.utcoffset())
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, Decimal):
        return str(a) == str(b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


naive_or_aware = st.datetimes(timezones=st.none() | st.just(UTC) | st.timezones())
leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | naive_or_aware
    | st.dates()
    | st.decimals(allow_nan=False)
    | st.uuids()
)
keys = st.text() | st.integers() | st.dates()
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple) | st.dictionaries(keys, inner, max_size=4)
    ),
    max_leaves=20,
)


@given(values)
@settings(max_examples=400)
def test_every_value_comes_back_with_its_type(value: Any) -> None:
    assert same(over_json(value), value)


def test_non_finite_floats_are_tagged_not_written_as_bare_nan() -> None:
    for value in (math.inf, -math.inf):
        assert same(over_json(value), value)
    assert math.isnan(over_json(math.nan))


def test_tuples_stay_tuples_and_lists_stay_lists() -> None:
    row = [[(1, "mql", datetime(2026, 11, 2, 9, tzinfo=UTC))], ("a", ["b"])]
    assert same(over_json(row), row)


def sink_rows() -> list[tuple[str, tuple[Any, ...]]]:
    """Rows of every table the sink writes: events, snapshots with clocks, first touches, dead letters, SLA."""
    batch = full_batch()
    raws = [
        mql_at(berlin(2026, 11, 2, 10)),
        human(berlin(2026, 11, 2, 11)),
        stage_event(LEAD, "sql", berlin(2026, 11, 3, 10)),
    ]
    with_clocks = RowBatch(JUDGE)
    for number, raw in enumerate(raws):
        with_clocks.add_event(parse(raw), Origin("leadflow.stages", 0, number))
    from tests.unit.factories import lead_state

    state = lead_state(raws)
    with_clocks.add_lead(state)
    clock = snapshot(state, JUDGE).clocks[-1]
    with_clocks.add_sla_events([SlaEvent(BREACHED, LEAD, clock, berlin(2026, 11, 9, 10))], datetime.now(UTC))
    tables = [*batch.tables(), *with_clocks.tables()]
    assert {"events", "lead_snapshots", "first_touch_candidates", "dead_letters", "sla_events"} <= {
        t for t, _, _ in tables
    }
    return [(table, row) for table, rows, _ in tables for row in rows]


def test_the_rows_the_sink_writes_come_back_exactly() -> None:
    rows = sink_rows()
    snapshots = [row for table, row in rows if table == "lead_snapshots"]
    assert any(row[SNAPSHOT_COLUMNS.index("clocks")] for row in snapshots), "a snapshot with clocks"
    for table, row in rows:
        back = [decode_value(v) for v in json.loads(json.dumps(encode_row(row)))]
        assert same(back, list(row)), table


def test_query_parameters_keep_their_types() -> None:
    parameters = {"start": datetime(2026, 11, 2, tzinfo=UTC), "day": date(2026, 11, 2), "ids": ("a", "b"), "n": 3}
    assert same(decode_parameters(json.loads(json.dumps(encode_parameters(parameters)))), parameters)


def test_old_datetime_tag_still_reads() -> None:
    assert decode_value({"$dt": "2026-11-02T08:00:00+00:00"}) == datetime(2026, 11, 2, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    "bad",
    [
        {"a": 1},
        {"$dt": "x", "$dec": "1"},
        {"$nope": 1},
        {"$dec": "1,5"},
        {"$dt": 5},
        {"$float": "big"},
        {"$bytes": "*"},
    ],
)
def test_objects_that_are_not_one_known_tag_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        decode_value(bad)


def test_a_type_the_store_never_holds_is_refused() -> None:
    from pipelines.store.wire import encode_value

    with pytest.raises(TypeError, match="timedelta"):
        encode_value(timedelta(seconds=1))


rows_strategy = st.lists(st.lists(st.text(max_size=300) | st.integers(), min_size=2, max_size=2), max_size=60)


@given(rows_strategy, st.integers(min_value=50, max_value=3000))
def test_insert_bodies_stay_under_the_limit_and_keep_every_row_in_order(rows: list[list[Any]], limit: int) -> None:
    bodies = list(insert_bodies("events", ("source", "id"), rows, limit))
    sent: list[list[Any]] = []
    for body in bodies:
        request = json.loads(body)
        assert request["table"] == "events" and request["columns"] == ["source", "id"]
        assert len(body) <= limit or len(request["rows"]) == 1
        sent.extend(request["rows"])
    assert sent == rows
    assert bool(bodies) == bool(rows)
