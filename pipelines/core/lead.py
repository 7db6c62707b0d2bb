"""A lead's state: its deduplicated, event-time-ordered moves, and the snapshot derived from them."""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass
from datetime import datetime

from pipelines.core.lifecycle import Lifecycle, Move, derive, to_move
from pipelines.core.model import Event
from pipelines.core.sla import Clock, Judge, derive_clocks


@dataclass(frozen=True, slots=True)
class LeadState:
    """Every distinct event of one lead, ordered by event time; everything else is derived from it."""

    lead_id: str
    moves: tuple[Move, ...] = ()

    @property
    def revision(self) -> int:
        """Return the number of distinct events applied: grows with every new one, never otherwise."""
        return len(self.moves)

    def has(self, move: Move) -> bool:
        """Say whether an event with this move's (`source`, `id`) was already applied."""
        return any(m.source == move.source and m.id == move.id for m in self.moves)


@dataclass(frozen=True, slots=True)
class LeadSnapshot:
    """What the store keeps of a lead: its lifecycle at a revision."""

    lead_id: str
    revision: int
    lifecycle: Lifecycle
    visitor_ids: tuple[str, ...]
    last_event_at: datetime
    clocks: tuple[Clock, ...] = ()


def apply_event(state: LeadState | None, event: Event) -> tuple[LeadState, bool]:
    """Add a lead event to the state; the flag says whether it was new (a repeated key changes nothing)."""
    if event.lead_id is None:
        raise ValueError(f"{event.type} event {event.key} has no lead")
    current = state or LeadState(event.lead_id)
    move = to_move(event)
    if current.has(move):
        return current, False
    moves = list(current.moves)
    insort(moves, move, key=lambda m: m.order)
    return LeadState(current.lead_id, tuple(moves)), True


def snapshot(state: LeadState, judge: Judge | None = None) -> LeadSnapshot:
    """Derive the lead's snapshot from its state; with a judge, its SLA clocks too."""
    lifecycle = derive(state.moves)
    if lifecycle is None:
        raise ValueError(f"lead {state.lead_id} has no events")
    visitors = tuple(sorted({m.visitor_id for m in state.moves if m.visitor_id}))
    clocks = derive_clocks(state.moves, lifecycle, judge) if judge else ()
    return LeadSnapshot(state.lead_id, state.revision, lifecycle, visitors, state.moves[-1].time, clocks)
