"""Escalation steps of a handoff clock: who a step is addressed to, worked out when it falls due.

A lead is judged alone (by its partition's worker, or by a replay in event time), and both must publish the same
events. So everything here is what the lead's own history and the owners file determine at the step's instant:
the owner then (the last move carrying one, at or before it), that owner's team, and the team's members.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import replace
from datetime import datetime

from pipelines.core.calendar import BusinessCalendar
from pipelines.core.lifecycle import Move
from pipelines.core.sla import BREACHED, ESCALATED, REASSIGN, Clock, Judge, SlaEvent
from schemas.owners import Team


def suggest_owner(
    candidates: Iterable[str],
    calendars: Mapping[str, BusinessCalendar],
    past_owners: Set[str],
    loads: Mapping[str, int],
    instant: datetime,
) -> str | None:
    """Return the owner to suggest: at work at `instant`, never an owner of the lead, fewest running clocks, then id.

    A candidate without a calendar (not in the owners file) is never at work as far as anyone knows.
    """
    eligible = [c for c in candidates if c not in past_owners and c in calendars and calendars[c].is_open(instant)]
    return min(eligible, key=lambda c: (loads.get(c, 0), c), default=None)


def running_clocks(clocks: Sequence[Clock], instant: datetime) -> Counter[str]:
    """Return the clocks of a lead running at `instant`, counted per owner (contract §5: an owner's load)."""
    return Counter(
        c.owner_id
        for c in clocks
        if c.owner_id and c.started_at <= instant and (c.stopped_at is None or c.stopped_at > instant)
    )


def addressed(
    event: SlaEvent,
    moves: Sequence[Move],
    clocks: Sequence[Clock],
    judge: Judge,
    loads: Mapping[str, int] | None = None,
) -> SlaEvent:
    """Return an SLA event with what routes it: a breach's or a step's team, a step's addressee; others as given.

    The addressee of `sla.escalated` is the team's manager, that of `sla.reassign_suggested` the suggested owner,
    chosen by `loads` (each owner's running clocks over all leads, where known; else this lead's clocks).
    """
    if event.kind not in (BREACHED, ESCALATED, REASSIGN):
        return event
    carried, team = _owners_team(event, moves, judge)
    if team is None:
        return event
    if event.kind == BREACHED:
        return replace(event, team=team.name)
    if event.kind == ESCALATED:
        return replace(event, to=team.manager, team=team.name)
    agreement = judge.agreement_named(event.clock.agreement)
    listed = _listed(team, judge)
    calendars = {m: judge.owner_calendar(agreement, m) for m in listed} if agreement is not None else {}
    counted = running_clocks(clocks, event.at) if loads is None else loads
    return replace(event, to=suggest_owner(listed, calendars, set(carried), counted, event.at), team=team.name)


def candidates(event: SlaEvent, moves: Sequence[Move], judge: Judge) -> list[str]:
    """Return the owners a reassignment step may suggest: the listed members of its owner's team (else none)."""
    _carried, team = _owners_team(event, moves, judge)
    return _listed(team, judge) if team is not None and event.kind == REASSIGN else []


def _listed(team: Team, judge: Judge) -> list[str]:
    """Return the team's members the owners file lists (only they have calendars to be at work by)."""
    return [m for m in team.members if m in judge.owners]


def _owners_team(event: SlaEvent, moves: Sequence[Move], judge: Judge) -> tuple[list[str], Team | None]:
    """Return the lead's owners up to the event's instant (in order) and the team of the last of them."""
    carried = [m.owner_id for m in moves if m.owner_id and m.time <= event.at]
    return carried, judge.team_of(carried[-1] if carried else None)
