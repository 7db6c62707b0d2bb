"""A long lead history is compacted to what its snapshot needs, and its snapshot stays that of the whole history."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipelines.core.codec import lead_from_bytes, lead_to_bytes, visitor_to_bytes
from pipelines.core.compaction import HistoryLimits, compact
from pipelines.core.identity import LEADS_PER_VISITOR, apply_link, apply_visit
from pipelines.core.lead import HistoryFull, LeadSnapshot, LeadState, apply_event, snapshot
from pipelines.core.lifecycle import to_move
from pipelines.core.model import Event
from tests.unit.factories import (
    CRM_OTHER,
    activity_event,
    deal_event,
    form_event,
    owner_event,
    parse,
    stage_event,
    visit_event,
)
from tests.unit.test_sla_properties import JUDGE, PROPERTY, assert_carried_as_derived

LEAD = "L1"
SMALL = HistoryLimits(whole=6, recent=3, anchors=60, visitors=3, every=1)
DEFERRED = HistoryLimits(whole=6, recent=3, anchors=60, visitors=3, every=3)  # compacted at every third change
WHOLE = HistoryLimits(whole=10**9, recent=10**9, anchors=10**9, visitors=10**9)
START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
STAGES = ("lead", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified", "lost")

what = st.one_of(
    st.tuples(st.just("stage"), st.sampled_from(STAGES)),
    st.tuples(st.just("stage"), st.sampled_from(("mql", "sql"))),
    st.tuples(st.just("deal"), st.sampled_from(("created", "won", "lost"))),
    st.tuples(st.just("owner"), st.sampled_from(["rep-1", "rep-2"])),
    st.tuples(st.just("human"), st.sampled_from([None, "rep-1", "rep-3", ""])),  # "": an owner the lifecycle ignores
    st.tuples(st.just("automated"), st.sampled_from([None, None, None, "rep-2", "rep-3"])),
    st.tuples(st.just("automated"), st.just(None)),
    st.tuples(st.just("form"), st.sampled_from(["V1", "V2", "V3", "V4", "V5", "V6"])),
)
# minutes apart from the one before (0: the same instant, so ties are common), and how many places it arrives late
steps = st.tuples(what, st.sampled_from([0, 0, 1, 7, 45, 180, 1500]), st.integers(min_value=0, max_value=2))
long_histories = st.lists(steps, min_size=8, max_size=90)


@functools.lru_cache(maxsize=16384)
def _event(kind: str, param: Any, moment: datetime, number: int) -> Event:
    event_id, source = f"e{number}", CRM_OTHER if number % 5 == 0 else "/crm/hubspot"
    if kind == "stage":
        raw = stage_event(LEAD, param, moment, id=event_id, source=source)
    elif kind == "deal":
        raw = deal_event(LEAD, param, moment, id=event_id, source=source)
    elif kind == "owner":
        raw = owner_event(LEAD, param, moment, id=event_id, source=source)
    elif kind == "form":
        raw = form_event(LEAD, param, moment, id=event_id)
    else:
        raw = activity_event(LEAD, moment, automated=kind == "automated", owner_id=param, id=event_id, source=source)
    return parse(raw)


def arrivals(spec: list[tuple[tuple[str, Any], int, int]]) -> tuple[list[Event], list[Event]]:
    """Return the events in time order, and in an arrival order where each is at most 2 places late."""
    events, moment = [], START
    for number, ((kind, param), gap, _late) in enumerate(spec):
        moment += timedelta(minutes=gap)
        events.append(_event(kind, param, moment, number))
    arrival = sorted(range(len(events)), key=lambda i: (i + spec[i][2] + 0.5 * (spec[i][2] > 0), i))
    return events, [events[i] for i in arrival]


def fold(events: list[Event], limits: HistoryLimits) -> LeadState:
    state: LeadState | None = None
    for event in events:
        state, _ = apply_event(state, event, limits)
    assert state is not None
    return state


def assert_same_numbers(got: LeadSnapshot, want: LeadSnapshot, limits: HistoryLimits) -> None:
    """Everything the store's numbers read is equal; the compacted lists of visitors and last times are bounded."""
    assert got.lifecycle == want.lifecycle
    assert got.clocks == want.clocks
    assert set(sorted(want.visitor_ids)[: limits.visitors]) <= set(got.visitor_ids) <= set(want.visitor_ids)
    assert got.last_event_at <= want.last_event_at


@pytest.mark.parametrize("limits", [SMALL, DEFERRED], ids=["each-change", "every-third-change"])
@PROPERTY
@given(spec=long_histories)
def test_a_compacted_history_gives_the_snapshot_of_the_whole_history(limits: HistoryLimits, spec: Any) -> None:
    events, arrival = arrivals(spec)
    whole = snapshot(fold(events, WHOLE), JUDGE)
    for order in (events, arrival):
        state = fold(order, limits)
        assert_same_numbers(snapshot(state, JUDGE), whole, limits)
        assert lead_from_bytes(lead_to_bytes(state)) == state


