"""State to bytes and back, for the changelogged tables (compact JSON arrays, versioned by shape)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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
    """Encode a lead state."""
    moves = [
        [to_ms(m.time), m.source, m.id, m.type, m.stage, m.owner_id, m.human_activity, m.visitor_id]
        for m in state.moves
    ]
    return _dumps([1, state.lead_id, moves])


def lead_from_bytes(raw: bytes) -> LeadState:
    """Decode a lead state."""
    _version, lead_id, moves = orjson.loads(raw)
    return LeadState(lead_id, tuple(Move(from_ms(m[0]), *m[1:]) for m in moves))


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
