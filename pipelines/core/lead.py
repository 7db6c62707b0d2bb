"""A lead's state: its distinct moves in event-time order (compacted when long), and the snapshot derived from them."""

from __future__ import annotations

from bisect import insort
from dataclasses import dataclass, field
from datetime import datetime

from pipelines.core.clocks import derive_clocks, extend_clocks
from pipelines.core.compaction import LIMITS, HistoryLimits, compact, is_anchor, is_droppable
from pipelines.core.lifecycle import ORDER, Lifecycle, Move, derive, extend, to_move
from pipelines.core.model import Event, EventKey
from pipelines.core.sla import Clock, Judge


class HistoryFull(ValueError):
    """A lead already has as many stage, deal and owner-assignment events as a state keeps: the event is refused."""


@dataclass(frozen=True, slots=True)
class LeadState:
    """A lead's distinct events ordered by event time (only those that can change a number once it is long).

    `revision` counts the events that changed the state: it grows with every one of them and never otherwise, so a
    snapshot of a higher revision holds everything one of a lower revision held. Until a lead's history is
    compacted it is the number of distinct events applied.
    """

    lead_id: str
    moves: tuple[Move, ...] = ()
    revision: int = 0
    visitors: tuple[str, ...] = ()  # visitor ids of forms the compacted history no longer keeps (sorted)
    compacted: bool = False
    _keys: frozenset[EventKey] | None = field(default=None, compare=False, repr=False)
    # derived from the moves once, and carried on to the next state when one event more changes them simply (see
    # `apply_event`); never encoded, never given to a constructor (`dataclasses.replace` does not copy them)
    _life: Lifecycle | None = field(default=None, init=False, compare=False, repr=False)
    _clocks: tuple[Judge, int, tuple[Clock, ...]] | None = field(default=None, init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.revision < len(self.moves):
            object.__setattr__(self, "revision", len(self.moves))

    @property
    def keys(self) -> frozenset[EventKey]:
        """Return the idempotency keys of the kept moves."""
        if self._keys is None:
            # (source, id) by slice: `Move.key` without a call per move, which a compacted hot lead's 600 would cost
            object.__setattr__(self, "_keys", frozenset(m[1:3] for m in self.moves))
        return self._keys  # type: ignore[return-value]

    def has(self, move: Move) -> bool:
        """Say whether an event with this move's (`source`, `id`) is kept in the state."""
        return move.key in self.keys

    def lifecycle(self) -> Lifecycle:
        """Return the lifecycle derived from the moves (once per state)."""
        if self._life is None:
            life = derive(self.moves, in_order=True)
            if life is None:
                raise ValueError(f"lead {self.lead_id} has no events")
            object.__setattr__(self, "_life", life)
            return life
        return self._life

    def clocks(self, judge: Judge) -> tuple[Clock, ...]:
        """Return the SLA clocks derived from the moves by a judge (once per state while the judge's version holds)."""
        found = self._clocks
        if found is not None and found[0] is judge and found[1] == judge.version:
            return found[2]
        clocks = derive_clocks(self.moves, self.lifecycle(), judge)
        object.__setattr__(self, "_clocks", (judge, judge.version, clocks))
        return clocks

    def _carry(self, previous: LeadState, move: Move | None) -> LeadState:
        """Take over what was derived of `previous`, whose moves are these but for `move` (later than each of them).

        The lifecycle is extended by the move. The clocks carry over as they are when the move can change none:
        it leaves the lifecycle as it was (no owner other than the last), and either names no stage and is no
        human activity or finds every clock stopped already (a clock stops only on a stage or a human activity, at
        the first one from its start, and its owners are the lifecycle's at each instant). Otherwise they are
        extended by the move (`extend_clocks`), while the judge that derived them has counted no absence since.
        """
        life = previous._life
        if life is None:
            return self
        if move is None:
            object.__setattr__(self, "_life", life)
            object.__setattr__(self, "_clocks", previous._clocks)
            return self
        extended = extend(life, move)
        object.__setattr__(self, "_life", extended)
        carried = previous._clocks
        if carried is None:
            return self
        judge, version, clocks = carried
        if extended is life and (_stops_none(move) or _all_stopped(clocks)):
            object.__setattr__(self, "_clocks", carried)
        elif version == judge.version:
            clocks = extend_clocks(clocks, self.moves, life, extended, judge)
            object.__setattr__(self, "_clocks", (judge, version, clocks))
        return self


def _stops_none(move: Move) -> bool:
    """Say whether a move can stop no clock: it names no stage and is no human activity."""
    return move.stage is None and not move.human_activity


def _all_stopped(clocks: tuple[Clock, ...]) -> bool:
    return all(clock.stopped_at is not None for clock in clocks)


@dataclass(frozen=True, slots=True)
class LeadSnapshot:
    """What the store keeps of a lead: its lifecycle at a revision."""

    lead_id: str
    revision: int
    lifecycle: Lifecycle
    visitor_ids: tuple[str, ...]
    last_event_at: datetime
    clocks: tuple[Clock, ...] = ()


def apply_event(state: LeadState | None, event: Event, limits: HistoryLimits = LIMITS) -> tuple[LeadState, bool]:
    """Add a lead event to the state; the flag is False for an event the state holds already.

    The state returned is the very state given when the event changes nothing (a repeat, or in a compacted
    history an event it would drop). Raises HistoryFull when the lead has `limits.anchors` anchors already.
    """
    if event.lead_id is None:
        raise ValueError(f"{event.type} event {event.key} has no lead")
    current = state or LeadState(event.lead_id)
    move = to_move(event)
    if current.has(move):
        return current, False
    if current.compacted and is_droppable(move) and move.order > current.moves[0].order:
        return _with_visitor(current, move.visitor_id, limits), True
    if is_anchor(move) and sum(map(is_anchor, current.moves)) >= limits.anchors:
        raise HistoryFull(f"lead {current.lead_id} has {limits.anchors} stage, deal and owner events; more are refused")
    moves = list(current.moves)
    insort(moves, move, key=ORDER)
    last = move if moves[-1] is move else None  # added later than every other move: what was derived carries over
    if len(moves) > limits.whole and (current.revision + 1) % limits.every == 0:  # see `HistoryLimits.every`
        return _compacted(current, moves, limits, last), True
    keys = current.keys | {move.key}
    revision = current.revision + 1
    updated = LeadState(current.lead_id, tuple(moves), revision, current.visitors, current.compacted, keys)
    return (updated._carry(current, last) if last is not None else updated), True


def _compacted(current: LeadState, moves: list[Move], limits: HistoryLimits, last: Move | None) -> LeadState:
    """Compact a history that grew past `limits.whole`; the state given when nothing that it keeps changed.

    `last` is the move just added when it is later than every other. The lifecycle is then carried over: a
    compacted history keeps the first move, every stage move and the last move naming an owner, which are all
    that make the lifecycle. The clocks are derived again.
    """
    kept = compact(moves, limits)
    dropped = {m.visitor_id for m in moves if m.visitor_id is not None} - {m.visitor_id for m in kept}
    visitors = _smallest({*current.visitors, *dropped}, limits.visitors)
    if kept == current.moves and visitors == current.visitors:
        return current
    updated = LeadState(current.lead_id, kept, current.revision + 1, visitors, compacted=True)
    if current._life is not None and last is not None:
        object.__setattr__(updated, "_life", extend(current._life, last))
    return updated


def _with_visitor(current: LeadState, visitor_id: str | None, limits: HistoryLimits) -> LeadState:
    """Add a dropped form's visitor id to those kept apart, if it is among the smallest."""
    if visitor_id is None or visitor_id in current.visitors:
        return current
    visitors = _smallest({*current.visitors, visitor_id}, limits.visitors)
    if visitors == current.visitors:
        return current
    updated = LeadState(current.lead_id, current.moves, current.revision + 1, visitors, True, current._keys)
    return updated._carry(current, None)


def _smallest(ids: set[str], count: int) -> tuple[str, ...]:
    return tuple(sorted(ids)[:count])


def snapshot(state: LeadState, judge: Judge | None = None) -> LeadSnapshot:
    """Derive the lead's snapshot from its state; with a judge, its SLA clocks too."""
    lifecycle = state.lifecycle()
    visitors = tuple(sorted({m.visitor_id for m in state.moves if m.visitor_id} | set(state.visitors)))
    clocks = state.clocks(judge) if judge else ()
    return LeadSnapshot(state.lead_id, state.revision, lifecycle, visitors, state.moves[-1].time, clocks)