@pytest.mark.parametrize("limits", [SMALL, DEFERRED], ids=["each-change", "every-third-change"])
@PROPERTY
@given(spec=long_histories)
def test_what_a_compacted_state_carries_over_is_what_its_moves_derive(limits: HistoryLimits, spec: Any) -> None:
    _events, arrival = arrivals(spec)
    assert_carried_as_derived(arrival, limits)


@pytest.mark.parametrize("limits", [SMALL, DEFERRED], ids=["each-change", "every-third-change"])
@PROPERTY
@given(spec=long_histories)
def test_a_compacted_history_keeps_only_what_its_numbers_need(limits: HistoryLimits, spec: Any) -> None:
    events, arrival = arrivals(spec)
    state = fold(arrival, limits)
    anchors = sum(e.lifecycle_stage is not None or e.type == "crm.owner_assigned" for e in events)
    if len(events) > limits.whole:
        # the first move, the anchors, per anchor one human stop and one owner, the recent tails, and the moves
        # added since the last compaction
        kept = 1 + 3 * anchors + 3 * limits.recent + 1 + limits.every - 1
        assert len(state.moves) <= max(limits.whole + limits.every - 1, kept)
    assert len(state.visitors) <= limits.visitors


@pytest.mark.parametrize("limits", [SMALL, DEFERRED], ids=["each-change", "every-third-change"])
@PROPERTY
@given(spec=long_histories, data=st.data())
def test_an_event_applied_again_never_changes_a_number(limits: HistoryLimits, spec: Any, data: st.DataObject) -> None:
    events, arrival = arrivals(spec)
    state = fold(arrival, limits)
    before = snapshot(state, JUDGE)
    again = data.draw(st.lists(st.sampled_from(events), max_size=8))
    after = state
    for event in again:
        after, _ = apply_event(after, event, limits)
    assert after.revision >= state.revision
    snap = snapshot(after, JUDGE)
    assert (snap.lifecycle, snap.clocks, snap.visitor_ids) == (before.lifecycle, before.clocks, before.visitor_ids)


def test_automated_activities_of_a_compacted_lead_leave_its_state_as_it_is() -> None:
    events = [parse(stage_event(LEAD, "mql", START, id="s0"))]
    events += [parse(activity_event(LEAD, START + timedelta(minutes=i + 1), automated=True)) for i in range(40)]
    state = fold(events, SMALL)
    assert state.compacted and len(state.moves) == 1
    later = parse(activity_event(LEAD, START + timedelta(days=1), automated=True, id="later"))
    again, new = apply_event(state, later, SMALL)
    assert again is state and new is True


def test_a_form_of_a_compacted_lead_keeps_the_smallest_visitor_ids() -> None:
    events = [parse(stage_event(LEAD, "mql", START, id="s0"))]
    events += [parse(activity_event(LEAD, START + timedelta(minutes=i), automated=True, id=f"a{i}")) for i in range(20)]
    state = fold(events, SMALL)
    for n, visitor in enumerate(["V9", "V5", "V7", "V1", "V8"]):
        state, _ = apply_event(state, parse(form_event(LEAD, visitor, START + timedelta(hours=n + 1))), SMALL)
    assert snapshot(state).visitor_ids == ("V1", "V5", "V7")


def test_a_lead_with_as_many_anchors_as_kept_refuses_more() -> None:
    limits = HistoryLimits(whole=8, recent=2, anchors=5, visitors=2)
    stages = ["mql", "sql", "recycled", "mql", "sql"]
    state = fold([parse(stage_event(LEAD, s, START + timedelta(hours=i))) for i, s in enumerate(stages)], limits)
    with pytest.raises(HistoryFull, match="lead L1 has 5 stage, deal and owner events"):
        apply_event(state, parse(stage_event(LEAD, "customer", START + timedelta(days=1))), limits)
    human = parse(activity_event(LEAD, START + timedelta(days=1), automated=False))
    assert apply_event(state, human, limits)[0].revision == 6


