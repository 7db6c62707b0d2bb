"""The plan by month: exact needs per month against a brute force that walks the goal hour by hour.

The brute force knows nothing of intervals: it gives each hour of a share's period its part of a stage's plan,
moves the hour earlier by the stage's lags (whole hours), and counts the hours that fall in each month.
"""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from pipelines.core.lag_plan import (
    Need,
    day_position,
    lead_times,
    monthly_needs,
    months_spanned,
    stage_needs,
)
from pipelines.core.planning import PLAN_KEYS, RATE_NAMES, work_backwards
from tests.unit.funnel_histories import PROPERTY

HOURS = 24
BERLIN = ZoneInfo("Europe/Berlin")


def hours_ahead(lag_hours: dict[str, int]) -> dict[str, int]:
    """Per plan key, the hours between its entries and the customer, added by hand."""
    order = ["customer", "opportunity", "sql", "mql", "lead", "visits"]
    rates = ["opportunity_to_customer", "sql_to_opportunity", "mql_to_sql", "lead_to_mql", "visit_to_lead"]
    ahead, total = {"customer": 0}, 0
    for key, rate in zip(order[1:], rates, strict=True):
        total += lag_hours[rate]
        ahead[key] = total
    return ahead


def hours_per_month(first: date, days: int, back: int) -> Counter[tuple[int, int]]:
    """Count the hours of [first, first + days) moved `back` hours earlier, per (year, month) they fall in."""
    months: Counter[tuple[int, int]] = Counter()
    start = first.toordinal() * HOURS - back
    for hour in range(start, start + days * HOURS):
        day = date.fromordinal(hour // HOURS)
        months[(day.year, day.month)] += 1
    return months


def brute_months(
    plan: dict[str, int], first: date, days: int, lag_hours: dict[str, int]
) -> dict[tuple[int, int], dict[str, int]]:
    """Per month and key: ceil of the running need at the month's end less ceil of it at its start."""
    ahead = hours_ahead(lag_hours)
    result: dict[tuple[int, int], dict[str, int]] = {}
    for key in PLAN_KEYS:
        counted = hours_per_month(first, days, ahead[key])
        running = 0
        for month in sorted(counted):
            before = -(-plan[key] * running // (days * HOURS))
            running += counted[month]
            result.setdefault(month, dict.fromkeys(PLAN_KEYS, 0))[key] = (
                -(-plan[key] * running // (days * HOURS)) - before
            )
    return result


lag_hours_st = st.fixed_dictionaries({name: st.integers(0, 24 * 150) for name in RATE_NAMES})
plans = st.fixed_dictionaries({key: st.integers(0, 10**6) for key in PLAN_KEYS})
firsts = st.dates(date(2025, 1, 1), date(2028, 12, 31))


def fractions_of(lag_hours: dict[str, int]) -> dict[str, Fraction]:
    return {name: Fraction(hours, HOURS) for name, hours in lag_hours.items()}


@PROPERTY
@given(plan=plans, first=firsts, days=st.integers(1, 200), lag_hours=lag_hours_st)
def test_each_months_need_is_the_brute_force_and_the_totals_are_the_plans(
    plan: dict[str, int], first: date, days: int, lag_hours: dict[str, int]
) -> None:
    needs = stage_needs(plan, first, first + timedelta(days=days), fractions_of(lag_hours))
    months = months_spanned(needs.values())
    rows = monthly_needs([needs], months)
    brute = brute_months(plan, first, days, lag_hours)
    nothing = dict.fromkeys(PLAN_KEYS, 0)
    assert {(m.year, m.month): row for m, row in zip(months, rows, strict=True)} == {
        m: brute.get(m, nothing) for m in ((m.year, m.month) for m in months)
    }
    assert set(brute) <= {(m.year, m.month) for m in months}
    assert {key: sum(row[key] for row in rows) for key in PLAN_KEYS} == plan
    assert all(n >= 0 for row in rows for n in row.values())


@PROPERTY
@given(
    plans=st.lists(plans, min_size=2, max_size=3),
    first=firsts,
    days=st.lists(st.integers(1, 120), min_size=3, max_size=3),
    lag_hours=st.lists(lag_hours_st, min_size=3, max_size=3),
)
def test_shares_are_each_rounded_on_their_own_and_added(
    plans: list[dict[str, int]], first: date, days: list[int], lag_hours: list[dict[str, int]]
) -> None:
    shares, starts, start = [], [], first
    for plan, length, lags in zip(plans, days, lag_hours, strict=False):
        shares.append(stage_needs(plan, start, start + timedelta(days=length), fractions_of(lags)))
        starts.append(start)
        start += timedelta(days=length)
    months = months_spanned(n for share in shares for n in share.values())
    rows = monthly_needs(shares, months)
    expected: Counter[tuple[tuple[int, int], str]] = Counter()
    for plan, share_first, length, lags in zip(plans, starts, days, lag_hours, strict=False):
        for month, row in brute_months(plan, share_first, length, lags).items():
            expected.update({(month, key): n for key, n in row.items()})
    for month, row in zip(months, rows, strict=True):
        assert row == {key: expected[((month.year, month.month), key)] for key in PLAN_KEYS}
    assert {key: sum(row[key] for row in rows) for key in PLAN_KEYS} == {
        key: sum(p[key] for p in plans) for key in PLAN_KEYS
    }


def test_the_contract_goal_with_a_months_lag_before_the_customer() -> None:
    # 60 customers over 184 days from 2026-07-01; opportunities 30 days earlier: 240 over [06-01, 12-02)
    lags = dict.fromkeys(RATE_NAMES, Fraction(0)) | {"opportunity_to_customer": Fraction(30)}
    plan = work_backwards(1_200_000, 20_000, {"visit_to_lead": 0.02, "lead_to_mql": 0.4, "mql_to_sql": 0.5,
                                              "sql_to_opportunity": 0.6, "opportunity_to_customer": 0.25})  # fmt: skip
    needs = stage_needs(plan, date(2026, 7, 1), date(2027, 1, 1), lags)
    months = months_spanned(needs.values())
    assert months[0] == date(2026, 6, 1) and months[-1] == date(2026, 12, 1)
    rows = monthly_needs([needs], months)
    # June: all 30 of its days are in the span -> 240 * 30 / 184 = 39.13 -> 40
    assert rows[0]["opportunity"] == math.ceil(Fraction(240 * 30, 184)) == 40
    assert rows[0]["customer"] == 0 and rows[1]["customer"] == math.ceil(Fraction(60 * 31, 184)) == 11
    # June to November hold 183 days of the span, December one (12-01): the running need reaches 240 there
    assert rows[-1]["opportunity"] == 240 - math.ceil(Fraction(240 * 183, 184)) == 1


def test_lead_times_add_the_lags_after_each_stage() -> None:
    lags = {"visit_to_lead": Fraction(1), "lead_to_mql": Fraction(2), "mql_to_sql": Fraction(3),
            "sql_to_opportunity": Fraction(4), "opportunity_to_customer": Fraction(5)}  # fmt: skip
    assert lead_times(lags) == {"customer": 0, "opportunity": 5, "sql": 9, "mql": 12, "lead": 14, "visits": 15}


def test_an_instant_is_its_local_date_and_the_share_of_that_day_gone_by() -> None:
    noon = datetime(2026, 11, 2, 11, 0, tzinfo=UTC)  # 12:00 in Berlin (UTC+1)
    assert day_position(noon, BERLIN) == date(2026, 11, 2).toordinal() + Fraction(1, 2)
    # 2026-10-25 has 25 hours in Berlin: 12:30 local (11:30 UTC, after the change back) is 13.5 of 25 hours
    after_change = datetime(2026, 10, 25, 11, 30, tzinfo=UTC)
    assert day_position(after_change, BERLIN) == date(2026, 10, 25).toordinal() + Fraction(27, 50)


def test_a_need_grows_evenly_over_its_span() -> None:
    need = Need(10, Fraction(0), Fraction(4))
    assert (need.by(Fraction(-1)), need.by(Fraction(1)), need.by(Fraction(5))) == (0, Fraction(5, 2), 10)
    assert [need.whole(Fraction(d), Fraction(d + 1)) for d in range(4)] == [3, 2, 3, 2]
