"""`leadflow report`: the numbers of contract §4 from the store, and the extra sections of docs/reports.md."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.agreements import in_force
from pipelines.core.funnel import PAIRS, cohort, conversion, window_bounds
from pipelines.core.lifecycle import FUNNEL
from pipelines.core.planning import GoalShare, cumulative_conversion, goal_shares, month_bounds
from pipelines.store.client import Store
from schemas.agreement import Agreement
from schemas.owners import OwnersFile
from services.arguments import day_problem
from services.errors import UsageError
from services.plan import main_currency, pacing_section, plan_section, share_times, targets_section
from services.plan_by_month import lagged_agreements, lagged_lines
from services.plan_lags import lags_json, report_lags
from services.report_feedback import feedback_section
from services.report_maturity import cohort_mature, cohort_sizes, mature_before, mature_visitors, window_days
from services.report_revenue import deal_steps, deals_section, revenue_section, won_amount
from services.report_sla import sla_by_handoff, sla_by_owner, sla_by_team, worst_breaches
from services.report_sql import TS, sql_time, stored_time, through
from services.report_timing import by_bin, by_owner, by_source, time_to_convert

UTC_ZONE = ZoneInfo("UTC")


def report_window(start: date | None, end: date | None, month: str | None) -> tuple[date, date]:
    """Return the report's [from, to) from --from/--to or from --month (YYYY-MM), whichever was given."""
    if month is not None:
        if start is not None or end is not None:
            raise UsageError("--month stands for --from and --to: give one or the other")
        try:
            first, after = month_bounds(month)
        except ValueError as exc:
            raise UsageError(f"--month: {exc}") from None
        problem = day_problem(first) or day_problem(after)
        if problem:
            raise UsageError(f"--month {month}: {problem}")
        return first, after
    if start is None or end is None:
        raise UsageError("give --from and --to, or --month YYYY-MM")
    if end <= start:
        raise UsageError(f"--to ({end}) must be after --from ({start})")
    return start, end


def default_as_of(store: Store, now: datetime) -> datetime:
    """Return the latest event time if a replay filled the store last, else now."""
    rows = store.query("SELECT kind, latest_event_at FROM store_runs ORDER BY started_at DESC LIMIT 1")
    if rows and rows[0][0] == "replay" and rows[0][1] is not None:
        return stored_time(rows[0][1])
    return now


def _visits(store: Store, params: dict[str, Any]) -> tuple[int, int, int]:
    rows = store.query(
        f"""
        SELECT count(), uniqExact(visitor_id),
               uniqExactIf(visitor_id, visitor_id IN (
                   SELECT visitor_id FROM events FINAL
                   WHERE type = 'web.form_submitted' AND time <= {{as_of:{TS}}}))
        FROM events FINAL
        WHERE type = 'web.visit' AND time >= {{start:{TS}}} AND time < {{end:{TS}}}
        """,
        params,
    )
    visits, visitors, tied = rows[0]
    return int(visits), int(visitors), int(tied)


def _stage_counts(store: Store, params: dict[str, Any]) -> dict[str, int]:
    rows = store.query(
        f"""
        SELECT stage, count() FROM stage_entries
        WHERE entered_at >= {{start:{TS}}} AND entered_at < {{end:{TS}}}
        GROUP BY stage
        """,
        params,
    )
    found = {str(stage): int(n) for stage, n in rows}
    return {stage: found.get(stage, 0) for stage in FUNNEL}


def _cohorts(store: Store, params: dict[str, Any]) -> dict[str, tuple[int, int, int, int]]:
    """Per pair: entered the first stage in the window, went on by as_of, mature (`mature_<pair>`), mature went on."""
    columns = ",\n".join(f"minIf(toNullable(entered_at), stage = '{s}') AS t_{s}" for s in FUNNEL)
    measures = []
    for name, a, b in PAIRS[1:]:
        entered = f"t_{a} >= {{start:{TS}}} AND t_{a} < {{end:{TS}}}"
        went_on, mature = f"t_{b} <= {{as_of:{TS}}}", f"t_{a} <= {{mature_{name}:{TS}}}"
        measures += [
            entered,
            f"{entered} AND {went_on}",
            f"{entered} AND {mature}",
            f"{entered} AND {mature} AND {went_on}",
        ]
    counted = ", ".join(f"countIf({m})" for m in measures)
    rows = store.query(
        f"SELECT {counted} FROM (SELECT lead_id, episode, {columns} FROM stage_entries GROUP BY lead_id, episode)",
        params,
    )
    values = [int(v) for v in rows[0]]
    return {name: (values[4 * i], values[4 * i + 1], values[4 * i + 2], values[4 * i + 3])
            for i, (name, _, _) in enumerate(PAIRS[1:])}  # fmt: skip


