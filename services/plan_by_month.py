"""The plan by month (`leadflow plan --by-month`) and the report's lagged pacing: the goal's needs moved by the lags."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from fractions import Fraction
from typing import Any

from pipelines.core.lag_plan import Need, day_position, day_start, monthly_needs, months_spanned, stage_needs
from pipelines.core.planning import PLAN_KEYS, QUANTITY_DIGITS, GoalShare, goals_plan, rounded, share
from schemas.agreement import Agreement
from services.plan_lags import Lag, lag_days

Lags = Mapping[str, Mapping[str, Lag]]  # per agreement name, per rate


def month_status(month: date, today: date) -> str:
    """Say whether a month is `past` (ended before today), `current` (holds today) or `ahead`."""
    first = today.replace(day=1)
    return "past" if month < first else "current" if month == first else "ahead"


def share_needs(goal: GoalShare, lags: Lags) -> dict[str, Need]:
    """Return a goal share's needs per plan key: its plan over its days, moved earlier by its agreement's lags."""
    return stage_needs(goal.plan, goal.first_day, goal.end_day, lag_days(lags[goal.agreement.name]))


def by_month_section(shares: Sequence[GoalShare], lags: Lags, today: date) -> dict[str, Any]:
    """Return per calendar month the whole entries each stage needs, the month's status and the totals."""
    needs = [share_needs(goal, lags) for goal in shares]
    months = months_spanned(need for part in needs for need in part.values())
    rows = monthly_needs(needs, months)
    return {
        "today": today.isoformat(),
        "months": [
            {"month": f"{m:%Y-%m}", "status": month_status(m, today), "needs": row}
            for m, row in zip(months, rows, strict=True)
        ],
        "totals": {key: sum(row[key] for row in rows) for key in PLAN_KEYS},
    }


def period_needs(agreement: Agreement, lags: Mapping[str, Lag]) -> dict[str, Need]:
    """Return the needs of an agreement's whole goal: its plan over its period, moved earlier by its lags."""
    plan = goals_plan(agreement.goals, agreement.goals.revenue)
    return stage_needs(plan, agreement.effective_from, agreement.effective_to, lag_days(lags))


def lagged_lines(
    agreements: Sequence[Agreement], lags: Lags, start: date, end: date, as_of: datetime, actual: Mapping[str, int]
) -> dict[str, dict[str, Any]]:
    """Per plan key: what the agreements' lag-shifted goals need in [start, end) and by `as_of`, and the pace."""
    planned = dict.fromkeys(PLAN_KEYS, 0)
    expected = dict.fromkeys(PLAN_KEYS, Fraction(0))
    lower, upper = day_start(start), day_start(end)
    for agreement in agreements:
        needs = period_needs(agreement, lags[agreement.name])
        until = min(max(day_position(as_of, agreement.zone), lower), upper)
        for key in PLAN_KEYS:
            planned[key] += needs[key].whole(lower, upper)
            expected[key] += needs[key].between(lower, until)
    return {
        key: {
            "plan_lagged": planned[key],
            "expected_lagged": rounded(expected[key], QUANTITY_DIGITS),
            "pace_lagged": rounded(share(actual[key], expected[key])),
        }
        for key in PLAN_KEYS
    }


def lagged_agreements(agreements: Sequence[Agreement], lags: Lags, end: date) -> list[str]:
    """Return the names of the agreements whose lag-shifted goal needs something before `end`."""
    names = []
    for agreement in agreements:
        needs = period_needs(agreement, lags[agreement.name])
        if min(need.first for need in needs.values()) < day_start(end):
            names.append(agreement.name)
    return names
