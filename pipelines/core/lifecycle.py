"""The stage model of contract §2: a lead's event-time-ordered moves fold into episodes, entries, transitions."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from operator import itemgetter
from typing import NamedTuple

from pipelines.core.model import NEW_TUPLE, Event, EventKey
from schemas.events import FUNNEL as FUNNEL_STAGES

FUNNEL: tuple[str, ...] = tuple(stage.value for stage in FUNNEL_STAGES)  # the one list, in the events' schema
FUNNEL_RANK: dict[str, int] = {stage: rank for rank, stage in enumerate(FUNNEL)}
SIDE_STAGES: frozenset[str] = frozenset({"recycled", "disqualified", "lost"})


class Move(NamedTuple):
    """One event in a lead's history, reduced to what the lifecycle and the SLA clocks need.

    Named tuples, as `Transition` below: every lead event and every decoded history builds them.
    """

    time: datetime
    source: str
    id: str
    type: str
    stage: str | None = None
    owner_id: str | None = None
    human_activity: bool = False
    visitor_id: str | None = None

    @property
    def order(self) -> tuple[datetime, str, str]:
        """Return the event-time order key; ties are broken by (`source`, `id`) so every order is total."""
        return (self.time, self.source, self.id)

    @property
    def key(self) -> EventKey:
        """Return the idempotency key."""
        return (self.source, self.id)


ORDER = itemgetter(0, 1, 2)  # a move's (time, source, id), its `order`, as a key function without a call into Python


class StageEntry(NamedTuple):
    """A lead entering a funnel stage within an episode.

    A named tuple, built with every derivation of a lead; equal to another whatever event entered it.
    """

    episode: int
    stage: str
    entered_at: datetime
    entered_by: EventKey = ("", "")  # the event that entered it

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StageEntry):
            return NotImplemented
        return self[:3] == other[:3]

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __hash__(self) -> int:
        return hash(self[:3])


class Transition(NamedTuple):
    """A recorded stage change; `kind` is created, forward, new_episode, backward, lateral, recycled or side."""

    at: datetime
    source: str
    id: str
    from_stage: str
    to_stage: str
    episode: int
    kind: str


@dataclass(frozen=True, slots=True)
class Lifecycle:
    """Everything derived from a lead's moves."""

    created_at: datetime
    stage: str
    episode: int
    episode_open: bool
    owner_id: str | None
    entries: tuple[StageEntry, ...]
    transitions: tuple[Transition, ...]


def to_move(event: Event) -> Move:
    """Reduce a lead event to its move."""
    # time, source, id, type, stage, owner_id, human_activity, visitor_id
    return NEW_TUPLE(Move, (
        event.time, event.source, event.id, event.type, event.lifecycle_stage,
        event.owner_id or None,  # an empty owner names none: for the lifecycle, clocks and compaction alike
        event.type == "crm.activity_logged" and event.automated is False,
        event.visitor_id if event.type == "web.form_submitted" else None,
    ))  # fmt: skip


@dataclass
class _Fold:
    """Mutable scratch state of one `derive` call; never leaves this module."""

    stage: str
    episode: int = 1
    episode_open: bool = True
    reached: int = 0  # highest funnel rank entered in the open episode


def _enter_up_to(fold: _Fold, rank: int, move: Move, entries: list[StageEntry]) -> bool:
    """Enter every funnel stage above `lead` not yet entered in the episode, up to `rank`."""
    if rank <= fold.reached:
        return False
    skipped = range(max(fold.reached + 1, 1), rank + 1)
    entries.extend(StageEntry(fold.episode, FUNNEL[r], move.time, move.key) for r in skipped)
    fold.reached = rank
    return True


def _move_kind(fold: _Fold, target: str, move: Move, entries: list[StageEntry]) -> str:
    """Apply a stage change to the fold and say what kind of move it was."""
    if target == "recycled":
        fold.episode_open = False
        return "recycled"
    if target in SIDE_STAGES:
        return "side"
    rank = FUNNEL_RANK[target]
    if not fold.episode_open:
        if rank == 0:
            return "backward"
        fold.episode, fold.episode_open, fold.reached = fold.episode + 1, True, 0
        _enter_up_to(fold, rank, move, entries)
        return "new_episode"
    if _enter_up_to(fold, rank, move, entries):
        return "forward"
    current = FUNNEL_RANK.get(fold.stage)
    return "backward" if current is not None and rank < current else "lateral"


def derive(moves: Iterable[Move], in_order: bool = False) -> Lifecycle | None:
    """Fold moves (in any order, or `in_order` of event time already) into the lead's lifecycle; None if none."""
    ordered = list(moves) if in_order else sorted(moves, key=ORDER)
    if not ordered:
        return None
    first = ordered[0]
    fold = _Fold(stage="lead")
    entries: list[StageEntry] = [StageEntry(1, "lead", first.time, first.key)]
    transitions: list[Transition] = []
    owner_id: str | None = None
    for move in ordered:
        owner_id = move.owner_id or owner_id
        if move is first:
            target = move.stage or "lead"
            if target != "lead":
                _move_kind(fold, target, move, entries)
            transitions.append(Transition(move.time, move.source, move.id, "", target, fold.episode, "created"))
            fold.stage = target
            continue
        if move.stage is None or move.stage == fold.stage:
            continue
        kind = _move_kind(fold, move.stage, move, entries)
        transitions.append(Transition(move.time, move.source, move.id, fold.stage, move.stage, fold.episode, kind))
        fold.stage = move.stage
    return Lifecycle(
        created_at=first.time,
        stage=fold.stage,
        episode=fold.episode,
        episode_open=fold.episode_open,
        owner_id=owner_id,
        entries=tuple(entries),
        transitions=tuple(transitions),
    )


def extend(life: Lifecycle, move: Move) -> Lifecycle:
    """Return what `derive` gives for the moves folded into `life` and one more, later than each of them.

    The fold picks up where `derive` left it: its stage, episode and whether the episode is open are the
    lifecycle's, and the highest funnel rank entered in the episode is its last entry's (every episode enters
    stages in rank order, and a new one enters one at least). The given lifecycle is returned when the move
    changes nothing of it.
    """
    owner_id = move.owner_id or life.owner_id
    if move.stage is None or move.stage == life.stage:
        return life if owner_id == life.owner_id else replace(life, owner_id=owner_id)
    fold = _Fold(life.stage, life.episode, life.episode_open, FUNNEL_RANK[life.entries[-1].stage])
    entries = list(life.entries)
    kind = _move_kind(fold, move.stage, move, entries)
    transition = Transition(move.time, move.source, move.id, life.stage, move.stage, fold.episode, kind)
    transitions = (*life.transitions, transition)
    return Lifecycle(life.created_at, move.stage, fold.episode, fold.episode_open, owner_id, (*entries,), transitions)
