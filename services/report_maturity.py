"""Immature cohorts: a member still inside its pair's conversion window is not a drop-off (docs/reports.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pipelines.core.funnel import PAIRS, ratio
from pipelines.store.client import Store
from schemas.agreement import Agreement, ConversionWindows
from services.report_sql import TS, sql_time


def window_days(agreement: Agreement | None) -> dict[str, int]:
    """Return each pair's conversion window in days: the agreement's, else the default."""
    windows = agreement.conversion_windows if agreement else ConversionWindows()
    return {name: int(getattr(windows, name)) for name, _, _ in PAIRS}


def mature_before(as_of: datetime, days: dict[str, int]) -> dict[str, str]:
    """Return the query parameters `mature_<pair>`: the latest entry time whose window has ended by `as_of`."""
    return {f"mature_{name}": sql_time(as_of - timedelta(days=days[name])) for name, _, _ in PAIRS}


def mature_visitors(store: Store, params: dict[str, Any]) -> tuple[int, int]:
    """Return the window's distinct visitors whose first visit in it is mature, and of those the ones tied by as_of."""
    rows = store.query(
        f"""
        SELECT countIf(first <= {{mature_visit_to_lead:{TS}}}),
               countIf(first <= {{mature_visit_to_lead:{TS}}} AND visitor_id IN (
                   SELECT visitor_id FROM events FINAL
                   WHERE type = 'web.form_submitted' AND time <= {{as_of:{TS}}}))
        FROM (
            SELECT visitor_id, min(time) AS first FROM events FINAL
            WHERE type = 'web.visit' AND time >= {{start:{TS}}} AND time < {{end:{TS}}}
            GROUP BY visitor_id
        )
        """,
        params,
    )
    return int(rows[0][0]), int(rows[0][1])


def cohort_sizes(reached: dict[str, tuple[int, int, int, int]], days: dict[str, int]) -> dict[str, dict[str, int]]:
    """Return `cohort_sizes`: entered, went on, how many are mature, of those how many went on, the window."""
    keys = ("entered", "went_on", "mature", "mature_went_on")
    return {name: {**dict(zip(keys, sizes, strict=True)), "window_days": days[name]} for name, sizes in reached.items()}


def cohort_mature(reached: dict[str, tuple[int, int, int, int]]) -> dict[str, float | None]:
    """Return the mature-only share of each pair: went on among the members whose window has ended."""
    return {name: ratio(reached[name][3], reached[name][2]) for name, _, _ in PAIRS}
