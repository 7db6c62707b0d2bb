"""`leadflow report`: the numbers of CONTRACT section 4, read from the store."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from pipelines.agreements import in_force
from pipelines.core.funnel import PAIRS, cohort, conversion, sla_section, window_bounds
from pipelines.core.lifecycle import FUNNEL
from pipelines.store.client import Store
from schemas.agreement import Agreement

UTC_ZONE = ZoneInfo("UTC")
TS = "DateTime64(3, 'UTC')"


def _param(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def default_as_of(store: Store, now: datetime) -> datetime:
    """Return the latest event time if a replay filled the store last, else now."""
    rows = store.query("SELECT kind, latest_event_at FROM store_runs ORDER BY started_at DESC LIMIT 1")
    if rows and rows[0][0] == "replay" and rows[0][1] is not None:
        return _aware(rows[0][1])
    return now


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


def _cohorts(store: Store, params: dict[str, Any]) -> dict[str, tuple[int, int]]:
    columns = ",\n".join(f"minIf(toNullable(entered_at), stage = '{s}') AS t_{s}" for s in FUNNEL)
    measures = ",\n".join(
        f"countIf(t_{a} >= {{start:{TS}}} AND t_{a} < {{end:{TS}}}), "
        f"countIf(t_{a} >= {{start:{TS}}} AND t_{a} < {{end:{TS}}} AND t_{b} <= {{as_of:{TS}}})"
        for a, b in itertools.pairwise(FUNNEL)
    )
    rows = store.query(
        f"SELECT {measures} FROM (SELECT lead_id, episode, {columns} FROM stage_entries GROUP BY lead_id, episode)",
        params,
    )
    values = [int(v) for v in rows[0]]
    names = [name for name, _, _ in PAIRS[1:]]
    return {name: (values[2 * i], values[2 * i + 1]) for i, name in enumerate(names)}


def _sla(store: Store, params: dict[str, Any], handoffs: Sequence[str]) -> dict[str, dict[str, Any]]:
    met = f"stopped_at IS NOT NULL AND stopped_at <= deadline AND stopped_at <= {{as_of:{TS}}}"
    stopped = f"stopped_at IS NOT NULL AND stopped_at <= {{as_of:{TS}}}"
    rows = store.query(
        f"""
        SELECT handoff, count(), countIf({met}),
               countIf({{as_of:{TS}}} > deadline AND NOT (stopped_at IS NOT NULL AND stopped_at <= deadline)),
               countIf({stopped}),
               quantilesExactInclusiveIf(0.5, 0.9)(assumeNotNull(business_seconds), {stopped})
        FROM sla_clocks
        WHERE started_at >= {{start:{TS}}} AND started_at < {{end:{TS}}}
        GROUP BY handoff
        """,
        params,
    )
    found = {str(r[0]): r[1:] for r in rows}
    return {name: sla_section(*found.get(name, (0, 0, 0, 0, [0.0, 0.0]))) for name in sorted({*handoffs, *found})}


def build_report(
    store: Store, start: date, end: date, agreements: Sequence[Agreement], as_of: datetime | None, now: datetime
) -> dict[str, Any]:
    """Compute the report for [start, end) in the time zone of the agreement in force at `start`."""
    agreement = in_force(agreements, start)
    zone = agreement.zone if agreement else UTC_ZONE
    lower, upper = window_bounds(start, end, zone)
    as_of = as_of or default_as_of(store, now)
    params = {"start": _param(lower), "end": _param(upper), "as_of": _param(as_of)}
    visits, visitors, tied = _visits(store, params)
    counts: dict[str, int] = {"visits": visits, "visitors": visitors, **_stage_counts(store, params)}
    reached = {"visit_to_lead": (visitors, tied), **_cohorts(store, params)}
    overlapping = [a for a in agreements if a.effective_from < end and start < a.effective_to]
    handoffs = [h.name for a in overlapping for h in a.handoffs]
    return {
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
        "cohort": cohort(reached),
        "cohort_sizes": {name: {"entered": n, "went_on": k} for name, (n, k) in reached.items()},
        "sla": _sla(store, params, handoffs) if agreement else {},
    }
