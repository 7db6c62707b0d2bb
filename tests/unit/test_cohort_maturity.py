"""Cohorts and their maturity (contract §4, docs/reports.md) on a real chDB store, against a brute-force count over
random histories and random conversion windows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.core.funnel import ratio
from pipelines.core.model import Event, Origin
from pipelines.core.sla import Judge
from pipelines.core.validate import parse_event
from pipelines.sink import RowBatch
from pipelines.store.client import ClickHouseStore
from schemas.agreement import MATURITY_DAYS, ConversionWindows
from services.report import _cohorts
from services.report_maturity import cohort_mature, cohort_sizes, mature_before, mature_visitors, window_days
from services.report_sql import sql_time
from tests.unit.factories import form_event, visit_event
from tests.unit.funnel_histories import DEC_1, NOV_1, PAIR_NAMES, PROPERTY, cases, fill, members, open_store
from tests.unit.test_planning import H2

windows = st.fixed_dictionaries({name: st.integers(1, 45) for name in ("visit_to_lead", *PAIR_NAMES)})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    """One embedded store for the module; each example replaces its leads."""
    opened = open_store(tmp_path_factory.mktemp("maturity") / "store")
    yield opened
    opened.close()


@PROPERTY
@given(cases, windows)
def test_cohorts_count_members_mature_ones_and_who_went_on(
    store: ClickHouseStore, case: tuple[Any, datetime], days: dict[str, int]
) -> None:
    history, as_of = case
    fill(store, history)
    expected = dict.fromkeys(PAIR_NAMES, (0, 0, 0, 0))
    for name, _, entered, went_on in members(history, NOV_1, DEC_1):
        gone = went_on is not None and went_on <= as_of
        mature = entered + timedelta(days=days[name]) <= as_of
        counts = expected[name]
        expected[name] = (counts[0] + 1, counts[1] + gone, counts[2] + mature, counts[3] + (mature and gone))
    params = {"start": sql_time(NOV_1), "end": sql_time(DEC_1), "as_of": sql_time(as_of), **mature_before(as_of, days)}
    found = _cohorts(store, params)
    assert found == expected
    shares = cohort_mature({"visit_to_lead": (0, 0, 0, 0), **found})
    assert shares == {"visit_to_lead": None, **{n: ratio(c[3], c[2]) for n, c in expected.items()}}


def test_the_windows_come_from_the_agreement_else_a_month() -> None:
    assert window_days(None) == dict.fromkeys(("visit_to_lead", *PAIR_NAMES), MATURITY_DAYS)
    assert list(ConversionWindows.model_fields) == ["visit_to_lead", *PAIR_NAMES]
    longer = H2.model_copy(update={"conversion_windows": ConversionWindows(opportunity_to_customer=90)})
    assert window_days(longer)["opportunity_to_customer"] == 90 and window_days(longer)["lead_to_mql"] == 30
    sizes = cohort_sizes({"lead_to_mql": (5, 3, 2, 1)}, window_days(longer))
    assert sizes == {"lead_to_mql": {"entered": 5, "went_on": 3, "mature": 2, "mature_went_on": 1, "window_days": 30}}


def test_a_window_of_zero_days_is_refused() -> None:
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        ConversionWindows(lead_to_mql=0)


Visitor = tuple[list[datetime], datetime | None]  # visit times, form time


@st.composite
def visitors(draw: st.DrawFn) -> tuple[list[Visitor], datetime, dict[str, int]]:
    """Visitors with visits around November (some before or after it) and maybe a form; an as_of; the windows."""
    instants = st.integers(-3 * 86_400, 33 * 86_400).map(lambda s: NOV_1 + timedelta(seconds=s))
    drawn = draw(st.lists(st.tuples(st.lists(instants, min_size=1, max_size=4), st.none() | instants), max_size=12))
    days = draw(st.integers(1, 30))
    # as_of often lies between a visitor's first and last visit in the window, a window later: where it matters
    later = st.sampled_from([t + timedelta(days=days) for visits, _ in drawn for t in visits] or [DEC_1])
    jitter = timedelta(milliseconds=draw(st.sampled_from([-1, 0, 1])))
    as_of = draw(st.one_of(later.map(lambda t: t + jitter), instants))
    return drawn, as_of, {"visit_to_lead": days}


@PROPERTY
@given(visitors())
def test_visitors_are_mature_once_their_first_visit_in_the_window_is_a_window_old(
    store: ClickHouseStore, case: tuple[list[Visitor], datetime, dict[str, int]]
) -> None:
    drawn, as_of, days = case
    store._client.command("TRUNCATE TABLE events")
    batch = RowBatch(Judge([]))
    for n, (visits, form) in enumerate(drawn):
        raws = [visit_event(f"v{n}", t, id=f"visit-{n}-{k}") for k, t in enumerate(visits)]
        raws += [form_event(f"lead-{n}", f"v{n}", form, id=f"form-{n}")] if form else []
        for offset, raw in enumerate(raws):
            event = parse_event(raw)
            assert isinstance(event, Event)
            batch.add_event(event, Origin("test", 0, n * 10 + offset))
    batch.write(store)
    mature = tied = 0
    for visits, form in drawn:
        inside = [t for t in visits if NOV_1 <= t < DEC_1]
        if inside and min(inside) + timedelta(days=days["visit_to_lead"]) <= as_of:
            mature += 1
            tied += form is not None and form <= as_of
    params = {"start": sql_time(NOV_1), "end": sql_time(DEC_1), "as_of": sql_time(as_of)}
    assert mature_visitors(store, {**params, **mature_before(as_of, {**dict.fromkeys(PAIR_NAMES, 1), **days})}) == (
        mature,
        tied,
    )
