"""RowBatch: rows coalesced per idempotency key and per lead, ready for the store."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from pipelines.core.identity import apply_link, apply_visit
from pipelines.core.model import Invalid, Origin
from pipelines.core.rows import DEAD_LETTER_COLUMNS, EVENT_COLUMNS, FIRST_TOUCH_COLUMNS, SNAPSHOT_COLUMNS
from pipelines.sink import RowBatch
from tests.unit.factories import at, deal_event, form_event, lead_state, parse, stage_event, visit_event

ORIGIN = Origin("leadflow.stages", 3, 41)
RECEIVED = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)


class FakeStore:
    """Records inserts; fails on demand."""

    def __init__(self, fail_on: str | None = None) -> None:
        self.inserts: list[tuple[str, list[Sequence[Any]], tuple[str, ...]]] = []
        self.fail_on = fail_on

    def insert(self, table: str, rows: Sequence[Sequence[Any]], columns: Sequence[str]) -> None:
        if table == self.fail_on:
            raise RuntimeError(f"{table} is down")
        self.inserts.append((table, list(rows), tuple(columns)))


def full_batch() -> RowBatch:
    batch = RowBatch()
    form = parse(form_event("L1", "V1", at(0)))
    batch.add_event(form, Origin("leadflow.forms", 0, 1))
    batch.add_lead(lead_state([form_event("L1", "V1", at(0)), stage_event("L1", "sql", at(5))]))
    visitor, _ = apply_visit(None, parse(visit_event("V1", at(-5), utm_source="ads")))
    _, touches = apply_link(visitor, "V1", "L1")
    batch.add_first_touches(touches)
    batch.add_dead_letter(Invalid(b"\xffnot json", "not JSON: ..."), ORIGIN, RECEIVED)
    return batch


def test_the_same_event_added_twice_is_one_row() -> None:
    batch = RowBatch()
    event = parse(stage_event("L1", "mql", at(0)))
    batch.add_event(event, ORIGIN)
    batch.add_event(event, ORIGIN)
    batch.add_event(parse(stage_event("L1", "mql", at(0))), Origin("leadflow.stages", 3, 99))  # redelivered
    (table,) = batch.tables()
    assert table[0] == "events" and len(table[1]) == 1
    assert len(batch) == 1


def test_events_with_other_keys_are_other_rows() -> None:
    batch = RowBatch()
    batch.add_event(parse(stage_event("L1", "mql", at(0), id="e1")), ORIGIN)
    batch.add_event(parse(stage_event("L1", "mql", at(0), id="e1", source="/crm/salesforce")), ORIGIN)
    batch.add_event(parse(stage_event("L1", "mql", at(0), id="e2")), ORIGIN)
    assert len(batch.events) == 3


def test_of_two_states_of_a_lead_the_higher_revision_is_kept_whatever_the_order() -> None:
    older = lead_state([form_event("L1", "V1", at(0))])
    newer = lead_state([stage_event("L1", "mql", at(5))], older)
    for states in ((older, newer), (newer, older)):
        batch = RowBatch()
        for state in states:
            batch.add_lead(state)
        (table,) = batch.tables()
        assert table[0] == "lead_snapshots"
        (row,) = table[1]
        snapshot = dict(zip(SNAPSHOT_COLUMNS, row, strict=True))
        assert (snapshot["lead_id"], snapshot["revision"], snapshot["stage"]) == ("L1", 2, "mql")


def test_each_lead_keeps_its_own_latest_state() -> None:
    batch = RowBatch()
    batch.add_lead(lead_state([form_event("L1", "V1", at(0))]))
    batch.add_lead(lead_state([form_event("L2", "V2", at(0)), deal_event("L2", "won", at(3))]))
    rows = batch.tables()[0][1]
    assert sorted((r[0], r[1], r[3]) for r in rows) == [("L1", 1, "lead"), ("L2", 2, "customer")]


def test_a_snapshot_row_carries_entries_and_transitions() -> None:
    batch = RowBatch()
    batch.add_lead(lead_state([form_event("L1", "V1", at(0)), stage_event("L1", "sal", at(5), owner_id="rep-1")]))
    row = dict(zip(SNAPSHOT_COLUMNS, batch.tables()[0][1][0], strict=True))
    assert row["entries"] == [(1, "lead", at(0)), (1, "mql", at(5)), (1, "sal", at(5))]
    assert [(t[3], t[4], t[5], t[6]) for t in row["transitions"]] == [
        ("", "lead", 1, "created"),
        ("lead", "sal", 1, "forward"),
    ]
    assert (row["episode_open"], row["owner_id"], row["visitor_ids"], row["last_event_at"]) == (
        1,
        "rep-1",
        ["V1"],
        at(5),
    )


def test_table_rows_have_as_many_fields_as_columns() -> None:
    tables = full_batch().tables()
    expected = {
        "events": EVENT_COLUMNS,
        "lead_snapshots": SNAPSHOT_COLUMNS,
        "first_touch_candidates": FIRST_TOUCH_COLUMNS,
        "dead_letters": DEAD_LETTER_COLUMNS,
    }
    assert {name: columns for name, _, columns in tables} == expected
    for name, rows, columns in tables:
        assert rows, name
        assert all(len(row) == len(columns) for row in rows), name
        assert len(set(columns)) == len(columns), name


def test_first_touches_and_dead_letters_are_coalesced_by_key() -> None:
    batch = full_batch()
    visitor, _ = apply_visit(None, parse(visit_event("V1", at(-5), utm_source="ads")))
    _, touches = apply_link(visitor, "V1", "L1")
    batch.add_first_touches(touches)
    batch.add_dead_letter(Invalid(b"\xffnot json", "not JSON: ..."), ORIGIN, RECEIVED)
    assert (len(batch.first_touches), len(batch.dead_letters)) == (1, 1)
    dead = dict(zip(DEAD_LETTER_COLUMNS, batch.tables()[-1][1][0], strict=True))
    assert dead["raw"] == "\ufffdnot json" and (dead["topic"], dead["partition"], dead["offset"]) == (
        "leadflow.stages",
        3,
        41,
    )


def test_an_empty_batch_has_no_tables() -> None:
    batch = RowBatch()
    assert (len(batch), batch.tables()) == (0, [])
    assert batch.write(FakeStore()) == {}


def test_write_inserts_every_table_and_counts_rows() -> None:
    store = FakeStore()
    batch = full_batch()
    assert batch.write(store) == {"events": 1, "lead_snapshots": 1, "first_touch_candidates": 1, "dead_letters": 1}
    assert [(table, len(rows), columns) for table, rows, columns in store.inserts] == [
        (name, len(rows), columns) for name, rows, columns in batch.tables()
    ]


def test_a_failed_write_raises_and_the_batch_can_be_written_again() -> None:
    batch = full_batch()
    with pytest.raises(RuntimeError, match="down"):
        batch.write(FakeStore(fail_on="lead_snapshots"))
    assert len(batch) == 4
    assert batch.write(FakeStore()) == {
        "events": 1,
        "lead_snapshots": 1,
        "first_touch_candidates": 1,
        "dead_letters": 1,
    }


def test_a_snapshot_derived_already_is_written_as_it_is_and_dropped_with_its_state() -> None:
    from dataclasses import replace

    from pipelines.core.lead import snapshot
    from pipelines.core.rows import to_snapshot_row

    older = lead_state([form_event("L1", "v1", at(0))])
    newer = lead_state([stage_event("L1", "mql", at(5))], older)
    marked = replace(snapshot(older), visitor_ids=("marked",))  # tells a reused snapshot from a derived one
    batch = RowBatch()
    batch.add_lead(older, marked)
    assert batch.tables()[0][1] == [to_snapshot_row(marked)]
    batch.add_lead(newer)
    assert batch.tables()[0][1] == [to_snapshot_row(snapshot(newer))]
