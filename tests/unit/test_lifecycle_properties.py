"""Properties of a lead's lifecycle and a visitor's first touch over random histories (contract §2)."""

from __future__ import annotations

import functools
import itertools
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.core.codec import lead_from_bytes, lead_to_bytes, visitor_from_bytes, visitor_to_bytes
from pipelines.core.identity import FirstTouch, Touch, VisitorState, apply_link, apply_visit
from pipelines.core.lead import LeadState, apply_event, snapshot
from pipelines.core.lifecycle import FUNNEL, FUNNEL_RANK, Lifecycle
from pipelines.core.model import Event
from tests.unit.factories import (
    CRM,
    CRM_OTHER,
    T0,
    WEB,
    activity_event,
    deal_event,
    form_event,
    owner_event,
    parse,
    stage_event,
    visit_event,
)

PROPERTY = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
LEAD = "L1"
STAGES = ("lead", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified", "lost")
DEAL_STAGES = ("created", "proposal", "won", "lost")
WEB_OTHER = "/web/shop.example.com"

# Times on a coarse grid of seconds with a few milliseconds so that equal times are common.
moments = st.builds(
    lambda minute, ms: T0 + timedelta(minutes=minute, milliseconds=ms),
    st.integers(min_value=0, max_value=40),
    st.sampled_from([0, 0, 0, 1, 999]),
)
what = st.one_of(
    st.tuples(st.just("stage"), st.sampled_from(STAGES)),
    st.tuples(st.just("deal"), st.sampled_from(DEAL_STAGES)),
    st.tuples(st.just("activity"), st.booleans()),
    st.tuples(st.just("form"), st.sampled_from(["V1", "V2"])),
    st.tuples(st.just("owner"), st.sampled_from(["rep-1", "rep-2"])),
)
# (what, when, source choice, id): ids repeat across sources on purpose; (source, id) is kept unique.
specs = st.lists(
    st.tuples(what, moments, st.booleans(), st.integers(min_value=0, max_value=12)),
    min_size=1,
    max_size=24,
)


@functools.lru_cache(maxsize=4096)
def _event(spec: tuple[tuple[str, Any], datetime, bool, int]) -> Event:
    """Build and validate once: hypothesis replays the same specs across tests."""
    return parse(_build(spec))


def _build(spec: tuple[tuple[str, Any], datetime, bool, int]) -> bytes:
    (kind, param), moment, other, number = spec
    event_id = f"e{number}"
    crm = CRM_OTHER if other else CRM
    if kind == "stage":
        return stage_event(LEAD, param, moment, id=event_id, source=crm)
    if kind == "deal":
        return deal_event(LEAD, param, moment, id=event_id, source=crm, deal_id=f"D{number % 2}")
    if kind == "activity":
        return activity_event(LEAD, moment, automated=param, id=event_id, source=crm, owner_id="rep-3")
    if kind == "owner":
        return owner_event(LEAD, param, moment, id=event_id, source=crm)
    return form_event(LEAD, param, moment, id=event_id, source=WEB_OTHER if other else WEB)


@st.composite
def histories(draw: st.DrawFn) -> list[Event]:
    """Distinct events of one lead (unique by (source, id)), in generation order."""
    events: dict[tuple[str, str], Event] = {}
    for spec in draw(specs):
        event = _event(spec)
        events.setdefault(event.key, event)
    return list(events.values())


def fold(events: list[Event], state: LeadState | None = None) -> LeadState:
    for event in events:
        state, _ = apply_event(state, event)
    assert state is not None
    return state


def expected_entries(events: list[Event]) -> list[tuple[int, str, datetime]]:
    """The contract's entries, computed independently of the code under test."""
    ordered = sorted(events, key=lambda e: (e.time, e.source, e.id))
    result = [(1, "lead", ordered[0].time)]
    episode, episode_open, reached = 1, True, 0
    for event in ordered:
        target = event.lifecycle_stage
        if target == "recycled":
            episode_open = False
        if target not in FUNNEL_RANK or target == "lead":
            continue
        if not episode_open:
            episode, episode_open, reached = episode + 1, True, 0
        rank = FUNNEL_RANK[target]
        result.extend((episode, FUNNEL[r], event.time) for r in range(reached + 1, rank + 1))
        reached = max(reached, rank)
    return result


@PROPERTY
@given(events=histories(), data=st.data())
def test_any_arrival_order_gives_the_same_state_and_snapshot(events: list[Event], data: st.DataObject) -> None:
    reference = fold(events)
    arrival = data.draw(st.permutations(events), label="arrival")
    state = fold(arrival)
    assert state == reference
    got, want = snapshot(state), snapshot(reference)
    assert got == want
    assert (got.lifecycle.entries, got.lifecycle.transitions) == (want.lifecycle.entries, want.lifecycle.transitions)
    assert (got.lifecycle.stage, got.lifecycle.episode) == (want.lifecycle.stage, want.lifecycle.episode)


@PROPERTY
@given(events=histories(), data=st.data())
def test_applying_an_event_again_changes_nothing(events: list[Event], data: st.DataObject) -> None:
    repeats = data.draw(st.lists(st.sampled_from(events), max_size=10), label="repeats")
    arrival = list(events)
    for event in repeats:
        arrival.insert(data.draw(st.integers(min_value=0, max_value=len(arrival)), label="position"), event)
    state: LeadState | None = None
    seen: set[tuple[str, str]] = set()
    for event in arrival:
        updated, new = apply_event(state, event)
        assert new is (event.key not in seen)
        if not new:
            assert updated == state
        seen.add(event.key)
        state = updated
    assert state is not None
    assert state.revision == len(seen) == len(events)
    assert snapshot(state) == snapshot(fold(events))


@PROPERTY
@given(events=histories())
def test_each_funnel_stage_is_entered_at_most_once_per_episode_and_lead_once(events: list[Event]) -> None:
    lifecycle = snapshot(fold(events)).lifecycle
    keys = [(e.episode, e.stage) for e in lifecycle.entries]
    assert len(keys) == len(set(keys))
    assert [(e.episode, e.stage) for e in lifecycle.entries if e.stage == "lead"] == [(1, "lead")]
    assert all(e.stage in FUNNEL for e in lifecycle.entries)
    assert {e.episode for e in lifecycle.entries} == set(range(1, lifecycle.episode + 1))


@PROPERTY
@given(events=histories())
def test_entries_follow_creation_and_the_funnel_order_in_time(events: list[Event]) -> None:
    lifecycle = snapshot(fold(events)).lifecycle
    assert lifecycle.created_at == min(e.time for e in events)
    assert lifecycle.entries[0].entered_at == lifecycle.created_at
    assert all(e.entered_at >= lifecycle.created_at for e in lifecycle.entries)
    by_episode: dict[int, list[tuple[int, datetime]]] = defaultdict(list)
    for entry in lifecycle.entries:
        by_episode[entry.episode].append((FUNNEL_RANK[entry.stage], entry.entered_at))
    for entered in by_episode.values():
        times = [moment for _rank, moment in sorted(entered)]
        assert times == sorted(times)
        ranks = sorted(rank for rank, _ in entered)
        # Skipped stages are entered too: an episode's entries are a run of consecutive funnel stages.
        assert ranks == list(range(ranks[0], ranks[0] + len(ranks)))
    episodes = [e.episode for e in lifecycle.entries]
    assert episodes == sorted(episodes)


@PROPERTY
@given(events=histories())
def test_entries_are_those_the_contract_describes(events: list[Event]) -> None:
    lifecycle = snapshot(fold(events)).lifecycle
    assert [(e.episode, e.stage, e.entered_at) for e in lifecycle.entries] == expected_entries(events)


@PROPERTY
@given(events=histories())
def test_transitions_form_a_chain_of_every_stage_change(events: list[Event]) -> None:
    lifecycle: Lifecycle = snapshot(fold(events)).lifecycle
    ordered = sorted(events, key=lambda e: (e.time, e.source, e.id))
    stages = [ordered[0].lifecycle_stage or "lead"] + [s for e in ordered[1:] if (s := e.lifecycle_stage)]
    changes = [b for a, b in itertools.pairwise(stages) if a != b]
    first, *rest = lifecycle.transitions
    assert (first.from_stage, first.to_stage, first.kind, first.episode) == ("", stages[0], "created", 1)
    assert [t.to_stage for t in rest] == changes
    assert all(a.to_stage == b.from_stage for a, b in itertools.pairwise(lifecycle.transitions))
    assert lifecycle.transitions[-1].to_stage == lifecycle.stage
    assert [t.at for t in lifecycle.transitions] == sorted(t.at for t in lifecycle.transitions)
    assert {t.kind for t in lifecycle.transitions} <= {
        "created",
        "forward",
        "new_episode",
        "backward",
        "lateral",
        "recycled",
        "side",
    }
    assert lifecycle.episode == 1 + sum(t.kind == "new_episode" for t in lifecycle.transitions)


@PROPERTY
@given(events=histories())
def test_lead_state_survives_the_codec(events: list[Event]) -> None:
    state = fold(events)
    raw = lead_to_bytes(state)
    decoded = lead_from_bytes(raw)
    assert decoded == state
    assert lead_to_bytes(decoded) == raw
    assert snapshot(decoded) == snapshot(state)


# --- visitors and first touch ---------------------------------------------------------------------------------------

visits = st.lists(
    st.tuples(
        moments,
        st.sampled_from([WEB, WEB_OTHER]),
        st.integers(min_value=0, max_value=8),
        st.sampled_from([None, "newsletter", "ads"]),
    ),
    max_size=12,
)
links = st.lists(st.sampled_from(["L1", "L2", "L3"]), max_size=5)


@functools.lru_cache(maxsize=4096)
def _visit(spec: tuple[datetime, str, int, str | None]) -> Event:
    moment, source, number, campaign = spec
    kwargs = {"utm_source": campaign, "utm_medium": "cpc", "utm_campaign": f"c-{number}"} if campaign else {}
    return parse(visit_event("V1", moment, id=f"v{number}", source=source, url=f"https://x.example/{number}", **kwargs))


@st.composite
def visitor_ops(draw: st.DrawFn) -> tuple[list[Event], list[str | Event]]:
    """Distinct visits of one visitor, and those visits (some twice) interleaved with links, in arrival order."""
    distinct: dict[tuple[str, str], Event] = {}
    for spec in draw(visits):
        event = _visit(spec)
        distinct.setdefault(event.key, event)
    events = list(distinct.values())
    repeats = draw(st.lists(st.sampled_from(events), max_size=3)) if events else []
    ops: list[str | Event] = [*events, *repeats, *draw(links)]
    return events, draw(st.permutations(ops))


def run_visitor(ops: list[str | Event]) -> tuple[VisitorState | None, list[FirstTouch]]:
    state: VisitorState | None = None
    emitted: list[FirstTouch] = []
    for op in ops:
        state, touches = apply_link(state, "V1", op) if isinstance(op, str) else apply_visit(state, op)
        emitted.extend(touches)
    return state, emitted


def touch_order(touch: Touch) -> tuple[datetime, str, str]:
    return (touch.time, touch.source, touch.id)


@PROPERTY
@given(case=visitor_ops())
def test_first_touch_is_the_earliest_visit_whatever_the_order(case: tuple[list[Event], list[str | Event]]) -> None:
    events, ops = case
    state, emitted = run_visitor(ops)
    if state is None:
        return
    leads = sorted({op for op in ops if isinstance(op, str)})
    assert state.visitor_id == "V1"
    assert state.lead_ids == tuple(leads)
    if not events:
        assert state.first_visit is None and emitted == []
        return
    earliest = min(events, key=lambda e: (e.time, e.source, e.id))
    assert state.first_visit is not None
    assert (state.first_visit.source, state.first_visit.id, state.first_visit.time) == (
        earliest.source,
        earliest.id,
        earliest.time,
    )
    assert state.first_visit.utm_campaign == earliest.utm_campaign
    # Whatever the store keeps of the candidates (the earliest per lead) is that same first visit.
    for lead in leads:
        candidates = [t.touch for t in emitted if t.lead_id == lead]
        assert min(candidates, key=touch_order) == state.first_visit
    assert {t.lead_id for t in emitted} == set(leads)


@PROPERTY
@given(case=visitor_ops(), data=st.data())
def test_first_touch_does_not_depend_on_the_arrival_order(
    case: tuple[list[Event], list[str | Event]], data: st.DataObject
) -> None:
    _events, ops = case
    other = data.draw(st.permutations(ops), label="other order")
    assert run_visitor(ops)[0] == run_visitor(other)[0]


@PROPERTY
@given(case=visitor_ops())
def test_visitor_state_survives_the_codec(case: tuple[list[Event], list[str | Event]]) -> None:
    state, _ = run_visitor(case[1])
    if state is None:
        state = VisitorState("V1")
    raw = visitor_to_bytes(state)
    assert visitor_from_bytes(raw) == state
    assert visitor_to_bytes(visitor_from_bytes(raw)) == raw
