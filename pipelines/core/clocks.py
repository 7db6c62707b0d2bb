"""A lead's SLA handoff clocks, derived from its moves: afresh, or one move on from the clocks before it."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterator, Sequence
from datetime import datetime
from itertools import islice, zip_longest

from pipelines.core.calendar import NoBusinessTime
from pipelines.core.lifecycle import ORDER, Lifecycle, Move, StageEntry
from pipelines.core.sla import Clock, Judge
from schemas.agreement import Agreement, Handoff


def _stops(handoff: Handoff, move: Move) -> bool:
    """Say whether a move stops a handoff's clock (if it is running then)."""
    return move.stage in handoff.stops_on.stages or (handoff.stops_on.human_activity and move.human_activity)


def _stop(handoff: Handoff, moves: Sequence[Move], start: int) -> Move | None:
    """Return the first move from `start` on that stops a handoff's clock."""
    return next((m for m in islice(moves, start, None) if _stops(handoff, m)), None)


def _position(moves: Sequence[Move], entry: StageEntry) -> int:
    """Return where the move that entered a stage is in the moves (0 if they no longer hold it), by bisection."""
    index = bisect_left(moves, (entry.entered_at, *entry.entered_by), key=ORDER)
    return index if index < len(moves) and moves[index][1:3] == entry.entered_by else 0


class _Owners:
    """Who owned a lead at any instant: the owner of the last move carrying one, at or before it (by time)."""

    def __init__(self, moves: Sequence[Move]) -> None:
        carrying = [m for m in moves if m.owner_id]
        self._times = [m.time for m in carrying]
        self._owners = [m.owner_id for m in carrying]

    def at(self, instant: datetime | None) -> str | None:
        """Return the owner at an instant (None: the last owner)."""
        index = len(self._times) if instant is None else bisect_right(self._times, instant)
        return self._owners[index - 1] if index else None


def _clock(
    handoff: Handoff, agreement: Agreement, entry: StageEntry, stop: Move | None, owners: _Owners, judge: Judge
) -> Clock:
    stopped_at = stop.time if stop else None
    starter, owner = owners.at(entry.entered_at), owners.at(stopped_at)
    key = (agreement.name, handoff.name, entry.episode, entry.entered_at, stopped_at, starter, owner)
    return judge.remembered_clock(key, lambda: _new_clock(handoff, agreement, entry, stopped_at, starter, owner, judge))


def _new_clock(
    handoff: Handoff,
    agreement: Agreement,
    entry: StageEntry,
    stopped_at: datetime | None,
    starter: str | None,
    owner: str | None,
    judge: Judge,
) -> Clock:
    try:
        deadline, warn_at, business_seconds = judge.timing(agreement, handoff, entry.entered_at, stopped_at, starter)
        escalations = judge.escalations(agreement, handoff, deadline, starter)
    except NoBusinessTime:  # an owner away for the next ten years: the agreement's hours count
        deadline, warn_at, business_seconds = judge.timing(agreement, handoff, entry.entered_at, stopped_at, None)
        escalations = judge.escalations(agreement, handoff, deadline, None)
    return Clock(
        handoff=handoff.name,
        agreement=agreement.name,
        episode=entry.episode,
        started_at=entry.entered_at,
        deadline=deadline,
        warn_at=warn_at,
        stopped_at=stopped_at,
        business_seconds=business_seconds,
        owner_id=owner,
        escalations=escalations,
    )


def _started(entries: Sequence[StageEntry], judge: Judge) -> Iterator[tuple[StageEntry, Agreement, Handoff]]:
    """Yield each handoff that a stage entry starts, with the entry and the agreement in force, in clock order."""
    for entry in entries:
        agreement = judge.agreement_at(entry.entered_at)
        if agreement is None:
            continue
        for handoff in agreement.handoffs:
            if handoff.starts_on.stage == entry.stage:
                yield entry, agreement, handoff


def derive_clocks(moves: Sequence[Move], lifecycle: Lifecycle, judge: Judge) -> tuple[Clock, ...]:
    """Return every handoff clock of a lead: one per handoff whose starting stage an episode entered.

    `moves` are in event-time order. A clock stops at the first move matching its `stops_on`, from the move that
    started it on (that move included); its owner is the lead's owner when it stopped (the last owner if open).
    A `clock: owner` handoff counts the calendar of the owner when it started: a reassignment while it runs
    changes the clock's owner, not its deadline.
    """
    owners = _Owners(moves)
    return tuple(
        _derived(entry, agreement, handoff, moves, owners, judge)
        for entry, agreement, handoff in _started(lifecycle.entries, judge)
    )


def extend_clocks(
    clocks: tuple[Clock, ...], moves: Sequence[Move], before: Lifecycle, after: Lifecycle, judge: Judge
) -> tuple[Clock, ...]:
    """Return what `derive_clocks(moves, after, judge)` returns, one move on from what it returned before.

    `clocks` are those derived from every move but the last (`moves[-1]`, later than each other) with `before`,
    by this judge at its current version. A clock the last move cannot change is kept as it is (the very tuple,
    when every one is); the others, and the clocks of the stages it entered, are derived as `derive_clocks` does.
    """
    move, last_owner = moves[-1], before.owner_id
    # `after` holds the entries of `before` first, as they were: their clocks come first, in the same order
    started = list(_started(after.entries, judge))
    if len(started) == len(clocks) and all(
        _kept(c, h, move, last_owner) for c, (_, _, h) in zip(clocks, started, strict=True)
    ):
        return clocks
    owners = _Owners(moves)
    return tuple(
        clock
        if clock is not None and _kept(clock, handoff, move, last_owner)
        else _derived(entry, agreement, handoff, moves, owners, judge)
        for clock, (entry, agreement, handoff) in zip_longest(clocks, started)
    )


def _derived(
    entry: StageEntry, agreement: Agreement, handoff: Handoff, moves: Sequence[Move], owners: _Owners, judge: Judge
) -> Clock:
    """Derive the clock of one handoff that a stage entry started."""
    return _clock(handoff, agreement, entry, _stop(handoff, moves, _position(moves, entry)), owners, judge)


def _kept(clock: Clock, handoff: Handoff, move: Move, last_owner: str | None) -> bool:
    """Say whether a move later than every other leaves a clock as it was (`last_owner`: the owner before it).

    It stops the clock if the clock runs until it and matches. The owner at an instant changes only from the
    move's own instant on (at or after every other move), and only if it names another owner than the last: the
    owner at the clock's start, at its stop, or of an open clock (the last owner).
    """
    if clock.stopped_at is None and _stops(handoff, move):
        return False
    if not move.owner_id or move.owner_id == last_owner:
        return True
    return clock.stopped_at is not None and move.time not in (clock.started_at, clock.stopped_at)
