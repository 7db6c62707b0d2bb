"""Visitors and their tie to leads: first-touch attribution from a visitor's earliest visit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from pipelines.core.model import NEW_TUPLE, Event

# Leads a visitor's state lists (the smallest ids): a visitor tied to more (a shared device, or a caller tying one
# visitor to every lead it can name) still states its first touch to every lead when tied, but only these leads
# hear of an earlier first visit that arrives later. Bounds the state, which Kafka must be able to carry.
LEADS_PER_VISITOR = 256


class Touch(NamedTuple):
    """A visit as attribution sees it (a named tuple: every visit builds one)."""

    time: datetime
    source: str
    id: str
    url: str
    referrer: str | None
    utm_source: str | None
    utm_medium: str | None
    utm_campaign: str | None

    @property
    def order(self) -> tuple[datetime, str, str]:
        """Return the event-time order key."""
        return (self.time, self.source, self.id)


@dataclass(frozen=True, slots=True)
class VisitorState:
    """A visitor's first visit and the leads it is tied to."""

    visitor_id: str
    first_visit: Touch | None = None
    lead_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FirstTouch:
    """A lead's candidate first touch: the first visit of one of its visitors (the earliest one wins)."""

    lead_id: str
    visitor_id: str
    touch: Touch


class VisitorEffects(NamedTuple):
    """What a visit or a link causes: the visitor's new state and the first touches to record."""

    state: VisitorState
    first_touches: tuple[FirstTouch, ...] = ()


def to_touch(event: Event) -> Touch:
    """Reduce a `web.visit` event to a touch."""
    return Touch(
        event.time,
        event.source,
        event.id,
        event.url or "",
        event.referrer,
        event.utm_source,
        event.utm_medium,
        event.utm_campaign,
    )


def apply_visit(state: VisitorState | None, event: Event) -> VisitorEffects:
    """Record a visit; when it is (still) the visitor's first, restate it for every tied lead."""
    if state is None:  # a new visitor, tied to no lead yet
        return NEW_TUPLE(VisitorEffects, (VisitorState(event.subject, to_touch(event)), ()))
    first = state.first_visit
    # a later visit (most are) is told by its time alone, and a touch is built only for a first one
    if first is not None and (first.time < event.time or first[:3] < (event.time, event.source, event.id)):
        return NEW_TUPLE(VisitorEffects, (state, ()))
    touch = to_touch(event)
    updated = VisitorState(state.visitor_id, touch, state.lead_ids)
    return VisitorEffects(updated, tuple(FirstTouch(lead, state.visitor_id, touch) for lead in state.lead_ids))


def apply_link(state: VisitorState | None, visitor_id: str, lead_id: str) -> VisitorEffects:
    """Tie the visitor to a lead (from a form submission) and state its first touch for that lead."""
    current = state or VisitorState(visitor_id)
    if lead_id in current.lead_ids:
        leads = current.lead_ids
    else:
        leads = tuple(sorted((*current.lead_ids, lead_id))[:LEADS_PER_VISITOR])
    updated = current if leads == current.lead_ids else VisitorState(current.visitor_id, current.first_visit, leads)
    touches = (FirstTouch(lead_id, visitor_id, updated.first_visit),) if updated.first_visit else ()
    return VisitorEffects(updated, touches)
