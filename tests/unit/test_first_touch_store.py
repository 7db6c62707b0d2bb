"""A lead's stored first touch (lead_first_touches) on chDB: the earliest candidate, whatever the order and repeats of
the inserts that bring them, equal to grouping every candidate at query time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import clickhouse_connect
import pytest

from pipelines.core.rows import FIRST_TOUCH_COLUMNS
from pipelines.core.sla import Judge
from pipelines.replay import replay_file
from pipelines.store.client import ClickHouseStore
from services.simulate import SimulationConfig, write_jsonl
from tests.unit.test_store_ddl import GROUPED_FIRST_TOUCH

T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)


def _touch(lead: str, visitor: str, source: str, visit: str, ms: int, campaign: str) -> tuple[object, ...]:
    at = T0 + timedelta(milliseconds=ms)
    return (lead, visitor, source, visit, at, f"https://x.test/{visit}", "", "google", "cpc", campaign)


@pytest.fixture
def store(tmp_path: Path) -> ClickHouseStore:
    """A new embedded store with the DDL applied."""
    store = ClickHouseStore(clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store")))
    store.apply_ddl()
    return store


def _stored(store: ClickHouseStore) -> list[tuple[object, ...]]:
    return sorted(store.query("SELECT * FROM lead_first_touch"))


def _grouped(store: ClickHouseStore) -> list[tuple[object, ...]]:
    return sorted(store.query(f"SELECT * FROM ({GROUPED_FIRST_TOUCH})"))


def test_the_earliest_candidate_wins_in_any_order_of_inserts(store: ClickHouseStore) -> None:
    batches = [
        [_touch("lead-1", "v-3", "web", "c", 5_000, "late"), _touch("lead-2", "v-9", "web", "z", 0, "only")],
        [_touch("lead-1", "v-2", "web", "b", 0, "tie-second")],  # same instant as v-1's: (source, id) decide
        [_touch("lead-1", "v-1", "web", "a", 0, "first"), _touch("lead-1", "v-3", "web", "c", 5_000, "late")],
        [_touch("lead-1", "v-2", "web", "b", 0, "tie-second")],  # a repeat changes nothing
    ]
    for rows in batches:  # each insert its own part: FINAL folds what merges have not yet
        store.insert("first_touch_candidates", rows, FIRST_TOUCH_COLUMNS)
    stored = _stored(store)
    assert [(row[0], row[1], row[7]) for row in stored] == [("lead-1", "v-1", "first"), ("lead-2", "v-9", "only")]
    assert stored == _grouped(store)
    # a query reading some of the fields gets them from the same candidate (a subcolumn read with FINAL would not)
    assert store.query("SELECT utm_campaign FROM lead_first_touch ORDER BY lead_id") == [("first",), ("only",)]
    assert store.query("SELECT visitor_id FROM lead_first_touch WHERE lead_id = 'lead-1'") == [("v-1",)]
    store.close()


def test_a_replay_fills_the_stored_first_touch(store: ClickHouseStore, tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    write_jsonl(SimulationConfig(visitors=80), events)
    replay_file(events, store, Judge([]))
    stored = _stored(store)
    assert len(stored) > 5 and stored == _grouped(store)
    store.close()
