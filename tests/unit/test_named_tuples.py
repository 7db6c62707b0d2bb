"""The named tuples built per event by `NEW_TUPLE` (the tuple's own constructor) hold every field, in its place.

`NEW_TUPLE(Cls, values)` checks neither the number nor the order of the values: a field added to one of these
classes, or two values swapped, would pass unnoticed but for these tests, which compare each with the same tuple
built by name.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from pipelines.agreements import load_agreements
from pipelines.core.lifecycle import Move, to_move
from pipelines.core.model import Event, Origin
from pipelines.core.sla import Judge
from pipelines.core.steps import LeadEffects, SlaEffects, VisitorEffects, lead_step, sla_step, visit_step
from pipelines.replay import Judgement, Replayer
from tests.unit.factories import T0, activity_event, examples, parse, stage_event, visit_event

AGREEMENTS = Path(__file__).resolve().parents[2] / "agreements"
LEAD_TYPES = ["web.form_submitted", "crm.lifecycle_changed", "crm.owner_assigned", "crm.activity_logged"]


def _whole(value: Any, cls: type[NamedTuple]) -> None:  # type: ignore[valid-type]
    assert type(value) is cls
    assert len(value) == len(cls._fields)
    assert value == cls(**value._asdict())


class _Store:
    def query(self, sql: str, parameters: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        return []

    def insert(self, table: str, rows: Any, columns: Any) -> None:
        pass


@pytest.mark.parametrize("event_type", [*LEAD_TYPES, "crm.deal_changed"])
def test_a_move_holds_each_field_of_its_event(event_type: str) -> None:
    event = parse(json.dumps(examples()[event_type]).encode())
    move = to_move(event)
    _whole(move, Move)
    assert move == Move(
        time=event.time,
        source=event.source,
        id=event.id,
        type=event.type,
        stage=event.lifecycle_stage,
        owner_id=event.owner_id or None,
        human_activity=event.type == "crm.activity_logged" and event.automated is False,
        visitor_id=event.visitor_id if event.type == "web.form_submitted" else None,
    )


@pytest.mark.parametrize("event_type", LEAD_TYPES)
def test_a_lead_step_s_effects_are_whole(event_type: str) -> None:
    event = parse(json.dumps(examples()[event_type]).encode())
    effects = lead_step(None, event)
    _whole(effects, LeadEffects)
    assert (effects.new, effects.changed) == (True, True)
    assert effects.links == ((effects.links[0],) if event.type == "web.form_submitted" else ())
    again = lead_step(effects.state, event)
    assert (again.state, again.new, again.changed) == (effects.state, False, False)


def test_a_visit_step_s_effects_are_whole() -> None:
    effects = visit_step(None, parse(visit_event("V1", T0)))
    _whole(effects, VisitorEffects)
    assert (effects.state.visitor_id, effects.first_touches) == ("V1", ())


def test_judging_s_effects_are_whole_with_and_without_events() -> None:
    judge = Judge(load_agreements(AGREEMENTS))
    state = lead_step(None, parse(stage_event("L1", "mql", T0))).state
    quiet = sla_step(state, frozenset(), judge, T0)
    _whole(quiet, SlaEffects)
    assert quiet.events == () and quiet.next_due is not None and quiet.clocks == state.clocks(judge)
    late = sla_step(state, frozenset(), judge, T0 + timedelta(days=30))
    _whole(late, SlaEffects)
    assert late.events and late.published and late.clocks == quiet.clocks


def test_a_replay_s_origins_and_judgements_are_whole() -> None:
    """The replay builds an origin per line and a judgement per lead judged."""
    replayer = Replayer(_Store(), T0 + timedelta(days=60), "replay:t", Judge(load_agreements(AGREEMENTS)))
    origins: list[Origin] = []
    add_event = replayer._batch.add_event

    def spying(event: Event, origin: Origin) -> None:
        origins.append(origin)
        add_event(event, origin)

    replayer._batch.add_event = spying  # type: ignore[method-assign]
    lines = [stage_event("L1", "mql", T0), activity_event("L1", T0 + timedelta(hours=1), kind="call")]
    for number, raw in enumerate(lines, start=7):
        replayer.feed(raw, number)
    assert origins == [Origin("replay:t", 0, 7), Origin("replay:t", 0, 8)]
    for origin in origins:
        _whole(origin, Origin)
    judgement = replayer._judgements["L1"]
    _whole(judgement, Judgement)
    assert judgement.clocks is not None and judgement.clocks[0].stopped_at is not None
