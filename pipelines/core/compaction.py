"""What a long lead history keeps: the moves that can still change a number, and the latest of the rest.

A lead keeps every distinct event until it has `HistoryLimits.whole` of them. Past that its history is compacted:
it keeps the first move (the lead's creation) and every stage, deal and owner-assignment move (the anchors: they
make the lifecycle and start or stop clocks); of its activities and forms it keeps only what the snapshot uses:

- the first human activity at or after each anchor (the stop of any clock that anchor starts);
- the owner-carrying move in force at each kept move (the owner of a clock that stops there) and the last one;
- the `recent` latest human activities and the `recent` latest activities that carry an owner, so that an event
  arriving late among them is placed as it would have been in the whole history;
- of forms, the `visitors` smallest visitor ids, apart from the moves (the snapshot lists them);
- automated activities without an owner stop nothing and set nothing: they are dropped.

The snapshot of a compacted history therefore equals the snapshot of the whole history as long as no event
arrives later than the lead's `recent` latest human activities and owner-carrying activities. A history past
`whole` is compacted at every `every`-th change rather than at each: what it keeps in between is more of the
whole history, which changes no number.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pipelines.core.lifecycle import Move

OWNER_ASSIGNED = "crm.owner_assigned"


@dataclass(frozen=True, slots=True)
class HistoryLimits:
    """How much of a lead's history its state keeps."""

    whole: int = 256  # up to this many moves, every distinct event is kept
    recent: int = 64  # past it, the latest human activities and owner changes kept besides the anchors
    anchors: int = 400  # stage, deal and owner-assignment events of one lead; past it, more are refused
    visitors: int = 64  # visitor ids of dropped forms kept for the snapshot (the smallest ones)
    # past `whole`, compacted at every this many changes (when the revision is a multiple of it), not at each: a
    # hot lead's whole kept history is not scanned per event, and at most `every - 1` moves more are kept between
    every: int = 32


LIMITS = HistoryLimits()


def is_anchor(move: Move) -> bool:
    """Say whether a move is always kept: it changes a stage or assigns an owner."""
    return move.stage is not None or move.type == OWNER_ASSIGNED


def is_owner_point(move: Move) -> bool:
    """Say whether a move carries an owner without being an anchor (an activity logged by an owner)."""
    return move.owner_id is not None and not is_anchor(move)


def is_droppable(move: Move) -> bool:
    """Say whether a move that is neither first nor recent is dropped whatever else the lead has."""
    return not (is_anchor(move) or move.human_activity or move.owner_id is not None)


def compact(moves: Sequence[Move], limits: HistoryLimits) -> tuple[Move, ...]:
    """Return the moves (in event-time order) that a compacted history keeps."""
    starts = {0} | {i for i, m in enumerate(moves) if is_anchor(m)}
    humans = [i for i, m in enumerate(moves) if m.human_activity]
    owners = [i for i, m in enumerate(moves) if is_owner_point(m)]
    keep = starts | set(humans[-limits.recent :]) | set(owners[-limits.recent :]) | _first_humans_after(moves, starts)
    keep |= _owners_in_force(moves, keep)
    return tuple(m for i, m in enumerate(moves) if i in keep)


def _first_humans_after(moves: Sequence[Move], starts: set[int]) -> set[int]:
    """Return the first human activity at or after each start: the stop of any clock the start begins."""
    found: set[int] = set()
    next_human: int | None = None
    for index in range(len(moves) - 1, -1, -1):
        if moves[index].human_activity:
            next_human = index
        if index in starts and next_human is not None:
            found.add(next_human)
    return found


def _owners_in_force(moves: Sequence[Move], kept: Iterable[int]) -> set[int]:
    """Return the owner-carrying move in force at each kept move's time (ties in time included), and the last."""
    wanted = {moves[i].time for i in kept}
    found: set[int] = set()
    last: int | None = None
    for index, move in enumerate(moves):
        if move.owner_id is not None:
            last = index
        end_of_instant = index + 1 == len(moves) or moves[index + 1].time != move.time
        if end_of_instant and move.time in wanted and last is not None:
            found.add(last)
    if last is not None:
        found.add(last)
    return found
