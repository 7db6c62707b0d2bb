"""The cohort panel's visitors (visitor_months) on chDB: the distinct visitors of any range and those tied by a form
by its end, exact whatever the months, the order and the repeats of the inserts that bring the visits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import clickhouse_connect
import pytest

from dashboards.macros import expand_clickhouse
from dashboards.queries import cohort_conversion
from pipelines.core.rows import EVENT_COLUMNS
from pipelines.store.client import ClickHouseStore

OCT_20 = datetime(2026, 10, 20, tzinfo=UTC)
VISIT, FORM = "web.visit", "web.form_submitted"


def _event(kind: str, visitor: str, at: datetime, n: int) -> tuple[object, ...]:
    return ("web", f"e{n}", kind, at, visitor, "", visitor, "{}", "leadflow.web", 0, n)


def _history(seed: int) -> list[tuple[object, ...]]:
    """Visits of 40 visitors over three months (some on a range's edges), a few form fills, some visits twice."""
    rng = random.Random(seed)
    rows = []
    for n in range(300):
        at = OCT_20 + timedelta(milliseconds=rng.randrange(70 * 86_400_000))
        rows.append(_event(VISIT if n % 10 else FORM, f"v{rng.randrange(40)}", at, n))
    edges = [_event(VISIT, "v-edge", OCT_20 + timedelta(days=d), 1000 + d) for d in (12, 30)]
    return rows + edges + rows[:50]  # the repeats: a re-delivered event keeps its id


def _expected(rows: list[tuple[object, ...]], start: datetime, end: datetime) -> Fraction | None:
    visitors = {r[4] for r in rows if r[2] == VISIT and start <= r[3] < end}  # type: ignore[operator]
    tied = {r[4] for r in rows if r[2] == FORM and r[3] <= end}  # type: ignore[operator]
    return Fraction(len(visitors & tied), len(visitors)) if visitors else None


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_share_of_visitors_tied_by_a_form_is_exact_over_any_range(tmp_path: Path, seed: int) -> None:
    store = ClickHouseStore(clickhouse_connect.get_client(interface="chdb", path=str(tmp_path / "store")))
    store.apply_ddl()
    rows = _history(seed)
    random.Random(seed).shuffle(rows)
    for part in range(0, len(rows), 37):  # inserts of their own: parts not merged hold a visitor's month twice
        store.insert("events", rows[part : part + 37], EVENT_COLUMNS)
    rng = random.Random(seed)
    ranges = [(OCT_20 + timedelta(days=12), OCT_20 + timedelta(days=30))]  # v-edge's visits: the start, not the end
    for _ in range(12):
        start = OCT_20 + timedelta(hours=rng.randrange(-48, 60 * 24))
        ranges.append((start, start + timedelta(hours=rng.randrange(1, 80 * 24))))
    for start, end in ranges:
        share = store.query(expand_clickhouse(cohort_conversion(), start, end, 3600))[0][0]  # visit_to_lead
        expected = _expected(rows, start, end)
        assert share == (None if expected is None else pytest.approx(float(expected), abs=1e-12)), (start, end)
    store.close()
