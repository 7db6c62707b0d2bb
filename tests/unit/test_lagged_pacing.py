"""The report's lagged pacing against a brute force that walks each agreement's goal hour by hour."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, timedelta
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from pipelines.core.planning import PLAN_KEYS, RATE_NAMES, add_months, goals_plan, rounded, share
from schemas.agreement import Agreement
from services.plan_by_month import lagged_agreements, lagged_lines
from services.plan_lags import Lag
from tests.unit.funnel_histories import PROPERTY
from tests.unit.test_lag_plan import HOURS, hours_ahead

rates = st.sampled_from(["0.02", "0.1", "0.25", "0.4", "0.5", "0.7", "1"])


@st.composite
def agreements(draw: st.DrawFn) -> list[tuple[Agreement, dict[str, int]]]:
    """One or two agreements back to back, in UTC, each with its goal and its lags in whole hours."""
    start, found = draw(st.dates(date(2026, 1, 1), date(2026, 12, 31))), []
    for number in range(draw(st.integers(1, 2))):
        end = start + timedelta(days=draw(st.integers(10, 200)))
        deal = draw(st.integers(1, 10**4))
        goals = {"revenue": draw(st.integers(1, 10**6)), "currency": "EUR", "average_deal_size": deal,
                 "rates": {name: draw(rates) for name in RATE_NAMES}}  # fmt: skip
        agreement = Agreement.model_validate(
            {
                "name": f"a{number}",
                "effective_from": start,
                "effective_to": end,
                "timezone": "UTC",
                "goals": goals,
                "business_hours": {"days": ["mon"], "start": "09:00", "end": "17:00"},
            }
        )
        found.append((agreement, {name: draw(st.integers(0, 24 * 90)) for name in RATE_NAMES}))
        start = end
    return found


def brute(
    agreement: Agreement, lag_hours: dict[str, int], key: str, window: tuple[int, int], now: int
) -> tuple[int, Fraction]:
    """Walk the goal's hours moved earlier: the whole need in the window (running ceil) and the exact need by now."""
    plan = goals_plan(agreement.goals, agreement.goals.revenue)[key]
    slots = (agreement.effective_to - agreement.effective_from).days * HOURS
    first = agreement.effective_from.toordinal() * HOURS - hours_ahead(lag_hours)[key]
    before = sum(1 for h in range(first, first + slots) if h < window[0])
    inside = sum(1 for h in range(first, first + slots) if window[0] <= h < window[1])
    by_now = sum(1 for h in range(first, first + slots) if window[0] <= h < min(now, window[1]))
    whole = math.ceil(Fraction(plan * (before + inside), slots)) - math.ceil(Fraction(plan * before, slots))
    return whole, Fraction(plan * by_now, slots)


@PROPERTY
@given(
    found=agreements(),
    month_at=st.integers(-120, 300),
    as_of_hours=st.integers(-24 * 40, 24 * 70),
    actual=st.integers(0, 10**5),
)
def test_lagged_pacing_is_what_the_shifted_goals_need_in_the_window_and_by_as_of(
    found: list[tuple[Agreement, dict[str, int]]], month_at: int, as_of_hours: int, actual: int
) -> None:
    start = found[0][0].effective_from + timedelta(days=month_at)
    start, end = start.replace(day=1), add_months(start.replace(day=1), 1)
    as_of = datetime(start.year, start.month, 1, tzinfo=UTC) + timedelta(hours=as_of_hours)
    window = (start.toordinal() * HOURS, end.toordinal() * HOURS)
    now = window[0] + as_of_hours
    lags = {a.name: {n: Lag(Fraction(h, HOURS), "agreement") for n, h in hours.items()} for a, hours in found}
    lines = lagged_lines([a for a, _ in found], lags, start, end, as_of, dict.fromkeys(PLAN_KEYS, actual))
    for key in PLAN_KEYS:
        parts = [brute(a, hours, key, window, now) for a, hours in found]
        whole, exact = sum(p[0] for p in parts), sum((p[1] for p in parts), Fraction(0))
        assert lines[key] == {"plan_lagged": whole, "expected_lagged": rounded(exact, 3),
                              "pace_lagged": rounded(share(actual, exact))}, key  # fmt: skip
    named = lagged_agreements([a for a, _ in found], lags, end)
    for agreement, hours in found:
        needed = any(brute(agreement, hours, key, (-(10**9), window[1]), window[1])[1] for key in PLAN_KEYS)
        assert (agreement.name in named) == needed, agreement.name
