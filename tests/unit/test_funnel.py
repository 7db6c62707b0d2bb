"""Funnel maths of the report (contract §4): period ratios, cohort shares and report windows."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboards import queries
from pipelines.core import lifecycle
from pipelines.core.funnel import PAIRS, cohort, conversion, ratio, window_bounds
from schemas import events

BERLIN = ZoneInfo("Europe/Berlin")
STAGE_COUNTS = ("visits", "lead", "mql", "sal", "sql", "opportunity", "customer")


def test_pairs_are_the_contract_pairs_in_funnel_order() -> None:
    assert PAIRS == (
        ("visit_to_lead", "visits", "lead"),
        ("lead_to_mql", "lead", "mql"),
        ("mql_to_sal", "mql", "sal"),
        ("sal_to_sql", "sal", "sql"),
        ("sql_to_opportunity", "sql", "opportunity"),
        ("opportunity_to_customer", "opportunity", "customer"),
    )


@pytest.mark.parametrize(
    ("numerator", "divisor", "expected"),
    [
        (0, 0, None),
        (5, 0, None),
        (0, 5, 0.0),
        (1, 3, 0.333333),
        (2, 3, 0.666667),
        (1, 7, 0.142857),
        (3, 2, 1.5),
        (7, 1, 7.0),
        (1, 10_000_000, 0.0),
        (1, 2_000_000, 0.0),
        (1, 1_000_000, 0.000001),
    ],
)
def test_ratio(numerator: int, divisor: int, expected: float | None) -> None:
    assert ratio(numerator, divisor) == expected


def test_conversion_is_each_next_count_over_the_previous() -> None:
    counts = dict(zip(STAGE_COUNTS, (1000, 20, 8, 0, 3, 3, 4), strict=True))
    assert conversion(counts) == {
        "visit_to_lead": 0.02,
        "lead_to_mql": 0.4,
        "mql_to_sal": 0.0,
        "sal_to_sql": None,
        "sql_to_opportunity": 1.0,
        "opportunity_to_customer": 1.333333,
    }


def test_conversion_of_nothing_is_all_none() -> None:
    assert set(conversion(dict.fromkeys(STAGE_COUNTS, 0)).values()) == {None}


def test_cohort_is_the_share_that_went_on() -> None:
    reached = {name: (3, 1) for name, _, _ in PAIRS} | {"visit_to_lead": (0, 0), "sal_to_sql": (4, 4)}
    shares = cohort(reached)
    assert shares["visit_to_lead"] is None
    assert shares["sal_to_sql"] == 1.0
    assert shares["lead_to_mql"] == 0.333333
    assert list(shares) == [name for name, _, _ in PAIRS]


def test_a_day_in_berlin_in_winter_starts_at_23_utc() -> None:
    start, end = window_bounds(date(2026, 11, 2), date(2026, 11, 3), BERLIN)
    assert (start, end) == (datetime(2026, 11, 1, 23, tzinfo=UTC), datetime(2026, 11, 2, 23, tzinfo=UTC))
    assert start.utcoffset() == timedelta(0)


def test_the_day_summer_time_ends_in_berlin_has_25_hours() -> None:
    start, end = window_bounds(date(2026, 10, 25), date(2026, 10, 26), BERLIN)
    assert start == datetime(2026, 10, 24, 22, tzinfo=UTC)
    assert end == datetime(2026, 10, 25, 23, tzinfo=UTC)
    assert end - start == timedelta(hours=25)


def test_the_day_summer_time_starts_in_berlin_has_23_hours() -> None:
    start, end = window_bounds(date(2026, 3, 29), date(2026, 3, 30), BERLIN)
    assert end - start == timedelta(hours=23)


def test_a_window_across_the_change_counts_real_hours() -> None:
    start, end = window_bounds(date(2026, 10, 1), date(2026, 11, 1), BERLIN)
    assert end - start == timedelta(days=31, hours=1)


def test_a_utc_window_is_whole_days() -> None:
    start, end = window_bounds(date(2026, 10, 25), date(2026, 10, 27), ZoneInfo("UTC"))
    assert (start, end) == (datetime(2026, 10, 25, tzinfo=UTC), datetime(2026, 10, 27, tzinfo=UTC))


@pytest.mark.parametrize(
    ("start", "end"), [(date(2026, 11, 2), date(2026, 11, 2)), (date(2026, 11, 3), date(2026, 11, 2))]
)
def test_an_empty_or_reversed_window_is_rejected(start: date, end: date) -> None:
    with pytest.raises(ValueError, match="must be after"):
        window_bounds(start, end, BERLIN)


def test_the_funnel_is_written_once_in_the_events_schema() -> None:
    assert (
        lifecycle.FUNNEL
        == tuple(s.value for s in events.FUNNEL)
        == ("lead", "mql", "sal", "sql", "opportunity", "customer")
    )
    assert queries.FUNNEL is lifecycle.FUNNEL and [b for _, _, b in PAIRS] == ["lead", *lifecycle.FUNNEL[1:]]
