"""Time to convert (contract §4) on a real chDB store: every figure equals a brute-force count over random histories."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given

from pipelines.core.timing import BINS, bin_of, seconds, time_line
from pipelines.store.client import ClickHouseStore
from services.report import _cohorts, build_report
from services.report_maturity import mature_before, window_days
from services.report_sql import sql_time
from services.report_timing import by_bin, by_month, by_owner, by_source, time_to_convert
from tests.unit.funnel_histories import (
    DEC_1,
    NOV_1,
    PAIR_NAMES,
    PROPERTY,
    Lead,
    cases,
    fill,
    first_touch,
    line,
    members,
    milliseconds,
    open_store,
)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClickHouseStore]:
    """One embedded store for the module; each example replaces its leads."""
    opened = open_store(tmp_path_factory.mktemp("timing") / "store")
    yield opened
    opened.close()


def _params(as_of: datetime) -> dict[str, Any]:
    windows = mature_before(as_of, window_days(None))
    return {"start": sql_time(NOV_1), "end": sql_time(DEC_1), "as_of": sql_time(as_of), "tz": "UTC", **windows}


def _converted(history: tuple[Lead, ...], as_of: datetime) -> Iterator[tuple[str, Lead, datetime, int]]:
    """(pair, lead, entered, milliseconds to convert) of every member of November that went on by as_of."""
    for name, lead, entered, went_on in members(history, NOV_1, DEC_1):
        if went_on is not None and went_on <= as_of:
            yield name, lead, entered, milliseconds(went_on, entered)


@PROPERTY
@given(cases)
def test_time_to_convert_is_the_cohorts_that_went_on(store: ClickHouseStore, case: tuple[Any, datetime]) -> None:
    history, as_of = case
    fill(store, history)
    times: dict[str, list[int]] = defaultdict(list)
    for name, _, _, ms in _converted(history, as_of):
        times[name].append(ms)
    section = time_to_convert(store, _params(as_of))
    assert section == {name: line(times[name]) for name in PAIR_NAMES}
    cohorts = _cohorts(store, _params(as_of))
    assert {name: section[name]["n"] for name in PAIR_NAMES} == {name: cohorts[name][1] for name in PAIR_NAMES}


@PROPERTY
@given(cases)
def test_the_breakdowns_and_bins_split_the_same_members(store: ClickHouseStore, case: tuple[Any, datetime]) -> None:
    history, as_of = case
    fill(store, history)
    sources: dict[str, Any] = {n: defaultdict(lambda: defaultdict(list)) for n in PAIR_NAMES}
    owners: dict[str, dict[str, list[int]]] = {n: defaultdict(list) for n in PAIR_NAMES}
    bins: dict[str, dict[str, int]] = {n: dict.fromkeys((b for b, _ in BINS), 0) for n in PAIR_NAMES}
    for name, lead, _, ms in _converted(history, as_of):
        source, campaign = first_touch(lead)
        sources[name][source][campaign].append(ms)
        owners[name][lead.owner or "(no owner)"].append(ms)
        bins[name][bin_of(ms)] += 1
    params = _params(as_of)
    assert by_source(store, params) == {
        n: {s: {c: line(v) for c, v in sorted(cs.items())} for s, cs in sorted(sources[n].items())} for n in PAIR_NAMES
    }
    assert by_owner(store, params) == {n: {o: line(v) for o, v in sorted(owners[n].items())} for n in PAIR_NAMES}
    assert by_bin(store, params) == bins


@PROPERTY
@given(cases)
def test_each_month_of_the_trend_is_that_months_cohorts(store: ClickHouseStore, case: tuple[Any, datetime]) -> None:
    history, as_of = case
    fill(store, history)
    params = {**_params(as_of), "start": sql_time(datetime(2026, 10, 1, tzinfo=NOV_1.tzinfo))}
    months = by_month(store, params)
    expected: dict[str, dict[str, list[int]]] = defaultdict(lambda: {n: [] for n in PAIR_NAMES})
    for lead in history:
        for episode in lead.episodes:
            times = dict(episode)
            for name in PAIR_NAMES:
                a, b = name.split("_to_")
                if a in times and b in times and times[b] <= as_of and times[a] < DEC_1 and times[a].month >= 10:
                    expected[f"{times[a]:%Y%m}"][name].append(milliseconds(times[b], times[a]))
    assert months == {m: {n: line(v) for n, v in lines.items()} for m, lines in expected.items()}
    if "202611" in months:
        assert months["202611"] == time_to_convert(store, _params(as_of))


def test_the_report_carries_the_sections(store: ClickHouseStore) -> None:
    lead = Lead("L0", "rep-1", (), ((("lead", NOV_1), ("mql", NOV_1.replace(hour=2))),))
    fill(store, (lead,))
    report = build_report(store, NOV_1.date(), DEC_1.date(), [], DEC_1, DEC_1)
    assert report["time_to_convert"]["lead_to_mql"] == {"n": 1, "p50_seconds": 7200.0, "p90_seconds": 7200.0}
    assert report["time_to_convert"]["mql_to_sal"] == {"n": 0, "p50_seconds": None, "p90_seconds": None}
    assert report["time_to_convert_by_owner"]["lead_to_mql"] == {"rep-1": report["time_to_convert"]["lead_to_mql"]}
    assert report["time_to_convert_by_source"]["lead_to_mql"]["(direct)"]["(none)"]["n"] == 1
    assert report["time_to_convert_histogram"]["lead_to_mql"]["1h-1d"] == 1


@pytest.mark.parametrize(
    ("ms", "expected"),
    [(0, "<1h"), (3_599_999, "<1h"), (3_600_000, "1h-1d"), (86_400_000, "1d-3d"), (90 * 86_400_000, ">=90d")],
)
def test_bins_are_half_open(ms: int, expected: str) -> None:
    assert bin_of(ms) == expected


def test_percentiles_keep_tenths_of_a_millisecond() -> None:
    assert seconds(1000.5) == 1.0005 and seconds(1234.1000000001) == 1.2341 and seconds(7.0) == 0.007
    assert time_line(0, []) == {"n": 0, "p50_seconds": None, "p90_seconds": None}