def build_report(
    store: Store,
    start: date,
    end: date,
    agreements: Sequence[Agreement],
    as_of: datetime | None,
    now: datetime,
    owners: OwnersFile | None = None,
) -> dict[str, Any]:
    """Compute the report for [start, end) in the zone of the agreement in force at `start` (teams: `owners`)."""
    agreement = in_force(agreements, start)
    zone = agreement.zone if agreement else UTC_ZONE
    lower, upper = window_bounds(start, end, zone)
    as_of = as_of or default_as_of(store, now)
    days = window_days(agreement)
    params = {"start": sql_time(lower), "end": sql_time(upper), "as_of": sql_time(as_of), **mature_before(as_of, days)}
    visits, visitors, tied = _visits(store, params)
    counts: dict[str, int] = {"visits": visits, "visitors": visitors, **_stage_counts(store, params)}
    reached = {"visit_to_lead": (visitors, tied, *mature_visitors(store, params)), **_cohorts(store, params)}
    overlapping = [a for a in agreements if a.effective_from < end and start < a.effective_to]
    handoffs = [h for a in overlapping for h in a.handoffs]
    follow_ups = sorted({h.name for h in handoffs if h.starts_on.stage == "mql"})
    report: dict[str, Any] = {
        "window": {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "timezone": zone.key,
            "agreement": agreement.name if agreement else None,
            "start": lower.isoformat(),
            "end": upper.isoformat(),
            "as_of": as_of.astimezone(UTC).isoformat(),
        },
        "counts": counts,
        "conversion": conversion(counts),
        "conversion_cumulative": cumulative_conversion(counts),
        "cohort": cohort({name: sizes[:2] for name, sizes in reached.items()}),
        "cohort_mature": cohort_mature(reached),
        "cohort_sizes": cohort_sizes(reached, days),
        "time_to_convert": time_to_convert(store, params),
        "time_to_convert_by_source": by_source(store, params),
        "time_to_convert_by_owner": by_owner(store, params),
        "time_to_convert_histogram": by_bin(store, params),
        "sla": sla_by_handoff(store, params, [h.name for h in handoffs]) if agreement else {},
        "sla_by_owner": sla_by_owner(store, params) if agreement else {},
        "sla_by_team": sla_by_team(store, params, owners) if agreement else {},
        "worst_breaches": worst_breaches(store, params, overlapping, as_of) if agreement else [],
        "feedback": feedback_section(store, params, follow_ups),
    }
    to_date = counts if through(as_of) >= upper else _counts_to(store, params, max(through(as_of), lower))
    shares = goal_shares(agreements, start, end)
    goals = _goal_sections(store, params, counts, to_date, agreement, shares, as_of)
    if goals["pacing"]:
        main = agreement or shares[0].agreement
        goals["pacing"] = _lagged(store, goals["pacing"], agreements, main, (start, end), as_of)
    return {**report, **goals}


def _lagged(
    store: Store,
    pacing: dict[str, Any],
    agreements: Sequence[Agreement],
    main: Agreement,
    window: tuple[date, date],
    as_of: datetime,
) -> dict[str, Any]:
    """Add to pacing what the agreements' lag-shifted goals need in the window and by `as_of` (docs/reports.md)."""
    relevant = [a for a in agreements if a.effective_to > window[0]]
    lags, observed = report_lags(store, relevant, main, as_of)
    actual = {key: line["actual"] for key, line in pacing["stages"].items()}
    lines = lagged_lines(relevant, lags, *window, as_of, actual)
    stages = {key: {**line, **lines[key]} for key, line in pacing["stages"].items()}
    used = {name: lags_json(lags[name]) for name in lagged_agreements(relevant, lags, window[1])}
    return {**pacing, "stages": stages, "lags": used, "lags_observed": observed}


def _counts_to(store: Store, params: dict[str, Any], until: datetime) -> dict[str, int]:
    """Count visits and stage entries from the window's start to `until` (pacing's actual to date)."""
    early = {**params, "end": sql_time(until)}
    return {"visits": _visits(store, early)[0], **_stage_counts(store, early)}


def _goal_sections(
    store: Store,
    params: dict[str, Any],
    counts: dict[str, int],
    to_date: dict[str, int],
    agreement: Agreement | None,
    shares: Sequence[GoalShare],
    as_of: datetime,
) -> dict[str, Any]:
    """Return the sections that need a goal: revenue, plan, pacing, deals, target rates ({} without a goal)."""
    steps = deal_steps(store, params)
    currency = main_currency(shares, agreement)
    main = agreement or (shares[0].agreement if shares else None)
    if currency is None or main is None:
        return {"revenue": {}, "plan": {}, "pacing": {}, "deals": deals_section(steps), "conversion_targets": {}}
    won = won_amount([s for s in steps if s.at <= as_of], currency)
    return {
        "revenue": revenue_section(steps, shares, currency),
        "plan": plan_section(shares),
        "pacing": pacing_section(share_times(shares), to_date, won, currency, as_of),
        "deals": deals_section(steps),
        "conversion_targets": targets_section(counts, main),
    }
