"""The goals of a window: each agreement's prorated share, the plan worked backwards, and pacing in business time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from pipelines.core.calendar import BusinessCalendar
from pipelines.core.funnel import window_bounds
from pipelines.core.planning import (
    PLAN_KEYS,
    QUANTITY_DIGITS,
    RATE_PAIRS,
    GoalShare,
    Pace,
    add_plans,
    business_days_elapsed,
    elapsed_share,
    json_amount,
    pace,
    rounded,
    share,
)
from schemas.agreement import Agreement

Window = tuple[datetime, datetime]


@dataclass(frozen=True)
class ShareTime:
    """A goal share with its UTC bounds and its agreement's business days in it."""

    goal: GoalShare
    lower: datetime
    upper: datetime
    windows: tuple[Window, ...]

    def elapsed(self, as_of: datetime) -> Fraction:
        """Return the share of this part's business time elapsed by `as_of`."""
        return elapsed_share(self.windows, self.lower, self.upper, as_of)


def share_times(shares: Sequence[GoalShare]) -> list[ShareTime]:
    """Attach to each goal share its bounds and business days, in its own agreement's zone and calendar."""
    timed = []
    for goal in shares:
        calendar = BusinessCalendar.from_agreement(goal.agreement)
        lower, upper = window_bounds(goal.first_day, goal.end_day, goal.agreement.zone)
        timed.append(ShareTime(goal, lower, upper, tuple(calendar.windows(goal.first_day, goal.end_day))))
    return timed


def window_elapsed(times: Sequence[ShareTime], as_of: datetime) -> tuple[int, Fraction, Fraction]:
    """Return the window's business days, those elapsed by `as_of`, and the elapsed share (plain time without any)."""
    days = sum(len(t.windows) for t in times)
    elapsed = sum((business_days_elapsed(t.windows, as_of) for t in times), Fraction(0))
    if days or not times:
        return days, elapsed, elapsed / days if days else Fraction(0)
    return 0, elapsed, elapsed_share((), min(t.lower for t in times), max(t.upper for t in times), as_of)


def main_currency(shares: Sequence[GoalShare], main: Agreement | None) -> str | None:
    """Return the currency the report sums money in: the main agreement's, else the first share's."""
    if main is not None:
        return main.goals.currency
    return shares[0].currency if shares else None


def plan_section(shares: Sequence[GoalShare]) -> dict[str, int]:
    """Return the prorated goal worked backwards, each share with its own figures, added ({} without shares)."""
    return add_plans([s.plan for s in shares]) if shares else {}


def share_json(goal: GoalShare) -> dict[str, Any]:
    """Describe one goal share: agreement, days, prorated revenue, the figures it is worked backwards with."""
    goals = goal.agreement.goals
    return {
        "agreement": goal.agreement.name,
        "from": goal.first_day.isoformat(),
        "to": goal.end_day.isoformat(),
        "shared_days": goal.shared_days,
        "period_days": goal.period_days,
        "currency": goal.currency,
        "revenue": json_amount(goal.revenue),
        "period_revenue": json_amount(goals.revenue),
        "average_deal_size": json_amount(goals.average_deal_size),
        "rates": goals.rates.model_dump(),
        "plan": goal.plan,
    }


def _count_pace(line: Pace) -> dict[str, Any]:
    return {
        "actual": int(line.actual),
        "plan": int(line.goal),
        "expected": rounded(line.expected, QUANTITY_DIGITS),
        "pace": rounded(line.pace),
        "projected": rounded(line.projected, QUANTITY_DIGITS),
    }


def _money_pace(line: Pace, currency: str) -> dict[str, Any]:
    projected = line.projected
    return {
        "currency": currency,
        "actual": json_amount(line.actual),
        "goal": json_amount(line.goal),
        "expected": json_amount(line.expected),
        "pace": rounded(line.pace),
        "projected": None if projected is None else json_amount(projected),
    }


def pacing_section(
    times: Sequence[ShareTime], counts: Mapping[str, int], won: Fraction, currency: str, as_of: datetime
) -> dict[str, Any]:
    """Actual to date against the goal prorated by business days elapsed, per funnel stage and for revenue."""
    days, elapsed_days, elapsed = window_elapsed(times, as_of)
    parts = [(t.goal.plan, t.elapsed(as_of)) for t in times]
    stages = {key: _count_pace(pace(counts[key], [(p[key], e) for p, e in parts], elapsed)) for key in PLAN_KEYS}
    money_parts = [(t.goal.revenue, t.elapsed(as_of)) for t in times if t.goal.currency == currency]
    return {
        "business_days": days,
        "business_days_elapsed": rounded(elapsed_days, QUANTITY_DIGITS),
        "elapsed_share": rounded(elapsed),
        "stages": stages,
        "revenue": _money_pace(pace(won, money_parts, elapsed), currency),
    }


def targets_section(counts: Mapping[str, int], agreement: Agreement) -> dict[str, dict[str, float | None]]:
    """Return the agreement's target rates beside the period's own (each next count over the previous)."""
    rates = agreement.goals.rates.model_dump()
    return {
        name: {"actual": rounded(share(counts[later], counts[earlier])), "target": float(rates[name])}
        for name, earlier, later in RATE_PAIRS
    }
