"""State to bytes and back, for the changelogged tables (compact JSON arrays, versioned by shape)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from pipelines.core.identity import Touch, VisitorState
from pipelines.core.lead import LeadState
from pipelines.core.lifecycle import Move

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def _dumps(value: object) -> bytes:
    """Encode to JSON in a bytes object of exactly its size."""
    # orjson's own result sits in a buffer of 4 KiB or more, which the state tables would hold per lead
    return memoryview(orjson.dumps(value)).tobytes()


def to_ms(t: datetime) -> int:
    """Return an instant as whole milliseconds since the epoch."""
    return (t - EPOCH) // MILLISECOND


def from_ms(ms: int) -> datetime:
    """Return the UTC instant of milliseconds since the epoch."""
    return EPOCH + ms * MILLISECOND


def lead_to_bytes(state: LeadState) -> bytes:
    """Encode a lead state: a whole history as version 1, a compacted one as the denser version 2."""
    if not state.compacted and not state.visitors and state.revision == len(state.moves):
        moves = [
            [to_ms(m.time), m.source, m.id, m.type, m.stage, m.owner_id, m.human_activity, m.visitor_id]
            for m in state.moves
        ]
        return _dumps([1, state.lead_id, moves])
    return _dumps([2, state.lead_id, state.revision, list(state.visitors), *_dense_moves(state.moves)])


def _dense_moves(moves: tuple[Move, ...]) -> list[list[Any]]:
    """Return (sources, types, owners, moves): strings that repeat listed once, times as differences in ms."""
    sources: dict[str, int] = {}
    types: dict[str, int] = {}
    owners: dict[str | None, int] = {None: 0}
    rows: list[Any] = []
    previous = 0
    for m in moves:
        ms = to_ms(m.time)
        source, kind = sources.setdefault(m.source, len(sources)), types.setdefault(m.type, len(types))
        owner = owners.setdefault(m.owner_id, len(owners))
        rows.append([ms - previous, source, m.id, kind, m.stage, owner, int(m.human_activity), m.visitor_id])
        previous = ms
    return [list(sources), list(types), list(owners)[1:], rows]


def lead_from_bytes(raw: bytes) -> LeadState:
    """Decode a lead state of either version; an empty owner (written before `to_move` dropped it) is none."""
    version, lead_id, *rest = orjson.loads(raw)
    if version == 1:
        (moves,) = rest
        return LeadState(
            lead_id,
            tuple(Move(from_ms(at), source, move_id, kind, stage, owner or None, human, visitor)
                  for at, source, move_id, kind, stage, owner, human, visitor in moves),
        )  # fmt: skip
    revision, visitors, sources, types, owners, rows = rest
    owner_ids = [None, *(owner or None for owner in owners)]
    decoded: list[Move] = []
    ms = 0
    for delta, source, move_id, kind, stage, owner, human, visitor in rows:
        ms += delta
        decoded.append(
            Move(
                from_ms(ms),
                sources[source],
                move_id,
                types[kind],
                stage,
                owner_ids[owner],
                bool(human),
                visitor,
            )
        )
    return LeadState(lead_id, tuple(decoded), revision, tuple(visitors), compacted=True)


def visitor_to_bytes(state: VisitorState) -> bytes:
    """Encode a visitor state."""
    t = state.first_visit
    touch = (
        None
        if t is None
        else [to_ms(t.time), t.source, t.id, t.url, t.referrer, t.utm_source, t.utm_medium, t.utm_campaign]
    )
    return _dumps([1, state.visitor_id, touch, list(state.lead_ids)])


def visitor_from_bytes(raw: bytes) -> VisitorState:
    """Decode a visitor state."""
    _version, visitor_id, touch, lead_ids = orjson.loads(raw)
    first = None if touch is None else Touch(from_ms(touch[0]), *touch[1:])
    return VisitorState(visitor_id, first, tuple(lead_ids))


def sla_to_bytes(published: frozenset[str], partition: int, next_due: int | None) -> bytes:
    """Encode what was published of a lead's clocks, its partition and when it is next due (ms)."""
    return _dumps([1, partition, sorted(published), next_due])


def sla_from_bytes(raw: bytes) -> tuple[frozenset[str], int, int | None]:
    """Decode (published markers, partition, next due ms)."""
    _version, partition, published, next_due = orjson.loads(raw)
    return frozenset(published), int(partition), next_due
