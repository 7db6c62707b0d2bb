"""What the monthly report shows beyond `leadflow report`: the trailing months and the days of the window."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.core.funnel import PAIRS, window_bounds
from pipelines.core.planning import RATE_PAIRS, add_months, exact, goal_shares, months_back, rounded, share
from pipelines.store.client import Store
from schemas.agreement import Agreement
from services.plan import ShareTime, share_times
from services.report_maturity import window_days
from services.report_revenue import deal_steps
from services.report_sql import MILLISECOND, TS, sql_time, through
from services.report_timing import by_month, time_line

HISTORY_MONTHS = 6
TIMED_PAIRS = [name for name, _, _ in PAIRS[1:]]
DAILY_KEYS = ("visits", "lead", "mql", "sql", "customer")


@dataclass(frozen=True)
class MonthlyData:
    """The report of the window and what the charts need besides it."""

    report: dict[str, Any]
    history: list[dict[str, Any]]
    days: list[date]
    cumulative: dict[str, list[float | None]]  # actual to the end of each day, None after as_of
    expected: dict[str, list[float]]  # the goal prorated by business time to the end of each day


def _per_period(store: Store, params: dict[str, Any], bucket: str) -> dict[tuple[str, str], int]:
    """Count stage entries and visits per (bucket, key); bucket is a ClickHouse expression of `t`."""
    rows = store.query(
        f"""
        SELECT toString({bucket.format(t="entered_at")}) AS period, toString(stage), count() FROM stage_entries
        WHERE entered_at >= {{start:{TS}}} AND entered_at < {{end:{TS}}}
        GROUP BY period, stage
        UNION ALL
        SELECT toString({bucket.format(t="time")}) AS period, 'visits', count() FROM events FINAL
        WHERE type = 'web.visit' AND time >= {{start:{TS}}} AND time < {{end:{TS}}}
        GROUP BY period
        """,
        params,
    )
    return {(str(period), str(key)): int(n) for period, key, n in rows}


def history(
    store: Store, zone: ZoneInfo, last: date, agreements: Sequence[Agreement], as_of: datetime
) -> list[dict[str, Any]]:
    """Each of the trailing months up to `last`'s: counts, agreement rates, targets then, and time to convert."""
    months = months_back(last, HISTORY_MONTHS)
    lower, upper = window_bounds(months[0], add_months(months[-1], 1), zone)
    params = {"start": sql_time(lower), "end": sql_time(upper), "tz": zone.key, "as_of": sql_time(as_of)}
    found = _per_period(store, params, "toYYYYMM({t}, {{tz:String}})")
    times = by_month(store, params)
    nobody = {name: time_line(0, []) for name in TIMED_PAIRS}
    lines = []
    for first in months:
        key = f"{first:%Y%m}"
        counts = {k: found.get((key, k), 0) for k in ("visits", "lead", "mql", "sql", "opportunity", "customer")}
        agreement = next((a for a in agreements if a.in_force_on(first)), None)
        targets = agreement.goals.rates.model_dump() if agreement else {}
        lines.append(
            {
                "month": f"{first:%Y-%m}",
                "label": f"{first:%b %Y}",
                "counts": counts,
                "rates": {n: rounded(share(counts[b], counts[a])) for n, a, b in RATE_PAIRS},
                "targets": {n: targets.get(n) for n, _, _ in RATE_PAIRS},
                "time_to_convert": times.get(key, nobody),
                "immature": _immature(first, zone, window_days(agreement), as_of),
            }
        )
    return lines


def _immature(first: date, zone: ZoneInfo, days: dict[str, int], as_of: datetime) -> dict[str, bool]:
    """Per pair: whether some member of the month may still go on (its window ends after `as_of`)."""
    end = window_bounds(first, add_months(first, 1), zone)[1]
    return {name: end - MILLISECOND + timedelta(days=d) > as_of for name, d in days.items()}


def _day_ends(days: Sequence[date], zone: ZoneInfo) -> list[datetime]:
    return [window_bounds(day, day + timedelta(days=1), zone)[1] for day in days]


def _expected(times: Sequence[ShareTime], ends: Sequence[datetime], currency: str | None) -> dict[str, list[float]]:
    lines: dict[str, list[float]] = {}
    for key in (*DAILY_KEYS, "revenue"):
        line = []
        for end in ends:
            parts = [
                (t.goal.revenue if key == "revenue" else t.goal.plan[key], t.elapsed(end))
                for t in times
                if key != "revenue" or t.goal.currency == currency
            ]
            line.append(float(sum((exact(goal) * elapsed for goal, elapsed in parts), exact(0))))
        lines[key] = line
    return lines


def collect(
    store: Store, report: dict[str, Any], agreements: Sequence[Agreement], start: date, end: date
) -> MonthlyData:
    """Gather the trailing months and the daily cumulative lines of the report's window."""
    window = report["window"]
    zone = ZoneInfo(window["timezone"])
    as_of = datetime.fromisoformat(window["as_of"])
    lower, upper = window_bounds(start, end, zone)
    # the days up to as_of, as pacing counts them
    params = {
        "start": sql_time(lower),
        "end": sql_time(min(upper, through(as_of))),
        "as_of": sql_time(as_of),
        "tz": zone.key,
    }
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    ends = _day_ends(days, zone)
    daily = _per_period(store, params, "toDate({t}, {{tz:String}})")
    currency = report["revenue"].get("currency")
    won: dict[str, float] = defaultdict(float)
    for step in deal_steps(store, params):
        if step.stage == "won" and step.currency == currency:
            won[step.at.astimezone(zone).date().isoformat()] += float(step.amount)
    cumulative: dict[str, list[float | None]] = {}
    for key in (*DAILY_KEYS, "revenue"):
        total, line = 0.0, []
        for day in days:
            total += won[day.isoformat()] if key == "revenue" else daily.get((day.isoformat(), key), 0)
            line.append(total if day <= as_of.astimezone(zone).date() else None)
        cumulative[key] = line
    times = share_times(goal_shares(agreements, start, end))
    return MonthlyData(
        report=report,
        history=history(store, zone, end - timedelta(days=1), agreements, as_of),
        days=days,
        cumulative=cumulative,
        expected=_expected(times, ends, currency),
    )
