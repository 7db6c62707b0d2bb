"""Helpers of the lifecycle tests: one lead's events by minute, and its entries and transitions as tuples."""

from __future__ import annotations

from datetime import datetime

from pipelines.core.lead import snapshot
from pipelines.core.lifecycle import Lifecycle, derive, to_move
from tests.unit.factories import at, deal_event, form_event, lead_state, parse, stage_event

LEAD = "L1"


def life(*raws: bytes) -> Lifecycle:
    """The lifecycle after applying events in the given arrival order (and the same, folded directly)."""
    state = lead_state(raws)
    lifecycle = snapshot(state).lifecycle
    assert derive(to_move(parse(raw)) for raw in raws) == lifecycle
    return lifecycle


def entries(lifecycle: Lifecycle) -> list[tuple[int, str, datetime]]:
    return [(e.episode, e.stage, e.entered_at) for e in lifecycle.entries]


def transitions(lifecycle: Lifecycle) -> list[tuple[str, str, int, str]]:
    return [(t.from_stage, t.to_stage, t.episode, t.kind) for t in lifecycle.transitions]


def form(minutes: float, **kwargs: object) -> bytes:
    return form_event(LEAD, "V1", at(minutes), **kwargs)


def stage(name: str, minutes: float, **kwargs: object) -> bytes:
    return stage_event(LEAD, name, at(minutes), **kwargs)


def deal(deal_stage: str, minutes: float, **kwargs: object) -> bytes:
    return deal_event(LEAD, deal_stage, at(minutes), **kwargs)
