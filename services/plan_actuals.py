"""Rates for the next agreement from the trailing observed conversion, by monthly cohorts (`plan --from-actuals`).

A cohort is the entries to a rate's first stage in one month (local months of the agreement's zone); it
went on if its episode entered the rate's second stage by `as_of`. `visit_to_lead` is counted in the
plan's own unit: the month's visits, of which went on the leads (by form fill, by `as_of`) of the
visitors whose first visit was in that month. A month that ended less than the maturity before `as_of`
is immature: shown, but left out of the pooled rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.core.funnel import window_bounds
from pipelines.core.planning import (
    RATE_NAMES,
    RATE_PAIRS,
    Cohort,
    GoalShare,
    ProposedRate,
    add_months,
    add_plans,
    goals_plan,
    is_mature,
    months_back,
    propose_rate,
    rounded,
    share,
)
from pipelines.store.client import Store
from schemas.agreement import Agreement
from services.report_sql import TS, sql_time

STAGE_PAIRS = [(name, a, b) for name, a, b in RATE_PAIRS if a != "visits"]


def _stage_cohorts(store: Store, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    stages = sorted({s for _, a, b in STAGE_PAIRS for s in (a, b)})
    columns = ", ".join(f"minIf(toNullable(entered_at), stage = '{s}') AS t_{s}" for s in stages)
    parts = [
        f"SELECT '{name}', toYYYYMM(t_{a}, {{tz:String}}) AS month, count(), countIf(t_{b} <= {{as_of:{TS}}}) "
        f"FROM firsts WHERE t_{a} >= {{start:{TS}}} AND t_{a} < {{end:{TS}}} GROUP BY month"
        for name, a, b in STAGE_PAIRS
    ]
    union = "\nUNION ALL\n".join(parts)
    sql = f"WITH firsts AS (SELECT lead_id, episode, {columns} FROM stage_entries GROUP BY lead_id, episode)\n{union}"
    return store.query(sql, params)


def _visit_cohorts(store: Store, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    return store.query(
        f"""
        SELECT month, sum(visits), sum(leads) FROM (
            SELECT toYYYYMM(time, {{tz:String}}) AS month, count() AS visits, 0 AS leads
            FROM events FINAL
            WHERE type = 'web.visit' AND time >= {{start:{TS}}} AND time < {{end:{TS}}}
            GROUP BY month
            UNION ALL
            SELECT toYYYYMM(v.first_visit, {{tz:String}}) AS month, 0 AS visits, uniqExact(f.lead_id) AS leads
            FROM (SELECT visitor_id, min(time) AS first_visit FROM events FINAL
                  WHERE type = 'web.visit' GROUP BY visitor_id) AS v
            INNER JOIN (SELECT visitor_id, lead_id FROM events FINAL
                        WHERE type = 'web.form_submitted' AND time <= {{as_of:{TS}}}) AS f
            ON f.visitor_id = v.visitor_id
            WHERE v.first_visit >= {{start:{TS}}} AND v.first_visit < {{end:{TS}}}
            GROUP BY month)
        GROUP BY month
        """,
        params,
    )


def monthly_cohorts(
    store: Store, zone: ZoneInfo, months: Sequence[date], as_of: datetime, maturity: timedelta
) -> dict[str, list[Cohort]]:
    """Return, per agreement rate, one cohort per month (oldest first), each marked mature or not."""
    lower, upper = window_bounds(months[0], add_months(months[-1], 1), zone)
    params = {"start": sql_time(lower), "end": sql_time(upper), "as_of": sql_time(as_of), "tz": zone.key}
    found: dict[tuple[str, int], tuple[int, int]] = {}
    for name, month, entered, went_on in _stage_cohorts(store, params):
        found[(str(name), int(month))] = (int(entered), int(went_on))
    for month, visits, leads in _visit_cohorts(store, params):
        found[("visit_to_lead", int(month))] = (int(visits), int(leads))
    cohorts: dict[str, list[Cohort]] = {}
    for name, _, _ in RATE_PAIRS:
        line = []
        for first in months:
            entered, went_on = found.get((name, first.year * 100 + first.month), (0, 0))
            month_end = window_bounds(first, add_months(first, 1), zone)[1]
            line.append(Cohort(f"{first:%Y-%m}", entered, went_on, is_mature(month_end, as_of, maturity)))
        cohorts[name] = line
    return cohorts


def window_cohorts(
    store: Store, zone: ZoneInfo, start: datetime, end: datetime, as_of: datetime
) -> dict[str, tuple[int, int]]:
    """Return, per agreement rate, the cohort of the entries in [start, end): (entered, went on by `as_of`)."""
    params = {"start": sql_time(start), "end": sql_time(end), "as_of": sql_time(as_of), "tz": zone.key}
    totals = dict.fromkeys(RATE_NAMES, (0, 0))
    for name, _month, entered, went_on in _stage_cohorts(store, params):
        before = totals[str(name)]
        totals[str(name)] = (before[0] + int(entered), before[1] + int(went_on))
    for _month, visits, leads in _visit_cohorts(store, params):
        before = totals["visit_to_lead"]
        totals["visit_to_lead"] = (before[0] + int(visits), before[1] + int(leads))
    return totals


def _rate_json(proposal: ProposedRate, cohorts: Sequence[Cohort]) -> dict[str, Any]:
    return {
        "current": proposal.current,
        "observed": rounded(proposal.observed),
        "proposed": proposal.proposed,
        "entered": proposal.entered,
        "went_on": proposal.went_on,
        "basis": proposal.basis,
        "cohorts": [
            {
                "month": c.month,
                "entered": c.entered,
                "went_on": c.went_on,
                "rate": rounded(share(c.went_on, c.entered)),
                "mature": c.mature,
            }
            for c in cohorts
        ],
    }


def proposal_section(
    store: Store,
    agreement: Agreement,
    shares: Sequence[GoalShare],
    as_of: datetime,
    months: int,
    maturity_days: int,
    min_sample: int,
) -> dict[str, Any]:
    """Propose rates for the next agreement from trailing mature cohorts, and the plan they would give."""
    zone = agreement.zone
    trailing = months_back(as_of.astimezone(zone).date(), months)
    cohorts = monthly_cohorts(store, zone, trailing, as_of, timedelta(days=maturity_days))
    current = agreement.goals.rates.model_dump()
    proposals = {name: propose_rate(float(current[name]), cohorts[name], min_sample) for name, _, _ in RATE_PAIRS}
    rates = {name: p.proposed for name, p in proposals.items()}
    return {
        "as_of": as_of.astimezone(UTC).isoformat(),
        "timezone": zone.key,
        "months": [f"{m:%Y-%m}" for m in trailing],
        "maturity_days": maturity_days,
        "min_sample": min_sample,
        "rates": {name: _rate_json(p, cohorts[name]) for name, p in proposals.items()},
        "plan": add_plans([goals_plan(s.agreement.goals, s.revenue, rates) for s in shares]),
    }