def test_a_hot_lead_stays_small_and_exact() -> None:
    """20,000 activities and 100 stage changes: the state stays far below a Kafka message, its numbers exact."""
    events: list[Event] = []
    for i in range(20_000):
        moment = START + timedelta(minutes=i)
        if i % 200 == 0:
            events.append(parse(stage_event(LEAD, STAGES[(i // 200) % len(STAGES)], moment, id=f"s{i}")))
        human = i % 10 == 3
        events.append(parse(activity_event(LEAD, moment, automated=not human, owner_id="rep-1" if human else None)))
    state = fold(events, HistoryLimits())
    size = len(lead_to_bytes(state))
    assert size <= 64 * 1024, size
    whole = LeadState(LEAD, tuple(sorted((to_move(e) for e in events), key=lambda m: m.order)))
    assert_same_numbers(snapshot(state, JUDGE), snapshot(whole, JUDGE), HistoryLimits())


def _padded(limits: HistoryLimits) -> list[Event]:
    """A lead created by a form, then enough automated activities to compact its history."""
    events = [parse(form_event(LEAD, "V1", START, id="f0"))]
    count = limits.whole + 1
    events += [parse(activity_event(LEAD, START + timedelta(seconds=i + 1), automated=True)) for i in range(count)]
    return events


def test_a_stage_change_arriving_late_among_recent_human_activities_is_stopped_by_the_first_after_it() -> None:
    calls = [parse(activity_event(LEAD, START + timedelta(hours=h), automated=False)) for h in range(1, 9)]
    late_mql = parse(stage_event(LEAD, "mql", START + timedelta(minutes=390), id="mql"))
    state = fold([*_padded(SMALL), *calls, late_mql], SMALL)
    assert state.compacted and len(state.moves) < len(calls)
    (clock,) = [c for c in snapshot(state, JUDGE).clocks if c.handoff == "mql_follow_up"]
    assert clock.stopped_at == START + timedelta(hours=7)


def test_an_owner_change_arriving_late_among_recent_activities_gives_way_to_the_owners_after_it() -> None:
    logged = [
        parse(activity_event(LEAD, START + timedelta(hours=h), automated=True, owner_id=o))
        for h, o in enumerate(["rep-1", "rep-2"] * 4 + ["rep-3", "rep-3"], start=1)
    ]
    late = parse(owner_event(LEAD, "rep-9", START + timedelta(minutes=570), id="late-owner"))
    mql = parse(stage_event(LEAD, "mql", START + timedelta(minutes=580), id="mql"))
    call = parse(activity_event(LEAD, START + timedelta(minutes=640), automated=False))
    state = fold([*_padded(SMALL), *logged, mql, call, late], SMALL)
    assert state.compacted and len(state.moves) < len(logged)
    assert snapshot(state).lifecycle.owner_id == "rep-3"
    (clock,) = [c for c in snapshot(state, JUDGE).clocks if c.handoff == "mql_follow_up"]
    assert (clock.stopped_at, clock.owner_id) == (START + timedelta(minutes=640), "rep-3")


def test_compaction_keeps_anchors_stops_owners_in_force_and_the_recent_tails() -> None:
    moves = [to_move(parse(form_event(LEAD, "V1", START, id="f0")))]
    moves.append(to_move(parse(stage_event(LEAD, "mql", START + timedelta(hours=1), id="mql"))))
    for h in range(2, 12):  # every hour a human activity, then two automated ones that carry an owner
        moment = START + timedelta(hours=h)
        moves.append(to_move(parse(activity_event(LEAD, moment, automated=False, id=f"h{h}"))))
        for name, minutes in (("a", 20), ("b", 40)):
            logged = moment + timedelta(minutes=minutes)
            raw = activity_event(LEAD, logged, automated=True, owner_id=f"rep-{name}{h}", id=f"{name}{h}")
            moves.append(to_move(parse(raw)))
    kept = {m.id for m in compact(moves, HistoryLimits(whole=4, recent=3, anchors=10, visitors=1))}
    anchors, stop, recent_humans = {"f0", "mql"}, {"h2"}, {"h9", "h10", "h11"}
    in_force_at_recent_humans, recent_owners = {"b8", "b9", "b10"}, {"b10", "a11", "b11"}
    assert kept == anchors | stop | recent_humans | in_force_at_recent_humans | recent_owners


def test_a_visitor_tied_to_many_leads_keeps_the_smallest_ids_and_still_states_every_first_touch() -> None:
    visitor, _ = apply_visit(None, parse(visit_event("V1", START)))
    touched: list[str] = []
    for n in reversed(range(LEADS_PER_VISITOR + 50)):
        visitor, touches = apply_link(visitor, "V1", f"lead-{n:04d}")
        touched += [t.lead_id for t in touches]
    assert len(touched) == LEADS_PER_VISITOR + 50
    assert visitor.lead_ids == tuple(f"lead-{n:04d}" for n in range(LEADS_PER_VISITOR))
    assert len(visitor_to_bytes(visitor)) < 16 * 1024


def test_an_empty_owner_names_no_owner_in_a_compacted_history_either() -> None:
    # an activity logged by rep-1, then more than the recent tail keeps naming an empty owner ("" is valid)
    by_rep = parse(activity_event(LEAD, START + timedelta(hours=1), automated=True, owner_id="rep-1", id="a-rep"))
    empty = [
        parse(activity_event(LEAD, START + timedelta(hours=2, minutes=m), automated=True, owner_id="", id=f"a-{m}"))
        for m in range(2 * SMALL.recent)
    ]
    events = [*_padded(SMALL), by_rep, *empty]
    state = fold(events, SMALL)
    assert state.compacted
    whole = snapshot(fold(events, WHOLE), JUDGE)
    assert whole.lifecycle.owner_id == "rep-1"
    assert_same_numbers(snapshot(state, JUDGE), whole, SMALL)
