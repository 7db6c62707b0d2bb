"""SLA sections of a report: per handoff, per handoff and owner, and the worst breaches in business time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pipelines.core.calendar import BusinessCalendar
from pipelines.core.funnel import sla_section
from pipelines.core.sla import ESCALATED, REASSIGN
from pipelines.store.client import Store
from schemas.agreement import Agreement
from schemas.owners import OwnersFile
from services.report_sql import TS, stored_time

NO_OWNER = "(no owner)"
NO_TEAM = "(no team)"
WORST_BREACHES = 10
_NOTHING = (0, 0, 0, 0, [0.0, 0.0], 0, 0)
# Whether a clock reached an escalation step by as_of: the step fell by then, and the clock had not stopped first.
_REACHED = (
    "arrayExists(s -> s.1 = '{kind}' AND s.2 <= {{as_of:" + TS + "}}"
    " AND (stopped_at IS NULL OR stopped_at > s.2), steps)"
)


def _judged(store: Store, params: dict[str, Any], keys: str) -> list[tuple[Any, ...]]:
    """Clocks started in the window grouped by `keys`: started, met, breached, stopped, p50/p90, steps reached."""
    met = f"stopped_at IS NOT NULL AND stopped_at <= deadline AND stopped_at <= {{as_of:{TS}}}"
    stopped = f"stopped_at IS NOT NULL AND stopped_at <= {{as_of:{TS}}}"
    return store.query(
        f"""
        SELECT {keys}, count(), countIf({met}),
               countIf({{as_of:{TS}}} > deadline AND NOT (stopped_at IS NOT NULL AND stopped_at <= deadline)),
               countIf({stopped}),
               quantilesExactInclusiveIf(0.5, 0.9)(assumeNotNull(business_seconds), {stopped}),
               countIf({_REACHED.format(kind=ESCALATED)}), countIf({_REACHED.format(kind=REASSIGN)})
        FROM sla_clocks
        WHERE started_at >= {{start:{TS}}} AND started_at < {{end:{TS}}}
        GROUP BY {keys}
        """,
        params,
    )


def sla_by_handoff(store: Store, params: dict[str, Any], handoffs: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Return the `sla` section: a line per handoff of the agreements in force, and per handoff with clocks."""
    found = {str(r[0]): r[1:] for r in _judged(store, params, "handoff")}
    return {name: sla_section(*found.get(name, _NOTHING)) for name in sorted({*handoffs, *found})}


def sla_by_owner(store: Store, params: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Return the same lines per handoff and owner (the owner when the clock stopped, else the lead's latest)."""
    return _per_handoff(_judged(store, params, "handoff, owner_id"), NO_OWNER)


def sla_by_team(
    store: Store, params: dict[str, Any], owners: OwnersFile | None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Return the same lines per handoff and team of the clock's owner (`(no team)`: in none); {} without teams."""
    if owners is None or not owners.teams:
        return {}
    members = [member for team in owners.teams for member in team.members]
    names = [team.name for team in owners.teams for _ in team.members]
    team = f"transform(owner_id, {{members:Array(String)}}, {{teams:Array(String)}}, '{NO_TEAM}')"
    return _per_handoff(_judged(store, {**params, "members": members, "teams": names}, f"handoff, {team}"), NO_TEAM)


def _per_handoff(rows: list[tuple[Any, ...]], unnamed: str) -> dict[str, dict[str, dict[str, Any]]]:
    """Return `_judged` rows keyed (handoff, who) as lines per handoff and who, in order; `unnamed` for an empty who."""
    section: dict[str, dict[str, dict[str, Any]]] = {}
    for handoff, who, *line in sorted(rows, key=lambda r: (r[0], r[1])):
        section.setdefault(str(handoff), {})[str(who) or unnamed] = sla_section(*line)
    return section


def worst_breaches(
    store: Store, params: dict[str, Any], agreements: Sequence[Agreement], as_of: datetime, limit: int = WORST_BREACHES
) -> list[dict[str, Any]]:
    """Breached clocks started in the window, longest overrun first (business seconds past the deadline)."""
    rows = store.query(
        f"""
        SELECT lead_id, handoff, agreement, owner_id, started_at, deadline,
               if(stopped_at IS NOT NULL AND stopped_at <= {{as_of:{TS}}}, stopped_at, NULL) AS stopped
        FROM sla_clocks
        WHERE started_at >= {{start:{TS}}} AND started_at < {{end:{TS}}}
          AND {{as_of:{TS}}} > deadline AND NOT (stopped_at IS NOT NULL AND stopped_at <= deadline)
        """,
        params,
    )
    calendars = {a.name: BusinessCalendar.from_agreement(a) for a in agreements}
    breaches = [_breach(row, calendars, as_of) for row in rows]
    breaches.sort(key=lambda b: (-b["overrun_business_seconds"], b["started_at"], b["lead_id"], b["handoff"]))
    return breaches[:limit]


def _breach(row: tuple[Any, ...], calendars: dict[str, BusinessCalendar], as_of: datetime) -> dict[str, Any]:
    lead_id, handoff, agreement, owner, started_at, deadline, stopped = row
    deadline, end = stored_time(deadline), stored_time(stopped) if stopped is not None else as_of
    calendar = calendars.get(str(agreement))
    overrun = calendar.between(deadline, end) if calendar else (end - deadline).total_seconds()
    return {
        "lead_id": str(lead_id),
        "handoff": str(handoff),
        "owner_id": str(owner) or NO_OWNER,
        "started_at": stored_time(started_at).isoformat(),
        "deadline": deadline.isoformat(),
        "stopped_at": None if stopped is None else end.isoformat(),
        "overrun_business_seconds": round(overrun, 3),
    }
