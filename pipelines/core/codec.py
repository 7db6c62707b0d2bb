"""State to bytes and back, for the changelogged tables (compact JSON arrays, versioned by shape)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson

from pipelines.core.identity import Touch, VisitorState
from pipelines.core.lead import LeadState
from pipelines.core.lifecycle import Move

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def _ms(t: datetime) -> int:
    return (t - EPOCH) // MILLISECOND


def _dt(ms: int) -> datetime:
    return EPOCH + ms * MILLISECOND


def lead_to_bytes(state: LeadState) -> bytes:
    """Encode a lead state."""
    moves = [
        [_ms(m.time), m.source, m.id, m.type, m.stage, m.owner_id, m.human_activity, m.visitor_id] for m in state.moves
    ]
    return orjson.dumps([1, state.lead_id, moves])


def lead_from_bytes(raw: bytes) -> LeadState:
    """Decode a lead state."""
    _version, lead_id, moves = orjson.loads(raw)
    return LeadState(lead_id, tuple(Move(_dt(m[0]), *m[1:]) for m in moves))


def visitor_to_bytes(state: VisitorState) -> bytes:
    """Encode a visitor state."""
    t = state.first_visit
    touch = (
        None
        if t is None
        else [_ms(t.time), t.source, t.id, t.url, t.referrer, t.utm_source, t.utm_medium, t.utm_campaign]
    )
    return orjson.dumps([1, state.visitor_id, touch, list(state.lead_ids)])


def visitor_from_bytes(raw: bytes) -> VisitorState:
    """Decode a visitor state."""
    _version, visitor_id, touch, lead_ids = orjson.loads(raw)
    first = None if touch is None else Touch(_dt(touch[0]), *touch[1:])
    return VisitorState(visitor_id, first, tuple(lead_ids))
