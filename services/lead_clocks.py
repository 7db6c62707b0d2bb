"""The clocks of a lead's story: each with its calendar, its status as of an instant, how it stopped, what it published.

Pure: the rows and the agreements in, dicts out. A clock is judged by the rules of contract §3 (`Clock.status` of
the core); its calendar is that of the agreement that judges it. A clock whose agreement file is gone is still
shown, with `calendar: null` and its overdue time in wall-clock seconds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from pipelines.core.calendar import BusinessCalendar
from pipelines.core.sla import STEP_KINDS, Clock, Judge
from schemas.agreement import Agreement, Handoff
from schemas.owners import Owner
from services.report_sql import stored_time

Row = tuple[Any, ...]
SLA_EVENT_COLUMNS = ("handoff", "episode", "kind", "event_id", "owner_id", "due_at", "published_at")
MET, BREACHED, OPEN, NOT_STARTED = "met", "breached", "open", "not_started"
HUMAN_ACTIVITY = "crm.activity_logged"


def at(value: datetime | None) -> str | None:
    """Return an instant from the store as ISO 8601 in UTC, to the millisecond (the store's resolution)."""
    return None if value is None else stored_time(value).isoformat(timespec="milliseconds")


def _optional_time(value: datetime | None) -> datetime | None:
    return None if value is None else stored_time(value)


def to_clock(fields: Mapping[str, Any], lead_owner: str) -> Clock:
    """Return the core's clock of one element of `lead_snapshots.clocks` (no owner of its own: the lead's)."""
    business = fields["business_seconds"]
    return Clock(
        handoff=str(fields["handoff"]),
        agreement=str(fields["agreement"]),
        episode=int(fields["episode"]),
        started_at=stored_time(fields["started_at"]),
        deadline=stored_time(fields["deadline"]),
        warn_at=_optional_time(fields["warn_at"]),
        stopped_at=_optional_time(fields["stopped_at"]),
        business_seconds=None if business is None else float(business),
        owner_id=str(fields["owner_id"]) or lead_owner or None,
    )


def clock_section(
    fields: Mapping[str, Any],
    lead_owner: str,
    judge: Judge,
    events: Sequence[dict[str, Any]],
    sla_rows: Sequence[Row],
    as_of: datetime,
) -> dict[str, Any]:
    """Return one clock of the story: its times, calendar, status as of `as_of`, stop and SLA events."""
    clock = to_clock(fields, lead_owner)
    agreement = next((a for a in judge.agreements if a.name == clock.agreement), None)
    handoff = next((h for h in agreement.handoffs if h.name == clock.handoff), None) if agreement else None
    starter = owner_at(events, at(clock.started_at))
    counted = judge.clock_owner(handoff, starter) if handoff else None
    calendar = None
    if agreement is not None:
        calendar = judge.clock_calendar(agreement, handoff, starter) if handoff else judge.calendar(agreement)
    return {
        "handoff": clock.handoff,
        "agreement": clock.agreement,
        "episode": clock.episode,
        "owner_id": clock.owner_id,
        "started_at": at(clock.started_at),
        "deadline": at(clock.deadline),
        "warn_at": at(clock.warn_at),
        "stopped_at": at(clock.stopped_at),
        "business_seconds": clock.business_seconds,
        "within": handoff.within if handoff else None,
        "calendar": calendar_of(agreement, judge.owners.get(counted) if counted else None) if agreement else None,
        **judgement(clock, calendar, as_of),
        "escalations": _escalations(judge, agreement, handoff, clock, starter),
        "stopped_by": _stopped_by(clock, handoff, events),
        "sla_events": [_published(r) for r in sla_rows if _of_clock(r, clock.handoff, clock.episode)],
    }


def _escalations(
    judge: Judge, agreement: Agreement | None, handoff: Handoff | None, clock: Clock, starter: str | None
) -> list[dict[str, Any]]:
    """Return the steps of the handoff's escalation ladder that the clock reaches (stops after), with their moments."""
    if agreement is None or handoff is None:
        return []
    due = replace(clock, escalations=judge.escalations(agreement, handoff, clock.deadline, starter)).moments()
    steps = [(s.to, STEP_KINDS[s.to]) for s in handoff.escalate]
    return [{"to": to, "kind": kind, "at": at(due[kind])} for to, kind in steps if kind in due]


def calendar_of(agreement: Agreement, owner: Owner | None = None) -> dict[str, Any]:
    """Return the calendar a clock counts business time on: its agreement's, or its owner's (contract §3)."""
    if owner is not None:
        hours = owner.working_hours
        return {
            "kind": "owner",
            "owner_id": owner.id,
            "agreement": agreement.name,
            "timezone": owner.timezone,
            "days": list(hours.days),
            "start": hours.start.isoformat(),
            "end": hours.end.isoformat(),
            "away": [{"from": a.start.isoformat(), "to": a.end.isoformat()} for a in owner.away],
            "holidays": [day.isoformat() for day in agreement.holidays],
        }
    hours = agreement.business_hours
    return {
        "kind": "agreement",
        "agreement": agreement.name,
        "timezone": agreement.timezone,
        "days": list(hours.days),
        "start": hours.start.isoformat(),
        "end": hours.end.isoformat(),
        "holidays": [day.isoformat() for day in agreement.holidays],
    }


def owner_at(events: Sequence[dict[str, Any]], instant: str | None) -> str | None:
    """Return the lead's owner at an instant: that of its last event carrying one at or before it (in time order)."""
    owners = [e["owner_id"] for e in events if e["owner_id"] and instant is not None and e["time"] <= instant]
    return owners[-1] if owners else None


def judgement(clock: Clock, calendar: BusinessCalendar | None, as_of: datetime) -> dict[str, Any]:
    """Return a clock's status as of an instant, and how far past or before its deadline it is then."""
    status = NOT_STARTED if as_of < clock.started_at else clock.status(as_of)
    stop = clock.stopped_at if clock.stopped_at is not None and clock.stopped_at <= as_of else None
    overdue = overdue_wall = remaining = None
    if status == BREACHED:
        end = stop or as_of
        overdue = business(calendar, clock.deadline, end)
        overdue_wall = round((end - clock.deadline).total_seconds(), 3)
    elif status == MET and stop is not None:
        remaining = business(calendar, stop, clock.deadline)
    else:
        remaining = business(calendar, max(as_of, clock.started_at), clock.deadline)
    return {
        "status": status,
        "stopped_by_as_of": stop is not None,
        "overdue_business_seconds": overdue,
        "overdue_seconds": overdue_wall,
        "remaining_business_seconds": remaining,
    }


def business(calendar: BusinessCalendar | None, start: datetime, end: datetime) -> float:
    """Return the business seconds in [start, end) on a calendar (wall-clock seconds without one), to 3 places."""
    seconds = calendar.between(start, end) if calendar else max((end - start).total_seconds(), 0.0)
    return round(seconds, 3)


def _stops(handoff: Handoff, event: dict[str, Any]) -> bool:
    """Say whether an event matches a handoff's `stops_on` (contract §3)."""
    stops = handoff.stops_on
    human = event["type"] == HUMAN_ACTIVITY and event["data"].get("automated") is False
    return event["stage"] in stops.stages or (stops.human_activity and human)


def _stopped_by(clock: Clock, handoff: Handoff | None, events: Sequence[dict[str, Any]]) -> dict[str, str] | None:
    """Return the event that stopped the clock: the first of its instant that matches `stops_on`."""
    if clock.stopped_at is None:
        return None
    moment = at(clock.stopped_at)
    candidates = [e for e in events if e["time"] == moment and e["type"] != "web.visit"]
    if handoff is not None:
        candidates = [e for e in candidates if _stops(handoff, e)]
    first = candidates[0] if candidates else None
    return None if first is None else {"source": first["source"], "id": first["id"], "type": first["type"]}


def _of_clock(row: Row, handoff: str, episode: int) -> bool:
    return str(row[0]) == handoff and int(row[1]) == episode


def _published(row: Row) -> dict[str, Any]:
    """Return one SLA event published for a clock: its kind, id, when it fell due and when it was published."""
    line = dict(zip(SLA_EVENT_COLUMNS, row, strict=True))
    due, published = stored_time(line["due_at"]), stored_time(line["published_at"])
    return {
        "kind": str(line["kind"]),
        "event_id": str(line["event_id"]),
        "owner_id": str(line["owner_id"]) or None,
        "due_at": at(due),
        "published_at": at(published),
        "delay_seconds": round((published - due).total_seconds(), 3),
    }


def other_sla_events(sla_rows: Sequence[Row], clocks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the SLA events published for a clock the lead no longer has (a late event rewrote its history)."""
    kept = {(c["handoff"], c["episode"]) for c in clocks}
    rest = [r for r in sla_rows if (str(r[0]), int(r[1])) not in kept]
    return [{"handoff": str(r[0]), "episode": int(r[1]), **_published(r)} for r in rest]
