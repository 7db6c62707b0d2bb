"""One valid event in, its effects out: the steps that the worker's handlers and the replay runner share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from pipelines.core.escalation import addressed
from pipelines.core.identity import VisitorEffects, VisitorState, apply_link, apply_visit
from pipelines.core.lead import LeadState, apply_event
from pipelines.core.model import NEW_TUPLE, Event
from pipelines.core.sla import Clock, Judge, SlaEvent, due_events, next_due


@dataclass(frozen=True, slots=True)
class Link:
    """A visitor tied to a lead by a form submission; routed to the visitor's partition."""

    visitor_id: str
    lead_id: str


class LeadEffects(NamedTuple):
    """What a lead event causes: the lead's new state, whether the event was new, links to route.

    The effects are named tuples: one is built per event, at half the cost of a frozen dataclass.
    """

    state: LeadState
    new: bool
    links: tuple[Link, ...] = ()
    changed: bool = True  # False when the state is the one given: nothing of the lead is written again


def lead_step(state: LeadState | None, event: Event) -> LeadEffects:
    """Apply a lead event to its lead's state."""
    if state is not None and state.lead_id != event.lead_id:
        raise ValueError(f"event for lead {event.lead_id} applied to lead {state.lead_id}")
    updated, new = apply_event(state, event)
    links = (Link(event.visitor_id, updated.lead_id),) if event.visitor_id else ()
    return NEW_TUPLE(LeadEffects, (updated, new, links, updated is not state))


# Apply a visit to its visitor's first touch: `apply_visit` itself, with no call between (most events are visits).
visit_step = apply_visit


def link_step(state: VisitorState | None, link: Link) -> VisitorEffects:
    """Tie a visitor to a lead."""
    return apply_link(state, link.visitor_id, link.lead_id)


class SlaEffects(NamedTuple):
    """What judging a lead's clocks at an instant causes: markers of what is published, events, next due.

    `clocks` are the very clocks judged (the state's, derived once per state); the lead's snapshot, when wanted,
    is `snapshot(state, judge)`, which takes them over.
    """

    published: frozenset[str]
    events: tuple[SlaEvent, ...]
    next_due: datetime | None
    clocks: tuple[Clock, ...]


def sla_step(state: LeadState, published: frozenset[str], judge: Judge, now: datetime) -> SlaEffects:
    """Judge a lead's clocks at `now` (wall clock live, event time in a replay): what falls due is published once."""
    clocks = state.clocks(judge)
    due = due_events(state.lead_id, clocks, published, now)
    if not due:  # most judgements: nothing new is due
        return NEW_TUPLE(SlaEffects, (published, (), next_due(clocks, published), clocks))
    events = tuple(addressed(e, state.moves, clocks, judge) for e in due)
    marked = published | {e.clock.marker(e.kind) for e in events}
    return NEW_TUPLE(SlaEffects, (frozenset(marked), events, next_due(clocks, marked), clocks))
