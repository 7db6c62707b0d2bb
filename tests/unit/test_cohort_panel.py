"""The cohort panel's stage pairs on a real chDB store (the `went_on_at` each snapshot row stores beside its entries),
against a brute-force count over random histories and ranges, in a new store and in one from before the column."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given

from dashboards.macros import expand_clickhouse
from dashboards.queries import cohort_conversion
from pipelines.core.funnel import ratio
from pipelines.core.lifecycle import FUNNEL
from pipelines.store.client import ClickHouseStore
from tests.unit.funnel_histories import NOV_1, OCT_1, PAIR_NAMES, PROPERTY, Lead, cases, fill, members, open_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    """One embedded store for the module; each example replaces its leads."""
    opened = open_store(tmp_path_factory.mktemp("cohort-panel") / "store")
    yield opened
    opened.close()


def _expected(history: Sequence[Lead], start: datetime, end: datetime) -> dict[str, float | None]:
    """Each pair's share of the range's members whose episode entered the next stage by the range's end."""
    counts = dict.fromkeys(PAIR_NAMES, (0, 0))
    for name, _, _, went_on in members(history, start, end):
        entered, gone = counts[name]
        counts[name] = (entered + 1, gone + (went_on is not None and went_on <= end))
    return {name: ratio(gone, entered) for name, (entered, gone) in counts.items()}


def _panel(store: ClickHouseStore, start: datetime, end: datetime) -> dict[str, float | None]:
    row = store.query(expand_clickhouse(cohort_conversion(), start, end, 3600))[0]
    return {name: None if share is None else round(share, 6) for name, share in zip(PAIR_NAMES, row[1:], strict=True)}


def _window(as_of: datetime) -> tuple[datetime, datetime]:
    return (NOV_1 if as_of > NOV_1 else OCT_1 - timedelta(days=1)), as_of


@PROPERTY
@given(cases)
def test_the_stage_pairs_count_the_members_that_went_on_by_the_end(
    store: ClickHouseStore, case: tuple[Any, datetime]
) -> None:
    history, as_of = case
    fill(store, history)
    start, end = _window(as_of)
    assert _panel(store, start, end) == _expected(history, start, end)


@PROPERTY
@given(cases)
def test_each_entry_stores_when_its_episode_entered_the_next_funnel_stage(
    store: ClickHouseStore, case: tuple[Any, datetime]
) -> None:
    history, _ = case
    fill(store, history)
    stored = dict(store.query("SELECT lead_id, went_on_at FROM lead_snapshots"))
    for lead in history:
        following = dict(itertools.pairwise(FUNNEL))
        expected = [dict(episode).get(following.get(stage, "")) for episode in lead.episodes for stage, _ in episode]
        assert [None if t is None else t.replace(tzinfo=UTC) for t in stored[lead.lead_id]] == expected


@PROPERTY
@given(cases)
def test_a_store_from_before_the_column_counts_the_same_once_its_ddl_is_applied(
    store: ClickHouseStore, case: tuple[Any, datetime]
) -> None:
    history, as_of = case
    store._client.command("ALTER TABLE lead_snapshots DROP COLUMN IF EXISTS went_on_at")
    fill(store, history)  # parts written without the column
    store.apply_ddl()
    start, end = _window(as_of)
    assert _panel(store, start, end) == _expected(history, start, end)
